package upload

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/sheet"
)

// The on_error policies of an upload job.
const (
	OnErrorAbort = "abort" // the first bad row fails the job, and its work is rolled back
	OnErrorSkip  = "skip"  // bad rows are skipped and listed in the job's errors
)

// MaxListedErrors caps the skipped rows a job lists; Skipped still counts them all.
const MaxListedErrors = 100

// Params are the creation parameters every upload kind takes.
type Params struct {
	MaxRowsPerS int               `json:"max_rows_per_s,omitempty"`
	OnError     string            `json:"on_error"`
	Mapping     map[string]string `json:"mapping,omitempty"`
}

// ParamNames are the names of Params, for kinds' ParamNames.
var ParamNames = []string{"max_rows_per_s", "on_error", "mapping"}

// ParseParams validates an upload kind's creation parameters against its fields. Returns
// EINVALID naming the parameter at fault.
func ParseParams(p reins.Params, fields []sheet.Field) (Params, error) {
	out := Params{OnError: strings.TrimSpace(p["on_error"])}
	switch out.OnError {
	case "":
		out.OnError = OnErrorAbort
	case OnErrorAbort, OnErrorSkip:
	default:
		return Params{}, reins.Errorf(reins.EINVALID, "on_error must be %q or %q, got %s", OnErrorAbort, OnErrorSkip, sheet.Quote(p["on_error"]))
	}
	var err error
	if out.MaxRowsPerS, err = reins.ParseMaxRowsPerS(p["max_rows_per_s"]); err != nil {
		return Params{}, err
	}
	if out.Mapping, err = sheet.ParseMapping(p["mapping"], fields); err != nil {
		return Params{}, err
	}
	return out, nil
}

// Checkpoint is an upload job's resumable state: where in the spool the next record starts,
// and the rows skipped so far.
type Checkpoint struct {
	Offset  int64             `json:"offset"`
	Line    int               `json:"line"`
	Columns []string          `json:"columns,omitempty"`
	Skipped int64             `json:"skipped"`
	Errors  []*sheet.RowError `json:"errors,omitempty"`
}

// Rows is what an upload kind does with its sheet's records, a batch at a time.
type Rows interface {
	// Add validates one record and keeps it for the batch, or returns a *sheet.RowError.
	Add(rec *sheet.Record) error
	// Flush ends the batch: it returns the rows found bad only now (checked against the
	// database), how many rows the batch applies, and the batch's effect. Rows refused here
	// are not applied.
	Flush(ctx context.Context) (bad []*sheet.RowError, n int64, apply func(ctx context.Context, tx reins.Tx) (int64, error), err error)
}

// Overlapper is implemented by Rows whose batches' effects may go in while the batch before
// them commits (reins.Batch.Overlap): neither Flush nor the effect reads what earlier
// batches wrote, and an effect's rows stay as they were until it is committed or abandoned,
// whatever Add and Flush do meanwhile for the next batch.
type Overlapper interface {
	Overlaps() bool
}

// Begin starts a run of an upload job: it opens the job's spool at the checkpoint and returns
// a task that hands the sheet's records to rows. It returns reins.ErrNotReady while the file
// is still arriving.
func Begin(ctx context.Context, store reins.UploadStore, b *blob.Store, job *reins.Job, format *sheet.Format, rows Rows) (reins.Task, error) {
	params, cp, err := reins.DecodeJob[Params, Checkpoint](job)
	if err != nil {
		return nil, err
	}
	up, err := store.FindUpload(ctx, job.ID)
	if reins.ErrorCode(err) == reins.ENOTFOUND || (err == nil && !up.Complete) {
		return nil, reins.ErrNotReady
	} else if err != nil {
		return nil, err
	}
	f, err := b.Open(up.SpoolKey)
	if err != nil {
		return nil, err
	}
	var r *sheet.Reader
	if cp.Columns == nil {
		r, err = sheet.NewReader(f, format)
	} else if _, err = f.Seek(cp.Offset, io.SeekStart); err == nil {
		r, err = sheet.NewResumeReader(f, format, cp.Columns, cp.Offset, cp.Line)
	}
	if err != nil {
		f.Close()
		var rowErr *sheet.RowError
		if errors.As(err, &rowErr) {
			return nil, reins.Errorf(reins.EINVALID, "%s", rowErr.Error())
		}
		return nil, err
	}
	cp.Columns = r.Columns()
	o, ok := rows.(Overlapper)
	return &task{job: job, blob: b, params: params, cp: cp, file: f, reader: r, rows: rows,
		offset: r.Offset(), line: r.Line(), overlap: ok && o.Overlaps()}, nil
}

// task is one run of an upload job.
type task struct {
	job    *reins.Job
	blob   *blob.Store
	params Params
	// cp is the checkpoint of the last batch made: with overlapping batches the next one is
	// made before that one commits, and goes on from it.
	cp      Checkpoint
	overlap bool
	file    *os.File
	reader  *sheet.Reader
	rows    Rows
	// ahead runs the reader ahead of the batches, from the first Next.
	ahead *readAhead
	// offset and line are the reader's position after the last record a batch took.
	offset int64
	line   int
}

func (t *task) Next(ctx context.Context, limit int) (*reins.Batch, bool, error) {
	next := t.cp
	next.Errors = slices.Clip(t.cp.Errors) // appends copy, never alias
	last := false
	var bad []*sheet.RowError
	if t.ahead == nil {
		t.ahead = startReadAhead(t.reader)
	}
	for read := 0; read < limit; read++ {
		rd, err := t.ahead.next(ctx)
		if err != nil {
			return nil, false, err
		}
		if errors.Is(rd.err, io.EOF) {
			last = true
			break
		}
		t.offset, t.line = rd.offset, rd.line
		err = rd.err
		if err == nil {
			err = t.rows.Add(&rd.rec)
		}
		var rowErr *sheet.RowError
		if errors.As(err, &rowErr) {
			bad = append(bad, rowErr)
			continue
		} else if err != nil {
			return nil, false, err
		}
	}
	late, n, apply, err := t.rows.Flush(ctx)
	if err != nil {
		return nil, false, err
	}
	bad = append(bad, late...)
	slices.SortStableFunc(bad, func(a, b *sheet.RowError) int { return a.Line - b.Line })
	for _, e := range bad {
		if t.params.OnError == OnErrorAbort {
			return nil, false, reins.Errorf(reins.EINVALID, "%s", e.Error())
		}
		next.Skipped++
		if len(next.Errors) < MaxListedErrors {
			next.Errors = append(next.Errors, e)
		}
	}
	next.Offset, next.Line = t.offset, t.line
	raw, err := json.Marshal(next)
	if err != nil {
		return nil, false, err
	}
	// A batch the engine does not commit ends the run, and the next run starts from the
	// stored checkpoint: the next batch goes on from this one.
	t.cp = next
	return &reins.Batch{DoneDelta: n, Checkpoint: raw, Apply: apply, Overlap: t.overlap}, last, nil
}

func (t *task) Committed(*reins.Batch) {}

func (t *task) Close(outcome reins.Outcome) error {
	if t.ahead != nil {
		t.ahead.stop()
	}
	err := t.file.Close()
	if outcome == reins.Completed {
		// The rows are the result; a completed job cannot be restarted, so its file has served.
		return t.blob.DeletePrefix(Prefix(t.job.ID))
	}
	return err
}

// Skipped returns the rows an upload job skipped and the listed errors, from its checkpoint.
func Skipped(job *reins.Job) (int64, []*sheet.RowError) {
	// The checkpoint alone: every job-status answer of an upload job comes here.
	var cp struct {
		Skipped int64             `json:"skipped"`
		Errors  []*sheet.RowError `json:"errors"`
	}
	_ = json.Unmarshal(job.Checkpoint, &cp)
	return cp.Skipped, cp.Errors
}

// Present is the API's view of an upload job's own fields: the rows skipped under
// on_error=skip, with the first MaxListedErrors listed.
func Present(job *reins.Job) map[string]any {
	skipped, errs := Skipped(job)
	if errs == nil {
		errs = []*sheet.RowError{}
	}
	return map[string]any{"skipped": skipped, "errors": errs}
}
