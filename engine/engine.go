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
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/reins-dev/reins"
)

// Config tunes the engine. The zero value of each field means its default.
type Config struct {
	// Workers is how many runs this process works at once; 0 serves commands only.
	Workers int
	// BatchSize is the most rows one batch commits.
	BatchSize int
	// RunBudget is how long one run works before it checkpoints and hands the job to a
	// new run, so no River attempt lasts long and crash recovery stays quick.
	RunBudget time.Duration
	// CommandWait bounds how long a command waits for the run's acknowledgement before
	// answering with the transitional status.
	CommandWait time.Duration
	// PollInterval is the backup poll while waiting for an acknowledgement, in case a
	// notification is lost.
	PollInterval time.Duration
	// MaxAttempts is how many times a failing run is retried before the job is FAILED.
	MaxAttempts int
	Logger      *slog.Logger
}

// WithDefaults returns the config with defaults filled in.
func (c Config) WithDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = 5000
	}
	if c.RunBudget == 0 {
		c.RunBudget = 30 * time.Second
	}
	if c.CommandWait == 0 {
		c.CommandWait = 5 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 8
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Workers < 0:
		return fmt.Errorf("engine: Workers must be 0 or more, got %d", c.Workers)
	case c.BatchSize < 1:
		return fmt.Errorf("engine: BatchSize must be at least 1, got %d", c.BatchSize)
	case c.RunBudget < 0 || c.CommandWait < 0 || c.PollInterval < 0:
		return fmt.Errorf("engine: RunBudget, CommandWait and PollInterval must not be negative")
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
	cfg        Config
	store      reins.Store
	notifier   reins.Notifier
	processors map[reins.JobType]Processor
	queue      reins.Queue
	log        *slog.Logger
}

// New returns an engine on the backend. With cfg.Workers > 0 it works runs once started.
func New(backend Backend, processors map[reins.JobType]Processor, cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, store: backend, notifier: backend, processors: processors, log: cfg.Logger}
	if cfg.Workers == 0 {
		return e, nil
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &runWorker{engine: e})
	queue, err := backend.NewQueue(&river.Config{
		Queues:      map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers:     workers,
		MaxAttempts: cfg.MaxAttempts,
		// A run bounds itself by RunBudget, so River's timeout only catches a hung run.
		JobTimeout:           cfg.RunBudget + time.Minute,
		RescueStuckJobsAfter: cfg.RunBudget + 2*time.Minute,
		FetchCooldown:        20 * time.Millisecond,
		FetchPollInterval:    100 * time.Millisecond,
		RetryPolicy:          retryPolicy{},
		Logger:               cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	e.queue = queue
	return e, nil
}

// Start starts working runs (if this engine has workers).
func (e *Engine) Start(ctx context.Context) error {
	if e.queue == nil {
		return nil
	}
	return e.queue.Start(ctx)
}

// Stop stops taking runs and waits for the running ones until ctx ends, then cancels them.
func (e *Engine) Stop(ctx context.Context) error {
	if e.queue == nil {
		return nil
	}
	err := e.queue.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return e.queue.StopAndCancel(context.Background())
	}
	return err
}

// Store returns the engine's store.
func (e *Engine) Store() reins.Store { return e.store }

// Notifier returns the engine's job signals.
func (e *Engine) Notifier() reins.Notifier { return e.notifier }

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// retryPolicy retries a failed run soon (a database restart is the usual cause), backing off
// to at most half a minute.
type retryPolicy struct{}

func (retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	backoff := time.Duration(math.Min(30, math.Pow(2, float64(job.Attempt-1)))) * time.Second
	return time.Now().Add(backoff)
}
