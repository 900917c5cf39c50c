package engine

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/reins-dev/reins"
)

// ErrNotReady is what Processor.Begin returns when the job has nothing to work on yet.
var ErrNotReady = errors.New("engine: the job is not ready for a run")

// Processor does the work of one job type, a batch at a time; the engine does the rest
// (claiming, fencing, throttling, stopping, retries).
type Processor interface {
	// Begin prepares a processing run of job from its checkpoint.
	Begin(ctx context.Context, job *reins.Job) (Task, error)

	// Rollback removes the job's partial work that is not rows in the database (files). Rows
	// the job inserted are deleted by the engine in fenced batches. It must be idempotent.
	Rollback(ctx context.Context, job *reins.Job) error
}

// Task is one processing run of a job.
type Task interface {
	// Next prepares the next batch of at most limit rows: its effects (files written, rows
	// to insert), DoneDelta, Checkpoint and Total. last reports that the job is complete
	// once the batch commits. It must not change what is committed until Committed.
	Next(ctx context.Context, limit int) (b *reins.Batch, last bool, err error)

	// Committed tells the task that the batch Next returned has committed.
	Committed(b *reins.Batch)

	// Complete finishes the job's effects (flushing files) before it is marked COMPLETED.
	Complete(ctx context.Context) error

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

// DecodeJob decodes a job's params and checkpoint into a processor's own types. Returns
// EINVALID naming the job type when either does not decode.
func DecodeJob[P, C any](job *reins.Job) (P, C, error) {
	var p P
	var c C
	if err := json.Unmarshal(job.Params, &p); err != nil {
		return p, c, reins.Errorf(reins.EINVALID, "%s params: %v", job.Type, err)
	}
	if len(job.Checkpoint) > 0 {
		if err := json.Unmarshal(job.Checkpoint, &c); err != nil {
			return p, c, reins.Errorf(reins.EINVALID, "%s checkpoint: %v", job.Type, err)
		}
	}
	return p, c, nil
}

// rateOf is the job's throttle in rows per second (0 for none): the max_rows_per_s every
// job type's params accept.
func rateOf(job *reins.Job) int {
	var p struct {
		MaxRowsPerS int `json:"max_rows_per_s"`
	}
	_ = json.Unmarshal(job.Params, &p)
	return p.MaxRowsPerS
}

// Every calls fn every interval until ctx ends or fn returns false.
func Every(ctx context.Context, interval time.Duration, fn func(ctx context.Context) bool) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !fn(ctx) {
			return
		}
	}
}
