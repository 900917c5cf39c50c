// Package csvimport is the customers import: a job kind whose jobs read an uploaded customers
// CSV into the customers table, in fenced batches tagged with the job's id, so that a
// rollback deletes exactly its rows. The sheet's reading, the spool and the checkpoint are
// the upload package's; this package validates customers and inserts them.
package csvimport

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/sheet"
	"github.com/reins-dev/reins/upload"
)

// Type is the customers import's job type, the default of new-job.
const Type reins.JobType = "import"

// Kind is the customers import.
type Kind struct {
	Store reins.Store
	Blob  *blob.Store
}

var _ reins.UploadKind = (*Kind)(nil)

// Type implements reins.Kind.
func (*Kind) Type() reins.JobType { return Type }

// ParamNames implements reins.Kind.
func (*Kind) ParamNames() []string { return upload.ParamNames }

// NewJob implements reins.Kind: a CREATED job waiting for its upload.
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

// Prepare implements reins.Kind: an import has nothing to prepare.
func (*Kind) Prepare(context.Context, reins.Tx, *reins.Job) error { return nil }

// CheckFile implements reins.UploadKind.
func (*Kind) CheckFile(job *reins.Job) (reins.FileCheck, error) {
	params, _, err := reins.DecodeJob[upload.Params, upload.Checkpoint](job)
	if err != nil {
		return nil, err
	}
	return sheet.NewCheck(Format(params.Mapping)), nil
}

// Begin implements reins.Kind.
func (k *Kind) Begin(ctx context.Context, job *reins.Job) (reins.Task, error) {
	params, _, err := reins.DecodeJob[upload.Params, upload.Checkpoint](job)
	if err != nil {
		return nil, err
	}
	// Rows without a created_at were created when the job started: the same on every run.
	now := job.CreatedAt
	if job.StartedAt != nil {
		now = *job.StartedAt
	}
	r := &rows{job: job.ID, now: now}
	if res, ok := k.Store.(reins.CustomerIDReserver); ok && k.Store.OverlapsBatches() {
		r.reserve = res.ReserveCustomerIDs
	}
	return upload.Begin(ctx, k.Store, k.Blob, job, Format(params.Mapping), r)
}

// Undo implements reins.Kind: it deletes up to limit of the customers the job inserted.
// The rows whose ids the job reserved are found by the ranges its batches recorded
// (reins.InsertRangedCustomers), the lowest range first, on the primary key; a range is
// dropped, or shortened, as its rows go. The rest (rows of a store that reserves no ids, or
// inserted by a release before migration 014, even into this job) are found by job_id,
// through the partial index that holds exactly them. A range whose rows are already gone
// (deleted by someone else) is dropped and the next one tried, so that Undo answers 0 only
// when nothing of the job is left.
func (*Kind) Undo(ctx context.Context, tx reins.Tx, job *reins.Job, limit int) (int64, error) {
	for {
		lo, hi, ok, err := firstRange(ctx, tx, job.ID)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		// The ids of a range are the job's alone, so limit of them hold at most limit rows.
		upto := min(hi, lo+int64(limit)-1)
		n, err := tx.Exec(ctx, `DELETE FROM customers WHERE id >= $2 AND id <= $3 AND job_id = $1`, job.ID, lo, upto)
		if err != nil {
			return 0, err
		}
		if upto == hi {
			_, err = tx.Exec(ctx, `DELETE FROM reins_job_ranges WHERE job_id = $1 AND lo = $2`, job.ID, lo)
		} else {
			_, err = tx.Exec(ctx, `UPDATE reins_job_ranges SET lo = $3 WHERE job_id = $1 AND lo = $2`, job.ID, lo, upto+1)
		}
		if err != nil || n > 0 {
			return n, err
		}
	}
	return tx.Exec(ctx, `DELETE FROM customers WHERE id IN
		(SELECT id FROM customers WHERE job_id = $1 AND job_ranged IS NULL LIMIT $2)`, job.ID, limit)
}

// firstRange returns the job's lowest recorded range of ids, if it has one.
func firstRange(ctx context.Context, tx reins.Tx, job uuid.UUID) (lo, hi int64, ok bool, err error) {
	rows, err := tx.Query(ctx, `SELECT lo, hi FROM reins_job_ranges WHERE job_id = $1 ORDER BY lo LIMIT 1`, job)
	if err != nil {
		return 0, 0, false, err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&lo, &hi); err != nil {
			return 0, 0, false, err
		}
		ok = true
	}
	return lo, hi, ok, rows.Err()
}

// Discard implements reins.Kind: a whole file is kept for restart (upload.Discard).
func (k *Kind) Discard(_ context.Context, job *reins.Job) error {
	return upload.Discard(k.Blob, job)
}

// Present implements reins.Kind: the rows skipped under on_error=skip.
func (*Kind) Present(job *reins.Job) map[string]any { return upload.Present(job) }

// rows gathers a batch of customers.
type rows struct {
	job       uuid.UUID
	now       time.Time
	customers []reins.Customer
	// spare is the array of the batch flushed last, whose rows may still be going in while
	// the next batch fills customers: the engine settles a batch before it makes the one
	// after the next (at most two are in flight), so batches take turns with two arrays.
	spare []reins.Customer
	// reserve, where the store overlaps batches, gives each batch its ids as it is made, in
	// the file's order (reins.CustomerIDReserver).
	reserve func(ctx context.Context, n int) ([]int64, error)
}

// Overlaps implements upload.Overlapper: a batch of customers only inserts its own rows,
// and with reserved ids they keep the file's order however batches overlap.
func (r *rows) Overlaps() bool { return r.reserve != nil }

func (r *rows) Add(rec *sheet.Record) error {
	c, err := customer(rec, r.now)
	if err != nil {
		return err
	}
	r.customers = append(r.customers, c)
	return nil
}

func (r *rows) Flush(ctx context.Context) ([]*sheet.RowError, int64, func(context.Context, reins.Tx) (int64, error), error) {
	batch := r.customers
	r.customers, r.spare = r.spare[:0], batch
	if r.reserve != nil && len(batch) > 0 {
		ids, err := r.reserve(ctx, len(batch))
		if err != nil {
			return nil, 0, nil, err
		}
		for i := range batch {
			batch[i].ID = ids[i]
		}
	}
	apply := func(ctx context.Context, tx reins.Tx) (int64, error) {
		if r.reserve != nil {
			return 0, reins.InsertRangedCustomers(ctx, tx, r.job, batch)
		}
		return 0, reins.InsertCustomers(ctx, tx, &r.job, batch)
	}
	return nil, int64(len(batch)), apply, nil
}
