package enginetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/engine"
)

// testRollbackNeverGivesUp revokes a running export whose rollback fails more times than a
// run is tried (reins.RunMaxAttempts), as it would while its files' volume is away: the
// rollback goes on being tried and the job ends REVOKED with nothing left. Before, the last
// failed attempt ended the rollback's run and the job stayed REVOKING with no run to finish
// it.
func testRollbackNeverGivesUp(t *testing.T, open Opener) {
	backend := open(t)
	seed(t, backend, 2000)
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kind := &failingDiscard{Kind: &csvexport.Kind{Store: backend, Blob: b}}
	h := newHarnessWith(t, backend, b, reins.NewRegistry(kind),
		engine.Config{Workers: 2, BatchSize: 100, RetryBackoff: time.Millisecond})
	job := h.export(csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31", MaxRowsPerS: 200})
	h.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > 0 })
	kind.fails.Store(reins.RunMaxAttempts + 3)
	h.command(job.ID, reins.CommandRevoke)
	final := h.waitStatus(job.ID, reins.StatusRevoked)
	if left := kind.fails.Load(); left > 0 {
		t.Fatalf("REVOKED with %d of the rollback's failures still to come", left)
	}
	if final.Done != 0 || h.filesExist(job.ID) {
		t.Fatalf("the revoked export shows done %d, files left: %v", final.Done, h.filesExist(job.ID))
	}
}

// failingDiscard is the export kind whose Discard (the first step of its rollback) fails
// while fails is above zero.
type failingDiscard struct {
	*csvexport.Kind
	fails atomic.Int64
}

func (k *failingDiscard) Discard(ctx context.Context, job *reins.Job) error {
	if k.fails.Add(-1) >= 0 {
		return errors.New("the export's files cannot be deleted (test)")
	}
	return k.Kind.Discard(ctx, job)
}
