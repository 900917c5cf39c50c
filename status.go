package reins

import (
	"strconv"
	"strings"
)

// Status is the state of a job, as the API reports it.
type Status string

// The statuses of a job. The names up to REVOKED are kept from the old service's API.
const (
	StatusCreated Status = "CREATED" // created; waiting for its first run (or its upload)
	// StatusAwaitingConfirmation: an export estimated above its confirm_over threshold waits
	// for CONFIRM (or REVOKE); nothing is read meanwhile.
	StatusAwaitingConfirmation Status = "AWAITING_CONFIRMATION"
	StatusStarted              Status = "STARTED"   // a run is processing it
	StatusPausing              Status = "PAUSING"   // PAUSE asked; the run has not yet stopped
	StatusPaused               Status = "PAUSED"    // stopped at a checkpoint; counters do not move
	StatusResumed              Status = "RESUMED"   // running again after a pause
	StatusRevoking             Status = "REVOKING"  // REVOKE asked; its partial work is being removed
	StatusRevoked              Status = "REVOKED"   // revoked and rolled back (terminal)
	StatusCompleted            Status = "COMPLETED" // finished (terminal)
	StatusFailed               Status = "FAILED"    // stopped by an unrecoverable error, rolled back (terminal)
)

// AllStatuses lists every status, in lifecycle order.
func AllStatuses() []Status {
	return []Status{StatusCreated, StatusAwaitingConfirmation, StatusStarted, StatusPausing, StatusPaused, StatusResumed,
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
	// CommandConfirm starts an export held in AWAITING_CONFIRMATION by its guard.
	CommandConfirm Command = "CONFIRM"
)

// AllCommands lists every command.
func AllCommands() []Command {
	return []Command{CommandPause, CommandResume, CommandRevoke, CommandConfirm}
}

// ParseCommand returns the command named s, or an EINVALID error naming the value.
func ParseCommand(s string) (Command, error) {
	switch c := Command(strings.TrimSpace(s)); c {
	case CommandPause, CommandResume, CommandRevoke, CommandConfirm:
		return c, nil
	}
	return "", Errorf(EINVALID, "'status' must be one of PAUSE, RESUME, REVOKE, CONFIRM, got %q", Shorten(s, 40))
}

// RunKind says which run, if any, a transition enqueues.
type RunKind string

// The kinds of run.
const (
	RunNone     RunKind = ""         // no run is enqueued
	RunProcess  RunKind = "process"  // a run that continues the job's work from its checkpoint
	RunRollback RunKind = "rollback" // a run that removes the job's partial work
	// RunTransfer is not a River run: it is an upload transfer holding the job's lease while
	// it streams a file into the job's spool.
	RunTransfer RunKind = "transfer"
)

// Transition is one row of the transition table: the status a command leads to, whether the
// job's run epoch moves (fencing off any run in flight) and which run is enqueued.
type Transition struct {
	To        Status
	BumpEpoch bool
	Run       RunKind
	NoOp      bool // the job already obeys the command; nothing changes
}

// transitions is the command table of docs/states.md. A missing entry is a forbidden
// transition.
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
		StatusCreated:              {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusAwaitingConfirmation: {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusStarted:              {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusPausing:              {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusPaused:               {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusResumed:              {To: StatusRevoking, BumpEpoch: true, Run: RunRollback},
		StatusRevoking:             {To: StatusRevoking, NoOp: true},
		StatusRevoked:              {To: StatusRevoked, NoOp: true},
	},
	CommandConfirm: {
		// The guard held the job before anything ran: it becomes an ordinary new job.
		StatusAwaitingConfirmation: {To: StatusCreated, BumpEpoch: true, Run: RunProcess},
	},
}

// NextStatus returns the transition that cmd causes from status from, or an EINVALID error
// naming the current status when the table forbids it.
func NextStatus(from Status, cmd Command) (Transition, error) {
	if t, ok := transitions[cmd][from]; ok {
		return t, nil
	}
	if cmd == CommandConfirm {
		return Transition{}, Errorf(EINVALID, "cannot CONFIRM a job whose status is %s: only a job AWAITING_CONFIRMATION takes CONFIRM", from)
	}
	return Transition{}, Errorf(EINVALID, "cannot %s a job whose status is %s", cmd, from)
}

// RunEvent is what a job's own work reports: a run, an upload transfer, or the rescuer.
type RunEvent string

// The run events, each one row of the run table.
const (
	RunClaimed     RunEvent = "claimed"     // the first run or the transfer starts the job
	RunStopped     RunEvent = "stopped"     // the run or transfer stopped for a PAUSE
	RunCompleted   RunEvent = "completed"   // the last batch committed
	RunRolledBack  RunEvent = "rolled_back" // the rollback removed the job's work
	RunFailed      RunEvent = "failed"      // an error no retry can mend, or the last attempt
	RunInterrupted RunEvent = "interrupted" // an upload transfer died with its process
)

// RunTransition is one row of the run table: the statuses an event may come in, and the one
// it leads to.
type RunTransition struct {
	From []Status
	To   Status
}

// nonTerminal are the statuses a job can fail from.
var nonTerminal = []Status{StatusCreated, StatusAwaitingConfirmation, StatusStarted, StatusPausing,
	StatusPaused, StatusResumed, StatusRevoking}

// runTransitions is the run table of docs/states.md, beside the command table: the code that
// moves a job on its own (the engine, the upload receiver, the rescuer) and the tests' history
// checker both read it.
var runTransitions = map[RunEvent]RunTransition{
	RunClaimed: {From: []Status{StatusCreated}, To: StatusStarted},
	RunStopped: {From: []Status{StatusPausing}, To: StatusPaused},
	// A PAUSE that came during the last batch finds the job complete.
	RunCompleted:   {From: []Status{StatusStarted, StatusResumed, StatusPausing}, To: StatusCompleted},
	RunRolledBack:  {From: []Status{StatusRevoking}, To: StatusRevoked},
	RunFailed:      {From: nonTerminal, To: StatusFailed},
	RunInterrupted: {From: nonTerminal, To: StatusFailed},
}

// RunTransitionOf returns the run table's row for ev.
func RunTransitionOf(ev RunEvent) RunTransition { return runTransitions[ev] }

// Allows reports whether the row lets a job in status from take it.
func (t RunTransition) Allows(from Status) bool {
	for _, s := range t.From {
		if s == from {
			return true
		}
	}
	return false
}

// IsRunTransition reports whether some run event moves a job from one status to another:
// what a history entry not caused by a command must satisfy.
func IsRunTransition(from, to Status) bool {
	for _, t := range runTransitions {
		if t.To == to && t.Allows(from) {
			return true
		}
	}
	return false
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
		return 0, Errorf(EINVALID, "max_rows_per_s must be a whole number from 1 to %d, got %q", MaxRowsPerSLimit, Shorten(raw, 40))
	}
	return n, nil
}
