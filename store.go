package reins

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/google/uuid"
)

// Querier runs SQL written with $1-style placeholders, in the dialect both Postgres and SQLite
// accept. Times are passed and scanned as time.Time (*time.Time for NULLable columns); ids
// as uuid.UUID.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Row is one result row.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set; it must be closed before the next statement (SQLite has one
// connection).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Tx is a database transaction as a job kind sees it: where a batch's effects are applied,
// fenced with its checkpoint, and where a new job is prepared.
type Tx interface {
	Querier

	// BulkInsert loads n rows into the columns of table as fast as the database allows
	// (COPY on Postgres, multi-row INSERT on SQLite); row fills dst with row i's values.
	BulkInsert(ctx context.Context, table string, columns []string, n int, row func(i int, dst []any)) error

	// Dialect names the database, "postgres" or "sqlite", for the rare statement that differs.
	Dialect() string
}

// CustomerLoader is implemented by a Tx that loads customers faster than BulkInsert can (on
// Postgres, without putting every value in an interface); InsertCustomers uses it when the
// Tx has it. It stores exactly what InsertCustomers' BulkInsert would.
type CustomerLoader interface {
	LoadCustomers(ctx context.Context, jobID *uuid.UUID, ranged bool, rows []Customer) error
}

// The dialects a Tx reports.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// JobStore keeps jobs, their history and their runs' checkpoints.
type JobStore interface {
	// CreateJob inserts job, calling prepare (when not nil) inside the same transaction
	// first, and enqueues its first run when run is RunProcess and the job is still CREATED
	// after prepare (a guard may hold it).
	CreateJob(ctx context.Context, job *Job, actor string, run RunKind, prepare func(ctx context.Context, tx Tx, job *Job) error) error

	// FindJob returns the job with the given id. Returns ENOTFOUND.
	FindJob(ctx context.Context, id uuid.UUID) (*Job, error)

	// ListJobs returns the jobs f selects, newest first (by creation time, then id), at most
	// f.Limit of them.
	ListJobs(ctx context.Context, f *JobFilter) ([]*Job, error)

	// CountJobs counts the owner's jobs by status; a status with no job is absent.
	CountJobs(ctx context.Context, owner string) (map[Status]int64, error)

	// FinishedBefore lists the ids of the jobs in one of statuses that finished before t,
	// oldest first, at most limit of them: what a retention sweep deletes.
	FinishedBefore(ctx context.Context, t time.Time, limit int, statuses ...Status) ([]uuid.UUID, error)

	// DeleteFinishedJob deletes the job and its history if it is in one of statuses, and
	// reports whether it did.
	DeleteFinishedJob(ctx context.Context, id uuid.UUID, statuses ...Status) (bool, error)

	// CountJobsByType counts every tenant's jobs by type and status, for metrics.
	CountJobsByType(ctx context.Context) ([]JobCount, error)

	// JobEvents returns the job's history, oldest first.
	JobEvents(ctx context.Context, id uuid.UUID) ([]Event, error)

	// ApplyCommand applies cmd to the job by the transition table: it writes the new status
	// and history, moves the epoch and enqueues a run as the table says, in one transaction.
	// Returns ENOTFOUND, or EINVALID when the table forbids the transition.
	//
	// A PAUSE that a holder will acknowledge may commit without waiting for the disk: the
	// acknowledgement commits after it and makes it durable too. A caller that answers
	// without that acknowledgement (PAUSING after its wait bound) calls SyncJob first.
	ApplyCommand(ctx context.Context, id uuid.UUID, cmd Command, actor string) (*Job, Transition, error)

	// SyncJob returns once every change committed to the job so far is durable.
	SyncJob(ctx context.Context, id uuid.UUID) error

	// StartRun claims the job for a River run of the given epoch and kind, taking its lease
	// for ttl in the name of owner (the returned job's Lease); a processing run moves CREATED
	// to STARTED. Returns EFENCED when the epoch is stale or the job's status does not let
	// that kind of run work, and EBUSY when a live holder has the lease (another run of the
	// current epoch, or an upload transfer that a processing run must wait for).
	StartRun(ctx context.Context, id uuid.UUID, epoch int64, kind RunKind, ttl time.Duration, owner string) (*Job, error)

	// RenewLease extends the holder's lease by ttl; false means it lost it.
	RenewLease(ctx context.Context, id, lease uuid.UUID, ttl time.Duration) (bool, error)

	// ReleaseLease gives up the holder's lease, if it still holds it.
	ReleaseLease(ctx context.Context, id, lease uuid.UUID) error

	// RescueExpired takes over up to limit jobs whose lease expired before now (the holder
	// died or stalled): a run's job gets a new run of the same epoch, and a job whose upload
	// transfer died fails, since the client's bytes are gone; one transaction per job. It
	// returns the jobs rescued or failed.
	RescueExpired(ctx context.Context, now time.Time, limit int) ([]uuid.UUID, error)

	// RescueStranded gives a replacement to up to limit runs that River records as running
	// since before although no run holds their job: their process died after the run let
	// its lease go and before River recorded how it ended (a retry, a snooze). One
	// replacement per stranded run, whichever process asks. It returns the jobs given one.
	RescueStranded(ctx context.Context, before time.Time, limit int) ([]uuid.UUID, error)

	// CommitBatch commits one batch of a run: the kind's effects, the checkpoint and the
	// progress in one transaction fenced by the run's epoch and lease. A batch in flight when
	// PAUSE arrives still commits (the job is PAUSING), so no work is redone. Returns EFENCED
	// when the run lost its claim; nothing of the batch is then written.
	CommitBatch(ctx context.Context, b *Batch) (*BatchResult, error)

	// BeginBatch opens b's transaction and starts its Apply in the background, so that a
	// run can put one batch's effects in while its previous batch commits (Batch.Overlap).
	// The PendingBatch then commits the batch as CommitBatch does, or abandons it. Only a
	// store whose OverlapsBatches is true takes a second batch while one is pending.
	BeginBatch(ctx context.Context, b *Batch) (PendingBatch, error)

	// OverlapsBatches reports whether a run may have two batches open at once (Postgres,
	// whose transactions run side by side; not SQLite, which has one connection).
	OverlapsBatches() bool

	// FinishRun moves the job by the run table's row for f.Event when the holder's epoch
	// (and lease, when set) still hold, recording the history. It reports whether it did.
	FinishRun(ctx context.Context, f *Finish) (bool, error)

	// FailJob marks a non-terminal job FAILED with the error, moves its epoch (fencing off
	// any run) and enqueues a rollback run that removes its partial work, in one
	// transaction. It reports whether it did (false when the job had already ended).
	FailJob(ctx context.Context, id uuid.UUID, message, actor string) (bool, error)
}

// JobFilter selects the jobs of a listing. Empty fields select everything.
type JobFilter struct {
	// Owner is the tenant whose jobs are listed; it is always required.
	Owner    string
	Statuses []Status
	Types    []JobType
	// CreatedFrom and CreatedBefore bound the jobs' creation time: from inclusive, before
	// exclusive.
	CreatedFrom, CreatedBefore *time.Time
	// UpdatedFrom selects the jobs changed at or after it.
	UpdatedFrom *time.Time
	// After continues a listing after the last job of the previous page.
	After *JobCursor
	Limit int
}

// JobCursor is a position in a listing's order: the last job a page showed.
type JobCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// JobCount is how many jobs of one type are in one status.
type JobCount struct {
	Type   JobType
	Status Status
	N      int64
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
	// RatePerS is the run's recent rate, recorded with the batch (nil keeps the last one).
	RatePerS *float64
	// Checkpoint is the kind's state once the batch is in; nil keeps the stored one (a run
	// that does not know whether its last batch committed hands the job over without one).
	Checkpoint json.RawMessage

	// Apply applies the kind's effects in the batch's transaction, after the fence has let
	// the batch through. It returns units to add to done beyond DoneDelta: a rollback batch
	// returns minus the units it removed, so done counts down.
	Apply func(ctx context.Context, tx Tx) (int64, error)
	// ResetDone sets done to 0 after the rest: the end of a rollback, when nothing of the
	// job's work is left. It records that the rollback ended and enqueues the first run of a
	// restarted job waiting for it.
	ResetDone bool
	// Continue enqueues the next run of the same epoch and releases the lease to it (a
	// bounded run handing over, or a draining process handing back).
	Continue bool
	// StopIfPausing acknowledges a PAUSE in the batch's own transaction: when the job is
	// PAUSING, the batch commits, the job becomes PAUSED (history actor "worker") and the lease
	// is released, and BatchResult.Status says PAUSED. The run then stops without a
	// transaction of its own for the acknowledgement, so the PAUSE is answered sooner.
	StopIfPausing bool
	// Complete marks the job COMPLETED in the batch's own transaction (its last batch): the
	// batch commits, the job becomes COMPLETED (history actor "worker", from STARTED,
	// RESUMED or PAUSING, as RunCompleted allows), the lease is released, and
	// BatchResult.Status says COMPLETED. The run then ends without a transaction of its own
	// for the completion: one durable commit less for every job (docs/architecture.md,
	// "Completing in the last batch").
	Complete bool
	// Overlap says that Apply neither reads nor depends on what the run's previous batches
	// wrote, so it may run while the previous batch is still being committed, on a store that
	// overlaps batches (an import's rows: docs/architecture.md, "Overlapping batches").
	Overlap bool
}

// PendingBatch is a batch begun with JobStore.BeginBatch: its transaction is open and its
// effects go in meanwhile.
type PendingBatch interface {
	// Commit waits for the effects, then commits the batch as CommitBatch does; on any error
	// nothing of the batch is written.
	Commit(ctx context.Context) (*BatchResult, error)
	// Abandon stops the effects and rolls the batch back.
	Abandon()
	// Applied is closed once the effects are in and Commit has only the commit left.
	Applied() <-chan struct{}
}

// BatchResult tells a run what its batch did.
type BatchResult struct {
	// Applied is what Apply returned.
	Applied int64
	// Status is the job's status when the batch committed: PAUSING tells the run to stop,
	// PAUSED that the batch acknowledged the pause (Batch.StopIfPausing) and the run has
	// stopped.
	Status Status
}

// Finish is a change of status a job's own work makes: a row of the run table.
type Finish struct {
	JobID uuid.UUID
	Epoch int64
	Event RunEvent
	// Lease, when set, must still be held; the change releases it unless KeepLease.
	Lease     *uuid.UUID
	KeepLease bool
	Error     string
	Actor     string
	Detail    string
}

// CustomerStore reads and writes the customers table, which the customer kinds share.
type CustomerStore interface {
	// CountCustomers counts the customers an export of q will write, and returns the lowest
	// and highest of their ids (0, 0 when there are none).
	CountCustomers(ctx context.Context, q *CustomerQuery) (n, minID, maxID int64, err error)

	// ExportCSV writes the customers of q whose id is in (afterID, uptoID] to w as CSV records
	// (no header), in id order, as fast as the database allows (COPY on Postgres). It
	// returns how many it wrote.
	ExportCSV(ctx context.Context, w io.Writer, q *CustomerQuery, afterID, uptoID int64) (int64, error)

	// CountImported counts the customers an import job inserted, and their distinct emails.
	CountImported(ctx context.Context, jobID uuid.UUID) (rows, distinctEmails int64, err error)

	// SeedCustomers inserts n generated customers as fast as the database allows.
	SeedCustomers(ctx context.Context, n int64, gen func(i int64) Customer) error

	// SeedDemoCustomers leaves exactly the n demo customers gen makes, however often it
	// runs: when the demo customers are already those n it changes nothing, and otherwise
	// it replaces the demo customers (only them) by these, in chunks (a seed that dies
	// midway is redone by the next). It reports whether it inserted them.
	SeedDemoCustomers(ctx context.Context, n int64, gen func(i int64) Customer) (inserted bool, err error)
}

// CustomerQuery selects the customers of an export: created in [From, To), with an id at
// most MaxID (the snapshot's bound), and, for an export begun by an older release, after the
// key it had reached in (created_at, id) order.
type CustomerQuery struct {
	From, To time.Time
	MaxID    int64
	After    *CustomerKey
	// Columns are the CSV's columns, from CustomerColumnsWithCreatedAt; created_at is written
	// in RFC 3339 with microseconds.
	Columns []string
	// EscapeFormulas prefixes a ' to text cells a spreadsheet would run as a formula (those
	// starting with =, +, -, @, tab or carriage return).
	EscapeFormulas bool
}

// CustomerKey is a position in the (created_at, id) order that exports of older releases
// walked.
type CustomerKey struct {
	CreatedAt time.Time `json:"created_at"`
	ID        int64     `json:"id"`
}

// Upload is the transfer of an upload job's file into its spool.
type Upload struct {
	JobID    uuid.UUID
	FileName string
	SpoolKey string
	// Received counts the bytes stored in the spool so far; Expected is the body's length
	// when the client declared it.
	Received int64
	Expected *int64
	// Records is the number of CSV records in the file, known once the transfer is complete.
	Records  *int64
	Complete bool
	// SpoolRemoved says the file is gone: the job ended longer ago than the spool retention.
	SpoolRemoved bool
}

// Restart is a new upload job over an old one's file: fix and restart (docs/restart.md).
type Restart struct {
	// Of is the job restarted.
	Of uuid.UUID
	// Job is the new job, from its kind's NewJob, with its ID and Owner set.
	Job *Job
	// SpoolKey is where the new job's own copy of the file is stored.
	SpoolKey string
	Actor    string
}

// UploadStore keeps the state of upload jobs' file transfers.
type UploadStore interface {
	// BeginUpload records that a transfer into the job's spool starts and takes the job's
	// lease for it (kind RunTransfer, for ttl, in the name of owner), moving a CREATED job to
	// STARTED. If the lease expires (the receiving process died), the rescuer fails the job.
	// Returns ENOTFOUND, or ECONFLICT when the job takes no upload or no longer waits for one
	// (already has a file, revoked, finished).
	BeginUpload(ctx context.Context, u *Upload, actor string, ttl time.Duration, owner string) (*Job, error)

	// UpdateUpload stores how many bytes have been received so far.
	UpdateUpload(ctx context.Context, jobID uuid.UUID, received int64) error

	// CompleteUpload marks the transfer complete with the file's record count (the job's
	// total), releases the transfer's lease and, when the job is running, enqueues its first
	// run in the same transaction. A PAUSING job becomes PAUSED: nothing runs until RESUME.
	// Returns ECONFLICT when the job was revoked or failed meanwhile, EFENCED when the
	// transfer lost its lease.
	CompleteUpload(ctx context.Context, jobID, lease uuid.UUID, received, records int64) (*Job, error)

	// FindUpload returns the job's transfer. Returns ENOTFOUND when none began.
	FindUpload(ctx context.Context, jobID uuid.UUID) (*Upload, error)

	// RestartJob creates r.Job over r.Of's complete file, in one transaction: it revokes the
	// old job when it still runs or is paused (CheckRestart says which jobs may restart),
	// links the two jobs both ways, and enqueues the new job's first run unless the old job's
	// rollback has not ended: then the new job stays CREATED, waiting for it, and the end of
	// that rollback enqueues it (CommitBatch with ResetDone). It returns the old job as
	// stored after the restart. Returns ENOTFOUND, ECONFLICT naming the status of a job that
	// cannot restart, or EGONE when its file is no longer kept.
	RestartJob(ctx context.Context, r *Restart) (old *Job, err error)

	// EndedSpools returns up to limit uploads whose jobs ended (COMPLETED, FAILED, REVOKED)
	// before the given time and whose spools were not yet removed.
	EndedSpools(ctx context.Context, before time.Time, limit int) ([]*Upload, error)

	// SpoolRemoved records that the job's spool was removed: the job cannot restart any more.
	SpoolRemoved(ctx context.Context, jobID uuid.UUID) error
}

// Store is everything Reins keeps in its database.
type Store interface {
	JobStore
	CustomerStore
	UploadStore

	// Querier reads and writes outside any batch: kinds read their own tables with it
	// (bulk team creation looks up managers and taken names before a batch commits).
	Querier

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
}

// Notifier carries "this job changed" signals between processes: a command tells the run
// to stop, and a run's acknowledgement wakes the request waiting for it.
type Notifier interface {
	// Notify signals every subscriber of the job, in every process.
	Notify(ctx context.Context, jobID uuid.UUID) error

	// Publish signals the job's subscribers in this process at once: for a change this
	// process committed, whose signal to the other processes (and, on Postgres, back to
	// this one) goes through the database and comes later.
	Publish(jobID uuid.UUID)

	// Subscribe returns a channel that receives a value after each signal for the job, and
	// a function that ends the subscription.
	Subscribe(jobID uuid.UUID) (<-chan struct{}, func())

	// ChangeFeed carries every change of every job, for live events.
	ChangeFeed
}

// Change says that a job changed, for live watchers: its status (and perhaps more), or only
// its progress (counters, transfer bytes).
type Change struct {
	JobID  uuid.UUID
	Status bool
}

// ChangeFeed carries every change of every job to the watchers in every process (live
// events): LISTEN/NOTIFY on Postgres, in process on SQLite. The store publishes a change in
// the transaction that makes it, so a committed change is never left out.
type ChangeFeed interface {
	// Watch returns a watcher of the changes made from now on, in every process; stop ends it.
	Watch() (w *Watcher, stop func())
}

// Queue is the River client that works runs in this process.
type Queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}
