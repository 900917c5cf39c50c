package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvimport"
	"github.com/reins-dev/reins/postgres"
	"github.com/reins-dev/reins/reinstest"
)

// TestPauseDuringBatchEffects sends a PAUSE while a batch's effects go in (an import's rows:
// most of its batch's time). The PAUSE must not wait for the batch's transaction, and that
// batch's commit acknowledges it: the batch answers PAUSED. Before, the batch's fenced update
// came first and held the job row's lock through its effects, so the PAUSE waited for the
// commit and was acknowledged one batch later (PAUSE during an import: p50 62 ms, p99 105 ms
// in reins-bench).
func TestPauseDuringBatchEffects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, job := heldImport(t)
	res, err := db.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: job.Epoch, Kind: reins.RunProcess,
		Lease: *job.Lease, Checkpoint: []byte(`{}`), DoneDelta: 1, StopIfPausing: true,
		Apply: func(context.Context, reins.Tx) (int64, error) {
			paused := make(chan error, 1)
			go func() {
				_, _, err := db.ApplyCommand(ctx, job.ID, reins.CommandPause, "test")
				paused <- err
			}()
			select {
			case err := <-paused:
				return 0, err
			case <-time.After(30 * time.Second):
				return 0, errors.New("the PAUSE waited for the batch's transaction")
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != reins.StatusPaused {
		t.Fatalf("the batch during which the PAUSE came answered %s, want PAUSED", res.Status)
	}
	if got, err := db.FindJob(ctx, job.ID); err != nil || got.Status != reins.StatusPaused || got.Done != 1 {
		t.Fatalf("after the batch: %v, %v; want PAUSED with the batch's done", got, err)
	}
}

// TestStaleBatchEffectsFailFenced checks that a batch whose effects fail after its run lost
// the job (here to a REVOKE) is told it is fenced, not given the effects' error: with the
// fenced update after the effects, a stale run's rows can collide with its successor's, and
// that must never fail the job.
func TestStaleBatchEffectsFailFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, job := heldImport(t)
	if _, _, err := db.ApplyCommand(ctx, job.ID, reins.CommandRevoke, "test"); err != nil {
		t.Fatal(err)
	}
	_, err := db.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: job.Epoch, Kind: reins.RunProcess,
		Lease: *job.Lease, Checkpoint: []byte(`{}`), DoneDelta: 1,
		Apply: func(context.Context, reins.Tx) (int64, error) {
			return 0, reins.Errorf(reins.EINVALID, "duplicate key (the successor's rows)")
		}})
	if code := reins.ErrorCode(err); code != reins.EFENCED {
		t.Fatalf("a stale batch whose effects failed: %v (code %s), want EFENCED", err, code)
	}
}

// heldImport opens a migrated database of the test's own and returns it with an import job
// that a run holds (STARTED, leased).
func heldImport(t *testing.T) (*postgres.DB, *reins.Job) {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, reinstest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	job := &reins.Job{ID: uuid.New(), Type: csvimport.Type, Status: reins.StatusCreated}
	if err := db.CreateJob(ctx, job, "test", reins.RunNone, nil); err != nil {
		t.Fatal(err)
	}
	held, err := db.StartRun(ctx, job.ID, job.Epoch, reins.RunProcess, time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	return db, held
}
