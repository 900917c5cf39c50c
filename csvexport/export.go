package csvexport

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/engine"
)

// Checkpoint is an export's resumable state: where in the export order it is, and the file
// parts written so far with their committed sizes. Each run writes its own part, so a stale
// run can never write into bytes that a newer run owns; bytes past a part's committed size
// are ignored by readers and dropped on rollback.
type Checkpoint struct {
	After reins.CustomerKey `json:"after"`
	Parts []Part            `json:"parts"`
}

// Part is one file of an export's result and how many of its bytes are committed.
type Part struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

// Processor is the export job's engine.Processor.
type Processor struct {
	Store reins.CustomerStore
	Blob  *blob.Store
}

var _ engine.Processor = (*Processor)(nil)

func prefix(id uuid.UUID) string { return "exports/" + id.String() }

func decode(job *reins.Job) (Params, Checkpoint, error) {
	return engine.DecodeJob[Params, Checkpoint](job)
}

// Rollback implements engine.Processor: it deletes every part of the export.
func (x *Processor) Rollback(_ context.Context, job *reins.Job) error {
	return x.Blob.DeletePrefix(prefix(job.ID))
}

// Begin implements engine.Processor.
func (x *Processor) Begin(ctx context.Context, job *reins.Job) (engine.Task, error) {
	params, cp, err := decode(job)
	if err != nil {
		return nil, err
	}
	from, to := params.Range()
	t := &task{proc: x, job: job, cp: cp, from: from, to: to, total: job.Total}
	if t.total == nil {
		n, err := x.Store.CountCustomers(ctx, from, to)
		if err != nil {
			return nil, err
		}
		t.total = &n
	}
	// This run's own part. The header goes into the first part only.
	t.part = Part{Key: fmt.Sprintf("%s/part-%05d-%s.csv", prefix(job.ID), len(cp.Parts), uuid.NewString()[:8])}
	f, err := x.Blob.OpenWriter(t.part.Key, 0)
	if err != nil {
		return nil, err
	}
	t.file = f
	t.out = &countingWriter{w: f}
	t.w = bufio.NewWriterSize(t.out, 256<<10)
	if len(cp.Parts) == 0 {
		header := csv.NewWriter(t.w)
		_ = header.Write(reins.CustomerColumns)
		if header.Flush(); header.Error() != nil {
			f.Close()
			return nil, header.Error()
		}
	}
	return t, nil
}

// task is one run of an export.
type task struct {
	proc     *Processor
	job      *reins.Job
	cp       Checkpoint
	from, to time.Time
	total    *int64

	part    Part
	written int64 // bytes of the part committed; 0 while the part is in no checkpoint
	file    *os.File
	out     *countingWriter
	w       *bufio.Writer
}

func (t *task) Next(ctx context.Context, limit int) (*reins.Batch, bool, error) {
	n, last, err := t.proc.Store.ExportCSV(ctx, t.w, t.from, t.to, t.cp.After, limit)
	if err != nil {
		return nil, false, err
	}
	if err := t.w.Flush(); err != nil {
		return nil, false, fmt.Errorf("write export part: %w", err)
	}
	// The checkpoint about to commit counts these bytes: they must survive the node
	// crashing, not only this process.
	if err := t.file.Sync(); err != nil {
		return nil, false, fmt.Errorf("sync export part: %w", err)
	}
	size := t.out.n
	next := t.cp
	next.Parts = append([]Part(nil), t.cp.Parts...)
	if size > 0 {
		next.Parts = append(next.Parts, Part{Key: t.part.Key, Size: size})
	}
	next.After = last
	raw, err := json.Marshal(next)
	if err != nil {
		return nil, false, err
	}
	b := &reins.Batch{DoneDelta: int64(n), Checkpoint: raw}
	if t.job.Total == nil {
		b.Total = t.total
	}
	return b, n < limit, nil
}

func (t *task) Committed(b *reins.Batch) {
	var cp Checkpoint
	_ = json.Unmarshal(b.Checkpoint, &cp)
	t.cp = cp
	t.job.Total = t.total
	if n := len(cp.Parts); n > 0 && cp.Parts[n-1].Key == t.part.Key {
		// The part is now in the checkpoint; later batches update its size in place.
		t.written = cp.Parts[n-1].Size
		t.cp.Parts = t.cp.Parts[:n-1]
	}
}

func (t *task) Complete(context.Context) error { return nil }

func (t *task) Close(outcome engine.Outcome) error {
	if outcome == engine.Abandoned {
		t.file.Close()
		return t.proc.Blob.DeletePrefix(prefix(t.job.ID))
	}
	if t.written == 0 {
		// No batch of this run committed: its part is in no checkpoint.
		t.file.Close()
		return t.proc.Blob.Delete(t.part.Key)
	}
	return t.file.Close()
}

// OpenResult returns the export's CSV: the committed bytes of each part, in order.
func OpenResult(b *blob.Store, job *reins.Job) (io.ReadCloser, int64, error) {
	_, cp, err := decode(job)
	if err != nil {
		return nil, 0, err
	}
	var readers []io.Reader
	var files []*os.File
	var size int64
	for _, p := range cp.Parts {
		f, err := b.Open(p.Key)
		if err != nil {
			closeAll(files)
			return nil, 0, err
		}
		files = append(files, f)
		readers = append(readers, io.LimitReader(f, p.Size))
		size += p.Size
	}
	return &multiReadCloser{Reader: io.MultiReader(readers...), files: files}, size, nil
}

type multiReadCloser struct {
	io.Reader
	files []*os.File
}

func (m *multiReadCloser) Close() error { return closeAll(m.files) }

func closeAll(files []*os.File) error {
	var first error
	for _, f := range files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// countingWriter counts the bytes written through it: the part's size after a flush.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
