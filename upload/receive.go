// Package upload streams a file into an upload job's spool: the transfer of the old
// service's upload endpoint. It holds the job through the engine (lease, heartbeat,
// acknowledgement) like a run does, honours PAUSE by not reading the body (TCP holds the
// client back) until RESUME, and REVOKE by stopping. The job's kind checks the file as it
// arrives.
package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/engine"
)

// Prefix is where an upload job's files live in the blob store.
func Prefix(id uuid.UUID) string { return "uploads/" + id.String() }

// SpoolKey is where an upload job's file is kept while the job works on it.
func SpoolKey(id uuid.UUID) string { return Prefix(id) + "/spool.csv" }

// Receiver streams uploads into their jobs' spools.
type Receiver struct {
	Engine *engine.Engine
	Blob   *blob.Store
	// MaxPause bounds how long a transfer may stay paused before the job fails.
	MaxPause time.Duration
	// IdleTimeout bounds how long the client may send nothing while the transfer runs.
	IdleTimeout time.Duration
	// PollInterval is the backup poll while paused, in case a signal is lost.
	PollInterval time.Duration
	// ProgressInterval is how often the bytes received are recorded for the job's progress.
	ProgressInterval time.Duration
	// MaxBytes bounds the file; 0 is no bound. A larger file fails the job (its spool
	// removed) with ETOOLARGE.
	MaxBytes int64
	Logger   *slog.Logger
}

// Received is the outcome of a completed transfer.
type Received struct {
	Job     *reins.Job
	Bytes   int64
	Records int64
}

// chunkSize is how much of the body one read takes; control is checked between chunks.
const chunkSize = 256 << 10

// Receive streams body into the job's spool and, once it is complete, hands the file to the
// job. expected is the body's length when the client declared it. extend, when not nil, sets
// the connection's read deadline: the transfer keeps it ahead while paused so the server
// does not time the request out.
//
// Returns ENOTFOUND, ECONFLICT (a job that takes no upload, or no longer waits for one, or
// was revoked meanwhile), or EINVALID (a bad header, or the client went away; the job is
// then FAILED).
func (rc *Receiver) Receive(ctx context.Context, jobID uuid.UUID, fileName string, expected *int64, body io.Reader, extend func(time.Time)) (*Received, error) {
	// The job's state must survive the client: a disconnect cancels ctx.
	dbctx := context.WithoutCancel(ctx)
	job, err := rc.Engine.Job(dbctx, jobID)
	if err != nil {
		return nil, err
	}
	kind, err := rc.Engine.Kinds().Lookup(job.Type)
	if err != nil {
		return nil, err
	}
	uk, ok := kind.(reins.UploadKind)
	if !ok {
		return nil, reins.Errorf(reins.ECONFLICT, "job %s is an %s job; it takes no upload", job.ID, job.Type)
	}
	check, err := uk.CheckFile(job)
	if err != nil {
		return nil, err
	}
	defer check.Abort()
	key := SpoolKey(jobID)
	h, err := rc.Engine.HoldTransfer(dbctx, &reins.Upload{JobID: jobID, FileName: fileName, SpoolKey: key, Expected: expected}, "upload")
	if err != nil {
		return nil, err
	}
	defer h.Close()
	t := &transfer{rc: rc, hold: h, id: jobID, extend: extend}
	if !h.Job().Status.Runnable() {
		// Paused before its file arrived: hold the body back until RESUME.
		if err := t.obey(ctx); err != nil {
			return nil, err
		}
	}
	rc.notify(dbctx, jobID)
	spool, err := rc.Blob.OpenWriter(key, 0)
	if err != nil {
		return nil, t.fail(fmt.Sprintf("upload failed: cannot write the spool: %v", err))
	}
	defer spool.Close()
	if err := t.copy(ctx, spool, check, body); err != nil {
		return nil, err
	}
	records, err := check.Finish()
	if err != nil {
		return nil, t.fail(reins.ErrorMessage(err))
	}
	if err := spool.Sync(); err != nil {
		return nil, t.fail(fmt.Sprintf("upload failed: cannot write the spool: %v", err))
	}
	done, err := rc.Engine.Store().CompleteUpload(dbctx, jobID, h.Lease(), t.received, records)
	if err != nil {
		if code := reins.ErrorCode(err); code == reins.ECONFLICT || code == reins.EFENCED {
			_ = rc.Blob.DeletePrefix(Prefix(jobID))
			return nil, reins.Errorf(reins.ECONFLICT, "job %s was stopped during the upload", jobID)
		}
		return nil, err
	}
	rc.notify(dbctx, jobID)
	return &Received{Job: done, Bytes: t.received, Records: records}, nil
}

// transfer is one Receive in progress.
type transfer struct {
	rc       *Receiver
	hold     *engine.Hold
	id       uuid.UUID
	extend   func(time.Time)
	received int64
	recorded time.Time
}

// copy moves the body into the spool and the check, obeying commands between chunks. A
// goroutine reads the body, so a command is obeyed at once even while a read waits on a slow
// client; at most the chunk in hand is read past a pause, and none is stored.
func (t *transfer) copy(ctx context.Context, spool io.Writer, check reins.FileCheck, body io.Reader) error {
	chunks := readChunks(body)
	defer chunks.stop()
	for {
		if t.extend != nil {
			t.extend(time.Now().Add(t.rc.IdleTimeout))
		}
		var c chunk
		select {
		case <-ctx.Done():
			return t.fail(fmt.Sprintf("upload interrupted after %d bytes: the client went away or the server is shutting down; nothing was imported", t.received))
		case <-t.hold.Signals():
			if err := t.obey(ctx); err != nil {
				return err
			}
			continue
		case <-t.hold.Context().Done():
			// The lease was taken away: a REVOKE's rollback, or a failure.
			return t.obey(ctx)
		case c = <-chunks.ch:
		}
		if max := t.rc.MaxBytes; max > 0 && t.received+int64(len(c.data)) > max {
			msg := fmt.Sprintf("upload refused: the file is larger than %d bytes, the most allowed; nothing was imported", max)
			_ = t.fail(msg)
			return reins.Errorf(reins.ETOOLARGE, "%s", msg)
		}
		if len(c.data) > 0 {
			if _, err := spool.Write(c.data); err != nil {
				return t.fail(fmt.Sprintf("upload failed: cannot write the spool: %v", err))
			}
			if _, err := check.Write(c.data); err != nil {
				return t.fail(reins.ErrorMessage(err))
			}
			t.received += int64(len(c.data))
			t.recordProgress()
		}
		chunks.release(c)
		if errors.Is(c.err, io.EOF) {
			return nil
		}
		if c.err != nil {
			return t.fail(fmt.Sprintf("upload interrupted after %d bytes: the client went away (%v); nothing was imported", t.received, c.err))
		}
	}
}

// recordProgress stores the bytes received, a few times a second at most.
func (t *transfer) recordProgress() {
	if time.Since(t.recorded) < t.rc.ProgressInterval {
		return
	}
	t.recorded = time.Now()
	ctx := context.WithoutCancel(t.hold.Context())
	if err := t.rc.Engine.Store().UpdateUpload(ctx, t.id, t.received); err != nil {
		t.rc.Logger.Warn("reins: could not record an upload's progress", "job_id", t.id, "error", err)
		return
	}
	t.rc.notify(ctx, t.id)
}

func (rc *Receiver) notify(ctx context.Context, id uuid.UUID) {
	if err := rc.Engine.Notifier().Notify(ctx, id); err != nil {
		rc.Logger.Warn("reins: could not signal a job change", "job_id", id, "error", err)
	}
}

// fail ends the transfer for good: the job becomes FAILED (its rollback removes the spool)
// and the caller gets the reason as EINVALID.
func (t *transfer) fail(message string) error {
	ctx := context.WithoutCancel(t.hold.Context())
	if _, err := t.rc.Engine.Store().FailJob(ctx, t.id, message, "upload"); err != nil {
		t.rc.Logger.Error("reins: could not mark a failed upload", "job_id", t.id, "error", err)
	}
	_ = t.rc.Blob.DeletePrefix(Prefix(t.id))
	t.rc.notify(ctx, t.id)
	return reins.Errorf(reins.EINVALID, "%s", message)
}

// obey reacts to a signal: it returns nil when the transfer may go on, waiting first while
// the job is paused (acknowledging the pause, so PAUSED is true when said), and an error
// when the job was revoked or failed.
func (t *transfer) obey(ctx context.Context) error {
	dbctx := context.WithoutCancel(ctx)
	pausedAt := time.Now()
	poll := time.NewTicker(t.rc.PollInterval)
	defer poll.Stop()
	for {
		job, err := t.rc.Engine.Job(dbctx, t.id)
		if err != nil {
			return err
		}
		switch {
		case t.hold.Lost() || job.Status == reins.StatusRevoking || job.Status.Terminal():
			_ = t.rc.Blob.DeletePrefix(Prefix(t.id))
			return reins.Errorf(reins.ECONFLICT, "job %s is %s: the upload was stopped", t.id, job.Status)
		case job.Status == reins.StatusStarted || job.Status == reins.StatusResumed:
			return nil
		case job.Status == reins.StatusPausing:
			if _, err := t.hold.AcknowledgePause(dbctx, "upload", true); err != nil {
				return err
			}
			continue
		}
		remaining := t.rc.MaxPause - time.Since(pausedAt)
		if remaining <= 0 {
			return t.fail(fmt.Sprintf("upload failed: it stayed paused longer than %s", t.rc.MaxPause))
		}
		if t.extend != nil {
			// Not reading is deliberate: keep the server from timing the request out.
			t.extend(time.Now().Add(remaining + t.rc.IdleTimeout))
		}
		select {
		case <-ctx.Done():
			return t.fail("upload interrupted while paused: the client went away; nothing was imported")
		case <-t.hold.Signals():
		case <-t.hold.Context().Done():
		case <-poll.C:
		case <-time.After(remaining):
		}
	}
}

// chunk is one read of the body.
type chunk struct {
	data []byte
	err  error
}

// chunkReader reads a body in a goroutine, handing over chunks in two buffers that take
// turns, so memory stays at two chunks whatever the file's size.
type chunkReader struct {
	ch   chan chunk
	free chan []byte
	quit chan struct{}
}

func readChunks(body io.Reader) *chunkReader {
	cr := &chunkReader{ch: make(chan chunk), free: make(chan []byte, 2), quit: make(chan struct{})}
	cr.free <- make([]byte, chunkSize)
	cr.free <- make([]byte, chunkSize)
	go func() {
		for {
			var buf []byte
			select {
			case buf = <-cr.free:
			case <-cr.quit:
				return
			}
			n, err := body.Read(buf)
			select {
			case cr.ch <- chunk{data: buf[:n], err: err}:
			case <-cr.quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return cr
}

// release gives a chunk's buffer back for the next read.
func (cr *chunkReader) release(c chunk) {
	if cap(c.data) > 0 {
		cr.free <- c.data[:cap(c.data)]
	}
}

// stop ends the reading goroutine once its current read returns.
func (cr *chunkReader) stop() { close(cr.quit) }
