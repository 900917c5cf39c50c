package reins

import (
	"strconv"
	"strings"
)

// Status is the state of a job, as the API reports it.
type Status string

// The statuses of a job. The names up to REVOKED are kept from the old service's API.
const (
	StatusCreated   Status = "CREATED"   // created; waiting for its first run (or its upload)
	StatusStarted   Status = "STARTED"   // a run is processing it
	StatusPausing   Status = "PAUSING"   // PAUSE asked; the run has not yet stopped
	StatusPaused    Status = "PAUSED"    // stopped at a checkpoint; counters do not move
	StatusResumed   Status = "RESUMED"   // running again after a pause
	StatusRevoking  Status = "REVOKING"  // REVOKE asked; its partial work is being removed
	StatusRevoked   Status = "REVOKED"   // revoked and rolled back (terminal)
	StatusCompleted Status = "COMPLETED" // finished (terminal)
	StatusFailed    Status = "FAILED"    // stopped by an unrecoverable error, rolled back (terminal)
)

// AllStatuses lists every status, in lifecycle order.
func AllStatuses() []Status {
	return []Status{StatusCreated, StatusStarted, StatusPausing, StatusPaused, StatusResumed,
		StatusRevoking, StatusRevoked, StatusCompleted, StatusFailed}
}

// Terminal reports whether no command or run can change the status any more.
func (s Status) Terminal() bool {
	return s == StatusRevoked || s == StatusCompleted || s == StatusFailed
}

// Runnable reports whether a processing run may make progress in this status.
func (s Status) Runnable() bool {
	return s == StatusCreated || s == StatusStarted || s == StatusResumed
}

// Transitional reports whether the status waits for a run to acknowledge a command.
func (s Status) Transitional() bool { return s == StatusPausing || s == StatusRevoking }

// Command is what a user asks of a job through the job-status endpoint.
type Command string

// The commands, named as in the old API's `status` field.
const (
	CommandPause  Command = "PAUSE"
	CommandResume Command = "RESUME"
	CommandRevoke Command = "REVOKE"
)

// ParseCommand returns the command named s, or an EINVALID error naming the value.
func ParseCommand(s string) (Command, error) {
	switch c := Command(strings.TrimSpace(s)); c {
	case CommandPause, CommandResume, CommandRevoke:
		return c, nil
	}
	return "", Errorf(EINVALID, "'status' must be one of PAUSE, RESUME, REVOKE, got %q", s)
}

// RunKind says which run, if any, a transition enqueues.
type RunKind string

// The kinds of run.
const (
	RunNone     RunKind = ""         // no run is enqueued
	RunProcess  RunKind = "process"  // a run that continues the job's work from its checkpoint
	RunRollback RunKind = "rollback" // a run that removes the job's partial work
)

// Transition is one row of the transition table: the status a command leads to, whether the
// job's run epoch moves (fencing off any run in flight) and which run is enqueued.
type Transition struct {
	To        Status
	BumpEpoch bool
	Run       RunKind
	NoOp      bool // the job already obeys the command; nothing changes
}

// transitions is the table of DESIGN §2. A missing entry is a forbidden transition.
var transitions = map[Command]map[Status]Transition{
	CommandPause: {
		// Nothing has run yet: pause at once and fence off the queued run.
		StatusCreated: {To: StatusPaused, BumpEpoch: true},
		// A run is working: record the intent; the run stops at its next batch
		// boundary and acknowledges by writing PAUSED.
		StatusStarted: {To: StatusPausing},
		StatusResumed: {To: StatusPausing},
		StatusPausing: {To: StatusPausing, NoOp: true},
		StatusPaused:  {To: StatusPaused, NoOp: true},
	},
	CommandResume: {
		StatusPaused: {To: StatusResumed, BumpEpoch: true, Run: RunProcess},
		// Resuming before the run acknowledged the pause: fence the old run off and
		// continue with a new one from the checkpoint.
		StatusPausing: {To: StatusResumed, BumpEpoch: true, Run: RunProcess},
		StatusResumed: {To: StatusResumed, NoOp: true},
	},
	CommandRevoke: {
		StatusCreated:  {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusStarted:  {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusPausing:  {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusPaused:   {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusResumed:  {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusRevoking: {To: StatusRevoking, NoOp: true},
		StatusRevoked:  {To: StatusRevoked, NoOp: true},
	},
}

// NextStatus returns the transition that cmd causes from status from, or an EINVALID error
// naming the current status when the table forbids it.
func NextStatus(from Status, cmd Command) (Transition, error) {
	if t, ok := transitions[cmd][from]; ok {
		return t, nil
	}
	return Transition{}, Errorf(EINVALID, "cannot %s a job whose status is %s", cmd, from)
}

// MaxRowsPerSLimit is the highest throttle a job accepts.
const MaxRowsPerSLimit = 100_000_000

// ParseMaxRowsPerS parses a job's max_rows_per_s parameter: "" means no throttle (0).
// Returns EINVALID naming the value.
func ParseMaxRowsPerS(raw string) (int, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > MaxRowsPerSLimit {
		return 0, Errorf(EINVALID, "max_rows_per_s must be a whole number from 1 to %d, got %q", MaxRowsPerSLimit, raw)
	}
	return n, nil
}
