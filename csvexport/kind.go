package csvexport

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
)

// Checkpoint is an export's resumable state: the snapshot it reads, how far it has walked
// the rows by id, and the file parts written so far with their committed sizes. Each run
// writes its own part, so a stale run can never write into bytes that a newer run owns;
// bytes past a part's committed size are ignored by readers and dropped on rollback.
type Checkpoint struct {
	// MaxID bounds the snapshot: the highest customer id when the export was created, so
	// rows inserted later are left out. Snapshot says it was taken at creation.
	MaxID    int64 `json:"max_id,omitempty"`
	Snapshot bool  `json:"snapshot,omitempty"`
	// AfterID is the last id the walk has passed; EndID the last id it will read.
	AfterID int64 `json:"after_id,omitempty"`
	EndID   int64 `json:"end_id,omitempty"`
	// Estimate is the rows the guard estimated, when it ran.
	Estimate *int64 `json:"estimate,omitempty"`
	// After is where an export begun by an older release stood in (created_at, id) order:
	// the walk by id then leaves out what that release already wrote.
	After *reins.CustomerKey `json:"after,omitempty"`
	Parts []Part             `json:"parts"`
}

// legacy reports whether an older release's export wrote part of this one.
func (c *Checkpoint) legacy() bool { return c.After != nil && !c.After.CreatedAt.IsZero() }

// Part is one file of an export's result and how many of its bytes are committed.
type Part struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

// Kind is the customers export.
type Kind struct {
	Store reins.Store
	Blob  *blob.Store
	// ConfirmOver is the server's guard (--export-confirm-over): an export estimated above
	// this many rows waits for CONFIRM. 0 turns it off.
	ConfirmOver int64

	slotsOnce sync.Once
	slots     chan struct{} // aheadReads tokens, shared by the kind's runs (aheadSlots)
}

// aheadSlots returns the tokens every page read ahead holds while it reads: at most
// aheadReads reads ahead at once in the process, whatever the exports running, so that they
// leave the database pool's connections to the API and the other runs.
func (k *Kind) aheadSlots() chan struct{} {
	k.slotsOnce.Do(func() { k.slots = make(chan struct{}, aheadReads) })
	return k.slots
}

var _ reins.Kind = (*Kind)(nil)

func prefix(id uuid.UUID) string { return "exports/" + id.String() }

func decode(job *reins.Job) (Params, Checkpoint, error) {
	return reins.DecodeJob[Params, Checkpoint](job)
}

// Type implements reins.Kind.
func (*Kind) Type() reins.JobType { return Type }

// ParamNames implements reins.Kind.
func (*Kind) ParamNames() []string { return paramNames }

// NewJob implements reins.Kind.
func (*Kind) NewJob(p reins.Params) (*reins.Job, error) {
	params, err := ParseParams(p)
	if err != nil {
		return nil, err
	}
	raw, err := params.marshal()
	if err != nil {
		return nil, err
	}
	return &reins.Job{Type: Type, Status: reins.StatusCreated, Params: raw}, nil
}

// Undo implements reins.Kind: an export writes no rows; its file is its work.
func (*Kind) Undo(context.Context, reins.Tx, *reins.Job, int) (int64, error) { return 0, nil }

// Discard implements reins.Kind: it deletes every part of the export.
func (k *Kind) Discard(_ context.Context, job *reins.Job) error {
	return k.Blob.DeletePrefix(prefix(job.ID))
}

// Present implements reins.Kind: the result's link once COMPLETED, and the guard's estimate.
func (k *Kind) Present(job *reins.Job) map[string]any {
	out := map[string]any{}
	if job.Status == reins.StatusCompleted {
		out["result"] = map[string]string{"url": "/api/v1/jobs/" + job.ID.String() + "/result"}
	}
	// Only the estimate: every job-status answer comes here, and decoding the whole
	// checkpoint and the params was a quarter of its time in the server under load.
	var cp struct {
		Estimate *int64 `json:"estimate"`
	}
	if err := json.Unmarshal(job.Checkpoint, &cp); err == nil && cp.Estimate != nil {
		out["estimated_rows"] = *cp.Estimate
	}
	return out
}

// Begin implements reins.Kind.
func (k *Kind) Begin(ctx context.Context, job *reins.Job) (reins.Task, error) {
	params, cp, err := decode(job)
	if err != nil {
		return nil, err
	}
	t := &task{kind: k, job: job, cp: cp, total: job.Total}
	// A throttled export reads nothing ahead: its batches wait for the throttle anyway, and
	// a read done early would only be thrown away by a PAUSE during the wait.
	if r, ok := k.Store.(interface{ ExportReadsAhead() bool }); ok && params.MaxRowsPerS == 0 {
		t.readAhead = r.ExportReadsAhead()
	}
	if r, ok := k.Store.(interface{ ExportWritesCSV() bool }); ok {
		t.scanFormulas = r.ExportWritesCSV()
	}
	t.query = reins.CustomerQuery{Columns: params.Header(), EscapeFormulas: !params.RawCells && !cp.legacy()}
	t.query.From, t.query.To = params.Range()
	if cp.legacy() {
		t.query.After = cp.After
	}
	if !cp.Snapshot {
		// Begun by an older release: the walk's bounds, counted now, are its snapshot.
		t.cp.MaxID = math.MaxInt64
	}
	t.query.MaxID = t.cp.MaxID
	if t.total == nil && t.readAhead && cp.Snapshot && !cp.legacy() {
		if err := t.countAside(ctx); err != nil {
			return nil, err
		}
	}
	if t.total == nil && t.counted == nil || t.cp.EndID == 0 && cp.legacy() {
		if err := t.count(ctx); err != nil {
			return nil, err
		}
	}
	if err := t.openPart(); err != nil {
		return nil, err
	}
	return t, nil
}

// task is one run of an export.
type task struct {
	kind  *Kind
	job   *reins.Job
	cp    Checkpoint
	query reins.CustomerQuery
	total *int64
	span  int64 // ids a page covers, adapted to how densely the range's rows lie

	part    Part
	written int64 // bytes of the part committed; 0 while the part is in no checkpoint
	file    *os.File
	out     *countingWriter
	w       *bufio.Writer

	// readAhead says whether the next pages are read while the last one commits; aheads
	// are those reads, in the walk's order, under way or done and not yet taken (at most
	// aheadPages), and stopAhead cancels them.
	readAhead bool
	// scanFormulas says whether formulas are found in Go rather than by the database.
	scanFormulas bool
	aheads       []*page
	aheadCtx     context.Context
	stopAhead    context.CancelFunc
	spare        chan []byte // the chunks of pages read ahead and taken, for the next

	// counted delivers the count run alongside the first pages (countAside), once, and
	// stopCount cancels it.
	counted   chan counted
	stopCount context.CancelFunc
}

// counted is the outcome of a count run alongside the walk.
type counted struct {
	n   int64
	err error
}

// page is one read of the walk: the rows with ids in (after, upto] written to the part, and
// the part's size once they are in it. done closes when the read has ended.
type page struct {
	after, upto int64
	limit       int
	rows, end   int64
	err         error
	run         func()
	done        chan struct{}
	pipe        *aheadPipe // a page read ahead comes through it; nil for a page read in Next
}

// count counts the snapshot's rows in range and where their ids begin and end: the job's
// total and the walk's bounds, fixed by the first run (and committed with its first batch).
// Rows inserted after the count have higher ids than EndID, so they are left out even of an
// export whose snapshot an older release did not take. Bounds already committed (a walk
// begun while its count ran alongside) stay.
func (t *task) count(ctx context.Context) error {
	n, minID, maxID, err := t.kind.Store.CountCustomers(ctx, &t.query)
	if err != nil {
		return err
	}
	if t.total == nil {
		t.total = &n
	}
	if t.cp.EndID == 0 {
		t.cp.AfterID, t.cp.EndID = max(0, minID-1), maxID
	}
	return nil
}

// countAside starts the walk without waiting for its count when the range holds every
// customer (the table's oldest and newest created_at lie in it): then the walk's bounds are
// the least customer id and the snapshot's bound, two index lookups, and the count, an
// index scan of the whole range (about a tenth of a 1M-row export's time on Postgres), runs
// alongside the first pages; the first batch after it ends commits the total. Until then
// the job has no total, so done never passes it. Otherwise the count runs first, as before.
func (t *task) countAside(ctx context.Context) error {
	c, ok := t.kind.Store.(interface {
		CustomersWithin(ctx context.Context, q *reins.CustomerQuery) (bool, int64, int64, error)
	})
	if !ok {
		return nil
	}
	if t.cp.EndID != 0 {
		// A run before this one began the walk; only the total is still to count.
		t.counted = make(chan counted, 1)
		countCtx, stop := context.WithCancel(ctx)
		t.stopCount = stop
		go t.countInto(countCtx)
		return nil
	}
	within, minID, maxID, err := c.CustomersWithin(ctx, &t.query)
	if err != nil || !within {
		return err
	}
	t.cp.AfterID, t.cp.EndID = max(0, minID-1), min(maxID, t.cp.MaxID)
	t.counted = make(chan counted, 1)
	countCtx, stop := context.WithCancel(ctx)
	t.stopCount = stop
	go t.countInto(countCtx)
	return nil
}

// countInto counts the snapshot's rows in range and delivers the number.
func (t *task) countInto(ctx context.Context) {
	n, _, _, err := t.kind.Store.CountCustomers(ctx, &t.query)
	t.counted <- counted{n: n, err: err}
}

// openPart creates this run's own part file. The header goes into the first part only.
func (t *task) openPart() error {
	t.part = Part{Key: fmt.Sprintf("%s/part-%05d-%s.csv", prefix(t.job.ID), len(t.cp.Parts), uuid.NewString()[:8])}
	f, err := t.kind.Blob.OpenWriter(t.part.Key, 0)
	if err != nil {
		return err
	}
	t.file = f
	t.out = &countingWriter{w: f}
	t.w = bufio.NewWriterSize(t.out, 256<<10)
	if len(t.cp.Parts) == 0 {
		header := csv.NewWriter(t.w)
		_ = header.Write(t.query.Columns)
		if header.Flush(); header.Error() != nil {
			f.Close()
			return header.Error()
		}
	}
	return nil
}

// Next takes the first page the walk has read ahead, or reads it now, then starts reading
// the pages after it, up to aheadPages of them at once (when the store allows reads
// alongside the run's other statements), before syncing the part and returning the batch:
// so the next pages' COPYs run while this batch is synced and committed, side by side on
// connections of their own, and the walk's reads follow one another with hardly a gap.
//
// A read ahead goes into memory (readAheadOf) and reaches the part file only when this
// method takes it, after the batch before it committed: a run that stops (a PAUSE
// acknowledged by its batch's commit, a REVOKE, a fence) leaves the part exactly as
// committed (docs/architecture.md, "The export's files"). A page written here whose batch
// then fails to commit lies past the part's committed size, where no reader looks. Each
// page covers the ids from where the one before it ends, and pages are taken in that
// order, exactly as without reading ahead: the rows and bytes of the file are the same.
func (t *task) Next(ctx context.Context, limit int) (*reins.Batch, bool, error) {
	if t.readAhead {
		limit = min(limit, aheadPageRows)
	}
	if t.span == 0 {
		t.span = int64(limit)
	}
	var p *page
	if len(t.aheads) > 0 {
		p, t.aheads = t.aheads[0], t.aheads[1:]
	} else {
		p = t.read(ctx, t.cp.AfterID, limit)
		p.run()
	}
	if p.pipe != nil {
		if err := t.take(p); err != nil {
			return nil, false, err
		}
	}
	<-p.done
	if p.err != nil {
		return nil, false, p.err
	}
	if p.after != t.cp.AfterID {
		// Cannot happen: a page is read ahead only from where the one before it ends, and
		// the run goes on only when that one committed.
		return nil, false, fmt.Errorf("export read ahead from id %d, but the walk is at %d", p.after, t.cp.AfterID)
	}
	t.span = nextSpan(t.span, p.upto-p.after, p.rows, int64(p.limit))
	last := p.upto >= t.cp.EndID
	if t.readAhead && !last {
		if t.stopAhead == nil {
			t.aheadCtx, t.stopAhead = context.WithCancel(ctx)
		}
		from := p.upto
		if n := len(t.aheads); n > 0 {
			from = t.aheads[n-1].upto
		}
		for len(t.aheads) < aheadPages && from < t.cp.EndID && t.takeSlot() {
			a := t.readAheadOf(t.aheadCtx, from, limit)
			go a.run()
			t.aheads, from = append(t.aheads, a), a.upto
		}
	}
	// The checkpoint about to commit counts these bytes: they must survive the node
	// crashing, not only this process.
	if err := t.file.Sync(); err != nil {
		return nil, false, fmt.Errorf("sync export part: %w", err)
	}
	next := t.cp
	next.Parts = append([]Part(nil), t.cp.Parts...)
	if p.end > 0 {
		next.Parts = append(next.Parts, Part{Key: t.part.Key, Size: p.end})
	}
	next.AfterID = p.upto
	raw, err := json.Marshal(next)
	if err != nil {
		return nil, false, err
	}
	n := p.rows
	b := &reins.Batch{DoneDelta: n, Checkpoint: raw}
	if t.total == nil && !last {
		select {
		case c := <-t.counted:
			if c.err != nil {
				return nil, false, fmt.Errorf("count the export's rows: %w", c.err)
			}
			t.total = &c.n
		default:
			return b, false, nil // still counting: no total yet
		}
	}
	// done never passes total: a row updated into the range after the count raises the
	// total, and at the end the total is what the file holds (rows deleted meanwhile are
	// not in it).
	if done := t.job.Done + n; last || t.job.Total == nil || done > *t.total {
		if t.total == nil {
			t.total = &done // the last batch: the total is what the file holds
		}
		total := max(*t.total, done)
		if last {
			total = done
		}
		b.Total = &total
	}
	return b, last, nil
}

// read prepares the read of the page after the id after, over the ids the span covers; its
// run writes the page to the part. It runs in Next, on the run's goroutine.
func (t *task) read(ctx context.Context, after int64, limit int) *page {
	p := &page{after: after, upto: min(after+t.span, t.cp.EndID), limit: limit, done: make(chan struct{})}
	p.run = func() {
		defer close(p.done)
		p.rows, p.err = t.readPage(ctx, t.w, t.cutPage(t.out.n), p.after, p.upto)
		if p.err == nil {
			if err := t.w.Flush(); err != nil {
				p.err = fmt.Errorf("write export part: %w", err)
			}
		}
		p.end = t.out.n
	}
	return p
}

// readAheadOf prepares the read ahead of the page after the id after: its run, on a
// goroutine of its own, hands the page's bytes to the run through an aheadPipe, and the run
// writes them to the part when it takes the page (take). So a read ahead never touches the
// file: a run that stops after its batch commits (a PAUSE acknowledged in that commit)
// leaves the part exactly as committed, and the read, cancelled by Close, changes nothing.
func (t *task) readAheadOf(ctx context.Context, after int64, limit int) *page {
	p := &page{after: after, upto: min(after+t.span, t.cp.EndID), limit: limit, done: make(chan struct{})}
	if t.spare == nil {
		t.spare = make(chan []byte, aheadPages*aheadChunks+2)
	}
	p.pipe = newAheadPipe(ctx, t.spare)
	p.run = func() {
		defer close(p.done)
		defer t.releaseSlot()
		defer close(p.pipe.chunks)
		p.rows, p.err = t.readPage(ctx, p.pipe, p.pipe.reset, p.after, p.upto)
		if p.err == nil {
			p.err = p.pipe.flush()
		}
	}
	return p
}

// takeSlot takes a token for a read ahead, if one is free: otherwise the page is read ahead
// at a later batch, or read when it is the next.
func (t *task) takeSlot() bool {
	select {
	case t.kind.aheadSlots() <- struct{}{}:
		return true
	default:
		return false
	}
}

// releaseSlot gives back the token of a read ahead that has ended.
func (t *task) releaseSlot() { <-t.kind.aheadSlots() }

// take writes a page read ahead to the part as its chunks come, until its read ends.
func (t *task) take(p *page) error {
	start := t.out.n
	for c := range p.pipe.chunks {
		if c == nil {
			// The read found a formula and reads the page again: what came so far goes.
			if err := t.cutPage(start)(); err != nil {
				return err
			}
			continue
		}
		if _, err := t.w.Write(c); err != nil {
			return fmt.Errorf("write export part: %w", err)
		}
		p.pipe.recycle(c)
	}
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("write export part: %w", err)
	}
	t.spare = p.pipe.free
	p.end = t.out.n
	return nil
}

// cutPage returns a func that cuts the part back to start, the size it had before a page
// whose bytes go.
func (t *task) cutPage(start int64) func() error {
	return func() error {
		if err := t.w.Flush(); err != nil {
			return fmt.Errorf("write export part: %w", err)
		}
		if err := t.file.Truncate(start); err != nil {
			return fmt.Errorf("cut a page off the export part: %w", err)
		}
		if _, err := t.file.Seek(start, io.SeekStart); err != nil {
			return fmt.Errorf("cut a page off the export part: %w", err)
		}
		t.out.n = start
		return nil
	}
}

// readPage writes the rows with ids in (after, upto] to w. Where the database writes the
// CSV itself and formulas are to be escaped, the page is written raw and checked on its way
// (formulaScan); a page that holds a formula is cut (cut drops what w took of it) and read
// again with the database escaping it. Each read is of the rows as they are then: w holds
// the second.
func (t *task) readPage(ctx context.Context, w io.Writer, cut func() error, after, upto int64) (int64, error) {
	if !t.query.EscapeFormulas || !t.scanFormulas {
		return t.kind.Store.ExportCSV(ctx, w, &t.query, after, upto)
	}
	raw := t.query
	raw.EscapeFormulas = false
	scan := &formulaScan{w: w}
	n, err := t.kind.Store.ExportCSV(ctx, scan, &raw, after, upto)
	if err != nil || !scan.found {
		return n, err
	}
	if err := cut(); err != nil {
		return 0, err
	}
	return t.kind.Store.ExportCSV(ctx, w, &t.query, after, upto)
}

// nextSpan adapts how many ids the next page covers: about limit rows' worth at the density
// the last page found, growing at most fourfold a page and to at most 64 times limit, so a
// page stays a short read wherever the range's rows lie.
func nextSpan(span, covered, rows, limit int64) int64 {
	switch {
	case covered <= 0:
		return span
	case rows == 0:
		return min(span*4, 64*limit)
	}
	want := limit * covered / rows
	return max(limit/4, min(want, span*4, 64*limit))
}

func (t *task) Committed(b *reins.Batch) {
	var cp Checkpoint
	_ = json.Unmarshal(b.Checkpoint, &cp)
	t.cp = cp
	t.job.Done += b.DoneDelta
	if b.Total != nil {
		t.total, t.job.Total = b.Total, b.Total
	}
	if n := len(cp.Parts); n > 0 && cp.Parts[n-1].Key == t.part.Key {
		// The part is now in the checkpoint; later batches update its size in place.
		t.written = cp.Parts[n-1].Size
		t.cp.Parts = t.cp.Parts[:n-1]
	}
}

// partStored reports whether the job's stored checkpoint names this run's part.
func (t *task) partStored() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	job, err := t.kind.Store.FindJob(ctx, t.job.ID)
	if err != nil {
		return false, fmt.Errorf("keep the part %s: %w", t.part.Key, err)
	}
	if len(job.Checkpoint) == 0 {
		return false, nil
	}
	var cp Checkpoint
	if err := json.Unmarshal(job.Checkpoint, &cp); err != nil {
		return false, fmt.Errorf("keep the part %s: %w", t.part.Key, err)
	}
	for _, p := range cp.Parts {
		if p.Key == t.part.Key {
			return true, nil
		}
	}
	return false, nil
}

func (t *task) Close(outcome reins.Outcome) error {
	if t.stopCount != nil {
		t.stopCount()
	}
	if t.stopAhead != nil {
		// Pages read ahead whose batches will not commit: stop them, and let them end before
		// the part is closed or deleted.
		t.stopAhead()
		for _, a := range t.aheads {
			<-a.done
		}
	}
	if outcome == reins.Abandoned {
		t.file.Close()
		return t.kind.Blob.DeletePrefix(prefix(t.job.ID))
	}
	if t.written == 0 {
		// No batch of this run is known to have committed its part. One may have, its
		// answer lost (the process stopping or the connection dropping during COMMIT): the
		// part stays when the stored checkpoint names it, or when that cannot be read.
		t.file.Close()
		if stored, err := t.partStored(); err != nil || stored {
			return err
		}
		return t.kind.Blob.Delete(t.part.Key)
	}
	return t.file.Close()
}
