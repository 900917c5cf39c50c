// Package teams is bulk team creation, the third job kind and the worked example of
// docs/job-kinds.md: each row of an uploaded sheet creates a team (a name and its manager,
// found by email among the customers) in the job's tenant. A row whose manager matches no
// customer, or whose name is taken, is a row error handled by on_error as for imports.
package teams

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvimport"
	"github.com/reins-dev/reins/sheet"
	"github.com/reins-dev/reins/upload"
)

// Type is the job type of bulk team creation.
const Type reins.JobType = "teams"

// The sheet's fields: a team's name and its manager's email.
const (
	fieldName = iota
	fieldManagerEmail
)

// Fields are the fields of a teams sheet.
var Fields = []sheet.Field{{Name: "name", Required: true}, {Name: "manager_email", Required: true}}

// maxName is the longest team name, in characters.
const maxName = 100

// Kind is bulk team creation.
type Kind struct {
	Store reins.Store
	Blob  *blob.Store
}

var _ reins.UploadKind = (*Kind)(nil)

// Type implements reins.Kind.
func (*Kind) Type() reins.JobType { return Type }

// ParamNames implements reins.Kind.
func (*Kind) ParamNames() []string { return upload.ParamNames }

// NewJob implements reins.Kind: a CREATED job waiting for its sheet.
func (*Kind) NewJob(p reins.Params) (*reins.Job, error) {
	params, err := upload.ParseParams(p, Fields)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	return &reins.Job{Type: Type, Status: reins.StatusCreated, Params: raw}, nil
}

// Prepare implements reins.Kind: nothing to prepare.
func (*Kind) Prepare(context.Context, reins.Tx, *reins.Job) error { return nil }

// format is a teams sheet with the job's mapping.
func format(job *reins.Job) (*sheet.Format, error) {
	params, _, err := reins.DecodeJob[upload.Params, upload.Checkpoint](job)
	if err != nil {
		return nil, err
	}
	return &sheet.Format{Fields: Fields, Mapping: params.Mapping}, nil
}

// CheckFile implements reins.UploadKind.
func (*Kind) CheckFile(job *reins.Job) (reins.FileCheck, error) {
	f, err := format(job)
	if err != nil {
		return nil, err
	}
	return sheet.NewCheck(f), nil
}

// Begin implements reins.Kind.
func (k *Kind) Begin(ctx context.Context, job *reins.Job) (reins.Task, error) {
	f, err := format(job)
	if err != nil {
		return nil, err
	}
	r := &rows{store: k.Store, job: job}
	return upload.Begin(ctx, k.Store, k.Blob, job, f, r)
}

// Undo implements reins.Kind: it deletes up to limit of the teams the job created.
func (*Kind) Undo(ctx context.Context, tx reins.Tx, job *reins.Job, limit int) (int64, error) {
	return tx.Exec(ctx, `DELETE FROM teams WHERE id IN (SELECT id FROM teams WHERE job_id = $1 LIMIT $2)`, job.ID, limit)
}

// Discard implements reins.Kind: a whole sheet is kept for restart (upload.Discard).
func (k *Kind) Discard(_ context.Context, job *reins.Job) error {
	return upload.Discard(k.Blob, job)
}

// Present implements reins.Kind: the rows skipped under on_error=skip.
func (*Kind) Present(job *reins.Job) map[string]any { return upload.Present(job) }

// team is one row to create, and where in the sheet it came from.
type team struct {
	line              int
	name, email       string
	nameCol, emailCol string
	manager           int64
}

// rowError is a problem with one of the team's fields.
func (t *team) rowError(column, reason string) *sheet.RowError {
	return &sheet.RowError{Line: t.line, Column: column, Reason: reason}
}

// rows gathers a batch of teams and checks them against the database when it ends.
type rows struct {
	store reins.Querier
	job   *reins.Job
	teams []team
}

func (r *rows) Add(rec *sheet.Record) error {
	name, email := rec.Values[fieldName], rec.Values[fieldManagerEmail]
	switch {
	case name == "":
		return rec.Error(fieldName, "must not be empty")
	case utf8.RuneCountInString(name) > maxName:
		return rec.Error(fieldName, fmt.Sprintf("must be at most %d characters, got %d", maxName, utf8.RuneCountInString(name)))
	case !csvimport.PlausibleEmail(email):
		return rec.Error(fieldManagerEmail, "must be an email address like name@example.com, got "+sheet.Quote(email))
	}
	r.teams = append(r.teams, team{line: rec.Line, name: name, email: email,
		nameCol: rec.Column(fieldName), emailCol: rec.Column(fieldManagerEmail)})
	return nil
}

// Flush implements upload.Rows: it finds each team's manager and refuses names already taken
// in the tenant (by an earlier batch, another job, or earlier in this batch).
func (r *rows) Flush(ctx context.Context) ([]*sheet.RowError, int64, func(context.Context, reins.Tx) (int64, error), error) {
	batch := r.teams
	// The next batch reuses the array: the engine commits this one before it asks for more.
	r.teams = batch[:0]
	managers, err := r.managers(ctx, batch)
	if err != nil {
		return nil, 0, nil, err
	}
	taken, err := r.taken(ctx, batch)
	if err != nil {
		return nil, 0, nil, err
	}
	var bad []*sheet.RowError
	good := make([]team, 0, len(batch))
	for _, t := range batch {
		id, found := managers[t.email]
		switch {
		case taken[t.name]:
			bad = append(bad, t.rowError(t.nameCol, fmt.Sprintf("a team named %s already exists", sheet.Quote(t.name))))
		case !found:
			bad = append(bad, t.rowError(t.emailCol, "no customer has the email "+sheet.Quote(t.email)))
		default:
			t.manager = id
			taken[t.name] = true
			good = append(good, t)
		}
	}
	owner, job, now := r.job.Owner, r.job.ID, time.Now().UTC()
	apply := func(ctx context.Context, tx reins.Tx) (int64, error) {
		return 0, tx.BulkInsert(ctx, "teams", []string{"owner", "name", "manager_id", "job_id", "created_at"}, len(good),
			func(i int, dst []any) {
				dst[0], dst[1], dst[2], dst[3], dst[4] = owner, good[i].name, good[i].manager, job, now
			})
	}
	return bad, int64(len(good)), apply, nil
}

// lookupChunk bounds the parameters of one lookup.
const lookupChunk = 500

// managers finds the customers the batch's emails belong to (the lowest id when several
// share one).
func (r *rows) managers(ctx context.Context, batch []team) (map[string]int64, error) {
	out := make(map[string]int64, len(batch))
	keys := make([]any, len(batch))
	for i, t := range batch {
		keys[i] = t.email
	}
	err := lookup(ctx, r.store, `SELECT email, MIN(id) FROM customers WHERE email IN (%s) GROUP BY email`, nil, keys,
		func(rs reins.Rows) error {
			var email string
			var id int64
			if err := rs.Scan(&email, &id); err != nil {
				return err
			}
			out[email] = id
			return nil
		})
	return out, err
}

// taken finds which of the batch's names the tenant's teams already have.
func (r *rows) taken(ctx context.Context, batch []team) (map[string]bool, error) {
	out := make(map[string]bool, len(batch))
	keys := make([]any, len(batch))
	for i, t := range batch {
		keys[i] = t.name
	}
	err := lookup(ctx, r.store, `SELECT name FROM teams WHERE owner = $1 AND name IN (%s)`, []any{r.job.Owner}, keys,
		func(rs reins.Rows) error {
			var name string
			if err := rs.Scan(&name); err != nil {
				return err
			}
			out[name] = true
			return nil
		})
	return out, err
}

// lookup runs query for the keys in chunks, its %s replaced by their placeholders after the
// fixed arguments, and calls scan for each row.
func lookup(ctx context.Context, q reins.Querier, query string, fixed, keys []any, scan func(reins.Rows) error) error {
	for start := 0; start < len(keys); start += lookupChunk {
		chunk := keys[start:min(start+lookupChunk, len(keys))]
		marks := make([]string, len(chunk))
		for i := range chunk {
			marks[i] = fmt.Sprintf("$%d", len(fixed)+i+1)
		}
		rs, err := q.Query(ctx, fmt.Sprintf(query, strings.Join(marks, ", ")), append(append([]any(nil), fixed...), chunk...)...)
		if err != nil {
			return err
		}
		for rs.Next() {
			if err := scan(rs); err != nil {
				rs.Close()
				return err
			}
		}
		err = rs.Err()
		rs.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
