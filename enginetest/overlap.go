package enginetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvimport"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/reinstest"
	"github.com/reins-dev/reins/upload"
)

// heldImport is the customers import whose batch number holdAt waits until released. By
// default its task holds before it makes that batch: on a store that overlaps batches
// (Postgres) the batch before it is then still in flight, its rows going in
// (docs/architecture.md, "Overlapping batches"); on one that does not (SQLite) it has
// committed. (A hold inside a batch's transaction would hold SQLite's one connection, and
// the test could not read the job meanwhile.) With effects set, the batch is made and it is
// its rows that wait (or are abandoned), as a COPY behind a slow disk would.
type heldImport struct {
	*csvimport.Kind
	holdAt  int64
	effects bool
	batches atomic.Int64
	held    chan struct{}
	release chan struct{}
	// applied, when not nil (and effects is not set), is closed once the rows of the batch
	// before the held one are in.
	applied     chan struct{}
	appliedOnce sync.Once
	// stubborn (with effects) holds the rows until release even when the batch is told to
	// stop, as a COPY whose cancellation is slow would.
	stubborn bool
	// committed, when not nil, is closed once the batch before the held one committed, and
	// the run then waits for goOn.
	committed, goOn chan struct{}
	commits         atomic.Int64
}

func (k *heldImport) Begin(ctx context.Context, job *reins.Job) (reins.Task, error) {
	task, err := k.Kind.Begin(ctx, job)
	if err != nil {
		return nil, err
	}
	return &heldImportTask{Task: task, kind: k}, nil
}

type heldImportTask struct {
	reins.Task
	kind *heldImport
}

func (t *heldImportTask) Next(ctx context.Context, limit int) (*reins.Batch, bool, error) {
	k := t.kind
	if !k.effects {
		n := k.batches.Add(1)
		if n == k.holdAt {
			if err := holdUntil(ctx, k.held, k.release); err != nil {
				return nil, false, err
			}
		}
		b, last, err := t.Task.Next(ctx, limit)
		if err != nil || n != k.holdAt-1 || k.applied == nil {
			return b, last, err
		}
		apply := b.Apply
		b.Apply = func(ctx context.Context, tx reins.Tx) (int64, error) {
			n, err := apply(ctx, tx)
			if err == nil {
				k.appliedOnce.Do(func() { close(k.applied) })
			}
			return n, err
		}
		return b, last, nil
	}
	b, last, err := t.Task.Next(ctx, limit)
	if err != nil || k.batches.Add(1) != k.holdAt {
		return b, last, err
	}
	apply := b.Apply
	b.Apply = func(ctx context.Context, tx reins.Tx) (int64, error) {
		if k.stubborn {
			close(k.held)
			<-k.release
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
		} else if err := holdUntil(ctx, k.held, k.release); err != nil {
			return 0, err
		}
		return apply(ctx, tx)
	}
	return b, last, nil
}

func (t *heldImportTask) Committed(b *reins.Batch) {
	t.Task.Committed(b)
	if k := t.kind; k.commits.Add(1) == k.holdAt-1 && k.committed != nil {
		close(k.committed)
		<-k.goOn
	}
}

// The import the tests of a held import run: heldRows rows in batches of heldBatch (the
// batch limit is also the least a batch is sized to).
const heldRows, heldBatch = 6000, 200

// startHeldImport makes kind the customers import on backend, over a blob store of its own,
// starts an engine of two workers with it (cfg's other settings kept), and uploads heldRows
// rows into a new import job.
func startHeldImport(t *testing.T, backend reinstest.Backend, kind *heldImport, cfg engine.Config) (*harness, *reins.Job) {
	t.Helper()
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kind.Kind = &csvimport.Kind{Store: backend, Blob: b}
	cfg.Workers, cfg.BatchSize = 2, heldBatch
	h := newHarnessWith(t, backend, b, reins.NewRegistry(kind), cfg)
	return h, h.upload(importParams{OnError: upload.OnErrorAbort}, importCSV(heldRows, nil))
}

// awaitClosed waits until ch is closed; reaching waitLimit first fails the test with what.
func awaitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatal(what)
	}
}

// resumeWhole checks that the paused import's rows in the table are the ones it counts,
// then RESUMEs it and checks that it completes with every row of the file once.
func (h *harness) resumeWhole(paused *reins.Job) {
	h.t.Helper()
	if rows, _ := h.imported(paused.ID); rows != paused.Done {
		h.t.Fatalf("PAUSED with done=%d but the table holds %d of the job's rows", paused.Done, rows)
	}
	h.command(paused.ID, reins.CommandResume)
	done := h.waitStatus(paused.ID, reins.StatusCompleted)
	rows, emails := h.imported(paused.ID)
	if rows != heldRows || emails != heldRows || done.Done != heldRows {
		h.t.Fatalf("imported %d rows (%d distinct emails), done=%d; want %d of each", rows, emails, done.Done, heldRows)
	}
}

// testImportOverlapPause PAUSEs an unthrottled import while a batch is in flight (where
// batches overlap, with its rows going in as the run reads the next one): PAUSE is answered
// by that batch's commit, a batch begun after it leaves nothing, and after RESUME the job
// holds every row once, with ids in the file's order (an export walks the ids, so it writes
// an imported file's rows in their order). Where batches overlap the read of the next batch
// is held until the answer has come: the PAUSE cuts it short rather than wait for it.
// Before, the answer waited for the read, here for ever: it was PAUSING after the command's
// wait bound (the harness's, 3 minutes).
func testImportOverlapPause(t *testing.T, open Opener) {
	backend := open(t)
	kind := &heldImport{holdAt: 5, held: make(chan struct{}), release: make(chan struct{}), applied: make(chan struct{})}
	h, job := startHeldImport(t, backend, kind, engine.Config{})
	awaitClosed(t, kind.held, fmt.Sprintf("the import never reached batch %d", kind.holdAt))
	// The batches committed while the run holds: all before the held one, but the one still
	// in flight where batches overlap.
	committed := kind.holdAt - 1
	if backend.OverlapsBatches() {
		committed--
	}
	h.waitFor(job.ID, "the batches before the one in flight", func(j *reins.Job) bool { return j.Done == committed*heldBatch })
	var paused *reins.Job
	if backend.OverlapsBatches() {
		// The rows of the batch in flight are in: its commit keeps them.
		awaitClosed(t, kind.applied, fmt.Sprintf("the rows of batch %d never went in", kind.holdAt-1))
		paused = h.command(job.ID, reins.CommandPause)
		close(kind.release)
	} else {
		answer := h.pauseInBackground(job.ID)
		close(kind.release)
		paused = <-answer
	}
	if want := (committed + 1) * heldBatch; paused == nil || paused.Status != reins.StatusPaused || paused.Done != want {
		t.Fatalf("PAUSE with a batch in flight answered %+v; want PAUSED with done=%d", paused, want)
	}
	h.resumeWhole(paused)
	// Row i of the file is First<i>: count the rows whose id comes after a later row's.
	var inversions int64
	if err := backend.QueryRow(context.Background(), `SELECT COUNT(*) FROM (
		SELECT CAST(SUBSTR(first_name, 6) AS INTEGER) AS i,
			LAG(CAST(SUBSTR(first_name, 6) AS INTEGER)) OVER (ORDER BY id) AS before
		FROM customers WHERE job_id = $1) o WHERE i < before`, job.ID).Scan(&inversions); err != nil {
		t.Fatal(err)
	}
	if inversions != 0 {
		t.Fatalf("%d rows have a smaller id than a row before them in the file: the ids do not follow the file", inversions)
	}
}

// testImportPauseDuringEffects PAUSEs an import while a batch's rows go in, where batches
// overlap (Postgres), and those rows do not come: PAUSE is answered PAUSED without waiting
// for them, by abandoning that batch (its rows rolled back unseen), and after RESUME the job
// holds every row once. Before, the PAUSE waited for the batch to commit, here for ever: it
// was answered PAUSING after the command's wait bound (the harness's, 3 minutes). Where batches do not overlap
// (SQLite) a batch's effects go in with its commit, in the one connection's transaction: no
// PAUSE can be applied during them, and the test does not apply.
func testImportPauseDuringEffects(t *testing.T, open Opener) {
	backend := open(t)
	if !backend.OverlapsBatches() {
		t.Skip("batches do not overlap on this store: a batch's effects go in with its commit")
	}
	kind := &heldImport{holdAt: 5, effects: true, held: make(chan struct{}), release: make(chan struct{})}
	// A run budget past the test's wait: River's bound on the run (a multiple of the budget)
	// must not be what ends the stalled batch.
	h, job := startHeldImport(t, backend, kind, engine.Config{RunBudget: 2 * waitLimit})
	awaitClosed(t, kind.held, fmt.Sprintf("the import never reached batch %d", kind.holdAt))
	before := (kind.holdAt - 1) * heldBatch
	h.waitFor(job.ID, "the batches before the stalled one", func(j *reins.Job) bool { return j.Done == before })
	paused, err := h.engine.Command(context.Background(), job.ID, reins.CommandPause, "test")
	if err != nil {
		t.Fatal(err)
	}
	if paused.Status != reins.StatusPaused || paused.Done != before {
		t.Fatalf("PAUSE while a batch's rows go in answered %s with done=%d; want PAUSED with done=%d",
			paused.Status, paused.Done, before)
	}
	close(kind.release)
	h.resumeWhole(paused)
}

// testImportPauseBeforeRollback PAUSEs an import where batches overlap (Postgres) just after
// a batch committed, while the rows of the batch after it go in and do not stop when told to
// (a COPY whose cancellation is slow): the PAUSE is answered PAUSED without waiting for them,
// and they never show. Before, the run rolled that batch back before it acknowledged the
// PAUSE, here for ever: the answer was PAUSING after the command's wait bound.
func testImportPauseBeforeRollback(t *testing.T, open Opener) {
	backend := open(t)
	if !backend.OverlapsBatches() {
		t.Skip("batches do not overlap on this store: no batch is begun while another commits")
	}
	kind := &heldImport{holdAt: 5, effects: true, stubborn: true, held: make(chan struct{}), release: make(chan struct{}),
		committed: make(chan struct{}), goOn: make(chan struct{})}
	h, job := startHeldImport(t, backend, kind, engine.Config{RunBudget: 2 * waitLimit})
	for _, ch := range []chan struct{}{kind.held, kind.committed} {
		awaitClosed(t, ch, fmt.Sprintf("the import never reached batch %d", kind.holdAt))
	}
	// Batch 4 committed and batch 5's rows are held; the run looks for signals next.
	answer := h.pauseInBackground(job.ID)
	close(kind.goOn)
	var paused *reins.Job
	select {
	case paused = <-answer:
	case <-time.After(2 * waitLimit):
		t.Fatal("no answer to the PAUSE")
	}
	close(kind.release)
	before := (kind.holdAt - 1) * heldBatch
	if paused == nil || paused.Status != reins.StatusPaused || paused.Done != before {
		t.Fatalf("PAUSE while a batch's rows would not stop answered %+v; want PAUSED with done=%d", paused, before)
	}
	h.resumeWhole(paused)
}
