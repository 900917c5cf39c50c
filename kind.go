package reins

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// Kind is one kind of job (the customers export, the customers import, bulk team creation):
// everything the engine, the store and the API need to know of its jobs, in one package of its
// own. The engine, the store and the API know kinds only through this interface and the
// Registry; docs/job-kinds.md shows how to add one.
type Kind interface {
	// Type names the kind: its jobs' job_type.
	Type() JobType

	// ParamNames lists the creation parameters the kind understands; a request's other
	// parameters are ignored with a warning.
	ParamNames() []string

	// NewJob validates a request's creation parameters and returns the job to create, with
	// its canonical Params. Returns EINVALID naming the parameter at fault.
	NewJob(params Params) (*Job, error)

	// Prepare runs inside the transaction that stores the new job: it may read the database
	// to fix what the job will see (an export's snapshot) or hold the job before it starts
	// (a guard), by setting the job's Status, Checkpoint or Total.
	Prepare(ctx context.Context, tx Tx, job *Job) error

	// Begin prepares a processing run of the job from its checkpoint. It returns
	// ErrNotReady when the job has nothing to work on yet (an upload still arriving).
	Begin(ctx context.Context, job *Job) (Task, error)

	// Undo removes, inside tx (a fenced rollback batch), up to limit units of what the job
	// did in the database, and returns how many it removed; 0 means nothing is left. A
	// rollback calls it after Discard until it returns 0.
	Undo(ctx context.Context, tx Tx, job *Job, limit int) (int64, error)

	// Discard removes the job's files (partial results, spools). It must be idempotent.
	Discard(ctx context.Context, job *Job) error

	// Present returns the kind's own fields of the job's API answer (an import's skipped
	// rows, an export's result link), merged into the common ones.
	Present(job *Job) map[string]any
}

// UploadKind is a Kind whose jobs work on a file uploaded into them (the customers import,
// bulk team creation): a job waits for its file before its first run, and the file is checked
// as it arrives.
type UploadKind interface {
	Kind
	// CheckFile returns a checker for the job's file, fed the bytes as they arrive: a bad
	// header is refused at once, and the records are counted for the job's total.
	CheckFile(job *Job) (FileCheck, error)
}

// FileCheck checks an upload while it arrives.
type FileCheck interface {
	// Write feeds the next bytes of the file; it fails with EINVALID once the file is known
	// to be unusable (a bad header).
	Write(p []byte) (int, error)
	// Finish ends the file and returns how many records it holds, or EINVALID for a bad file.
	Finish() (records int64, err error)
	// Abort ends the check early; its result is then unused.
	Abort()
}

// Params are a job's creation parameters as a request gives them: a query or form value, or
// in a JSON body the value itself when it is a string and its JSON text otherwise.
type Params map[string]string

// Task is one processing run of a job, a batch at a time; the engine does the rest
// (claiming, fencing, throttling, stopping, retries).
type Task interface {
	// Next prepares the next batch of at most limit units: its effects (Apply), DoneDelta,
	// Checkpoint and Total. last reports that the job is complete once the batch commits.
	// It must not change anything committed before Committed is called.
	Next(ctx context.Context, limit int) (b *Batch, last bool, err error)

	// Committed tells the task that the batch Next returned has committed. After a batch
	// that may overlap (Batch.Overlap), the engine may call Next again before Committed: such
	// a task makes each batch from the last one it made, and a batch that is not committed
	// ends the run.
	Committed(b *Batch)

	// Close releases the task's resources and tidies up after the run's outcome.
	Close(outcome Outcome) error
}

// Outcome is how a run ended, for Task.Close.
type Outcome int

// The outcomes of a run.
const (
	// Stopped: the run stopped (paused, handed over, failed) and the job may continue.
	Stopped Outcome = iota
	// Completed: the job is COMPLETED.
	Completed
	// Abandoned: the job is being revoked or has failed; the run must leave nothing behind.
	Abandoned
)

// ErrNotReady is what Kind.Begin returns when the job has nothing to work on yet; whoever
// makes it ready enqueues the next run.
var ErrNotReady = errors.New("reins: the job is not ready for a run")

// DecodeJob decodes a job's params and checkpoint into a kind's own types. Returns EINVALID
// naming the job type when either does not decode.
func DecodeJob[P, C any](job *Job) (P, C, error) {
	var p P
	var c C
	if len(job.Params) > 0 {
		if err := json.Unmarshal(job.Params, &p); err != nil {
			return p, c, Errorf(EINVALID, "%s params: %v", job.Type, err)
		}
	}
	if len(job.Checkpoint) > 0 {
		if err := json.Unmarshal(job.Checkpoint, &c); err != nil {
			return p, c, Errorf(EINVALID, "%s checkpoint: %v", job.Type, err)
		}
	}
	return p, c, nil
}

// Registry holds the kinds a process runs, each registered once. It serves the engine, the
// API and the tests alike.
type Registry struct {
	kinds map[JobType]Kind
	order []JobType
}

// NewRegistry returns a registry of the given kinds. It panics on two kinds of one type: a
// programming error found at start.
func NewRegistry(kinds ...Kind) *Registry {
	r := &Registry{kinds: make(map[JobType]Kind, len(kinds))}
	for _, k := range kinds {
		if _, dup := r.kinds[k.Type()]; dup {
			panic("reins: job kind " + string(k.Type()) + " registered twice")
		}
		r.kinds[k.Type()] = k
		r.order = append(r.order, k.Type())
	}
	return r
}

// Lookup returns the kind of the given type. Returns EINVALID naming the known types.
func (r *Registry) Lookup(t JobType) (Kind, error) {
	if k, ok := r.kinds[t]; ok {
		return k, nil
	}
	names := make([]string, len(r.order))
	for i, n := range r.order {
		names[i] = string(n)
	}
	return nil, Errorf(EINVALID, "unknown job_type %q: must be one of %s", Shorten(string(t), 40), strings.Join(names, ", "))
}

// Types lists the registered job types, in registration order.
func (r *Registry) Types() []JobType { return slices.Clone(r.order) }

// Kinds lists the registered kinds, in registration order.
func (r *Registry) Kinds() []Kind {
	out := make([]Kind, len(r.order))
	for i, t := range r.order {
		out[i] = r.kinds[t]
	}
	return out
}
