package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"time"

	"github.com/reins-dev/reins"
)

// A quick RESUME (docs/architecture.md, "Quick RESUME"). A run whose batch acknowledged a
// PAUSE parks for Config.ParkTime instead of ending: its task stays as it was, the page it
// read ahead and its open file included. The RESUME's run, when it starts in this process,
// hands the job to the parked run (owner.take), which claims the job for the new epoch and
// goes on; anywhere else, or once the parked run has gone, the RESUME's run works the job as
// always. Either way the claim (StartRun) decides who works the job, and fencing is unchanged.

// owner is this process's unthrottled run of a job, found by the job's later runs here.
type owner struct {
	engine *Engine
	job    *reins.Job
	// epoch is the epoch the run works under: a run of a later epoch offers it the job.
	// moved is closed when epoch changes. mu guards both.
	mu    sync.Mutex
	epoch int64
	moved chan struct{}
	// take receives, while the run is parked, the offer of a run of a later epoch: the parked
	// run answers on the channel whether it took the job (true: the offering run ends).
	take chan chan bool
	// gone is closed when the run has ended: an offer then goes nowhere.
	gone chan struct{}
}

// own registers the run of job as its owner in this process, or returns nil when a run of
// the job is registered already (a late duplicate).
func (e *Engine) own(job *reins.Job) *owner {
	o := &owner{engine: e, job: job, epoch: job.Epoch, moved: make(chan struct{}),
		take: make(chan chan bool), gone: make(chan struct{})}
	if _, loaded := e.owners.LoadOrStore(job.ID, o); loaded {
		return nil
	}
	return o
}

// leave ends the owner's registration.
func (o *owner) leave() {
	if o == nil {
		return
	}
	o.engine.owners.CompareAndDelete(o.job.ID, o)
	close(o.gone)
}

// at returns the owner's epoch and the channel closed when it changes.
func (o *owner) at() (int64, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.epoch, o.moved
}

// setEpoch records that the owner works under epoch now.
func (o *owner) setEpoch(epoch int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.epoch = epoch
	close(o.moved)
	o.moved = make(chan struct{})
}

// handOff offers the job of a run about to start (args) to its run in this process, if it
// has one of an earlier epoch, and reports whether that run took it: then this run has
// nothing to do. It waits while that run, whose batch acknowledged the PAUSE, reaches park,
// and stops waiting when the run ends or claims the job itself.
func (e *Engine) handOff(ctx context.Context, args reins.RunArgs) bool {
	v, ok := e.owners.Load(args.JobID)
	if !ok {
		return false
	}
	o := v.(*owner)
	answer := make(chan bool, 1)
	for {
		epoch, moved := o.at()
		if args.Epoch <= epoch {
			return false // a late duplicate, or the owner claimed this epoch itself
		}
		select {
		case o.take <- answer:
			return <-answer
		case <-moved:
		case <-o.gone:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// park waits, for up to Config.ParkTime, for the RESUME of the job whose PAUSE h's batch
// acknowledged (at done): told of it (the job's signal), or offered the job by the RESUME's
// run, it claims the job for the new epoch and returns the hold the run goes on under, its
// task as it was. It returns nil when
// the run should end instead: the time passed, the job went another way (REVOKE), another
// run claimed it first, or the job is not where h left it (its checkpoint or done differ: a
// run elsewhere worked in between), so the task's state is not the job's. A run parks only
// while another worker slot stays free, so a paused job never keeps a slot from a job that
// waits for one.
func (e *Engine) park(ctx context.Context, h *Hold, done int64, o *owner) (*Hold, error) {
	if e.cfg.ParkTime <= 0 || e.active.Load() >= int64(e.cfg.Workers) {
		return nil, nil
	}
	// Listen before letting the hold's subscription go, so no command slips between.
	signals, unsubscribe := e.notifier.Subscribe(h.job.ID)
	defer unsubscribe()
	h.Close()
	timer := time.NewTimer(e.cfg.ParkTime)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-e.drain:
			return nil, nil
		case <-timer.C:
			return nil, nil
		case <-signals:
			job, err := e.store.FindJob(ctx, h.job.ID)
			switch {
			case err != nil:
				return nil, err
			case job.Status == reins.StatusPaused && job.Lease == nil:
				continue // still paused
			case job.Status != reins.StatusResumed || job.Lease != nil:
				return nil, nil // revoked, say, or a run elsewhere took the job
			}
			// Resumed: claim the job now rather than wait for the RESUME's run to start.
			return e.reclaim(ctx, h, done, o, job)
		case answer := <-o.take:
			next, err := e.reclaim(ctx, h, done, o, nil)
			answer <- next != nil
			return next, err
		}
	}
}

// reclaim claims the job that h's run paused for its current epoch, if it was resumed and is
// where h left it (at done, with h's checkpoint), and records the epoch in o; else it
// returns nil and no claim. job is the job as just read, or nil to read it.
func (e *Engine) reclaim(ctx context.Context, h *Hold, done int64, o *owner, job *reins.Job) (*Hold, error) {
	if job == nil {
		var err error
		if job, err = e.store.FindJob(ctx, h.job.ID); err != nil {
			return nil, err
		}
	}
	if job.Status != reins.StatusResumed || job.Done != done {
		return nil, nil
	}
	next, err := e.hold(ctx, job.ID, func(ctx context.Context) (*reins.Job, error) {
		return e.store.StartRun(ctx, job.ID, job.Epoch, reins.RunProcess, e.cfg.LeaseTTL, e.cfg.Name)
	})
	switch reins.ErrorCode(err) {
	case "":
	case reins.EBUSY, reins.EFENCED:
		return nil, nil // another run, or a later command, came first
	default:
		return nil, err
	}
	if same, err := sameJSON(next.job.Checkpoint, h.job.Checkpoint); err != nil || !same || next.job.Done != done {
		next.Close() // the RESUME's run claims it and begins afresh
		return nil, err
	}
	o.setEpoch(next.job.Epoch)
	return next, nil
}

// leaveResumed ends a run that went on after a quick RESUME under hold h. River knows the run
// by the epoch before the PAUSE: a retry of it would be fenced, and nothing would run the
// job. So a run that ends with an error hands the job over (a run of its epoch is enqueued)
// and River is told nothing failed; if even that fails, the lease is kept to expire, and the
// rescuer enqueues a run then.
func (e *Engine) leaveResumed(ctx context.Context, h *Hold, err error) error {
	if err == nil {
		h.Close()
		return nil
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// Without a checkpoint: the batch the error came in may or may not have committed, and
	// the stored checkpoint is the one that goes with done.
	if _, herr := e.store.CommitBatch(hctx, continueBatch(h, nil)); herr != nil {
		h.abandon()
		return err
	}
	h.Close()
	e.log.Warn("reins: a run resumed in place failed; a new run takes the job", "job_id", h.job.ID, "error", err)
	return nil
}

// sameJSON reports whether two JSON documents hold the same values (a database may store
// them with other spacing and key order), numbers compared exactly.
func sameJSON(a, b []byte) (bool, error) {
	decode := func(raw []byte) (any, error) {
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		err := d.Decode(&v)
		return v, err
	}
	va, err := decode(a)
	if err != nil {
		return false, err
	}
	vb, err := decode(b)
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(va, vb), nil
}
