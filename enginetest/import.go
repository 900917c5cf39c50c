package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvimport"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/upload"
)

// importCSV returns a customers CSV of n rows with distinct emails; bad replaces whole
// data lines (1-based among the rows) with the given text.
func importCSV(n int, bad map[int]string) []byte {
	var b bytes.Buffer
	b.WriteString("first_name,last_name,address,email,age,company,created_at\n")
	for i := 1; i <= n; i++ {
		if line, ok := bad[i]; ok {
			b.WriteString(line + "\n")
			continue
		}
		fmt.Fprintf(&b, "First%d,Last,\"%d Main St, Town\",user%d@example.com,%d,\"Acme, Inc\",2020-01-%02d\n",
			i, i, i, 18+i%60, 1+i%28)
	}
	return b.Bytes()
}

func (h *harness) receiver() *upload.Receiver {
	return &upload.Receiver{Engine: h.engine, Blob: h.blob, MaxPause: time.Minute, IdleTimeout: time.Minute,
		PollInterval: 50 * time.Millisecond, ProgressInterval: 10 * time.Millisecond, Logger: h.engine.Logger()}
}

// importParams are an upload job's parameters for the suite.
type importParams struct {
	OnError     string
	MaxRowsPerS int
	Mapping     string // JSON text
}

func (p importParams) values() reins.Params {
	v := reins.Params{"on_error": p.OnError, "mapping": p.Mapping}
	if p.MaxRowsPerS > 0 {
		v["max_rows_per_s"] = strconv.Itoa(p.MaxRowsPerS)
	}
	return v
}

func (h *harness) newImport(p importParams) *reins.Job {
	h.t.Helper()
	return h.create(csvimport.Type, p.values())
}

// send streams file into the upload job, failing the test on error.
func (h *harness) send(job *reins.Job, file []byte) {
	h.t.Helper()
	if _, err := h.receiver().Receive(context.Background(), job.ID, "test.csv", nil, bytes.NewReader(file), nil); err != nil {
		h.t.Fatalf("upload: %v", err)
	}
}

// upload creates an import job and streams file into it, failing the test on error.
func (h *harness) upload(p importParams, file []byte) *reins.Job {
	h.t.Helper()
	job := h.newImport(p)
	h.send(job, file)
	return job
}

func (h *harness) imported(id uuid.UUID) (rows, emails int64) {
	h.t.Helper()
	rows, emails, err := h.backend.CountImported(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return rows, emails
}

func (h *harness) spoolExists(id uuid.UUID) bool {
	h.t.Helper()
	ok, err := h.blob.Exists("uploads/" + id.String())
	if err != nil {
		h.t.Fatal(err)
	}
	return ok
}

// waitRolledBack waits until nothing of the job is left: no rows, and no spool unless its
// file arrived whole (kept for a restart until the spool retention passes).
func (h *harness) waitRolledBack(id uuid.UUID) {
	h.t.Helper()
	h.waitFor(id, "rollback", func(j *reins.Job) bool {
		rows, _ := h.imported(id)
		whole := j.Upload != nil && j.Upload.Complete
		return rows == 0 && j.Done == 0 && j.RolledBackAt != nil && whole == h.spoolExists(id)
	})
}

// ExerciseImport runs the import half of the behaviour suite.
func ExerciseImport(t *testing.T, open Opener) {
	t.Run("ImportPauseResumeExact", func(t *testing.T) { t.Parallel(); testImportPauseResume(t, open) })
	t.Run("ImportPauseMidTransfer", func(t *testing.T) { t.Parallel(); testImportPauseMidTransfer(t, open) })
	t.Run("ImportPausedBeforeUpload", func(t *testing.T) { t.Parallel(); testImportPausedBeforeUpload(t, open) })
	t.Run("ImportRevoke", func(t *testing.T) { t.Parallel(); testImportRevoke(t, open) })
	t.Run("ImportOnError", func(t *testing.T) { t.Parallel(); testImportOnError(t, open) })
	t.Run("ImportMalformed", func(t *testing.T) { t.Parallel(); testImportMalformed(t, open) })
	t.Run("ImportClientGone", func(t *testing.T) { t.Parallel(); testImportClientGone(t, open) })
	t.Run("ImportOverlapPause", func(t *testing.T) { t.Parallel(); testImportOverlapPause(t, open) })
	t.Run("ImportPauseDuringEffects", func(t *testing.T) { t.Parallel(); testImportPauseDuringEffects(t, open) })
	t.Run("ImportPauseBeforeRollback", func(t *testing.T) { t.Parallel(); testImportPauseBeforeRollback(t, open) })
}

func testImportPauseResume(t *testing.T, open Opener) {
	h := newHarness(t, open(t), engine.Config{Workers: 2, BatchSize: 500})
	const n = 20_000
	job := h.upload(importParams{OnError: upload.OnErrorAbort, MaxRowsPerS: 20_000}, importCSV(n, nil))
	var lastDone int64
	for cycle := 0; cycle < 2; cycle++ {
		h.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > lastDone && j.Done < n })
		paused := h.command(job.ID, reins.CommandPause)
		if paused.Status == reins.StatusCompleted {
			t.Skip("the import finished before it could be paused")
		}
		if paused.Status != reins.StatusPaused {
			t.Fatalf("PAUSE answered %s", paused.Status)
		}
		rows, _ := h.imported(job.ID)
		if rows != paused.Done {
			t.Fatalf("PAUSED with done=%d but the table holds %d of the job's rows", paused.Done, rows)
		}
		time.Sleep(150 * time.Millisecond) // an observation window: nothing may move while paused
		if rows2, _ := h.imported(job.ID); rows2 != rows {
			t.Fatalf("rows moved while paused: %d -> %d", rows, rows2)
		}
		lastDone = paused.Done
		h.command(job.ID, reins.CommandResume)
	}
	done := h.waitStatus(job.ID, reins.StatusCompleted)
	rows, emails := h.imported(job.ID)
	if rows != n || emails != n || done.Done != n || done.Total == nil || *done.Total != n {
		t.Fatalf("imported %d rows (%d distinct emails), done=%d total=%v; want %d of each", rows, emails, done.Done, done.Total, n)
	}
	// The run removes the spool as it ends, just after the COMPLETED it wrote: the test can
	// see COMPLETED first.
	h.waitFor(job.ID, "the completed import's spool removed", func(*reins.Job) bool { return !h.spoolExists(job.ID) })
}

// stalledUpload starts a transfer of file that sends the first half, then waits for the
// returned release function before sending the rest.
func (h *harness) stalledUpload(job *reins.Job, file []byte) (release func(), result <-chan error) {
	pr, pw := io.Pipe()
	half := len(file) / 2
	gate := make(chan struct{})
	go func() {
		_, _ = pw.Write(file[:half])
		<-gate
		_, _ = pw.Write(file[half:])
		pw.Close()
	}()
	res := make(chan error, 1)
	go func() {
		_, err := h.receiver().Receive(context.Background(), job.ID, "test.csv", nil, pr, nil)
		res <- err
	}()
	return func() { close(gate) }, res
}

func testImportPauseMidTransfer(t *testing.T, open Opener) {
	h := newHarness(t, open(t), engine.Config{Workers: 2, BatchSize: 500})
	const n = 5_000
	job := h.newImport(importParams{OnError: upload.OnErrorAbort})
	release, result := h.stalledUpload(job, importCSV(n, nil))
	h.waitStatus(job.ID, reins.StatusStarted)
	if got := h.command(job.ID, reins.CommandPause); got.Status != reins.StatusPaused {
		t.Fatalf("PAUSE during the transfer answered %s", got.Status)
	}
	release()
	select {
	case err := <-result:
		t.Fatalf("the transfer finished while paused (err %v)", err)
	case <-time.After(200 * time.Millisecond): // an observation window: the transfer must hold
	}
	if got := h.command(job.ID, reins.CommandResume); got.Status != reins.StatusResumed {
		t.Fatalf("RESUME during the transfer answered %s", got.Status)
	}
	if err := <-result; err != nil {
		t.Fatalf("transfer after RESUME: %v", err)
	}
	h.waitStatus(job.ID, reins.StatusCompleted)
	if rows, emails := h.imported(job.ID); rows != n || emails != n {
		t.Fatalf("imported %d rows (%d distinct emails), want %d", rows, emails, n)
	}
}

// testImportPausedBeforeUpload pauses an import before its file arrives: the transfer waits
// for RESUME before it reads a byte.
func testImportPausedBeforeUpload(t *testing.T, open Opener) {
	h := newHarness(t, open(t), engine.Config{Workers: 2, BatchSize: 500})
	job := h.newImport(importParams{OnError: upload.OnErrorAbort})
	if got := h.command(job.ID, reins.CommandPause); got.Status != reins.StatusPaused {
		t.Fatalf("PAUSE of a job waiting for its file answered %s", got.Status)
	}
	result := make(chan error, 1)
	body := &countingReader{r: bytes.NewReader(importCSV(1000, nil))}
	go func() {
		_, err := h.receiver().Receive(context.Background(), job.ID, "test.csv", nil, body, nil)
		result <- err
	}()
	select {
	case err := <-result:
		t.Fatalf("the transfer of a paused job finished (err %v)", err)
	case <-time.After(200 * time.Millisecond): // an observation window: the transfer must hold
	}
	if n := body.n.Load(); n > 2*256<<10 {
		t.Fatalf("%d bytes were read while paused", n)
	}
	if got := h.command(job.ID, reins.CommandResume); got.Status != reins.StatusResumed {
		t.Fatalf("RESUME answered %s", got.Status)
	}
	if err := <-result; err != nil {
		t.Fatalf("transfer after RESUME: %v", err)
	}
	h.waitStatus(job.ID, reins.StatusCompleted)
	if rows, _ := h.imported(job.ID); rows != 1000 {
		t.Fatalf("imported %d rows, want 1000", rows)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func testImportRevoke(t *testing.T, open Opener) {
	h := newHarness(t, open(t), engine.Config{Workers: 2, BatchSize: 200})
	file := importCSV(10_000, nil)
	slow := importParams{OnError: upload.OnErrorAbort, MaxRowsPerS: 10_000}

	t.Run("DuringTransfer", func(t *testing.T) {
		job := h.newImport(slow)
		release, result := h.stalledUpload(job, file)
		h.waitStatus(job.ID, reins.StatusStarted)
		if got := h.command(job.ID, reins.CommandRevoke); got.Status != reins.StatusRevoked {
			t.Fatalf("REVOKE during the transfer answered %s", got.Status)
		}
		release()
		if err := <-result; reins.ErrorCode(err) != reins.ECONFLICT {
			t.Fatalf("the revoked transfer returned %v, want ECONFLICT", err)
		}
		h.waitRolledBack(job.ID)
	})
	t.Run("DuringImport", func(t *testing.T) {
		job := h.upload(slow, file)
		h.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > 0 })
		if got := h.command(job.ID, reins.CommandRevoke); got.Status != reins.StatusRevoked && got.Status != reins.StatusRevoking {
			t.Fatalf("REVOKE answered %s", got.Status)
		}
		h.waitStatus(job.ID, reins.StatusRevoked)
		h.waitRolledBack(job.ID)
	})
	t.Run("WhilePaused", func(t *testing.T) {
		job := h.upload(slow, file)
		h.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > 0 })
		if got := h.command(job.ID, reins.CommandPause); got.Status != reins.StatusPaused {
			t.Fatalf("PAUSE answered %s", got.Status)
		}
		h.command(job.ID, reins.CommandRevoke)
		h.waitStatus(job.ID, reins.StatusRevoked)
		h.waitRolledBack(job.ID)
	})
	t.Run("EveryRowFound", func(t *testing.T) {
		// The rollback finds the rows whose ids a batch reserved by the ranges it recorded
		// (where the store reserves ids), and the rest by job_id: here rows of the job as a
		// release before migration 014 inserted them. The job's first batch's rows are
		// deleted by someone else first: a range with nothing left in it must not end the
		// rollback.
		job := h.upload(slow, file)
		h.waitFor(job.ID, "three batches", func(j *reins.Job) bool { return j.Done >= 600 })
		if got := h.command(job.ID, reins.CommandPause); got.Status != reins.StatusPaused {
			t.Fatalf("PAUSE answered %s", got.Status)
		}
		ctx := context.Background()
		for i := range 3 {
			if _, err := h.backend.Exec(ctx, `INSERT INTO customers (first_name, last_name, address, email, age,
				company, created_at, job_id) VALUES ('Old', 'Release', '1 St', $1, 30, 'Acme', $2, $3)`,
				fmt.Sprintf("old%d@example.com", i), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), job.ID); err != nil {
				t.Fatal(err)
			}
		}
		var byJobID int64
		if err := h.backend.QueryRow(ctx, `SELECT COUNT(*) FROM customers WHERE job_id = $1 AND job_ranged IS NULL`,
			job.ID).Scan(&byJobID); err != nil {
			t.Fatal(err)
		}
		rows, _ := h.imported(job.ID)
		if _, reserves := h.backend.(reins.CustomerIDReserver); reserves && byJobID != 3 {
			t.Fatalf("%d of the job's %d rows are left to the job_id index; want only the 3 no range covers", byJobID, rows)
		} else if !reserves && byJobID != rows {
			t.Fatalf("%d of the job's %d rows are in the job_id index; want all (no ids reserved)", byJobID, rows)
		}
		if _, err := h.backend.Exec(ctx, `DELETE FROM customers WHERE id IN
			(SELECT id FROM customers WHERE job_id = $1 ORDER BY id LIMIT 200)`, job.ID); err != nil {
			t.Fatal(err)
		}
		h.command(job.ID, reins.CommandRevoke)
		h.waitStatus(job.ID, reins.StatusRevoked)
		h.waitRolledBack(job.ID)
		var ranges int64
		if err := h.backend.QueryRow(ctx, `SELECT COUNT(*) FROM reins_job_ranges WHERE job_id = $1`, job.ID).Scan(&ranges); err != nil {
			t.Fatal(err)
		}
		if ranges != 0 {
			t.Fatalf("%d of the job's id ranges are left after its rollback", ranges)
		}
	})
}

func testImportOnError(t *testing.T, open Opener) {
	h := newHarness(t, open(t), engine.Config{Workers: 2, BatchSize: 100})
	bad := map[int]string{
		150: `Bad,Age,1 St,bad.age@example.com,200,Acme,2020-01-01`,
		300: `Bad,Email,1 St,not-an-email,30,Acme,2020-01-01`,
		450: `Bad,Date,1 St,bad.date@example.com,30,Acme,2021-02-30`,
	}
	file := importCSV(500, bad)

	t.Run("Abort", func(t *testing.T) {
		job := h.upload(importParams{OnError: upload.OnErrorAbort}, file)
		failed := h.waitStatus(job.ID, reins.StatusFailed)
		// Line 151: the header is line 1, bad row 150 is line 151.
		if !strings.Contains(failed.Error, "line 151") || !strings.Contains(failed.Error, "age") {
			t.Fatalf("error %q does not name line 151 and the age column", failed.Error)
		}
		h.waitRolledBack(job.ID)
	})
	t.Run("Skip", func(t *testing.T) {
		job := h.upload(importParams{OnError: upload.OnErrorSkip}, file)
		done := h.waitStatus(job.ID, reins.StatusCompleted)
		if rows, emails := h.imported(job.ID); rows != 497 || emails != 497 || done.Done != 497 {
			t.Fatalf("imported %d rows (%d emails), done=%d; want 497", rows, emails, done.Done)
		}
		skipped, errs := upload.Skipped(done)
		if skipped != 3 || len(errs) != 3 {
			t.Fatalf("skipped %d, listed %d; want 3 and 3", skipped, len(errs))
		}
		want := []struct {
			line   int
			column string
		}{{151, "age"}, {301, "email"}, {451, "created_at"}}
		for i, w := range want {
			if errs[i].Line != w.line || errs[i].Column != w.column || errs[i].Reason == "" {
				t.Fatalf("listed error %d is %+v, want line %d column %s", i, errs[i], w.line, w.column)
			}
		}
	})
}

// testImportMalformed sends a corpus of bad files: each gets a clear error naming the
// problem, and leaves nothing behind.
func testImportMalformed(t *testing.T, open Opener) {
	h := newHarness(t, open(t), engine.Config{Workers: 2, BatchSize: 100})
	header := "first_name,last_name,address,email,age,company\n"
	good := "Ada,Lovelace,1 St,ada@example.com,36,Acme\n"
	cases := []struct {
		name, file, want string
		atTransfer       bool // refused while uploading, before any import
	}{
		{"EmptyFile", "", "empty", true},
		{"MissingColumn", "first_name,last_name,address,email,age\n" + good, "company", true},
		{"UnknownColumn", strings.TrimSuffix(header, "\n") + ",shoe_size\n" + good, "shoe_size", true},
		{"WrongFieldCount", header + good + "Ada,Lovelace,1 St,ada2@example.com,36\n", "line 3", false},
		{"UnterminatedQuote", header + good + "\"Ada,Lovelace,1 St,ada2@example.com,36,Acme\n", "line 3", false},
		{"BadAge", header + good + "Ada,Lovelace,1 St,ada2@example.com,abc,Acme\n", "age", false},
		{"BadEmail", header + good + "Ada,Lovelace,1 St,ada2.example.com,36,Acme\n", "email", false},
		{"BadDate", strings.TrimSuffix(header, "\n") + ",created_at\n" + "Ada,Lovelace,1 St,a@example.com,36,Acme,2021-13-01\n", "created_at", false},
		{"NotUTF8", header + good + "Ad\xff\xfe,Lovelace,1 St,ada2@example.com,36,Acme\n", "UTF-8", false},
		{"OverLongField", header + good + strings.Repeat("A", 101) + ",Lovelace,1 St,ada2@example.com,36,Acme\n", "first_name", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := h.newImport(importParams{OnError: upload.OnErrorAbort})
			_, err := h.receiver().Receive(context.Background(), job.ID, "bad.csv", nil, strings.NewReader(c.file), nil)
			if c.atTransfer {
				if reins.ErrorCode(err) != reins.EINVALID || !strings.Contains(reins.ErrorMessage(err), c.want) {
					t.Fatalf("transfer returned %v, want EINVALID mentioning %q", err, c.want)
				}
			} else if err != nil {
				t.Fatalf("transfer: %v", err)
			}
			failed := h.waitStatus(job.ID, reins.StatusFailed)
			if !strings.Contains(failed.Error, c.want) {
				t.Fatalf("job error %q does not mention %q", failed.Error, c.want)
			}
			h.waitRolledBack(job.ID)
		})
	}
}

// failingReader yields some bytes, then fails as a dropped connection does.
type failingReader struct {
	data []byte
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func testImportClientGone(t *testing.T, open Opener) {
	h := newHarness(t, open(t), engine.Config{Workers: 2, BatchSize: 100})
	job := h.newImport(importParams{OnError: upload.OnErrorAbort})
	file := importCSV(2000, nil)
	_, err := h.receiver().Receive(context.Background(), job.ID, "gone.csv", nil, &failingReader{data: file[:len(file)/2]}, nil)
	if reins.ErrorCode(err) != reins.EINVALID {
		t.Fatalf("transfer returned %v, want EINVALID", err)
	}
	failed := h.waitStatus(job.ID, reins.StatusFailed)
	if !strings.Contains(failed.Error, "client went away") {
		t.Fatalf("job error %q does not say the client went away", failed.Error)
	}
	h.waitRolledBack(job.ID)
}
