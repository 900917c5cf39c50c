package csvimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/engine"
)

// Receiver streams an upload's body into the import job's spool. It honours PAUSE by not
// reading the body (TCP holds the client back) until RESUME, and REVOKE by stopping.
type Receiver struct {
	Store    reins.Store
	Notifier reins.Notifier
	Blob     *blob.Store
	// MaxPause bounds how long a transfer may stay paused before the job fails.
	MaxPause time.Duration
	// IdleTimeout bounds how long the client may send nothing while the transfer runs.
	IdleTimeout time.Duration
	// PollInterval is the backup poll while paused, in case a signal is lost.
	PollInterval time.Duration
	// LeaseTTL is how long the transfer's lease lasts without renewal (it renews every
	// third of it); if this process dies, the rescuer fails the job once it expires.
	LeaseTTL time.Duration
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
// import job. extend, when not nil, sets the connection's read deadline: the transfer keeps
// it ahead while paused so the server does not time the request out.
//
// Returns ENOTFOUND, ECONFLICT (not an import waiting for a file, or revoked meanwhile), or
// EINVALID (a bad header, or the client went away; the job is then FAILED).
func (rc *Receiver) Receive(ctx context.Context, jobID uuid.UUID, fileName string, body io.Reader, extend func(time.Time)) (*Received, error) {
	// The job's state must survive the client: a disconnect cancels ctx.
	dbctx := context.WithoutCancel(ctx)
	signals, unsubscribe := rc.Notifier.Subscribe(jobID)
	defer unsubscribe()

	key := SpoolKey(jobID)
	job, err := rc.Store.BeginUpload(dbctx, &reins.Upload{JobID: jobID, FileName: fileName, SpoolKey: key}, "upload", rc.LeaseTTL)
	if err != nil {
		return nil, err
	}
	var received atomic.Int64
	stopHeartbeat := rc.heartbeat(dbctx, jobID, &received)
	defer stopHeartbeat()
	if !job.Status.Runnable() {
		// Paused before its file arrived: hold the body back until RESUME.
		if err := rc.obey(ctx, dbctx, jobID, signals, extend); err != nil {
			return nil, err
		}
	}
	rc.notify(dbctx, jobID)
	spool, err := rc.Blob.OpenWriter(key, 0)
	if err != nil {
		return nil, rc.fail(dbctx, jobID, fmt.Sprintf("upload failed: cannot write the spool: %v", err))
	}
	defer spool.Close()

	// Count the file's records while it arrives, so the import's total is known when the
	// transfer completes, and a bad header is refused before the whole file is sent.
	counter := startCounter(job.CreatedAt)
	defer counter.abort()

	// A goroutine reads the body, so a command is obeyed at once even while a read waits
	// on a slow client; at most the chunk in hand is read past a pause, and none is stored.
	chunks := readChunks(body)
	defer chunks.stop()
	for {
		if extend != nil {
			extend(time.Now().Add(rc.IdleTimeout))
		}
		var c chunk
		select {
		case <-ctx.Done():
			return nil, rc.fail(dbctx, jobID, fmt.Sprintf("upload interrupted after %d bytes: the client went away or the server is shutting down; nothing was imported", received.Load()))
		case <-signals:
			if err := rc.obey(ctx, dbctx, jobID, signals, extend); err != nil {
				return nil, err
			}
			continue
		case c = <-chunks.ch:
		}
		if len(c.data) > 0 {
			if _, err := spool.Write(c.data); err != nil {
				return nil, rc.fail(dbctx, jobID, fmt.Sprintf("upload failed: cannot write the spool: %v", err))
			}
			if err := counter.write(c.data); err != nil {
				return nil, rc.fail(dbctx, jobID, err.Error())
			}
			received.Add(int64(len(c.data)))
		}
		chunks.release(c)
		if errors.Is(c.err, io.EOF) {
			break
		}
		if c.err != nil {
			return nil, rc.fail(dbctx, jobID, fmt.Sprintf("upload interrupted after %d bytes: the client went away (%v); nothing was imported", received.Load(), c.err))
		}
	}
	records, err := counter.finish()
	if err != nil {
		return nil, rc.fail(dbctx, jobID, err.Error())
	}
	if err := spool.Sync(); err != nil {
		return nil, rc.fail(dbctx, jobID, fmt.Sprintf("upload failed: cannot write the spool: %v", err))
	}
	stopHeartbeat()
	if job, err = rc.Store.CompleteUpload(dbctx, jobID, received.Load(), records); err != nil {
		if reins.ErrorCode(err) == reins.ECONFLICT {
			_ = rc.Blob.DeletePrefix(prefix(jobID))
		}
		return nil, err
	}
	rc.notify(dbctx, jobID)
	return &Received{Job: job, Bytes: received.Load(), Records: records}, nil
}

// heartbeat renews the transfer's lease (and records the bytes received) every third of
// its TTL until the returned function is called.
func (rc *Receiver) heartbeat(ctx context.Context, id uuid.UUID, received *atomic.Int64) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		engine.Every(ctx, rc.LeaseTTL/3, func(ctx context.Context) bool {
			if err := rc.Store.RenewUpload(ctx, id, received.Load(), rc.LeaseTTL); err != nil && ctx.Err() == nil {
				rc.Logger.Warn("reins: could not renew an upload's lease", "job_id", id, "error", err)
			}
			return true
		})
	}()
	return func() {
		cancel()
		<-done
	}
}

func (rc *Receiver) notify(ctx context.Context, id uuid.UUID) {
	if err := rc.Notifier.Notify(ctx, id); err != nil {
		rc.Logger.Warn("reins: could not signal a job change", "job_id", id, "error", err)
	}
}

// fail ends the transfer for good: the job becomes FAILED (its rollback removes the spool)
// and the caller gets the reason as EINVALID.
func (rc *Receiver) fail(ctx context.Context, id uuid.UUID, message string) error {
	if _, err := rc.Store.FailJob(ctx, id, message, "upload"); err != nil {
		rc.Logger.Error("reins: could not mark a failed upload", "job_id", id, "error", err)
	}
	_ = rc.Blob.DeletePrefix(prefix(id))
	rc.notify(ctx, id)
	return reins.Errorf(reins.EINVALID, "%s", message)
}

// obey reacts to a signal: it returns nil when the transfer may go on, waiting first while
// the job is paused (acknowledging the pause, so PAUSED is true when said), and an error
// when the job was revoked or failed.
func (rc *Receiver) obey(ctx, dbctx context.Context, id uuid.UUID, signals <-chan struct{}, extend func(time.Time)) error {
	pausedAt := time.Now()
	poll := time.NewTicker(rc.PollInterval)
	defer poll.Stop()
	for {
		job, err := rc.Store.FindJob(dbctx, id)
		if err != nil {
			return err
		}
		switch job.Status {
		case reins.StatusStarted, reins.StatusResumed:
			return nil
		case reins.StatusPausing:
			ok, err := rc.Store.FinishRun(dbctx, &reins.Finish{JobID: id, Epoch: job.Epoch,
				From: []reins.Status{reins.StatusPausing}, To: reins.StatusPaused, Actor: "upload"})
			if err != nil {
				return err
			}
			if ok {
				rc.notify(dbctx, id)
			}
			continue
		case reins.StatusPaused:
		default:
			_ = rc.Blob.DeletePrefix(prefix(id))
			return reins.Errorf(reins.ECONFLICT, "job %s is %s: the upload was stopped", id, job.Status)
		}
		remaining := rc.MaxPause - time.Since(pausedAt)
		if remaining <= 0 {
			return rc.fail(dbctx, id, fmt.Sprintf("upload failed: it stayed paused longer than %s", rc.MaxPause))
		}
		if extend != nil {
			// Not reading is deliberate: keep the server from timing the request out.
			extend(time.Now().Add(remaining + rc.IdleTimeout))
		}
		select {
		case <-ctx.Done():
			return rc.fail(dbctx, id, "upload interrupted while paused: the client went away; nothing was imported")
		case <-signals:
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
