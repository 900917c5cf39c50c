package reins

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// JobType names what a job does: the Type of its Kind (export, import, teams).
type JobType string

// DefaultOwner is the tenant every job belongs to while no API tokens are configured.
const DefaultOwner = "default"

// Job is a long-running data job and everything the API reports about it.
type Job struct {
	ID     uuid.UUID
	Type   JobType
	Status Status
	Owner  string

	// Params are the job's creation parameters, decoded by its kind.
	Params json.RawMessage

	// Epoch fences runs: a run may commit only while the job's epoch equals its own.
	Epoch int64
	// Lease is the token of the run that holds the job, nil when none does; it expires at
	// LeaseExpiresAt unless the run's heartbeat renews it. A run commits only while it
	// holds the lease, so a run taken over after it stalled cannot write.
	Lease          *uuid.UUID
	LeaseExpiresAt *time.Time
	// LeaseOwner names the worker process whose run holds the lease, for operators.
	LeaseOwner *string
	// LeaseKind is what holds the lease: a processing or rollback run, or an upload transfer.
	LeaseKind RunKind
	// LeaseEpoch is the epoch of the run holding the lease: a lease of an older epoch than
	// the job's is void, and the job's current run may take it over at once.
	LeaseEpoch int64

	// Done counts the units (rows) the job has committed; Total is nil until known.
	Done  int64
	Total *int64
	// ActiveMillis is the time runs spent working.
	ActiveMillis int64
	// RatePerS is the units per second of the run's recent batches, measured at RateAt; nil
	// until a run has worked long enough for the figure to mean something.
	RatePerS *float64
	RateAt   *time.Time

	// Checkpoint is the kind's resumable state, committed with every batch.
	Checkpoint json.RawMessage

	// Upload is the transfer of an upload job's file, once one began.
	Upload *Upload

	// RestartOf is the job this one restarted, over the same file (docs/restart.md);
	// RestartedAs is the job that restarted this one. WaitsFor, while set, is the job whose
	// rollback must end before this one's first run (its rows would clash with the old ones).
	RestartOf   *uuid.UUID
	RestartedAs *uuid.UUID
	WaitsFor    *uuid.UUID
	// RolledBackAt is when the job's rollback ended: nothing of its work is left.
	RolledBackAt *time.Time

	Error string

	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Progress is the job's progress as the API reports it.
type Progress struct {
	Done      int64    `json:"done"`
	Total     *int64   `json:"total"`
	Percent   *float64 `json:"percent"`
	RatePerS  *float64 `json:"rate_per_s"`
	ETASecond *float64 `json:"eta_s"`
}

// RateFreshFor is how long a run's recorded rate stays current: a job whose runs stopped
// committing longer ago than this reports no rate.
const RateFreshFor = 10 * time.Second

// Progress derives the reported progress from the job's counters at time now. A COMPLETED
// job is at 100 percent whatever it skipped; the rate is the recent one, reported only while
// the job runs; the ETA follows from the rate and what is left.
func (j *Job) Progress(now time.Time) Progress {
	p := Progress{Done: j.Done, Total: j.Total}
	switch {
	case j.Status == StatusCompleted:
		pct := 100.0
		p.Percent = &pct
	case j.Total != nil:
		pct := 100.0
		if *j.Total > 0 {
			pct = min(100, float64(j.Done)*100/float64(*j.Total))
		}
		p.Percent = &pct
	}
	running := j.Status == StatusStarted || j.Status == StatusResumed || j.Status == StatusPausing ||
		j.Status == StatusRevoking || j.Status == StatusFailed && j.Done > 0
	if running && j.RatePerS != nil && j.RateAt != nil && now.Sub(*j.RateAt) < RateFreshFor && *j.RatePerS > 0 {
		rate := *j.RatePerS
		p.RatePerS = &rate
		switch {
		case j.Status == StatusRevoking || j.Status == StatusFailed:
			// A rollback counts done down to zero.
			eta := float64(j.Done) / rate
			p.ETASecond = &eta
		case j.Total != nil && j.Status != StatusPausing:
			eta := max(0, float64(*j.Total-j.Done)/rate)
			p.ETASecond = &eta
		}
	}
	return p
}

// Event is one entry of a job's history: a status change, who caused it and when.
type Event struct {
	At     time.Time
	From   Status
	To     Status
	Actor  string
	Detail string
}

// RunArgs are the arguments of a River job that executes one run of a Reins job.
type RunArgs struct {
	JobID uuid.UUID `json:"job_id"`
	Epoch int64     `json:"epoch"`
	Run   RunKind   `json:"run"`
	// Throttled says the job has a max_rows_per_s: its run spends most of its time waiting,
	// so it goes to a queue of its own and never holds a slot that other jobs wait for.
	Throttled bool `json:"throttled,omitempty"`
	// Replaces is the River job id of a run this one replaces: River recorded it as running
	// when its process died (JobStore.RescueStranded). Zero for every other run.
	Replaces int64 `json:"replaces,omitempty"`
}

// RunMaxAttempts is how many times a run is tried before its job is FAILED
// (docs/states.md): the one setting every River client that inserts or works runs uses.
const RunMaxAttempts = 8

// RunFetchCooldown is the least time between two looks of a River producer for runs to
// start. The stores signal every run they enqueue, so a run enqueued while a producer cools
// down is fetched at the cooldown's end (docs/architecture.md, "Starting runs").
const RunFetchCooldown = 5 * time.Millisecond

// The River queues runs go to: throttled runs have capacity of their own.
const (
	QueueDefault   = "default"
	QueueThrottled = "throttled"
)

// Kind is River's name for the run worker.
func (RunArgs) Kind() string { return "reins_run" }

// Queue is the River queue the run goes to.
func (a RunArgs) Queue() string {
	if a.Throttled {
		return QueueThrottled
	}
	return QueueDefault
}
