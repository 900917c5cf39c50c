package reins

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// JobType names what a job does.
type JobType string

// The job types.
const (
	JobTypeExport JobType = "export" // writes customers in a date range to a CSV file
	JobTypeImport JobType = "import" // reads an uploaded customers CSV into the table
)

// DefaultOwner is the tenant every job belongs to while no API tokens are configured.
const DefaultOwner = "default"

// Job is a long-running data job and everything the API reports about it.
type Job struct {
	ID     uuid.UUID
	Type   JobType
	Status Status
	Owner  string

	// Params are the job's creation parameters, decoded by its processor.
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

	// Done counts the units (rows) the job has committed; Total is nil until known.
	Done  int64
	Total *int64
	// ActiveMillis is the time runs spent working, for the rate and the ETA.
	ActiveMillis int64

	// Checkpoint is the processor's resumable state, committed with every batch.
	Checkpoint json.RawMessage

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

// Progress derives the reported progress from the job's counters.
func (j *Job) Progress() Progress {
	p := Progress{Done: j.Done, Total: j.Total}
	if j.Total != nil {
		pct := 100.0
		if *j.Total > 0 {
			pct = float64(j.Done) * 100 / float64(*j.Total)
		}
		p.Percent = &pct
	}
	if j.ActiveMillis > 0 && j.Done > 0 {
		rate := float64(j.Done) * 1000 / float64(j.ActiveMillis)
		p.RatePerS = &rate
		if j.Total != nil && j.Status.Runnable() {
			eta := float64(*j.Total-j.Done) / rate
			if eta < 0 {
				eta = 0
			}
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

// Customer is one row of the customers table.
type Customer struct {
	ID        int64
	FirstName string
	LastName  string
	Address   string
	Email     string
	Age       int
	Company   string
	CreatedAt time.Time
}

// CustomerColumns is the CSV header of a customers export, in order.
var CustomerColumns = []string{"first_name", "last_name", "address", "email", "age", "company"}

// RunArgs are the arguments of a River job that executes one run of a Reins job.
type RunArgs struct {
	JobID uuid.UUID `json:"job_id"`
	Epoch int64     `json:"epoch"`
	Run   RunKind   `json:"run"`
}

// Kind is River's name for the run worker.
func (RunArgs) Kind() string { return "reins_run" }
