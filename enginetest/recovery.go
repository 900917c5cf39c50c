package enginetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/registry"
	"github.com/reins-dev/reins/upload"
)

// ExerciseRecovery runs the crash-safety half of the behaviour suite.
func ExerciseRecovery(t *testing.T, open Opener) {
	t.Run("RescueDeadRun", func(t *testing.T) { t.Parallel(); testRescueDeadRun(t, open) })
	t.Run("DrainHandsBack", func(t *testing.T) { t.Parallel(); testDrainHandsBack(t, open) })
	t.Run("DeadTransferFails", func(t *testing.T) { t.Parallel(); testDeadTransferFails(t, open) })
	t.Run("StrandedRun", func(t *testing.T) { t.Parallel(); testStrandedRun(t, open) })
}

// testRescueDeadRun claims a job as a run that then dies (it never renews its lease): the
// engine's rescuer takes the job over once the lease expires, and it completes exactly.
func testRescueDeadRun(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 2000)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 100,
		LeaseTTL: 300 * time.Millisecond, RescueInterval: 50 * time.Millisecond})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	kind, _ := h.engine.Kinds().Lookup(csvexport.Type)
	job, err := kind.NewJob(exportParams{Params: p}.values())
	if err != nil {
		t.Fatal(err)
	}
	job.ID = uuid.New()
	if err := backend.CreateJob(context.Background(), job, "test", reins.RunNone, kind.Prepare); err != nil {
		t.Fatal(err)
	}
	dead, err := backend.StartRun(context.Background(), job.ID, job.Epoch, reins.RunProcess, 300*time.Millisecond, "dead")
	if err != nil {
		t.Fatal(err)
	}
	done := h.waitStatus(job.ID, reins.StatusCompleted)
	if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("the rescued export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
	if done.Lease != nil && *done.Lease == *dead.Lease {
		t.Fatal("the dead run still holds the lease")
	}
}

// testDrainHandsBack stops an engine in the middle of an export: the run hands the job back
// at once (no lease left behind), and another engine finishes it exactly.
func testDrainHandsBack(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 10_000)
	first := newHarness(t, backend, engine.Config{Workers: 1, BatchSize: 200})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31", MaxRowsPerS: 10_000}
	job := first.export(p)
	first.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := first.engine.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	handed := first.job(job.ID)
	if handed.Status.Terminal() {
		t.Skip("the export finished before the engine stopped")
	}
	if handed.Lease != nil {
		t.Fatalf("the drained run left its lease behind (status %s)", handed.Status)
	}
	second := newHarnessOn(t, backend, first.blob, engine.Config{Workers: 1, BatchSize: 200})
	done := second.waitStatus(job.ID, reins.StatusCompleted)
	if got, want := first.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("the handed-back export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
}

// testDeadTransferFails begins an upload as a process that then dies (it never renews the
// transfer's lease): the rescuer fails the job with a clear error and removes the spool.
func testDeadTransferFails(t *testing.T, open Opener) {
	backend := open(t)
	h := newHarness(t, backend, engine.Config{Workers: 1, RescueInterval: 50 * time.Millisecond})
	job := h.newImport(importParams{OnError: upload.OnErrorAbort})
	key := upload.SpoolKey(job.ID)
	if _, err := backend.BeginUpload(context.Background(), &reins.Upload{JobID: job.ID, FileName: "x.csv", SpoolKey: key},
		"test", 100*time.Millisecond, "dead"); err != nil {
		t.Fatal(err)
	}
	spool, err := h.blob.OpenWriter(key, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = spool.WriteString("first_name,last_name\n")
	spool.Close()
	failed := h.waitStatus(job.ID, reins.StatusFailed)
	if !strings.Contains(failed.Error, "upload interrupted") {
		t.Fatalf("job error %q does not say the upload was interrupted", failed.Error)
	}
	h.waitRolledBack(job.ID)
}

// testStrandedRun leaves a run as a process that died between letting its lease go and
// River recording the run's end leaves it: River's job running, no lease on the Reins job.
// Another River client takes the run and never ends it (its one worker slot stays taken, so
// it takes nothing else). The engine's rescuer gives the run a replacement and the export
// completes exactly; before, only River's rescue of stuck jobs (run budget + 2 minutes)
// would have run it again.
func testStrandedRun(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 2000)
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kinds := registry.New(registry.Deps{Store: backend, Blob: b})
	taken, release := make(chan struct{}), make(chan struct{})
	workers := river.NewWorkers()
	river.AddWorker(workers, &strandingWorker{taken: taken, release: release})
	dead, err := backend.NewQueue(&river.Config{Queues: map[string]river.QueueConfig{reins.QueueDefault: {MaxWorkers: 1}},
		Workers: workers, FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = dead.Stop(ctx)
	})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	kind, _ := kinds.Lookup(csvexport.Type)
	job, err := kind.NewJob(exportParams{Params: p}.values())
	if err != nil {
		t.Fatal(err)
	}
	job.ID = uuid.New()
	if err := backend.CreateJob(context.Background(), job, "test", reins.RunProcess, kind.Prepare); err != nil {
		t.Fatal(err)
	}
	<-taken
	h := newHarnessWith(t, backend, b, kinds, engine.Config{Workers: 1, RescueInterval: 50 * time.Millisecond,
		StrandedAfter: 100 * time.Millisecond})
	done := h.waitStatus(job.ID, reins.StatusCompleted)
	if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("the export of the replaced run differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
}

// strandingWorker takes one run and holds it until released, doing nothing: River records
// the run as running, as it does one whose process died.
type strandingWorker struct {
	river.WorkerDefaults[reins.RunArgs]
	taken, release chan struct{}
	once           sync.Once
}

func (w *strandingWorker) Work(ctx context.Context, _ *river.Job[reins.RunArgs]) error {
	w.once.Do(func() { close(w.taken) })
	<-w.release
	return nil
}
