package csvimport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/engine"
)

// The on_error policies of an import.
const (
	OnErrorAbort = "abort" // the first bad row fails the job, and its rows are rolled back
	OnErrorSkip  = "skip"  // bad rows are skipped and listed in the job's errors
)

// MaxListedErrors caps the skipped rows an import lists; Skipped still counts them all.
const MaxListedErrors = 100

// Params are an import's creation parameters.
type Params struct {
	MaxRowsPerS int    `json:"max_rows_per_s,omitempty"`
	OnError     string `json:"on_error"`
}

// ParseParams validates new-job's parameters. Returns EINVALID naming the parameter at fault.
func ParseParams(maxRowsPerS, onError string) (Params, error) {
	p := Params{OnError: strings.TrimSpace(onError)}
	switch p.OnError {
	case "":
		p.OnError = OnErrorAbort
	case OnErrorAbort, OnErrorSkip:
	default:
		return Params{}, reins.Errorf(reins.EINVALID, "on_error must be %q or %q, got %q", OnErrorAbort, OnErrorSkip, onError)
	}
	var err error
	if p.MaxRowsPerS, err = reins.ParseMaxRowsPerS(maxRowsPerS); err != nil {
		return Params{}, err
	}
	return p, nil
}

// NewJob returns a CREATED import job for p, waiting for its upload.
func NewJob(p Params, owner string) (*reins.Job, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return &reins.Job{Type: reins.JobTypeImport, Status: reins.StatusCreated, Owner: owner, Params: raw}, nil
}

// Checkpoint is an import's resumable state: where in the spool the next record starts,
// and the rows skipped so far.
type Checkpoint struct {
	Offset  int64      `json:"offset"`
	Line    int        `json:"line"`
	Columns []string   `json:"columns,omitempty"`
	Skipped int64      `json:"skipped"`
	Errors  []RowError `json:"errors,omitempty"`
}

func prefix(id uuid.UUID) string { return "uploads/" + id.String() }

// SpoolKey is where an import's uploaded file is kept until the import ends.
func SpoolKey(id uuid.UUID) string { return prefix(id) + "/spool.csv" }

// Processor is the import job's engine.Processor: it reads the spool from its checkpoint and
// inserts validated rows, tagged with the job's id, in fenced batches.
type Processor struct {
	Store reins.UploadStore
	Blob  *blob.Store
}

var _ engine.Processor = (*Processor)(nil)

func decode(job *reins.Job) (Params, Checkpoint, error) {
	return engine.DecodeJob[Params, Checkpoint](job)
}

// Rollback implements engine.Processor: it deletes the spool. The engine deletes the rows.
func (x *Processor) Rollback(_ context.Context, job *reins.Job) error {
	return x.Blob.DeletePrefix(prefix(job.ID))
}

// Begin implements engine.Processor. It returns engine.ErrNotReady while the file is still
// arriving.
func (x *Processor) Begin(ctx context.Context, job *reins.Job) (engine.Task, error) {
	params, cp, err := decode(job)
	if err != nil {
		return nil, err
	}
	upload, err := x.Store.FindUpload(ctx, job.ID)
	if reins.ErrorCode(err) == reins.ENOTFOUND || (err == nil && !upload.Complete) {
		return nil, engine.ErrNotReady
	} else if err != nil {
		return nil, err
	}
	f, err := x.Blob.Open(upload.SpoolKey)
	if err != nil {
		return nil, err
	}
	// Rows without a created_at were created when the job started: the same on every run.
	now := job.CreatedAt
	if job.StartedAt != nil {
		now = *job.StartedAt
	}
	var r *Reader
	if cp.Columns == nil {
		r, err = NewReader(f, now)
	} else if _, err = f.Seek(cp.Offset, io.SeekStart); err == nil {
		r, err = NewResumeReader(f, cp.Columns, cp.Offset, cp.Line, now)
	}
	if err != nil {
		f.Close()
		var rowErr *RowError
		if errors.As(err, &rowErr) {
			return nil, reins.Errorf(reins.EINVALID, "%s", rowErr.Error())
		}
		return nil, err
	}
	cp.Columns = r.Columns()
	return &task{proc: x, job: job, params: params, cp: cp, file: f, reader: r}, nil
}

// task is one run of an import.
type task struct {
	proc   *Processor
	job    *reins.Job
	params Params
	cp     Checkpoint
	file   *os.File
	reader *Reader
	rows   []reins.Customer
}

func (t *task) Next(_ context.Context, limit int) (*reins.Batch, bool, error) {
	t.rows = t.rows[:0]
	next := t.cp
	next.Errors = t.cp.Errors[:len(t.cp.Errors):len(t.cp.Errors)] // appends copy, never alias
	last := false
	for len(t.rows) < limit {
		c, err := t.reader.Next()
		if errors.Is(err, io.EOF) {
			last = true
			break
		}
		var rowErr *RowError
		if errors.As(err, &rowErr) {
			if t.params.OnError == OnErrorAbort {
				return nil, false, reins.Errorf(reins.EINVALID, "%s", rowErr.Error())
			}
			next.Skipped++
			if len(next.Errors) < MaxListedErrors {
				next.Errors = append(next.Errors, *rowErr)
			}
			continue
		}
		if err != nil {
			return nil, false, err
		}
		t.rows = append(t.rows, c)
	}
	next.Offset, next.Line = t.reader.Offset(), t.reader.Line()
	raw, err := json.Marshal(next)
	if err != nil {
		return nil, false, err
	}
	return &reins.Batch{DoneDelta: int64(len(t.rows)), Insert: t.rows, Checkpoint: raw}, last, nil
}

func (t *task) Committed(b *reins.Batch) {
	var cp Checkpoint
	_ = json.Unmarshal(b.Checkpoint, &cp)
	t.cp = cp
}

func (t *task) Complete(context.Context) error { return nil }

func (t *task) Close(outcome engine.Outcome) error {
	err := t.file.Close()
	if outcome != engine.Stopped {
		// Imported (the rows are the result) or abandoned: the spool has served.
		return t.proc.Blob.DeletePrefix(prefix(t.job.ID))
	}
	return err
}

// Skipped returns the rows an import skipped and the listed errors, from its checkpoint.
func Skipped(job *reins.Job) (int64, []RowError) {
	_, cp, _ := decode(job)
	return cp.Skipped, cp.Errors
}
