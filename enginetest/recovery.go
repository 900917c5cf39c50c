package enginetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/upload"
)

// ExerciseRecovery runs the crash-safety half of the behaviour suite.
func ExerciseRecovery(t *testing.T, open Opener) {
	t.Run("RescueDeadRun", func(t *testing.T) { t.Parallel(); testRescueDeadRun(t, open) })
	t.Run("DrainHandsBack", func(t *testing.T) { t.Parallel(); testDrainHandsBack(t, open) })
	t.Run("DeadTransferFails", func(t *testing.T) { t.Parallel(); testDeadTransferFails(t, open) })
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
