package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// Hold is a claim on a job: its lease, kept alive by a heartbeat, and the job's signals. A
// run holds its job while it works; an upload transfer holds its job while the file arrives.
// Both stop and acknowledge through it.
type Hold struct {
	engine *Engine
	job    *reins.Job
	lease  uuid.UUID

	ctx         context.Context
	cancel      context.CancelFunc
	signals     <-chan struct{}
	unsubscribe func()
	lost        atomic.Bool
	// stopped is the job as the run last read it when it found it must stop, if it did.
	stopped   *reins.Job
	heartbeat sync.WaitGroup
	closeOnce sync.Once
}

// hold subscribes to the job's signals (first, so a command given while the claim is taken
// is not missed), takes the claim, and starts the heartbeat. The hold's context ends when the
// lease is lost or the hold is closed.
func (e *Engine) hold(ctx context.Context, id uuid.UUID, claim func(ctx context.Context) (*reins.Job, error)) (*Hold, error) {
	signals, unsubscribe := e.notifier.Subscribe(id)
	job, err := claim(ctx)
	if err != nil {
		unsubscribe()
		return nil, err
	}
	h := &Hold{engine: e, job: job, lease: *job.Lease, signals: signals, unsubscribe: unsubscribe}
	h.ctx, h.cancel = context.WithCancel(ctx)
	h.heartbeat.Add(1)
	go h.beat()
	return h, nil
}

// HoldTransfer begins an upload transfer into a job (reins.UploadStore.BeginUpload) and holds
// the job for it. Returns what BeginUpload returns.
func (e *Engine) HoldTransfer(ctx context.Context, u *reins.Upload, actor string) (*Hold, error) {
	return e.hold(ctx, u.JobID, func(ctx context.Context) (*reins.Job, error) {
		return e.store.BeginUpload(ctx, u, actor, e.cfg.LeaseTTL, e.cfg.Name)
	})
}

// beat renews the lease every third of its TTL. When the lease is lost (another process
// took the job over, or a REVOKE fenced a transfer off), it cancels the hold's context.
func (h *Hold) beat() {
	defer h.heartbeat.Done()
	e := h.engine
	Every(h.ctx, e.cfg.LeaseTTL/3, func(ctx context.Context) bool {
		held, err := e.store.RenewLease(ctx, h.job.ID, h.lease, e.cfg.LeaseTTL)
		if err != nil && ctx.Err() != nil {
			return false // the hold ended
		}
		if err != nil {
			// The database may be away; keep trying. If the lease expires meanwhile, the
			// fence stops the holder when it next commits.
			e.log.Warn("reins: could not renew a lease", "job_id", h.job.ID, "error", err)
			return true
		}
		if !held {
			h.lost.Store(true)
			h.cancel()
		}
		return held
	})
}

// Job returns the job as it was when the hold was taken.
func (h *Hold) Job() *reins.Job { return h.job }

// Lease returns the hold's lease token.
func (h *Hold) Lease() uuid.UUID { return h.lease }

// Context ends when the lease is lost or the hold is closed.
func (h *Hold) Context() context.Context { return h.ctx }

// Signals receives a value after each signal for the job: re-read it and obey.
func (h *Hold) Signals() <-chan struct{} { return h.signals }

// Lost reports whether the heartbeat found the lease taken away.
func (h *Hold) Lost() bool { return h.lost.Load() }

// AcknowledgePause writes PAUSED for a job that is PAUSING, in the holder's name, keeping the
// lease when keep is set (a paused transfer keeps its connection), and wakes the command
// waiting for it. It reports whether it did.
func (h *Hold) AcknowledgePause(ctx context.Context, actor string, keep bool) (bool, error) {
	ok, err := h.engine.store.FinishRun(ctx, &reins.Finish{JobID: h.job.ID, Event: reins.RunStopped,
		Lease: &h.lease, KeepLease: keep, Actor: actor})
	if ok {
		h.engine.notify(ctx, h.job.ID)
	}
	return ok, err
}

// Close stops the heartbeat, gives the lease up if it is still held, and ends the
// subscription. It may be called more than once.
func (h *Hold) Close() { h.close(true) }

// abandon is Close keeping the lease: it expires, and the rescuer enqueues a run for the job
// then.
func (h *Hold) abandon() { h.close(false) }

func (h *Hold) close(release bool) {
	h.closeOnce.Do(func() {
		h.cancel()
		h.heartbeat.Wait()
		h.unsubscribe()
		if !release {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.engine.store.ReleaseLease(ctx, h.job.ID, h.lease); err != nil {
			h.engine.log.Warn("reins: could not release a lease; it will expire", "job_id", h.job.ID, "error", err)
		}
	})
}
