package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/reins-dev/reins"
)

// runWorker is the River worker that executes one run of a Reins job.
type runWorker struct {
	river.WorkerDefaults[reins.RunArgs]
	engine *Engine
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[reins.RunArgs]) error {
	if !job.Args.Throttled {
		// No tenant takes every slot: a tenant at its share waits a moment.
		if j, err := w.engine.store.FindJob(ctx, job.Args.JobID); err == nil && j.Owner != reins.DefaultOwner {
			if !w.engine.fair.take(j.Owner) {
				return river.JobSnooze(fairShareSnooze)
			}
			defer w.engine.fair.give(j.Owner)
		}
	}
	if job.Args.Run == reins.RunProcess && w.engine.handOff(ctx, job.Args) {
		return nil // the job's parked run in this process took it (park.go)
	}
	if !job.Args.Throttled {
		// Counted only once it works the job itself: while it offers the job to a run whose
		// batch acknowledged the PAUSE, that run must find a slot free to park in, or it ends
		// and the job begins a second task (TestBehaviour/QuickResumeBeforePark).
		w.engine.active.Add(1)
		defer w.engine.active.Add(-1)
	}
	err := w.engine.run(ctx, job.Args)
	if err == nil {
		return nil
	}
	if job.Attempt < job.MaxAttempts && reins.ErrorCode(err) != reins.EINVALID {
		w.engine.log.Warn("reins: run failed; it will be retried", "job_id", job.Args.JobID, "attempt", job.Attempt, "error", err)
		return err
	}
	if job.Args.Run == reins.RunRollback {
		// A rollback never gives up: failing the job would turn a REVOKE into FAILED, and a
		// failed job's rollback would end with its partial work left. Out of quick retries,
		// it is tried again at the longest backoff for as long as it fails; a snooze spends
		// no attempt (docs/states.md).
		wait := retryPolicy{base: w.engine.cfg.RetryBackoff}.longestBackoff()
		w.engine.log.Error("reins: rollback failed; it will be tried again", "job_id", job.Args.JobID,
			"attempt", job.Attempt, "retry_in", wait, "error", err)
		return river.JobSnooze(wait)
	}
	// Out of attempts, or bad input that no retry can mend: the job fails for good.
	w.engine.log.Error("reins: job failed", "job_id", job.Args.JobID, "error", reins.ErrorMessage(err))
	return w.engine.fail(context.WithoutCancel(ctx), job.Args, err)
}

// run executes one run: it holds the job (its lease, kept alive by a heartbeat) and works
// until the job is done, a command stops it, its budget is spent, or the process drains.
func (e *Engine) run(ctx context.Context, args reins.RunArgs) error {
	h, err := e.hold(ctx, args.JobID, func(ctx context.Context) (*reins.Job, error) {
		return e.store.StartRun(ctx, args.JobID, args.Epoch, args.Run, e.cfg.LeaseTTL, e.cfg.Name)
	})
	switch reins.ErrorCode(err) {
	case "":
	case reins.EFENCED:
		// The job no longer lets this run work. If it is PAUSING because its previous run
		// died, nobody else will say it stopped: this run does.
		return e.acknowledgeOrphanedPause(ctx, args)
	case reins.EBUSY:
		// A live holder has the job (this is a late duplicate, or an upload still arrives);
		// if it dies, the rescuer enqueues a new run once its lease expires.
		return nil
	default:
		return err
	}
	defer h.Close()
	kind, err := e.kinds.Lookup(h.job.Type)
	if err == nil {
		if args.Run == reins.RunRollback {
			err = e.rollback(h.Context(), h, kind)
		} else {
			err = e.process(ctx, h, kind)
		}
	}
	if err != nil && h.Lost() {
		// The heartbeat found the lease taken over: this run was fenced off.
		return nil
	}
	return err
}

// stop ends a run that must not go on: the job was paused, revoked, failed or taken over.
// It re-reads the job to learn why: a pause is acknowledged (after which the job's counters
// cannot move), and a revoked or failed job's uncommitted work is abandoned.
func (e *Engine) stop(ctx context.Context, h *Hold, outcome *reins.Outcome) error {
	job := h.stopped
	if job == nil {
		var err error
		if job, err = e.store.FindJob(context.WithoutCancel(ctx), h.job.ID); err != nil {
			return err
		}
	}
	var err error
	switch {
	case job.Status == reins.StatusRevoking || job.Status.Terminal() && job.Status != reins.StatusCompleted:
		*outcome = reins.Abandoned
	case job.Status == reins.StatusPausing && job.Epoch == h.job.Epoch:
		_, err = h.AcknowledgePause(context.WithoutCancel(ctx), "worker", false)
	}
	return err
}

// acknowledgeOrphanedPause writes PAUSED for a job left PAUSING by a run that died, when no
// live holder can speak for it, and wakes the waiting command.
func (e *Engine) acknowledgeOrphanedPause(ctx context.Context, args reins.RunArgs) error {
	ok, err := e.store.FinishRun(ctx, &reins.Finish{JobID: args.JobID, Epoch: args.Epoch,
		Event: reins.RunStopped, Actor: "worker"})
	if ok {
		e.notify(ctx, args.JobID)
	}
	return err
}

// isFenced reports whether err says the run lost its claim on the job.
func isFenced(err error) bool { return reins.ErrorCode(err) == reins.EFENCED }

// fail marks the job FAILED after its last attempt (or at once for bad input); a rollback
// run then removes its partial work.
func (e *Engine) fail(ctx context.Context, args reins.RunArgs, cause error) error {
	msg := reins.ErrorMessage(cause)
	if reins.ErrorCode(cause) == reins.EINTERNAL {
		msg = fmt.Sprintf("run failed: %v", cause)
	}
	ok, err := e.store.FailJob(ctx, args.JobID, msg, "worker")
	if err != nil || !ok {
		return err
	}
	e.notify(ctx, args.JobID)
	return nil
}

// rollback removes a revoked or failed job's partial work: its files, then its rows in fenced
// batches (each committed on its own, so a crash resumes the rollback, and each counting
// done down), then marks a revoked job REVOKED. A failed job stays FAILED.
func (e *Engine) rollback(ctx context.Context, h *Hold, kind reins.Kind) error {
	job := h.job
	if err := kind.Discard(ctx, job); err != nil {
		return err
	}
	meter := newRateMeter()
	for {
		undone := int64(0)
		began := time.Now()
		_, err := e.store.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: job.Epoch, Kind: reins.RunRollback,
			Lease: h.lease, Checkpoint: job.Checkpoint, RatePerS: meter.rate(),
			Apply: func(ctx context.Context, tx reins.Tx) (int64, error) {
				n, err := kind.Undo(ctx, tx, job, e.cfg.BatchSize)
				undone = n
				return -n, err
			}})
		if isFenced(err) {
			return nil // taken over: the holder of the claim goes on
		} else if err != nil {
			return err
		}
		meter.add(undone)
		e.cfg.Observer.BatchCommitted(job.Type, reins.RunRollback, undone, time.Since(began))
		if undone == 0 {
			break
		}
	}
	// Nothing of the job's work is left (its files went first): whatever done still counts,
	// as an export's rows in its deleted file do, is undone. The rule is the same for every
	// kind: a rolled-back job ends at done 0.
	if _, err := e.store.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: job.Epoch, Kind: reins.RunRollback,
		Lease: h.lease, Checkpoint: job.Checkpoint, ResetDone: true}); isFenced(err) {
		return nil
	} else if err != nil {
		return err
	}
	if _, err := e.store.FinishRun(ctx, &reins.Finish{JobID: job.ID, Epoch: job.Epoch, Lease: &h.lease,
		Event: reins.RunRolledBack, Actor: "worker"}); err != nil {
		return err
	}
	e.notify(ctx, job.ID)
	return nil
}
