package csvexport

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"

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
	if _, cp, err := decode(job); err == nil && cp.Estimate != nil {
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
	if t.total == nil || t.cp.EndID == 0 && cp.legacy() {
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
}

// count counts the snapshot's rows in range and where their ids begin and end: the job's
// total and the walk's bounds, fixed by the first run (and committed with its first batch).
// Rows inserted after the count have higher ids than EndID, so they are left out even of an
// export whose snapshot an older release did not take.
func (t *task) count(ctx context.Context) error {
	n, minID, maxID, err := t.kind.Store.CountCustomers(ctx, &t.query)
	if err != nil {
		return err
	}
	if t.total == nil {
		t.total = &n
	}
	t.cp.AfterID, t.cp.EndID = max(0, minID-1), maxID
	return nil
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

func (t *task) Next(ctx context.Context, limit int) (*reins.Batch, bool, error) {
	if t.span == 0 {
		t.span = int64(limit)
	}
	upto := min(t.cp.AfterID+t.span, t.cp.EndID)
	n, err := t.kind.Store.ExportCSV(ctx, t.w, &t.query, t.cp.AfterID, upto)
	if err != nil {
		return nil, false, err
	}
	t.span = nextSpan(t.span, upto-t.cp.AfterID, n, int64(limit))
	if err := t.w.Flush(); err != nil {
		return nil, false, fmt.Errorf("write export part: %w", err)
	}
	// The checkpoint about to commit counts these bytes: they must survive the node
	// crashing, not only this process.
	if err := t.file.Sync(); err != nil {
		return nil, false, fmt.Errorf("sync export part: %w", err)
	}
	next := t.cp
	next.Parts = append([]Part(nil), t.cp.Parts...)
	if size := t.out.n; size > 0 {
		next.Parts = append(next.Parts, Part{Key: t.part.Key, Size: size})
	}
	next.AfterID = upto
	raw, err := json.Marshal(next)
	if err != nil {
		return nil, false, err
	}
	last := upto >= t.cp.EndID
	b := &reins.Batch{DoneDelta: n, Checkpoint: raw}
	// done never passes total: a row updated into the range after the count raises the
	// total, and at the end the total is what the file holds (rows deleted meanwhile are
	// not in it).
	if done := t.job.Done + n; last || t.job.Total == nil || done > *t.total {
		total := max(*t.total, done)
		if last {
			total = done
		}
		b.Total = &total
	}
	return b, last, nil
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

func (t *task) Close(outcome reins.Outcome) error {
	if outcome == reins.Abandoned {
		t.file.Close()
		return t.kind.Blob.DeletePrefix(prefix(t.job.ID))
	}
	if t.written == 0 {
		// No batch of this run committed: its part is in no checkpoint.
		t.file.Close()
		return t.kind.Blob.Delete(t.part.Key)
	}
	return t.file.Close()
}
