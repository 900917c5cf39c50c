// Package engine executes Reins jobs as River runs and carries out commands on them: it
// claims a run, processes the job in fenced batches, stops at a batch boundary when told,
// and waits for a run's acknowledgement so that the status a command answers is true.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/reins-dev/reins"
)

// Config tunes the engine. The zero value of each field means its default.
type Config struct {
	// Workers is how many runs this process works at once; 0 serves commands only.
	Workers int
	// ThrottledWorkers is how many runs of throttled jobs (those with a max_rows_per_s) this
	// process works at once, besides Workers: such a run mostly waits, so it has capacity of
	// its own and never holds a slot an unthrottled job waits for (default 4 × Workers, at
	// least 16).
	ThrottledWorkers int
	// BatchSize is the most rows one batch commits.
	BatchSize int
	// BatchTime is about how long one batch works: a run sizes its batches (up to BatchSize)
	// by the rate its last batch had, so that a PAUSE waits at most about this long for the
	// batch in flight, whatever the job's rows cost.
	BatchTime time.Duration
	// RunBudget is how long one run works before it checkpoints and hands the job to a
	// new run, so no River attempt lasts long and crash recovery stays quick.
	RunBudget time.Duration
	// CommandWait bounds how long a command waits for the run's acknowledgement before
	// answering with the transitional status.
	CommandWait time.Duration
	// PollInterval is the backup poll while waiting for an acknowledgement, in case a
	// notification is lost.
	PollInterval time.Duration
	// FetchPollInterval is how often River looks for runs to start besides the signal each
	// enqueued run sends (default 100 ms): the backup for a lost signal.
	FetchPollInterval time.Duration
	// LeaseTTL is how long a run's claim on a job lasts without a heartbeat (it renews every
	// third of it). A run that dies is taken over once its lease expires.
	LeaseTTL time.Duration
	// RescueInterval is how often the rescuer looks for leases whose holder is gone: expired,
	// or (on Postgres) held in the name of a process whose database session ended, which is
	// how a live worker takes a dead worker's job over within a second.
	RescueInterval time.Duration
	// StrandedAfter is how long River may record a run as running while no run holds its
	// job before the rescuer gives it a replacement: the run's process died after the run
	// let its lease go and before River recorded a retry or a snooze (docs/states.md). A
	// live run holds its lease from its first moment, so this only waits out River's
	// bookkeeping (default 10 s).
	StrandedAfter time.Duration
	// ParkTime is how long a run whose batch acknowledged a PAUSE stays ready to go on: a
	// RESUME within it continues that run, its task as it was (its read ahead, its file),
	// instead of a new run that starts over (default 2 s; negative: never). A run parks
	// only while another worker slot is free (docs/architecture.md, "Quick RESUME").
	ParkTime time.Duration
	// RetryBackoff is how long a failed run waits before its first retry; each later retry
	// waits twice as long, up to 30 times it (default 1 s: 1, 2, 4, ... 30 s). A rollback
	// run out of attempts goes on being tried at the longest wait (docs/states.md).
	RetryBackoff time.Duration
	// Name identifies this process as the holder of its runs' leases (default host:pid).
	Name   string
	Logger *slog.Logger
	// Observer is told what the engine does, for metrics; nil observes nothing.
	Observer Observer
}

// Observer is told what the engine does, for metrics (package metrics implements it).
type Observer interface {
	// BatchCommitted: a batch of a run of the job type committed units (rows written, or
	// removed by a rollback) and took d from its preparation to its commit.
	BatchCommitted(t reins.JobType, run reins.RunKind, units int64, d time.Duration)
	// Rescued: this process took over a job whose run stopped renewing its lease.
	Rescued()
}

// noObserver observes nothing.
type noObserver struct{}

func (noObserver) BatchCommitted(reins.JobType, reins.RunKind, int64, time.Duration) {}
func (noObserver) Rescued()                                                          {}

// The defaults of Config, in one place: the command line's flags take them from here.
const (
	DefaultBatchSize         = 20000
	DefaultBatchTime         = 40 * time.Millisecond
	DefaultRunBudget         = 30 * time.Second
	DefaultCommandWait       = 5 * time.Second
	DefaultPollInterval      = 100 * time.Millisecond
	DefaultFetchPollInterval = 100 * time.Millisecond
	DefaultLeaseTTL          = 6 * time.Second
	DefaultRescueInterval    = 250 * time.Millisecond
	DefaultStrandedAfter     = 10 * time.Second
	DefaultParkTime          = 2 * time.Second
	DefaultRetryBackoff      = time.Second
	// LeaseRescueInterval is the rescue interval on a backend without liveness sessions.
	LeaseRescueInterval = 2 * time.Second
)

// WithDefaults returns the config with defaults filled in.
func (c Config) WithDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchTime == 0 {
		c.BatchTime = DefaultBatchTime
	}
	if c.ThrottledWorkers == 0 {
		c.ThrottledWorkers = max(16, 4*c.Workers)
	}
	if c.RunBudget == 0 {
		c.RunBudget = DefaultRunBudget
	}
	if c.CommandWait == 0 {
		c.CommandWait = DefaultCommandWait
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.FetchPollInterval == 0 {
		c.FetchPollInterval = DefaultFetchPollInterval
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.RescueInterval == 0 {
		c.RescueInterval = DefaultRescueInterval
	}
	if c.ParkTime == 0 {
		c.ParkTime = DefaultParkTime
	}
	if c.StrandedAfter == 0 {
		c.StrandedAfter = DefaultStrandedAfter
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.Name == "" {
		host, _ := os.Hostname()
		c.Name = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Workers < 0:
		return fmt.Errorf("engine: Workers must be 0 or more, got %d", c.Workers)
	case c.ThrottledWorkers < 0:
		return fmt.Errorf("engine: ThrottledWorkers must be 0 or more, got %d", c.ThrottledWorkers)
	case c.BatchSize < 1:
		return fmt.Errorf("engine: BatchSize must be at least 1, got %d", c.BatchSize)
	case c.RunBudget < 0 || c.CommandWait < 0 || c.BatchTime < 0 || c.PollInterval < 0 || c.FetchPollInterval < 0 || c.LeaseTTL < 0 || c.RescueInterval < 0 || c.StrandedAfter < 0:
		return fmt.Errorf("engine: durations must not be negative")
	}
	return nil
}

// Backend is a database Reins runs on: its store, its job signals, and the River client
// that works runs (River's client type depends on the driver, so the backend builds it).
type Backend interface {
	reins.Store
	reins.Notifier
	NewQueue(config *river.Config) (reins.Queue, error)
}

// Engine runs jobs and carries out commands on them.
type Engine struct {
	cfg      Config
	store    reins.Store
	notifier reins.Notifier
	kinds    *reins.Registry
	queue    reins.Queue
	log      *slog.Logger

	// drain is closed when the process stops: runs hand their jobs back at the next batch
	// boundary instead of working on.
	drain     chan struct{}
	drainOnce sync.Once
	// stopRescuer ends the rescuer loop; rescuerDone is closed when it has.
	stopRescuer context.CancelFunc
	rescuerDone chan struct{}
	// fair bounds the slots one tenant's runs hold.
	fair *fairShare
	// paces holds, by job type, the limit of the last unthrottled batch (Engine.pace).
	paces sync.Map
	// active counts the unthrottled runs this process works (parked ones included).
	active atomic.Int64
	// owners holds, by job id, this process's unthrottled run of each job (park.go).
	owners sync.Map
}

// New returns an engine on the backend that runs the registry's kinds. With cfg.Workers > 0
// it works runs once started.
func New(backend Backend, kinds *reins.Registry, cfg Config) (*Engine, error) {
	if _, ok := backend.(interface{ Session() *int64 }); !ok && cfg.RescueInterval == 0 {
		// Without liveness sessions (SQLite) only an expired lease shows a holder gone, and
		// that takes the lease's TTL: looking often gains nothing and costs the one
		// connection's time.
		cfg.RescueInterval = LeaseRescueInterval
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, store: backend, notifier: backend, kinds: kinds, log: cfg.Logger,
		drain: make(chan struct{}), fair: newFairShare(cfg.Workers)}
	if cfg.Workers == 0 {
		return e, nil
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &runWorker{engine: e})
	queue, err := backend.NewQueue(&river.Config{
		Queues: map[string]river.QueueConfig{
			reins.QueueDefault:   {MaxWorkers: cfg.Workers},
			reins.QueueThrottled: {MaxWorkers: cfg.ThrottledWorkers},
		},
		Workers: workers,
		// The stores insert runs with the same number (reins.RunMaxAttempts): one setting.
		MaxAttempts: reins.RunMaxAttempts,
		// A run bounds itself by RunBudget, so River's timeout only catches a hung run.
		// Reins' own rescuer takes over a dead run's job within seconds (leases); River's
		// later rescue of the dead River job then finds the job held or done and exits.
		JobTimeout:           cfg.RunBudget + time.Minute,
		RescueStuckJobsAfter: cfg.RunBudget + 2*time.Minute,
		FetchCooldown:        reins.RunFetchCooldown,
		FetchPollInterval:    max(cfg.FetchPollInterval, reins.RunFetchCooldown),
		RetryPolicy:          retryPolicy{base: cfg.RetryBackoff},
		Logger:               cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	e.queue = queue
	return e, nil
}

// Start starts working runs and rescuing jobs whose run died (if this engine has workers).
func (e *Engine) Start(ctx context.Context) error {
	if e.queue == nil {
		return nil
	}
	if err := e.queue.Start(ctx); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stopRescuer, e.rescuerDone = cancel, make(chan struct{})
	go e.rescue(rctx)
	return nil
}

// Stop drains the process: it stops taking runs, and running runs hand their jobs back at
// the next batch boundary (enqueued at once for another worker), then it waits for them
// until ctx ends and cancels what is left.
func (e *Engine) Stop(ctx context.Context) error {
	if e.queue == nil {
		return nil
	}
	stopped := make(chan error, 1)
	go func() { stopped <- e.queue.Stop(ctx) }()
	e.drainOnce.Do(func() { close(e.drain) })
	err := <-stopped
	if e.stopRescuer != nil { // nil when Start failed
		e.stopRescuer()
		<-e.rescuerDone
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return e.queue.StopAndCancel(context.Background())
	}
	return err
}

func (e *Engine) draining() bool {
	select {
	case <-e.drain:
		return true
	default:
		return false
	}
}

// rescue periodically takes over jobs whose run's holder is gone: its process died (its
// database session ended) or stalled (its lease expired). Every worker process runs it; the
// store lets one win per job.
func (e *Engine) rescue(ctx context.Context) {
	defer close(e.rescuerDone)
	var nextStranded time.Time
	Every(ctx, e.cfg.RescueInterval, func(ctx context.Context) bool {
		now := time.Now()
		ids, err := e.store.RescueExpired(ctx, now, 100)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("reins: rescuer could not check leases", "error", err)
		}
		for _, id := range ids {
			e.log.Warn("reins: took over a job whose holder died or stopped renewing its lease", "job_id", id)
			e.cfg.Observer.Rescued()
		}
		if now.Before(nextStranded) {
			return true
		}
		// A run is stranded only after StrandedAfter: looking a few times in that span is
		// enough, and spares River's job table a query every rescue interval.
		nextStranded = now.Add(e.cfg.StrandedAfter / 4)
		ids, err = e.store.RescueStranded(ctx, now.Add(-e.cfg.StrandedAfter), 100)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("reins: rescuer could not check runs", "error", err)
		}
		for _, id := range ids {
			e.log.Warn("reins: replaced a run whose process died before River recorded its end", "job_id", id)
			e.cfg.Observer.Rescued()
		}
		return true
	})
}

// Kinds returns the registry of the kinds the engine runs.
func (e *Engine) Kinds() *reins.Registry { return e.kinds }

// Store returns the engine's store.
func (e *Engine) Store() reins.Store { return e.store }

// Notifier returns the engine's job signals.
func (e *Engine) Notifier() reins.Notifier { return e.notifier }

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// retryPolicy retries a failed run soon (a database restart is the usual cause), backing off
// from base to at most 30 times it.
type retryPolicy struct{ base time.Duration }

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	backoff := time.Duration(math.Min(30, math.Pow(2, float64(job.Attempt-1))) * float64(p.base))
	return time.Now().Add(backoff)
}

// longestBackoff is the longest a failed run waits to be tried again.
func (p retryPolicy) longestBackoff() time.Duration { return 30 * p.base }
