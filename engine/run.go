package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/riverqueue/river"

	"github.com/reins-dev/reins"
)

// runWorker is the River worker that executes one run of a Reins job.
type runWorker struct {
	river.WorkerDefaults[reins.RunArgs]
	engine *Engine
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[reins.RunArgs]) error {
	err := w.engine.run(ctx, job.Args)
	if err == nil || reins.ErrorCode(err) == reins.EFENCED {
		return nil
	}
	if job.Attempt < job.MaxAttempts && reins.ErrorCode(err) != reins.EINVALID {
		w.engine.log.Warn("reins: run failed; it will be retried", "job_id", job.Args.JobID, "attempt", job.Attempt, "error", err)
		return err
	}
	// Out of attempts, or bad input that no retry can mend: the job fails for good.
	w.engine.log.Error("reins: job failed", "job_id", job.Args.JobID, "error", err)
	return w.engine.fail(context.WithoutCancel(ctx), job.Args, err)
}

// run executes one run: it claims the job and its lease, keeps the lease alive with a
// heartbeat, and works until the job is done, a command stops it, its budget is spent, or
// the process drains.
func (e *Engine) run(ctx context.Context, args reins.RunArgs) error {
	// Subscribe first, so a command given while the run claims the job is not missed.
	signals, unsubscribe := e.notifier.Subscribe(args.JobID)
	defer unsubscribe()

	job, err := e.store.StartRun(ctx, args.JobID, args.Epoch, args.Run, e.cfg.LeaseTTL, e.cfg.Name)
	switch reins.ErrorCode(err) {
	case "":
	case reins.EFENCED:
		return e.settle(ctx, args)
	case reins.EBUSY:
		// A live run holds the job (this is a late duplicate); if it dies, the rescuer
		// enqueues a new run once its lease expires.
		return nil
	default:
		return err
	}
	lease := *job.Lease
	ctx, stopHeartbeat, lost := e.heartbeat(ctx, job.ID, lease)
	defer stopHeartbeat()
	defer func() {
		if err := e.store.ReleaseLease(context.WithoutCancel(ctx), job.ID, lease); err != nil {
			e.log.Warn("reins: could not release a lease; it will expire", "job_id", job.ID, "error", err)
		}
	}()
	proc, ok := e.processors[job.Type]
	if !ok {
		err = reins.Errorf(reins.EINVALID, "no processor for job type %q", job.Type)
	} else if args.Run == reins.RunRollback {
		err = e.rollback(ctx, job, lease, proc)
	} else {
		err = e.process(ctx, job, args, lease, proc, signals)
	}
	if err != nil && lost() {
		// The heartbeat found the lease taken over: this run was fenced off.
		return fenced(args)
	}
	return err
}

// heartbeat renews the run's lease every third of its TTL. When the lease is lost (another
// process rescued the job), it cancels the returned context and lost reports true.
func (e *Engine) heartbeat(ctx context.Context, id, lease uuid.UUID) (context.Context, context.CancelFunc, func() bool) {
	ctx, cancel := context.WithCancel(ctx)
	var gone atomic.Bool
	go func() {
		defer cancel()
		Every(ctx, e.cfg.LeaseTTL/3, func(ctx context.Context) bool {
			held, err := e.store.RenewLease(ctx, id, lease, e.cfg.LeaseTTL)
			if err != nil && ctx.Err() != nil {
				return false // the run ended
			}
			if err != nil {
				// The database may be away; keep trying. If the lease expires meanwhile,
				// the batch fence stops this run when it next commits.
				e.log.Warn("reins: could not renew a lease", "job_id", id, "error", err)
				return true
			}
			gone.Store(!held)
			return held
		})
	}()
	return ctx, cancel, gone.Load
}

// process works a processing run in batches.
func (e *Engine) process(ctx context.Context, job *reins.Job, args reins.RunArgs, lease uuid.UUID, proc Processor, signals <-chan struct{}) error {
	task, err := proc.Begin(ctx, job)
	if errors.Is(err, ErrNotReady) {
		// Nothing to work on yet (an upload still arriving); whoever makes the job ready
		// enqueues the next run.
		return nil
	}
	if err != nil {
		return err
	}
	outcome := Stopped
	defer func() {
		if err := task.Close(outcome); err != nil {
			e.log.Warn("reins: could not tidy up after a run", "job_id", job.ID, "error", err)
		}
	}()

	rate := rateOf(job)
	start := time.Now()
	last := start
	var doneInRun int64
	for {
		if time.Since(start) >= e.cfg.RunBudget || e.draining() {
			// Hand over to a fresh run, here or in another process: a checkpoint-only
			// batch that releases the lease and enqueues it.
			_, err := e.store.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: args.Epoch, Kind: args.Run,
				Lease: lease, Checkpoint: job.Checkpoint, Continue: true})
			return e.stopped(ctx, args, err, &outcome)
		}
		limit := e.cfg.BatchSize
		if rate > 0 {
			// A few batches a second keep a throttled job's progress smooth.
			limit = max(1, min(limit, rate/4))
		}
		b, lastBatch, err := task.Next(ctx, limit)
		if err != nil {
			return err
		}
		now := time.Now()
		b.JobID, b.Epoch, b.Kind, b.Lease = job.ID, args.Epoch, args.Run, lease
		b.ActiveMillis = now.Sub(last).Milliseconds()
		res, err := e.store.CommitBatch(ctx, b)
		if err != nil {
			return e.stopped(ctx, args, err, &outcome)
		}
		task.Committed(b)
		job.Checkpoint = b.Checkpoint
		last = now
		doneInRun += b.DoneDelta

		if lastBatch {
			if err := task.Complete(ctx); err != nil {
				return err
			}
			ok, err := e.store.FinishRun(ctx, &reins.Finish{JobID: job.ID, Epoch: args.Epoch, Lease: &lease,
				// A PAUSE that came during the last batch finds the job complete.
				From: []reins.Status{reins.StatusStarted, reins.StatusResumed, reins.StatusPausing},
				To:   reins.StatusCompleted, Actor: "worker"})
			if err != nil {
				return err
			}
			if !ok {
				return e.stopped(ctx, args, fenced(args), &outcome)
			}
			outcome = Completed
			return e.notify(ctx, job.ID)
		}

		if res.Status == reins.StatusPausing {
			// The batch in flight when PAUSE came is in; now stop and acknowledge.
			return e.stopped(ctx, args, fenced(args), &outcome)
		}

		// Between batches: honour the throttle, and stop at once when a command arrives.
		var wait time.Duration
		if rate > 0 {
			due := start.Add(time.Duration(float64(doneInRun) / float64(rate) * float64(time.Second)))
			wait = time.Until(due)
		}
		if stop, err := e.pause(ctx, args, signals, wait); err != nil || stop {
			if err == nil {
				err = fenced(args)
			}
			return e.stopped(ctx, args, err, &outcome)
		}
	}
}

func fenced(args reins.RunArgs) error {
	return reins.Errorf(reins.EFENCED, "run of epoch %d lost its claim on job %s", args.Epoch, args.JobID)
}

// pause waits for d (zero: only checks) unless a signal arrives, and reports whether the
// run must stop because the job no longer lets it work.
func (e *Engine) pause(ctx context.Context, args reins.RunArgs, signals <-chan struct{}, d time.Duration) (bool, error) {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	for {
		if timer == nil {
			select {
			case <-signals:
				return e.mustStop(ctx, args)
			default:
				return false, nil
			}
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-timer:
			return false, nil
		case <-e.drain:
			return false, nil // the loop hands the job over
		case <-signals:
			if stop, err := e.mustStop(ctx, args); err != nil || stop {
				return stop, err
			}
		}
	}
}

// mustStop re-reads the job after a signal: the run stops when its epoch is stale or the
// job's status no longer lets it work.
func (e *Engine) mustStop(ctx context.Context, args reins.RunArgs) (bool, error) {
	job, err := e.store.FindJob(ctx, args.JobID)
	if err != nil {
		return false, err
	}
	return job.Epoch != args.Epoch || !job.Status.Runnable(), nil
}

// stopped ends a run whose commit failed: a fenced run settles the job (acknowledging a
// pause) and, when the job is being revoked, abandons its uncommitted files.
func (e *Engine) stopped(ctx context.Context, args reins.RunArgs, err error, outcome *Outcome) error {
	if reins.ErrorCode(err) != reins.EFENCED {
		return err
	}
	job, ferr := e.store.FindJob(ctx, args.JobID)
	if ferr == nil && (job.Status == reins.StatusRevoking || job.Status == reins.StatusRevoked || job.Status == reins.StatusFailed) {
		*outcome = Abandoned
	}
	return e.settle(ctx, args)
}

// settle acknowledges a pause when the run of this epoch is the one that must stop: it
// writes PAUSED, after which the job's counters cannot move, and wakes the waiting command.
func (e *Engine) settle(ctx context.Context, args reins.RunArgs) error {
	ok, err := e.store.FinishRun(ctx, &reins.Finish{JobID: args.JobID, Epoch: args.Epoch,
		From: []reins.Status{reins.StatusPausing}, To: reins.StatusPaused, Actor: "worker"})
	if err != nil {
		return err
	}
	if ok {
		return e.notify(ctx, args.JobID)
	}
	return nil
}

// rollback removes a revoked or failed job's partial work: its files, then its rows in fenced
// batches (each one tracked, so a crash resumes the rollback), then marks it REVOKED.
func (e *Engine) rollback(ctx context.Context, job *reins.Job, lease uuid.UUID, proc Processor) error {
	if err := proc.Rollback(ctx, job); err != nil {
		return err
	}
	for {
		res, err := e.store.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: job.Epoch, Kind: reins.RunRollback,
			Lease: lease, Checkpoint: job.Checkpoint, DeleteImported: e.cfg.BatchSize})
		if err != nil {
			return err
		}
		if res.Deleted < int64(e.cfg.BatchSize) {
			break
		}
	}
	// A revoked job ends REVOKED; a failed one stays FAILED, now with nothing left of it.
	if _, err := e.store.FinishRun(ctx, &reins.Finish{JobID: job.ID, Epoch: job.Epoch, Lease: &lease,
		From: []reins.Status{reins.StatusRevoking}, To: reins.StatusRevoked, Actor: "worker"}); err != nil {
		return err
	}
	return e.notify(ctx, job.ID)
}

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
	return e.notify(ctx, args.JobID)
}
