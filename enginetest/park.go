package enginetest

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/reinstest"
)

// testParkedReadsNothing pauses an export whose run reads pages ahead, one read of them
// under way and unable to end by itself: once PAUSED, nothing of the job may still read (the
// parked run's reads ahead are cancelled, reins.Parker), and after RESUME the same run goes
// on and the export is exact. The run is held at its third batch while the PAUSE comes, so
// that the pages it reads before the acknowledgement are read; every read that begins after
// that is held until cancelled. The park is longer than the suite waits, so a read left
// running until the run ends fails the test.
func testParkedReadsNothing(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 12_000)
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := &parkedReads{Backend: backend, entered: make(chan struct{}, 64), idle: make(chan struct{}, 1)}
	kind := &limitsExport{Kind: &csvexport.Kind{Store: store, Blob: b}, holdAt: 3,
		held: make(chan struct{}), release: make(chan struct{})}
	h := newHarnessWith(t, backend, b, reins.NewRegistry(kind),
		engine.Config{Workers: 2, BatchSize: 2000, BatchTime: time.Minute, ParkTime: 2 * waitLimit})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	job := h.export(p)
	select {
	case <-kind.held:
	case <-time.After(waitLimit):
		t.Fatal("the run never reached its third batch")
	}
	// The first batch read its page and three ahead, the second one more: five reads
	// begun, none of them held. The third batch, let go, takes its page and begins a sixth.
	for range 5 {
		select {
		case <-store.entered:
		case <-time.After(waitLimit):
			t.Fatal("fewer than five pages were read")
		}
	}
	store.holdAfter.Store(5)
	answer := make(chan *reins.Job, 1)
	go func() {
		j, err := h.engine.Command(context.Background(), job.ID, reins.CommandPause, "test")
		if err != nil {
			t.Errorf("PAUSE: %v", err)
		}
		answer <- j
	}()
	h.waitStatus(job.ID, reins.StatusPausing)
	close(kind.release)
	if paused := <-answer; paused == nil || paused.Status != reins.StatusPaused {
		t.Fatalf("PAUSE answered %v, want PAUSED", paused)
	}
	select {
	case <-store.entered:
	case <-time.After(waitLimit):
		t.Fatal("the third batch began no read ahead")
	}
	if !store.waitIdle(waitLimit) {
		t.Fatalf("%d reads of the PAUSED job still under way after %s", store.inFlight.Load(), waitLimit)
	}
	store.holdAfter.Store(0)
	if resumed := h.command(job.ID, reins.CommandResume); resumed.Status != reins.StatusResumed {
		t.Fatalf("RESUME answered %s", resumed.Status)
	}
	done := h.waitStatus(job.ID, reins.StatusCompleted)
	if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("the resumed export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
	if runs := kind.runs(); len(runs) != 1 {
		t.Fatalf("%d tasks begun, want 1: the parked run goes on", len(runs))
	}
}

// parkedReads is a store whose exports read ahead, and whose reads, once holdAfter is set,
// wait for their context to end from the (holdAfter+1)-th on. It tells entered of every read
// begun, and idle whenever no read is under way.
type parkedReads struct {
	reinstest.Backend
	calls, inFlight, holdAfter atomic.Int64
	entered                    chan struct{}
	idle                       chan struct{}
}

func (s *parkedReads) ExportReadsAhead() bool { return true }

// CustomersWithin passes the store's own on, when it has one.
func (s *parkedReads) CustomersWithin(ctx context.Context, q *reins.CustomerQuery) (bool, int64, int64, error) {
	if c, ok := s.Backend.(interface {
		CustomersWithin(ctx context.Context, q *reins.CustomerQuery) (bool, int64, int64, error)
	}); ok {
		return c.CustomersWithin(ctx, q)
	}
	return false, 0, 0, nil
}

func (s *parkedReads) ExportCSV(ctx context.Context, w io.Writer, q *reins.CustomerQuery, afterID, uptoID int64) (int64, error) {
	s.inFlight.Add(1)
	defer func() {
		if s.inFlight.Add(-1) == 0 {
			select {
			case s.idle <- struct{}{}:
			default:
			}
		}
	}()
	n := s.calls.Add(1)
	s.entered <- struct{}{}
	if after := s.holdAfter.Load(); after > 0 && n > after {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return s.Backend.ExportCSV(ctx, w, q, afterID, uptoID)
}

// waitIdle waits up to d for no read to be under way.
func (s *parkedReads) waitIdle(d time.Duration) bool {
	deadline := time.After(d)
	for s.inFlight.Load() > 0 {
		select {
		case <-s.idle:
		case <-deadline:
			return false
		}
	}
	return true
}
