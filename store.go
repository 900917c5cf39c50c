package reins

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/google/uuid"
)

// JobStore keeps jobs, their history and their runs' checkpoints.
type JobStore interface {
	// CreateJob inserts job and, when run is RunProcess, enqueues its first run in the
	// same transaction.
	CreateJob(ctx context.Context, job *Job, actor string, run RunKind) error

	// FindJob returns the job with the given id. Returns ENOTFOUND.
	FindJob(ctx context.Context, id uuid.UUID) (*Job, error)

	// ListJobs returns the owner's jobs, newest first.
	ListJobs(ctx context.Context, owner string, limit int) ([]*Job, error)

	// JobEvents returns the job's history, oldest first.
	JobEvents(ctx context.Context, id uuid.UUID) ([]Event, error)

	// ApplyCommand applies cmd to the job by the transition table: it writes the new status
	// and history, moves the epoch and enqueues a run as the table says, in one transaction.
	// Returns ENOTFOUND, or EINVALID when the table forbids the transition.
	ApplyCommand(ctx context.Context, id uuid.UUID, cmd Command, actor string) (*Job, Transition, error)

	// StartRun claims the job for a run of the given epoch and kind, taking its lease for
	// ttl in the name of owner (the returned job's Lease); a processing run moves CREATED to
	// STARTED. Returns
	// EFENCED when the epoch is stale or the job's status does not let that kind of run
	// work, and EBUSY when another run holds an unexpired lease.
	StartRun(ctx context.Context, id uuid.UUID, epoch int64, kind RunKind, ttl time.Duration, owner string) (*Job, error)

	// RenewLease extends the run's lease by ttl; false means the run lost it.
	RenewLease(ctx context.Context, id, lease uuid.UUID, ttl time.Duration) (bool, error)

	// ReleaseLease gives up the run's lease, if it still holds it.
	ReleaseLease(ctx context.Context, id, lease uuid.UUID) error

	// RescueExpired takes over up to limit jobs whose run's lease expired before now (the
	// run died or stalled): it clears the lease and enqueues a new run of the same epoch,
	// in one transaction per job. Jobs whose upload transfer's lease expired (the process
	// receiving it died) fail, since the client's bytes are gone. It returns the jobs
	// rescued or failed.
	RescueExpired(ctx context.Context, now time.Time, limit int) ([]uuid.UUID, error)

	// CommitBatch commits one batch of a run: its data effects, checkpoint and progress in
	// one transaction fenced by the run's epoch and lease. A batch in flight when PAUSE
	// arrives still commits (the job is PAUSING), so no work is redone. Returns EFENCED when
	// the run lost its claim; nothing of the batch is then written.
	CommitBatch(ctx context.Context, b *Batch) (*BatchResult, error)

	// FinishRun moves the job from one of b.From to b.To when the run's epoch still holds,
	// recording the history. It reports whether it did.
	FinishRun(ctx context.Context, f *Finish) (bool, error)

	// FailJob marks a non-terminal job FAILED with the error, moves its epoch (fencing off
	// any run) and enqueues a rollback run that removes its partial work, in one
	// transaction. It reports whether it did (false when the job had already ended).
	FailJob(ctx context.Context, id uuid.UUID, message, actor string) (bool, error)
}

// Batch is what one batch of a run commits.
type Batch struct {
	JobID uuid.UUID
	Epoch int64
	Kind  RunKind
	Lease uuid.UUID

	DoneDelta    int64
	Total        *int64 // set when it becomes known
	ActiveMillis int64
	Checkpoint   json.RawMessage

	// Insert are customer rows the batch adds, tagged with the job's id.
	Insert []Customer
	// DeleteImported deletes up to this many of the rows the job inserted (rollback); the
	// job's done counter falls by the rows deleted.
	DeleteImported int
	// Continue enqueues the next run of the same epoch and releases the lease to it (a
	// bounded run handing over, or a draining process handing back).
	Continue bool
}

// BatchResult tells a run what its batch did.
type BatchResult struct {
	Deleted int64
	// Status is the job's status when the batch committed: PAUSING tells the run to stop.
	Status Status
}

// Finish is a run's final status change.
type Finish struct {
	JobID uuid.UUID
	Epoch int64
	// Lease, when set, must still be held; the change releases it.
	Lease *uuid.UUID
	From  []Status
	To    Status
	Error string
	Actor string
}

// CustomerStore reads and writes the customers table.
type CustomerStore interface {
	// CountCustomers counts the customers created in [from, to).
	CountCustomers(ctx context.Context, from, to time.Time) (int64, error)

	// ListCustomers returns up to limit customers created in [from, to), ordered by
	// (created_at, id), strictly after the given key.
	ListCustomers(ctx context.Context, from, to time.Time, after CustomerKey, limit int) ([]Customer, error)

	// CountImported counts the customers an import job inserted, and their distinct emails.
	CountImported(ctx context.Context, jobID uuid.UUID) (rows, distinctEmails int64, err error)

	// ExportCSV writes up to limit customers created in [from, to), in (created_at, id) order
	// strictly after the given key, to w as CSV records (no header), as fast as the database
	// allows (COPY on Postgres). It returns how many it wrote and the key of the last.
	ExportCSV(ctx context.Context, w io.Writer, from, to time.Time, after CustomerKey, limit int) (int, CustomerKey, error)

	// SeedCustomers inserts n generated customers as fast as the database allows.
	SeedCustomers(ctx context.Context, n int64, gen func(i int64) Customer) error
}

// CustomerKey is a position in the export order of customers.
type CustomerKey struct {
	CreatedAt time.Time `json:"created_at"`
	ID        int64     `json:"id"`
}

// Upload is the transfer of an import job's file into its spool.
type Upload struct {
	JobID    uuid.UUID
	FileName string
	SpoolKey string
	// Received counts the bytes stored in the spool so far.
	Received int64
	// Records is the number of CSV records in the file, known once the transfer is complete.
	Records  *int64
	Complete bool
}

// UploadStore keeps the state of import jobs' file transfers.
type UploadStore interface {
	// BeginUpload records that a transfer into the job's spool starts, moving a CREATED job
	// to STARTED. The transfer holds a lease for ttl that RenewUpload renews; if it expires
	// (the receiving process died), the rescuer fails the job. Returns ENOTFOUND, or
	// ECONFLICT when the job is not an import waiting for its file (already uploaded,
	// revoked, finished).
	BeginUpload(ctx context.Context, u *Upload, actor string, ttl time.Duration) (*Job, error)

	// RenewUpload stores how many bytes have been received so far and renews the
	// transfer's lease by ttl.
	RenewUpload(ctx context.Context, jobID uuid.UUID, received int64, ttl time.Duration) error

	// CompleteUpload marks the transfer complete with the file's record count (the job's
	// total) and, when the job is running, enqueues its first import run in the same
	// transaction. A PAUSING job becomes PAUSED: nothing runs until RESUME.
	CompleteUpload(ctx context.Context, jobID uuid.UUID, received, records int64) (*Job, error)

	// FindUpload returns the job's transfer. Returns ENOTFOUND when none began.
	FindUpload(ctx context.Context, jobID uuid.UUID) (*Upload, error)
}

// Store is everything Reins keeps in its database.
type Store interface {
	JobStore
	CustomerStore
	UploadStore

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
}

// Notifier carries "this job changed" signals between processes: a command tells the run
// to stop, and a run's acknowledgement wakes the request waiting for it.
type Notifier interface {
	// Notify signals every subscriber of the job, in every process.
	Notify(ctx context.Context, jobID uuid.UUID) error

	// Subscribe returns a channel that receives a value after each signal for the job, and
	// a function that ends the subscription.
	Subscribe(jobID uuid.UUID) (<-chan struct{}, func())
}

// Queue is the River client that works runs in this process.
type Queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}
