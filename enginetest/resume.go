package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvexport"
)

// exercisePauseCost runs the part of the behaviour suite about what a PAUSE/RESUME cycle
// costs (docs/benchmarks.md, "Pause/resume cost"): the batch in flight acknowledges the
// pause in its own commit.
func exercisePauseCost(t *testing.T, open Opener) {
	t.Run("PauseAcknowledgedByBatch", func(t *testing.T) { t.Parallel(); testPauseAcknowledgedByBatch(t, open) })
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
