package enginetest

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/demo"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/reinstest"
)

// ExerciseSnapshot runs the snapshot half of the behaviour suite: an export is the rows in
// range as of its creation, whatever writers do meanwhile.
func ExerciseSnapshot(t *testing.T, open Opener) {
	t.Run("ExportSnapshot", func(t *testing.T) { t.Parallel(); testExportSnapshot(t, open) })
	t.Run("ExportReadAhead", func(t *testing.T) { t.Parallel(); testExportReadAhead(t, open) })
	t.Run("ExportCommitAnswerLost", func(t *testing.T) { t.Parallel(); testExportCommitAnswerLost(t, open) })
	t.Run("ExportFormulaReadAhead", func(t *testing.T) { t.Parallel(); testExportFormulaReadAhead(t, open) })
}

// testExportReadAhead stops an export of every customer (its count runs alongside its first
// pages, and is held until the last run) while the page after its last batch is being read
// ahead, half of it already in the part file: once by a PAUSE (the batch in flight commits,
// the read ahead is dropped), once by a crash of its engine (the read ahead is cancelled).
// In between, the committed file is the start of the expected one; at the end the file is
// exactly the expected CSV, and done and total are its rows. The store is made to read ahead
// on both backends (Postgres does anyway, SQLite does not), and the read it holds writes its
// first half before it waits, so a part's bytes past its committed size are really there.
func testExportReadAhead(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 3000)
	dir := t.TempDir()
	b, err := blob.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := &heldReads{Backend: backend, held: make(chan struct{}, 1), release: make(chan struct{})}
	kinds := func() *reins.Registry { return reins.NewRegistry(&csvexport.Kind{Store: store, Blob: b}) }
	cfg := engine.Config{Workers: 2, BatchSize: 200, RunBudget: 2 * waitLimit}
	first := newHarnessWith(t, backend, b, kinds(), cfg)
	// Every customer is in the range: the walk starts while its count runs alongside.
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	want := expectedCSV(t, customers, p)
	// The first read is the run's own; the fourth is one of the pages read ahead after it,
	// which one depending on which of their reads comes to the store first.
	store.holdAt.Store(4)
	store.countHeld.Store(true)
	job := first.export(p)
	store.waitHeld(t)
	// The run commits the pages before the held one, then waits for it: a PAUSE now can
	// only be answered once the held read ends.
	first.waitFor(job.ID, "the walk at the held page", func(j *reins.Job) bool {
		var cp csvexport.Checkpoint
		return json.Unmarshal(j.Checkpoint, &cp) == nil && cp.AfterID == store.heldAfter.Load()
	})

	paused := make(chan *reins.Job, 1)
	go func() {
		j, err := first.engine.Command(context.Background(), job.ID, reins.CommandPause, "test")
		if err != nil {
			t.Errorf("PAUSE: %v", err)
		}
		paused <- j
	}()
	// PAUSING while the run waits for the held read. (Should the run have looked at its
	// signals between the commit seen above and its wait, the PAUSE is answered at once and
	// the run parks, its reads ahead kept: the held read still waits for its release.)
	first.waitFor(job.ID, "PAUSING", func(j *reins.Job) bool {
		return j.Status == reins.StatusPausing || j.Status == reins.StatusPaused
	})
	store.release <- struct{}{}
	if got := <-paused; got == nil || got.Status != reins.StatusPaused {
		t.Fatalf("PAUSE answered %v", got)
	}
	mid := first.job(job.ID)
	if file := first.result(mid); !strings.HasPrefix(want, file) || countRows(file) != mid.Done || mid.Done == 0 {
		t.Fatalf("paused with done=%d, the committed file (%d rows, %d bytes) is not the start of the expected one",
			mid.Done, countRows(file), len(file))
	}
	if mid.Total != nil {
		t.Fatalf("paused with total %d, though its count is held", *mid.Total)
	}
	// Nothing moved after PAUSED: the job's files on disk hold exactly the committed bytes,
	// not the half page the read ahead had when the PAUSE came.
	if onDisk, committed := dirSize(t, filepath.Join(dir, "exports", job.ID.String())), int64(len(first.result(mid))); onDisk != committed {
		t.Fatalf("paused with %d bytes of export files on disk, but %d committed", onDisk, committed)
	}

	store.holdAt.Store(store.calls.Load() + 3)
	first.command(job.ID, reins.CommandResume)
	store.waitHeld(t)
	// Stop the engine with no grace while the read ahead waits, as in a crash.
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	_ = first.engine.Stop(expired)

	store.holdAt.Store(0)
	store.countHeld.Store(false)
	second := newHarnessWith(t, backend, b, kinds(), cfg)
	final := second.waitStatus(job.ID, reins.StatusCompleted)
	if got := second.result(final); got != want {
		t.Fatalf("the export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
	if rows := countRows(want); final.Done != rows || final.Total == nil || *final.Total != rows {
		t.Fatalf("done=%d total=%v, want %d", final.Done, final.Total, rows)
	}
}

// dirSize sums the sizes of the files in dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	return n
}

// testExportFormulaReadAhead exports customers of which a few, deep in the walk, start a
// cell with =. The store is made to read ahead and to have formulas found in the bytes it
// writes (as Postgres does), so those pages are read ahead raw, found to hold a formula,
// dropped from the read ahead and read again with the cell escaped: the file is exactly the
// expected CSV, each such cell once and escaped.
func testExportFormulaReadAhead(t *testing.T, open Opener) {
	backend := open(t)
	const n = 3000
	gen := func(i int64) reins.Customer {
		c := demo.Customer(i, n)
		if i%700 == 699 {
			c.FirstName = "=1+" + c.FirstName
		}
		return c
	}
	reinstest.Seed(t, backend, n, gen)
	customers := make([]reins.Customer, n)
	for i := range customers {
		customers[i] = gen(int64(i))
	}
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := &scansFormulas{Backend: backend}
	h := newHarnessWith(t, backend, b, reins.NewRegistry(&csvexport.Kind{Store: store, Blob: b}),
		engine.Config{Workers: 2, BatchSize: 200})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	want := expectedCSV(t, customers, p)
	if strings.Count(want, "\n'=1+") != 4 {
		t.Fatalf("the expected file holds %d escaped formulas, want 4", strings.Count(want, "\n'=1+"))
	}
	final := h.waitStatus(h.export(p).ID, reins.StatusCompleted)
	if got := h.result(final); got != want {
		t.Fatalf("the export differs from the expected CSV (%d vs %d bytes, %d escaped formulas)",
			len(got), len(want), strings.Count(got, "\n'=1+"))
	}
}

// scansFormulas is a store whose exports read ahead and find formulas in the CSV written.
type scansFormulas struct{ reinstest.Backend }

func (*scansFormulas) ExportReadsAhead() bool { return true }
func (*scansFormulas) ExportWritesCSV() bool  { return true }

// countRows counts the data rows of an export (its lines but the header; no cell of the
// suite's customers holds a line break).
func countRows(file string) int64 {
	return max(0, int64(strings.Count(file, "\n"))-1)
}

// heldReads is a store whose exports read ahead, and whose read number holdAt (counted from
// 1; 0 holds none) writes the first half of its page, then waits for release or for its
// context to end. While countHeld, an export's count waits for its context to end.
type heldReads struct {
	reinstest.Backend
	calls, holdAt atomic.Int64
	// heldAfter is where the page of the read last held begins: the id after which it reads.
	heldAfter atomic.Int64
	countHeld atomic.Bool
	held      chan struct{}
	release   chan struct{}
}

func (s *heldReads) CountCustomers(ctx context.Context, q *reins.CustomerQuery) (int64, int64, int64, error) {
	if s.countHeld.Load() {
		<-ctx.Done()
		return 0, 0, 0, ctx.Err()
	}
	return s.Backend.CountCustomers(ctx, q)
}

func (s *heldReads) ExportReadsAhead() bool { return true }

// CustomersWithin passes the store's own on, when it has one.
func (s *heldReads) CustomersWithin(ctx context.Context, q *reins.CustomerQuery) (bool, int64, int64, error) {
	if c, ok := s.Backend.(interface {
		CustomersWithin(ctx context.Context, q *reins.CustomerQuery) (bool, int64, int64, error)
	}); ok {
		return c.CustomersWithin(ctx, q)
	}
	return false, 0, 0, nil
}

func (s *heldReads) ExportCSV(ctx context.Context, w io.Writer, q *reins.CustomerQuery, afterID, uptoID int64) (int64, error) {
	if s.calls.Add(1) != s.holdAt.Load() {
		return s.Backend.ExportCSV(ctx, w, q, afterID, uptoID)
	}
	s.heldAfter.Store(afterID)
	var page bytes.Buffer
	n, err := s.Backend.ExportCSV(ctx, &page, q, afterID, uptoID)
	if err != nil {
		return 0, err
	}
	half := page.Len() / 2
	if _, err := w.Write(page.Bytes()[:half]); err != nil {
		return 0, err
	}
	s.held <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	_, err = w.Write(page.Bytes()[half:])
	return n, err
}

// waitHeld waits until a read is held.
func (s *heldReads) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-s.held:
	case <-time.After(waitLimit):
		t.Fatal("no read was held")
	}
}

// testExportSnapshot exports a date range while writers insert rows into the range, update
// rows (in place, into and out of the range) and delete rows, from the moment the export is
// created to the moment it completes; the export is paused and resumed, its runs hand over
// every few hundred milliseconds, and its first engine is stopped mid-batch and another
// takes over. The file then holds every row that existed unchanged throughout exactly once,
// no row inserted after the export's creation, and each row updated or deleted meanwhile at
// most once; done equals the file's rows and never passed total.
func testExportSnapshot(t *testing.T, open Opener) {
	backend := open(t)
	const n = 20_000
	customers := seed(t, backend, n)
	// The export is created by a process without workers, and the writers get going before
	// any run starts: what they do after the creation must not show.
	creator := newHarness(t, backend, engine.Config{Workers: 0})
	p := csvexport.Params{DateGTE: "2017-01-01", DateLTE: "2020-12-31", MaxRowsPerS: 6000}
	from, to := p.Range()
	job := creator.export(p)

	w := &writers{backend: backend, from: from, to: to, n: n, warm: make(chan struct{})}
	ctx, stopWriters := context.WithCancel(context.Background())
	defer stopWriters()
	done := w.start(ctx, t)
	watcher := watchTotals(ctx, t, backend, job.ID)
	select {
	case <-w.warm:
	case <-done:
		t.Fatal("the writers stopped before they wrote anything")
	}
	first := newHarnessOn(t, backend, creator.blob, engine.Config{Workers: 2, BatchSize: 300, RunBudget: 300 * time.Millisecond})

	for cycle := 0; cycle < 2; cycle++ {
		first.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > int64(cycle+1)*500 })
		if got := first.command(job.ID, reins.CommandPause); got.Status != reins.StatusPaused {
			t.Fatalf("PAUSE answered %s", got.Status)
		}
		first.command(job.ID, reins.CommandResume)
	}
	first.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > 2000 })
	// Stop the first engine with no grace: its run is cancelled mid-batch, as in a crash.
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	_ = first.engine.Stop(expired)
	second := newHarnessOn(t, backend, first.blob, engine.Config{Workers: 2, BatchSize: 300, RunBudget: 300 * time.Millisecond})
	final := second.waitStatus(job.ID, reins.StatusCompleted)
	stopWriters()
	<-done
	<-watcher

	if w.inserted.Load() == 0 || w.updated.Load() == 0 || w.deleted.Load() == 0 {
		t.Fatalf("the writers did too little to prove anything: %d inserted, %d updated, %d deleted",
			w.inserted.Load(), w.updated.Load(), w.deleted.Load())
	}
	rows := parseExport(t, second.result(final))
	if int64(len(rows)) != final.Done || final.Total == nil || *final.Total != final.Done {
		t.Fatalf("the file has %d rows; done=%d total=%v", len(rows), final.Done, final.Total)
	}
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.email]++
	}
	for email, count := range seen {
		if count > 1 {
			t.Fatalf("%s appears %d times", email, count)
		}
		if strings.HasPrefix(email, "late.") {
			t.Fatalf("%s was inserted after the export was created, yet it is in the file", email)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, c := range customers {
		inRange := !c.CreatedAt.Before(from) && c.CreatedAt.Before(to)
		if !inRange || w.touched[int64(i)+1] {
			continue
		}
		if seen[c.Email] != 1 {
			t.Fatalf("%s existed unchanged throughout but appears %d times", c.Email, seen[c.Email])
		}
	}
}

// writers change the customers table while an export runs: they insert rows in range,
// update rows and delete rows, recording which seeded rows (ids 1..n) they touched.
type writers struct {
	backend  reins.Store
	from, to time.Time
	n        int64
	warm     chan struct{} // closed once each writer has written a few times

	mu       sync.Mutex
	touched  map[int64]bool
	inserted atomic.Int64
	updated  atomic.Int64
	deleted  atomic.Int64
}

// start runs the writers until ctx ends; the returned channel closes when they have stopped.
func (w *writers) start(ctx context.Context, t *testing.T) <-chan struct{} {
	w.touched = map[int64]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		span := w.to.Sub(w.from)
		for i := int64(0); ctx.Err() == nil; i++ {
			var err error
			switch i % 3 {
			case 0:
				at := w.from.Add(time.Duration(i*7919%1000) * (span / 1000))
				_, err = w.backend.Exec(ctx, `INSERT INTO customers (first_name, last_name, address, email, age, company, created_at)
					VALUES ('Late', 'Comer', '1 New St', $1, 30, 'Acme', $2)`, fmt.Sprintf("late.%d@example.com", i), at)
				w.count(err, &w.inserted, 0)
			case 1:
				// Move a row within the range, out of it, or into it, and change its name.
				id := 1 + (i*104729)%w.n
				at := w.from.Add(-span + time.Duration(i*15485863%1000)*(3*span/1000))
				_, err = w.backend.Exec(ctx, `UPDATE customers SET first_name = 'Updated', created_at = $2 WHERE id = $1`, id, at)
				w.count(err, &w.updated, id)
			case 2:
				id := 1 + (i*1299709)%w.n
				_, err = w.backend.Exec(ctx, `DELETE FROM customers WHERE id = $1`, id)
				w.count(err, &w.deleted, id)
			}
			if err != nil && ctx.Err() == nil {
				t.Errorf("writer: %v", err)
				return
			}
			if i == 60 {
				close(w.warm)
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Millisecond): // the writers' own pace, not a synchronisation
			}
		}
	}()
	return done
}

func (w *writers) count(err error, n *atomic.Int64, id int64) {
	if err != nil {
		return
	}
	n.Add(1)
	if id > 0 {
		w.mu.Lock()
		w.touched[id] = true
		w.mu.Unlock()
	}
}

// watchTotals checks, until ctx ends, that the job's done never passes its total.
func watchTotals(ctx context.Context, t *testing.T, store reins.Store, id uuid.UUID) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			job, err := store.FindJob(context.Background(), id)
			if err == nil && job.Total != nil && job.Done > *job.Total {
				t.Errorf("done %d passed total %d", job.Done, *job.Total)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond): // a sampling period
			}
		}
	}()
	return done
}

// exportRow is one data row of an export file.
type exportRow struct {
	email string
}

// parseExport reads an export of the six default columns.
func parseExport(t testing.TB, body string) []exportRow {
	t.Helper()
	records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not valid CSV: %v", err)
	}
	if len(records) == 0 || strings.Join(records[0], ",") != strings.Join(reins.CustomerColumns, ",") {
		t.Fatalf("the export's header is %q", records[:min(1, len(records))])
	}
	rows := make([]exportRow, 0, len(records)-1)
	for _, r := range records[1:] {
		rows = append(rows, exportRow{email: r[3]})
	}
	return rows
}

// testExportCommitAnswerLost loses the answer to an export's first commit: the batch is in,
// its checkpoint naming the run's part file, but the run is told the commit failed (as when
// the process stops or the connection drops while COMMIT is on its way). The run ends on the
// error, and the retried run goes on from the stored checkpoint; the part must still be
// there. Before, the ended run's task, knowing of no batch of its own that committed,
// deleted its part, and the COMPLETED export could not be read.
func testExportCommitAnswerLost(t *testing.T, open Opener) {
	backend := &lostAnswer{Backend: open(t)}
	customers := seed(t, backend, 3000)
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, backend, b, reins.NewRegistry(&csvexport.Kind{Store: backend, Blob: b}),
		engine.Config{Workers: 1, BatchSize: 200})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	done := h.waitStatus(h.export(p).ID, reins.StatusCompleted)
	if !backend.lost.Load() {
		t.Fatal("no commit's answer was lost")
	}
	if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("the export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
}

// lostAnswer commits the first batch and then reports an error, as a commit whose answer
// never came.
type lostAnswer struct {
	reinstest.Backend
	lost atomic.Bool
}

func (s *lostAnswer) CommitBatch(ctx context.Context, b *reins.Batch) (*reins.BatchResult, error) {
	res, err := s.Backend.CommitBatch(ctx, b)
	if err == nil && b.DoneDelta > 0 && s.lost.CompareAndSwap(false, true) {
		return nil, errors.New("the connection closed before the COMMIT's answer came (test)")
	}
	return res, err
}
