package enginetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/engine"
)

// exercisePauseCost runs the part of the behaviour suite about what a PAUSE/RESUME cycle
// costs (docs/benchmarks.md, "Pause/resume cost"): the batch in flight acknowledges the
// pause in its own commit, and a resumed run starts at the job's batch size.
func exercisePauseCost(t *testing.T, open Opener) {
	t.Run("PauseAcknowledgedByBatch", func(t *testing.T) { t.Parallel(); testPauseAcknowledgedByBatch(t, open) })
	t.Run("ResumeKeepsBatchSize", func(t *testing.T) { t.Parallel(); testResumeKeepsBatchSize(t, open, 0) })
	t.Run("ResumeThrottledStartsSmall", func(t *testing.T) { t.Parallel(); testResumeKeepsBatchSize(t, open, 1_000_000) })
	t.Run("NewJobStartsAtTypePace", func(t *testing.T) { t.Parallel(); testNewJobStartsAtTypePace(t, open) })
	t.Run("QuickResumeContinuesRun", func(t *testing.T) { t.Parallel(); testQuickResumeContinuesRun(t, open, false) })
	t.Run("RevokeWhileParked", func(t *testing.T) { t.Parallel(); testQuickResumeContinuesRun(t, open, true) })
	t.Run("QuickResumeBeforePark", func(t *testing.T) { t.Parallel(); testQuickResumeBeforePark(t, open) })
}

// testQuickResumeContinuesRun pauses an export in the middle of its first run (its third
// batch held while the PAUSE comes) and resumes it at once: the run that acknowledged the
// PAUSE goes on with its task (one task begun in all, where a RESUME used to begin another),
// and the export is exact. With revoke, the paused job is revoked instead while its run is
// parked: the parked run ends, and the rollback removes every file.
func testQuickResumeContinuesRun(t *testing.T, open Opener, revoke bool) {
	h, kind, customers := newLimitsHarness(t, open, 3,
		engine.Config{Workers: 2, BatchSize: 2000, BatchTime: time.Minute, ParkTime: waitLimit})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	job := h.export(p)
	h.pauseHeld(kind, job.ID)
	if revoke {
		h.command(job.ID, reins.CommandRevoke)
		if revoked := h.waitStatus(job.ID, reins.StatusRevoked); revoked.Done != 0 || h.filesExist(job.ID) {
			t.Fatalf("revoked while parked: done=%d, files left %v", revoked.Done, h.filesExist(job.ID))
		}
		if runs := kind.runs(); len(runs) != 1 {
			t.Fatalf("%d tasks begun (batch limits %v), want 1", len(runs), runs)
		}
		return
	}
	if resumed := h.command(job.ID, reins.CommandResume); resumed.Status != reins.StatusResumed {
		t.Fatalf("RESUME answered %s", resumed.Status)
	}
	done := h.waitStatus(job.ID, reins.StatusCompleted)
	if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("the resumed export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
	if done.Done != int64(len(customers)) || done.Total == nil || *done.Total != done.Done {
		t.Fatalf("done=%d total=%v, want %d", done.Done, done.Total, len(customers))
	}
	if runs := kind.runs(); len(runs) != 1 {
		t.Fatalf("%d tasks begun (batch limits %v), want 1: the paused run goes on", len(runs), runs)
	}
}

// testQuickResumeBeforePark resumes a paused export whose run, its batch having
// acknowledged the PAUSE, has not parked yet (held between that commit and park) when the
// RESUME's run starts: the paused run still parks, takes the job from the RESUME's run and
// goes on with its task. Before, the RESUME's run counted as a busy worker while it offered
// the job, the paused run found every slot taken and ended instead of parking, and the job
// began a second task: QuickResumeContinuesRun failed so on a loaded machine.
func testQuickResumeBeforePark(t *testing.T, open Opener) {
	h, kind, customers := newLimitsHarness(t, open, 3,
		engine.Config{Workers: 2, BatchSize: 2000, BatchTime: time.Minute, ParkTime: waitLimit})
	kind.committed, kind.goOn = make(chan struct{}), make(chan struct{})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	job := h.export(p)
	kind.awaitHeld(t)
	answer := h.pauseInBackground(job.ID)
	close(kind.release)
	<-kind.committed // the held batch acknowledged the PAUSE; its run waits before parking
	h.waitStatus(job.ID, reins.StatusPaused)
	if resumed := h.command(job.ID, reins.CommandResume); resumed.Status != reins.StatusResumed {
		t.Fatalf("RESUME answered %s", resumed.Status)
	}
	h.waitFor(job.ID, "the RESUME's run started", func(*reins.Job) bool {
		var running int64
		if err := h.backend.QueryRow(context.Background(), `SELECT COUNT(*) FROM river_job WHERE state = 'running'`).Scan(&running); err != nil {
			t.Fatal(err)
		}
		return running == 2 // the paused run's and the RESUME's
	})
	close(kind.goOn)
	// The PAUSE is answered once the run says its batch acknowledged it, after the RESUME
	// here: the job it reads then may be RESUMED already.
	if paused := <-answer; paused == nil || paused.Status != reins.StatusPaused && paused.Status != reins.StatusResumed {
		t.Fatalf("PAUSE answered %v, want PAUSED (or RESUMED since)", paused)
	}
	done := h.waitStatus(job.ID, reins.StatusCompleted)
	if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("the resumed export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
	if runs := kind.runs(); len(runs) != 1 {
		t.Fatalf("%d tasks begun (batch limits %v), want 1: the paused run goes on", len(runs), runs)
	}
}

// testNewJobStartsAtTypePace runs two exports in turn: the first climbs from the first batch
// limit (1000) to the batch size; the second starts at half the limit the first one's last
// batch was given, not at 1000 again.
func testNewJobStartsAtTypePace(t *testing.T, open Opener) {
	const batchSize = 4000
	h, kind, customers := newLimitsHarness(t, open, 0,
		engine.Config{Workers: 1, BatchSize: batchSize, BatchTime: time.Minute})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	for range 2 {
		done := h.waitStatus(h.export(p).ID, reins.StatusCompleted)
		if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
			t.Fatalf("the export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
		}
	}
	runs := kind.runs()
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2: %v", len(runs), runs)
	}
	if first := runs[0]; first[0] != 1000 || first[len(first)-1] != batchSize {
		t.Fatalf("the first export's batch limits were %v, want 1000 climbing to %d", first, batchSize)
	}
	if got := runs[1][0]; got != batchSize/2 {
		t.Fatalf("the second export's first batch limit was %d (all: %v), want %d", got, runs[1], batchSize/2)
	}
}

// testPauseAcknowledgedByBatch commits batches through the store that ask to stop if the job
// is PAUSING: on a working job such a batch only commits; on a PAUSING job it commits, and in
// the same transaction the job becomes PAUSED, with its history entry and its lease released,
// so that nothing of the run can commit after.
func testPauseAcknowledgedByBatch(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	job := &reins.Job{ID: uuid.New(), Type: csvexport.Type, Status: reins.StatusCreated}
	if err := backend.CreateJob(ctx, job, "test", reins.RunNone, nil); err != nil {
		t.Fatal(err)
	}
	held, err := backend.StartRun(ctx, job.ID, job.Epoch, reins.RunProcess, time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	commit := func(done int64) (*reins.BatchResult, error) {
		return backend.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: held.Epoch, Kind: reins.RunProcess,
			Lease: *held.Lease, DoneDelta: done, Checkpoint: []byte(`{"n":1}`), StopIfPausing: true})
	}
	res, err := commit(10)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != reins.StatusStarted {
		t.Fatalf("a batch of a working job answered %s, want STARTED", res.Status)
	}
	if paused, _, err := backend.ApplyCommand(ctx, job.ID, reins.CommandPause, "test"); err != nil || paused.Status != reins.StatusPausing {
		t.Fatalf("PAUSE with a run holding the job: %v, %v; want PAUSING", paused, err)
	}
	if res, err = commit(5); err != nil {
		t.Fatal(err)
	}
	if res.Status != reins.StatusPaused {
		t.Fatalf("the batch in flight at the PAUSE answered %s, want PAUSED", res.Status)
	}
	stored := mustFind(t, backend, job.ID)
	if stored.Status != reins.StatusPaused || stored.Done != 15 || stored.Lease != nil {
		t.Fatalf("after the acknowledging batch: %s done=%d lease=%v, want PAUSED done=15 and no lease",
			stored.Status, stored.Done, stored.Lease)
	}
	if _, err := commit(1); reins.ErrorCode(err) != reins.EFENCED {
		t.Fatalf("a batch after the acknowledgement: %v, want EFENCED", err)
	}
	if again := mustFind(t, backend, job.ID); again.Done != 15 || again.Status != reins.StatusPaused {
		t.Fatalf("the refused batch moved the job: %s done=%d", again.Status, again.Done)
	}
	events, err := backend.JobEvents(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if last.From != reins.StatusPausing || last.To != reins.StatusPaused || last.Actor != "worker" {
		t.Fatalf("last history entry %s -> %s by %s, want PAUSING -> PAUSED by worker", last.From, last.To, last.Actor)
	}
}

func mustFind(t *testing.T, store reins.JobStore, id uuid.UUID) *reins.Job {
	t.Helper()
	job, err := store.FindJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// testResumeKeepsBatchSize pauses an export in its first run, whose batches grow from the
// first batch's 1000 rows, and resumes it: the resumed run's first batch is as large as the
// job's rate so far allows (here the batch size, given a batch time of a minute), instead of
// climbing from 1000 rows again. The first run's third batch is held until the PAUSE is in,
// so the PAUSE comes mid-batch on any machine; the export is exact.
//
// With a throttle (maxRate > 0, here high enough not to cap these batches) the resumed run
// starts at 1000 rows again: it waits between batches anyway, so the climb costs it nothing,
// and a PAUSE right after its RESUME finds a small batch in flight.
func testResumeKeepsBatchSize(t *testing.T, open Opener, maxRate int) {
	const batchSize = 4000
	h, kind, customers := newLimitsHarness(t, open, 3,
		engine.Config{Workers: 1, BatchSize: batchSize, BatchTime: time.Minute})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31", MaxRowsPerS: maxRate}
	job := h.export(p)
	h.pauseHeld(kind, job.ID)
	if resumed := h.command(job.ID, reins.CommandResume); resumed.Status != reins.StatusResumed {
		t.Fatalf("RESUME answered %s", resumed.Status)
	}
	done := h.waitStatus(job.ID, reins.StatusCompleted)
	if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("the paused export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
	runs := kind.runs()
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2: %v", len(runs), runs)
	}
	if first := runs[0]; len(first) != 3 || first[0] != 1000 || first[1] != 2000 || first[2] != batchSize {
		t.Fatalf("the first run's batch limits were %v, want [1000 2000 %d]", first, batchSize)
	}
	want := batchSize
	if maxRate > 0 {
		want = 1000
	}
	if got := runs[1][0]; got != want {
		t.Fatalf("the resumed run's first batch limit was %d (all: %v), want %d", got, runs[1], want)
	}
}

// newLimitsHarness seeds 12,000 customers and starts an engine (cfg) whose one kind is a
// limitsExport holding its first run's holdAt-th batch (0: none).
func newLimitsHarness(t *testing.T, open Opener, holdAt int, cfg engine.Config) (*harness, *limitsExport, []reins.Customer) {
	backend := open(t)
	customers := seed(t, backend, 12_000)
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kind := &limitsExport{Kind: &csvexport.Kind{Store: backend, Blob: b}, holdAt: holdAt,
		held: make(chan struct{}), release: make(chan struct{})}
	return newHarnessWith(t, backend, b, reins.NewRegistry(kind), cfg), kind, customers
}

// pauseHeld PAUSEs the job while its first run is held in a batch, then lets that batch go:
// it fails unless the answer is PAUSED part-way, its earlier batches in (of 12,000 rows).
func (h *harness) pauseHeld(kind *limitsExport, id uuid.UUID) {
	h.t.Helper()
	kind.awaitHeld(h.t)
	answer := h.pauseInBackground(id)
	close(kind.release)
	paused := <-answer
	if paused == nil || paused.Status != reins.StatusPaused {
		h.t.Fatalf("PAUSE mid-batch answered %v, want PAUSED", paused)
	}
	if paused.Done <= 0 || paused.Done >= 12_000 {
		h.t.Fatalf("PAUSED with done=%d, want the first run's earlier batches", paused.Done)
	}
}

// pauseInBackground sends PAUSE for the job without waiting for the answer, which comes on
// the channel, and returns once the job is PAUSING: a held batch can then be let go.
func (h *harness) pauseInBackground(id uuid.UUID) <-chan *reins.Job {
	h.t.Helper()
	answer := make(chan *reins.Job, 1)
	go func() {
		j, err := h.engine.Command(context.Background(), id, reins.CommandPause, "test")
		if err != nil {
			h.t.Errorf("PAUSE: %v", err)
		}
		answer <- j
	}()
	h.waitStatus(id, reins.StatusPausing)
	return answer
}

// awaitHeld waits until the first run holds its holdAt-th batch.
func (k *limitsExport) awaitHeld(t testing.TB) {
	t.Helper()
	select {
	case <-k.held:
	case <-time.After(waitLimit):
		t.Fatalf("the first run never reached batch %d", k.holdAt)
	}
}

// limitsExport is the export kind that records the batch limits each run is given, and holds
// the first run's holdAt-th batch (telling held) until release is closed.
type limitsExport struct {
	*csvexport.Kind
	holdAt  int
	held    chan struct{}
	release chan struct{}
	// committed, when not nil, is closed once the held batch committed, and the run then
	// waits for goOn before it goes on (to park, after a PAUSE).
	committed, goOn chan struct{}

	mu     sync.Mutex
	limits [][]int
}

func (k *limitsExport) Begin(ctx context.Context, job *reins.Job) (reins.Task, error) {
	task, err := k.Kind.Begin(ctx, job)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.limits = append(k.limits, nil)
	return &limitsTask{Task: task, kind: k, run: len(k.limits) - 1}, nil
}

// runs returns the limits of each run so far.
func (k *limitsExport) runs() [][]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([][]int, len(k.limits))
	for i, l := range k.limits {
		out[i] = append([]int(nil), l...)
	}
	return out
}

type limitsTask struct {
	reins.Task
	kind *limitsExport
	run  int
}

func (t *limitsTask) Next(ctx context.Context, limit int) (*reins.Batch, bool, error) {
	t.kind.mu.Lock()
	t.kind.limits[t.run] = append(t.kind.limits[t.run], limit)
	hold := t.run == 0 && len(t.kind.limits[t.run]) == t.kind.holdAt
	t.kind.mu.Unlock()
	if hold {
		if err := holdUntil(ctx, t.kind.held, t.kind.release); err != nil {
			return nil, false, err
		}
	}
	return t.Task.Next(ctx, limit)
}

func (t *limitsTask) Committed(b *reins.Batch) {
	t.Task.Committed(b)
	t.kind.mu.Lock()
	held := t.run == 0 && len(t.kind.limits[t.run]) == t.kind.holdAt && t.kind.committed != nil
	t.kind.mu.Unlock()
	if held {
		close(t.kind.committed)
		<-t.kind.goOn
	}
}

// holdUntil says it holds (closes held), then waits for release or the end of ctx.
func holdUntil(ctx context.Context, held, release chan struct{}) error {
	close(held)
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
