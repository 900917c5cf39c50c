package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/engine"
)

// ExerciseScheduling runs the part of the behaviour suite about worker slots and runs that
// have not started: throttled jobs must not starve others, and a PAUSE that no run can
// answer settles at once.
func ExerciseScheduling(t *testing.T, open Opener) {
	t.Run("ThrottledDoNotStarve", func(t *testing.T) { t.Parallel(); testThrottledDoNotStarve(t, open) })
	t.Run("PauseWithNoRunSettles", func(t *testing.T) { t.Parallel(); testPauseWithNoRunSettles(t, open) })
	t.Run("FairShare", func(t *testing.T) { t.Parallel(); testFairShare(t, open) })
	t.Run("RunsStartOnSignal", func(t *testing.T) { t.Parallel(); testRunsStartOnSignal(t, open) })
}

// testRunsStartOnSignal checks that a run starts when it is enqueued, not at River's next
// poll for work: the poll is set longer than the suite waits, so a run that waited for it
// fails the test. Each part runs on a backend of its own, so only its engine works its runs:
// five exports created back to back, more than there are workers (a run enqueued while the
// slots are full starts when one frees); a RESUME's run, no parked run taking it; and the
// hand-overs of a run budget shorter than any batch, runs enqueued milliseconds apart.
// Every export's result is checked.
func testRunsStartOnSignal(t *testing.T, open Opener) {
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	cfg := engine.Config{Workers: 2, BatchSize: 50, FetchPollInterval: 2 * waitLimit, ParkTime: -1}
	check := func(h *harness, job *reins.Job, want, what string) {
		t.Helper()
		if got := h.result(h.waitStatus(job.ID, reins.StatusCompleted)); got != want {
			t.Fatalf("%s: export %s differs from the expected CSV (%d vs %d bytes)", what, job.ID, len(got), len(want))
		}
	}

	t.Run("Created", func(t *testing.T) {
		backend := open(t)
		want := expectedCSV(t, seed(t, backend, 600), p)
		h := newHarness(t, backend, cfg)
		jobs := make([]*reins.Job, 5)
		for i := range jobs {
			jobs[i] = h.export(p)
		}
		for _, job := range jobs {
			check(h, job, want, "created back to back")
		}
	})

	t.Run("Resumed", func(t *testing.T) {
		backend := open(t)
		want := expectedCSV(t, seed(t, backend, 600), p)
		// No workers yet: the PAUSE settles the job its run has not begun.
		commands := newHarness(t, backend, engine.Config{Workers: 0})
		job := commands.export(p)
		if got := commands.command(job.ID, reins.CommandPause).Status; got != reins.StatusPaused {
			t.Fatalf("PAUSE of a job no run holds: %s", got)
		}
		h := newHarnessOn(t, backend, commands.blob, cfg)
		if got := h.command(job.ID, reins.CommandResume).Status; got != reins.StatusResumed {
			t.Fatalf("RESUME: %s", got)
		}
		check(h, job, want, "resumed")
	})

	t.Run("HandedOver", func(t *testing.T) {
		backend := open(t)
		want := expectedCSV(t, seed(t, backend, 600), p)
		short := cfg
		short.RunBudget = time.Microsecond
		h := newHarness(t, backend, short)
		check(h, h.export(p), want, "handed over after every batch")
	})
}

// testFairShare checks that one tenant's runs cannot take every worker slot: acme starts as
// many exports as there are workers, each held at the start of its run until the test lets
// it go; globex's export, started after, completes while they are held. Then acme's all
// complete too. Runs get a budget longer than the suite waits, so River's timeout of a held
// run cannot free a slot for globex.
func testFairShare(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 100)
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gated := &heldExport{Kind: &csvexport.Kind{Store: backend, Blob: b}, owner: "acme",
		entered: make(chan struct{}, 16), release: make(chan struct{})}
	const workers = 2
	h := newHarnessWith(t, backend, b, reins.NewRegistry(gated), engine.Config{Workers: workers, RunBudget: 2 * waitLimit})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	var held []*reins.Job
	for range workers {
		held = append(held, h.createAs("acme", csvexport.Type, exportParams{Params: p}.values()))
	}
	select {
	case <-gated.entered:
	case <-time.After(waitLimit):
		t.Fatal("no run of acme's exports started")
	}
	other := h.createAs("globex", csvexport.Type, exportParams{Params: p}.values())
	done := h.waitStatus(other.ID, reins.StatusCompleted)
	if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("globex's export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
	close(gated.release)
	for _, job := range held {
		if got, want := h.result(h.waitStatus(job.ID, reins.StatusCompleted)), expectedCSV(t, customers, p); got != want {
			t.Fatalf("acme's export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
		}
	}
}

// heldExport is the export kind whose runs for owner wait at their start until release is
// closed, telling entered each time one does.
type heldExport struct {
	*csvexport.Kind
	owner   string
	entered chan struct{}
	release chan struct{}
}

func (k *heldExport) Begin(ctx context.Context, job *reins.Job) (reins.Task, error) {
	if job.Owner == k.owner {
		k.entered <- struct{}{}
		select {
		case <-k.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return k.Kind.Begin(ctx, job)
}

// testThrottledDoNotStarve starts 8 exports throttled to 1 row a second, twice the worker
// slots, and, once all of them are working, a small unthrottled export: it completes while
// every throttled one is still running. Runs are given a budget longer than the suite waits,
// so a throttled run that held its slot while it waited would keep the small export out.
func testThrottledDoNotStarve(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 200)
	h := newHarness(t, backend, engine.Config{Workers: 4, RunBudget: 2 * waitLimit})
	slow := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31", MaxRowsPerS: 1}
	var throttled []*reins.Job
	for range 8 {
		throttled = append(throttled, h.export(slow))
	}
	for _, job := range throttled {
		h.waitFor(job.ID, "its first batch", func(j *reins.Job) bool { return j.Done > 0 })
	}
	small := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2015-12-31"}
	done := h.waitStatus(h.export(small).ID, reins.StatusCompleted)
	if got, want := h.result(done), expectedCSV(t, customers, small); got != want {
		t.Fatalf("the small export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
	for _, job := range throttled {
		if j := h.job(job.ID); j.Status != reins.StatusStarted {
			t.Fatalf("throttled export %s is %s, want it still STARTED", job.ID, j.Status)
		}
		h.command(job.ID, reins.CommandRevoke)
	}
}

// testPauseWithNoRunSettles pauses a job whose run is queued but not started (a RESUME's run,
// with no worker yet to take it): the PAUSE answers PAUSED at once instead of waiting for a
// run to acknowledge. When a worker then starts, the queued run leaves the paused job be, and
// after RESUME the export completes exactly.
func testPauseWithNoRunSettles(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 500)
	// No workers: runs stay queued. A short CommandWait makes a PAUSE that waits for a run
	// answer PAUSING soon, which the test reports.
	commands := newHarness(t, backend, engine.Config{Workers: 0, CommandWait: 200 * time.Millisecond})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	job := commands.export(p)
	if got := commands.command(job.ID, reins.CommandPause).Status; got != reins.StatusPaused {
		t.Fatalf("PAUSE of a CREATED job: %s", got)
	}
	if got := commands.command(job.ID, reins.CommandResume).Status; got != reins.StatusResumed {
		t.Fatalf("RESUME: %s", got)
	}
	paused := commands.command(job.ID, reins.CommandPause)
	if paused.Status != reins.StatusPaused {
		t.Fatalf("PAUSE with the RESUME's run not started answered %s, want PAUSED at once", paused.Status)
	}
	workers := newHarnessOn(t, backend, commands.blob, engine.Config{Workers: 1, BatchSize: 100})
	if got := workers.command(job.ID, reins.CommandResume).Status; got != reins.StatusResumed {
		t.Fatalf("RESUME: %s", got)
	}
	done := workers.waitStatus(job.ID, reins.StatusCompleted)
	if got, want := workers.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("the export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
	events, err := backend.JobEvents(t.Context(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.From != "" && !allowed(e) {
			t.Fatalf("history entry %s -> %s by %s (%s) is in neither table", e.From, e.To, e.Actor, e.Detail)
		}
	}
}
