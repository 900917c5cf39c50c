package engine

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// notify signals the job's subscribers in every process, in this one at once. A lost signal
// only delays a waiter until its backup poll, so a failure is logged, not returned.
func (e *Engine) notify(ctx context.Context, id uuid.UUID) {
	e.notifier.Publish(id)
	if err := e.notifier.Notify(context.WithoutCancel(ctx), id); err != nil {
		e.log.Warn("reins: could not signal a job change", "job_id", id, "error", err)
	}
}

// Create stores a new job of a registered kind, prepared by its kind in the same
// transaction, and enqueues its first run unless it waits for an upload or is held by a
// guard. Returns EINVALID for a job type that is not registered.
func (e *Engine) Create(ctx context.Context, job *reins.Job, actor string) error {
	kind, err := e.kinds.Lookup(job.Type)
	if err != nil {
		return err
	}
	if job.ID == uuid.Nil {
		job.ID = uuid.New()
	}
	if job.Status == "" {
		job.Status = reins.StatusCreated
	}
	run := reins.RunProcess
	if _, ok := kind.(reins.UploadKind); ok {
		run = reins.RunNone
	}
	if err := e.store.CreateJob(ctx, job, actor, run, kind.Prepare); err != nil {
		return err
	}
	e.notify(ctx, job.ID)
	return nil
}

// Job returns the job with the given id. Returns ENOTFOUND.
func (e *Engine) Job(ctx context.Context, id uuid.UUID) (*reins.Job, error) {
	return e.store.FindJob(ctx, id)
}

// Command applies cmd to the job and, when the job must wait for its run to stop, waits for
// the run's acknowledgement up to the configured bound. The job it returns is as stored
// after that wait: PAUSED only once the run has stopped, PAUSING if it has not yet.
// Returns ENOTFOUND, or EINVALID for a transition the table forbids.
func (e *Engine) Command(ctx context.Context, id uuid.UUID, cmd reins.Command, actor string) (*reins.Job, error) {
	// Subscribe before the change, so the acknowledgement cannot slip past.
	signals, unsubscribe := e.notifier.Subscribe(id)
	defer unsubscribe()

	// A command that changed the job wrote its status and history in one transaction, which
	// announced the change on the change feed as it committed; that signals the job's
	// subscribers (a run to stop, a parked run to go on) in every process. A run in this
	// process is signalled at once besides, without the round trip through the database
	// (on Postgres the notification comes back from a backend that a busy machine may
	// schedule late; docs/architecture.md, "Signals").
	job, t, err := e.store.ApplyCommand(ctx, id, cmd, actor)
	if err != nil {
		return nil, err
	}
	if !t.NoOp {
		e.notifier.Publish(id)
		select {
		case <-signals: // this command's own signal; an acknowledgement signals again
		default:
		}
	}
	if !job.Status.Transitional() {
		return job, nil
	}
	answer, err := e.await(ctx, job, signals)
	if err != nil || answer.Status.Transitional() {
		// Not the acknowledgement's answer, whose commit made the command durable: the
		// store may have committed a PAUSE without waiting for the disk (ApplyCommand).
		if serr := e.store.SyncJob(context.WithoutCancel(ctx), id); serr != nil && err == nil {
			return nil, serr
		}
	}
	return answer, err
}

// await re-reads the job on every signal (and on a slow backup poll) until its status is no
// longer transitional or the wait bound passes.
func (e *Engine) await(ctx context.Context, job *reins.Job, signals <-chan struct{}) (*reins.Job, error) {
	deadline := time.NewTimer(e.cfg.CommandWait)
	defer deadline.Stop()
	poll := time.NewTicker(e.cfg.PollInterval)
	defer poll.Stop()
	for job.Status.Transitional() {
		select {
		case <-ctx.Done():
			return job, nil
		case <-deadline.C:
			return job, nil
		case <-signals:
		case <-poll.C:
		}
		next, err := e.store.FindJob(ctx, job.ID)
		if err != nil {
			return nil, err
		}
		job = next
	}
	return job, nil
}
