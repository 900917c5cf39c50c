package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/reins-dev/reins"
)

// process works a processing run in batches until the job is complete, a command stops it,
// the run's budget is spent or the process drains. ctx is the run's (River's) context; the
// hold's context ends sooner, when the lease is lost.
//
// A run whose batch acknowledged a PAUSE parks for a moment (park): a RESUME that comes
// meanwhile lets this run claim the job again and go on with its task as it was, the page
// read ahead included, instead of a new run starting over (docs/architecture.md, "Quick
// RESUME").
func (e *Engine) process(ctx context.Context, h *Hold, kind reins.Kind) (err error) {
	// The task lives as long as the run, across the holds a quick RESUME gives it; it ends
	// with the hold it works under, unless the run parks.
	tctx, cancelTask := context.WithCancel(ctx)
	defer cancelTask()
	detach := context.AfterFunc(h.Context(), cancelTask)
	cur := h
	defer func() {
		if err != nil && cur.Lost() {
			// The heartbeat found the lease taken over: this run was fenced off.
			err = nil
		}
		if cur != h {
			err = e.leaveResumed(ctx, cur, err)
		}
	}()
	task, err := kind.Begin(tctx, h.job)
	if errors.Is(err, reins.ErrNotReady) {
		// Nothing to work on yet (an upload still arriving); whoever makes the job ready
		// enqueues the next run.
		return nil
	}
	if err != nil {
		return err
	}
	outcome := reins.Stopped
	defer func() {
		if err := task.Close(outcome); err != nil {
			e.log.Warn("reins: could not tidy up after a run", "job_id", h.job.ID, "error", err)
		}
	}()

	rate := rateOf(h.job)
	var own *owner
	if rate == 0 {
		own = e.own(h.job)
		defer own.leave()
	}
	start := time.Now()
	last := start
	meter := newRateMeter()
	sizer := newBatchSizer(e.cfg.BatchSize, e.cfg.BatchTime)
	if rate == 0 {
		// A throttled run waits between batches anyway, so a climb from firstBatch costs it
		// nothing, and a PAUSE right after its RESUME finds a small batch in flight.
		sizer.resume(h.job)
		sizer.warm(e.pace(h.job.Type))
	}
	// done is the job's done as this run committed it (the task may count on its own).
	done := h.job.Done
	var doneInRun int64
	// committed counts the batches this run committed: a run works at least one before its
	// budget hands the job over, so a budget shorter than a run's start still moves the job.
	var committed int
	// flight holds the batches begun and not yet settled, oldest first: one, or two while a
	// batch's effects go in as the batch before it commits (reins.Batch.Overlap). Whatever
	// is left when the run ends is rolled back.
	var flight []*inFlight
	// readPast is set once a read was cut short for a signal (Engine.next): the task has read
	// past what is committed, so the run cannot park and go on with it.
	var readPast bool
	abandon := func() {
		for _, f := range flight {
			f.p.Abandon()
		}
		flight = nil
	}
	defer abandon()
	// settle commits the oldest batch in flight and does what its commit calls for. It
	// reports whether the run ends, and with what error; a run that parked after a PAUSE and
	// was resumed goes on.
	settle := func() (bool, error) {
		f := flight[0]
		hctx := cur.Context()
		if stop, err := e.awaitApplied(hctx, cur, f.p); err != nil {
			return true, err
		} else if stop {
			// Acknowledged first: the batches in flight cannot commit now, and the run rolls
			// them back as it ends, without the PAUSE waiting for their COPY to be cancelled.
			return true, e.stop(hctx, cur, &outcome)
		}
		flight = flight[1:]
		res, err := f.p.Commit(hctx)
		if isFenced(err) {
			abandon()
			return true, e.stop(hctx, cur, &outcome)
		} else if err != nil {
			return true, err
		}
		b := f.b
		committed++
		task.Committed(b)
		took := time.Since(f.began)
		e.cfg.Observer.BatchCommitted(cur.job.Type, reins.RunProcess, b.DoneDelta, took)
		sizer.observe(f.limit, b.DoneDelta, took)
		if rate == 0 {
			e.paces.Store(cur.job.Type, sizer.limit())
		}
		cur.job.Checkpoint = b.Checkpoint
		done += b.DoneDelta
		doneInRun += b.DoneDelta

		if f.last {
			// The batch completed the job in its own transaction (reins.Batch.Complete).
			if res.Status != reins.StatusCompleted {
				return true, fmt.Errorf("the last batch of job %s committed, but the job is %s, not COMPLETED", cur.job.ID, res.Status)
			}
			outcome = reins.Completed
			e.notify(hctx, cur.job.ID)
			return true, nil
		}
		if res.Status == reins.StatusPaused {
			// The batch in flight when PAUSE came is in, and its commit acknowledged the
			// pause: wake the command waiting for it. A batch begun after it is rolled
			// back, and the run cannot park: its task has read past what is committed.
			e.notify(hctx, cur.job.ID)
			if len(flight) > 0 {
				abandon()
				return true, nil
			}
			if readPast || own == nil || !detach() {
				return true, nil // a throttled run reads nothing ahead; or the hold already ended
			}
			next, err := e.park(tctx, cur, done, own)
			if next == nil || err != nil {
				return true, err
			}
			if cur != h {
				cur.Close()
			}
			cur = next
			detach = context.AfterFunc(cur.Context(), cancelTask)
			last = time.Now() // the run budget goes on counting: River bounds the run by it
			return false, nil
		}
		if res.Status == reins.StatusPausing {
			// PAUSING but not acknowledged by the batch: stop and acknowledge now (a batch
			// begun after it is rolled back as the run ends, after the answer).
			return true, e.stop(hctx, cur, &outcome)
		}
		var wait time.Duration
		if rate > 0 {
			wait = time.Until(start.Add(time.Duration(float64(doneInRun) / float64(rate) * float64(time.Second))))
		}
		if stop, err := e.waitBetweenBatches(hctx, cur, wait); err != nil {
			return true, err
		} else if stop {
			// Acknowledged first, as in awaitApplied: the PAUSE does not wait for the COPY of
			// a batch begun after this one to be cancelled.
			return true, e.stop(hctx, cur, &outcome)
		}
		return false, nil
	}
	overlap := rate == 0 && e.store.OverlapsBatches()
	for {
		if (committed > 0 && time.Since(start) >= e.cfg.RunBudget) || e.draining() {
			for len(flight) > 0 {
				if ended, err := settle(); ended {
					return err
				}
			}
			return e.handOver(cur.Context(), cur, &outcome)
		}
		limit := sizer.limit()
		if rate > 0 {
			// A few batches a second keep a throttled job's progress smooth.
			limit = max(1, min(limit, rate/4))
		}
		began := time.Now()
		b, lastBatch, err := e.next(tctx, cur, task, limit, len(flight) > 0)
		if errors.Is(err, errInterrupted) {
			// A signal that stops the run cut the read short. The batch in flight commits
			// if its effects are in (its commit acknowledges a PAUSE and keeps its work),
			// or is abandoned as awaitApplied would; either way the run ends.
			readPast = true
			select {
			case <-flight[0].p.Applied():
				if ended, err := settle(); ended {
					return err
				}
				// The commit found the job runnable, which no command makes it without moving
				// the epoch (and fencing the commit off): should it happen, a new run goes on
				// from the checkpoint, not this task, which read past it.
				return e.handOver(cur.Context(), cur, &outcome)
			default:
				return e.stop(cur.Context(), cur, &outcome) // acknowledged first, as above
			}
		}
		if err != nil {
			return err
		}
		now := time.Now()
		meter.add(b.DoneDelta)
		b.JobID, b.Epoch, b.Kind, b.Lease = cur.job.ID, cur.job.Epoch, reins.RunProcess, cur.lease
		// A PAUSE that came during the batch is acknowledged by its commit; the last batch
		// completes the job instead, in the same transaction.
		b.StopIfPausing, b.Complete = !lastBatch, lastBatch
		b.ActiveMillis, b.RatePerS = now.Sub(last).Milliseconds(), meter.rate()
		last = now
		f := &inFlight{b: b, limit: limit, began: began, last: lastBatch}
		overlapped := overlap && b.Overlap
		if overlapped {
			// Its effects go in now, beside the commit of the batch before it.
			if f.p, err = e.store.BeginBatch(cur.Context(), b); err != nil {
				return err
			}
			f.began = time.Now()
		} else {
			f.p = &commitLater{store: e.store, b: b}
		}
		flight = append(flight, f)
		// Settle the batches before this one, and this one too unless its effects may go on
		// going in while the next batch is read and begun.
		for len(flight) > 0 && !(overlapped && !lastBatch && len(flight) == 1) {
			if ended, err := settle(); ended {
				return err
			}
		}
	}
}

// errInterrupted is Engine.next's error when a signal that stops the run cut the read short.
var errInterrupted = errors.New("engine: the read of the next batch was cut short by a signal")

// next reads the task's next batch. While a batch before it is in flight (watch: its effects
// go in beside the read, reins.Batch.Overlap), a signal that stops the run cuts the read
// short and next returns errInterrupted: the batch in flight, whose commit acknowledges a
// PAUSE, then need not wait for a read whose batch the PAUSE would roll back anyway
// (docs/architecture.md, "Stopping"). The task has read past what is committed then, and
// cannot go on. A signal whose re-read finds the run may go on is used up here; the batch's
// commit reads the job's status under its fence in any case.
func (e *Engine) next(ctx context.Context, h *Hold, task reins.Task, limit int, watch bool) (*reins.Batch, bool, error) {
	if !watch {
		return task.Next(ctx, limit)
	}
	rctx, cut := context.WithCancel(ctx)
	defer cut()
	read := make(chan struct{})
	stopped := make(chan bool, 1)
	go func() {
		stop := false
		defer func() { stopped <- stop }()
		for {
			select {
			case <-read:
				return
			case <-ctx.Done():
				return
			case <-h.Signals():
				var err error
				if stop, err = e.mustStop(ctx, h); err != nil {
					stop = false // the batch's commit finds out
					return
				} else if stop {
					cut()
					return
				}
			}
		}
	}()
	b, last, err := task.Next(rctx, limit)
	close(read)
	if <-stopped {
		return nil, false, errInterrupted
	}
	return b, last, err
}

// inFlight is a batch begun and not yet settled.
type inFlight struct {
	p     reins.PendingBatch
	b     *reins.Batch
	limit int
	began time.Time
	last  bool
}

// commitLater is a batch that does not overlap: it commits, effects and all, when settled.
type commitLater struct {
	store reins.Store
	b     *reins.Batch
}

func (c *commitLater) Commit(ctx context.Context) (*reins.BatchResult, error) {
	return c.store.CommitBatch(ctx, c.b)
}

func (c *commitLater) Abandon() {}

// Applied is closed: a batch that does not overlap puts its effects in when it commits.
func (c *commitLater) Applied() <-chan struct{} { return closed }

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// awaitApplied waits for the effects of a batch that overlaps to be in. A signal meanwhile
// that stops the run (a PAUSE, a REVOKE, a RESUME of a new epoch) ends the wait at once and
// reports true: the batch is abandoned rather than awaited, its effects rolled back
// unseen, and the run stops without it. An import's rows go in for most of its batch's
// time, which a PAUSE would otherwise wait for (docs/architecture.md, "Stopping").
func (e *Engine) awaitApplied(ctx context.Context, h *Hold, p reins.PendingBatch) (bool, error) {
	for {
		select {
		case <-p.Applied():
			return false, nil // effects in: the commit is quick, and keeps the work
		default:
		}
		select {
		case <-p.Applied():
			return false, nil
		case <-ctx.Done():
			return false, nil // Commit reports it
		case <-h.Signals():
			if stop, err := e.mustStop(ctx, h); err != nil || stop {
				return stop, err
			}
		}
	}
}

// handOver ends a run whose budget is spent, or whose process drains, with a checkpoint-only
// batch that releases the lease and enqueues the next run, here or in another process.
func (e *Engine) handOver(ctx context.Context, h *Hold, outcome *reins.Outcome) error {
	_, err := e.store.CommitBatch(ctx, continueBatch(h, h.job.Checkpoint))
	if isFenced(err) {
		return e.stop(ctx, h, outcome)
	}
	return err
}

// continueBatch is the batch that hands h's job over: the lease released, a run of the same
// epoch enqueued, and the checkpoint (nil keeps the stored one).
func continueBatch(h *Hold, checkpoint json.RawMessage) *reins.Batch {
	return &reins.Batch{JobID: h.job.ID, Epoch: h.job.Epoch, Kind: reins.RunProcess, Lease: h.lease,
		Checkpoint: checkpoint, Continue: true}
}

// waitBetweenBatches waits for d (zero: only looks) for the throttle, and reports whether
// the run must stop because a signal showed that the job no longer lets it work.
func (e *Engine) waitBetweenBatches(ctx context.Context, h *Hold, d time.Duration) (bool, error) {
	if d <= 0 {
		select {
		case <-h.Signals():
			return e.mustStop(ctx, h)
		default:
			return false, nil
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-timer.C:
			return false, nil
		case <-e.drain:
			return false, nil // the loop hands the job over
		case <-h.Signals():
			if stop, err := e.mustStop(ctx, h); err != nil || stop {
				return stop, err
			}
		}
	}
}

// mustStop re-reads the job after a signal: the run stops when its epoch is stale or the
// job's status no longer lets it work.
func (e *Engine) mustStop(ctx context.Context, h *Hold) (bool, error) {
	job, err := e.store.FindJob(ctx, h.job.ID)
	if err != nil {
		return false, err
	}
	stop := job.Epoch != h.job.Epoch || !job.Status.Runnable()
	if stop {
		h.stopped = job // stop needs not read it again: one round trip less for a PAUSE
	}
	return stop, nil
}

// rateOf is the job's throttle in units per second (0 for none): the max_rows_per_s that
// every kind's params accept.
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

// batchSizer sizes a run's batches by time: each batch is given about as many units as the
// last one's rate does in the batch time, at most the batch size and at most twice the last
// limit, so that the batch in flight when a PAUSE comes ends soon, whatever a unit costs.
type batchSizer struct {
	max, next int
	target    time.Duration
}

// firstBatch is the first batch's limit, before any rate is known, and the least a batch is
// sized to by time.
const firstBatch = 1000

func newBatchSizer(maxSize int, target time.Duration) *batchSizer {
	return &batchSizer{max: maxSize, next: min(maxSize, firstBatch), target: target}
}

// resume sizes the first batch of a later run of job (after a RESUME, a hand-over or a
// rescue) where the job's earlier runs left off: as many units as the job's own rate so far
// (done over its active time) does in the batch time. A job's first run has no rate and starts
// at firstBatch. Without this, every resumed run would climb from firstBatch again, through
// several small batches whose fixed cost (a transaction, a sync) is most of their time
// (docs/benchmarks.md, "Pause/resume cost").
func (s *batchSizer) resume(job *reins.Job) {
	if job.Done > 0 && job.ActiveMillis > 0 {
		fit := float64(job.Done) * float64(s.target) / float64(time.Duration(job.ActiveMillis)*time.Millisecond)
		s.next = max(s.next, int(min(float64(s.max), fit)))
	}
}

// warm sizes the first batch of a job's first run from pace, the limit the last unthrottled
// batch of a job of the same type in this process was given (0 if none): half of it, so
// that a job whose rows cost twice as much still ends its first batch within the batch
// time. Without it, each job climbs from firstBatch through several small batches whose
// fixed cost is most of their time, which weighs on a small job's cost per row
// (docs/benchmarks.md, "Cost per row").
func (s *batchSizer) warm(pace int) {
	s.next = max(s.next, min(s.max, pace/2))
}

func (s *batchSizer) limit() int { return s.next }

// observe records that a batch given limit units did n of them in d.
func (s *batchSizer) observe(limit int, n int64, d time.Duration) {
	if n <= 0 || d <= 0 {
		return
	}
	fit := int(float64(n) * float64(s.target) / float64(d))
	// The floor keeps a loaded machine, where even a small batch is slow, from shrinking
	// batches until their fixed cost (a transaction, a sync) is all a run does.
	s.next = max(min(s.max, firstBatch), min(s.max, 2*limit, fit))
}

// pace is the limit the last unthrottled batch of a job of type t in this process was given,
// or 0 (batchSizer.warm).
func (e *Engine) pace(t reins.JobType) int {
	n, _ := e.paces.Load(t)
	pace, _ := n.(int)
	return pace
}
