package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// jobSelect reads jobs (alias j) with their upload's transfer, if any (alias u). A locking
// read appends Conn.ForUpdate, which locks only the job's row.
const jobSelect = `SELECT j.id, j.job_type, j.status, j.owner, j.params, j.run_epoch, j.done, j.total, j.active_ms,
	j.checkpoint, j.error, j.created_at, j.updated_at, j.started_at, j.finished_at, j.lease_token, j.lease_expires_at,
	j.lease_owner, j.lease_kind, j.lease_epoch, j.rate_per_s, j.rate_at,
	u.file_name, u.spool_key, u.received, u.expected, u.records, u.complete,
	j.restart_of, j.restarted_as, j.waits_for, j.rolled_back_at, u.spool_removed_at
	FROM reins_jobs j LEFT JOIN reins_uploads u ON u.job_id = j.id`

func scanJob(row Row) (*reins.Job, error) {
	var j reins.Job
	var params, checkpoint string
	var leaseKind, fileName, spoolKey *string
	var leaseEpoch, received *int64
	var complete *bool
	var u reins.Upload
	var spoolRemoved *time.Time
	if err := row.Scan(&j.ID, &j.Type, &j.Status, &j.Owner, &params, &j.Epoch, &j.Done, &j.Total,
		&j.ActiveMillis, &checkpoint, &j.Error, &j.CreatedAt, &j.UpdatedAt, &j.StartedAt, &j.FinishedAt,
		&j.Lease, &j.LeaseExpiresAt, &j.LeaseOwner, &leaseKind, &leaseEpoch, &j.RatePerS, &j.RateAt,
		&fileName, &spoolKey, &received, &u.Expected, &u.Records, &complete,
		&j.RestartOf, &j.RestartedAs, &j.WaitsFor, &j.RolledBackAt, &spoolRemoved); err != nil {
		return nil, err
	}
	if fileName != nil {
		u.JobID, u.FileName, u.SpoolKey, u.Received, u.Complete = j.ID, *fileName, *spoolKey, *received, *complete
		u.SpoolRemoved = spoolRemoved != nil
		j.Upload = &u
	}
	if leaseKind != nil {
		j.LeaseKind = reins.RunKind(*leaseKind)
	}
	if leaseEpoch != nil {
		j.LeaseEpoch = *leaseEpoch
	}
	j.Params = json.RawMessage(params)
	j.Checkpoint = json.RawMessage(checkpoint)
	j.CreatedAt = j.CreatedAt.UTC()
	j.UpdatedAt = j.UpdatedAt.UTC()
	return &j, nil
}

func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	return string(raw)
}

// CreateJob implements reins.JobStore.
func (s *Store) CreateJob(ctx context.Context, job *reins.Job, actor string, run reins.RunKind,
	prepare func(ctx context.Context, tx reins.Tx, job *reins.Job) error) error {
	now := s.Now()
	job.CreatedAt, job.UpdatedAt = now, now
	if job.Epoch == 0 {
		job.Epoch = 1
	}
	if job.Owner == "" {
		job.Owner = reins.DefaultOwner
	}
	return s.inTx(ctx, func(tx Tx) error {
		if prepare != nil {
			if err := prepare(ctx, tx, job); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO reins_jobs (id, job_type, status, owner, params, run_epoch,
			done, total, active_ms, checkpoint, error, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 0, $8, '', $9, $9)`,
			job.ID, job.Type, job.Status, job.Owner, jsonText(job.Params), job.Epoch, job.Total,
			jsonText(job.Checkpoint), now); err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		if err := s.insertEvent(ctx, tx, job.ID, "", job.Status, actor, "", now); err != nil {
			return err
		}
		if run != reins.RunNone && job.Status == reins.StatusCreated {
			return s.insertRun(ctx, tx, reins.RunArgs{JobID: job.ID, Epoch: job.Epoch, Run: run})
		}
		return nil
	})
}

// insertEvent records a change of the job's status in its history and publishes it to the
// change feed, inside tx.
func (s *Store) insertEvent(ctx context.Context, tx Tx, id uuid.UUID, from, to reins.Status, actor, detail string, now time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO reins_job_events (job_id, at, from_status, to_status, actor, detail)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, now, from, to, actor, detail); err != nil {
		return fmt.Errorf("insert job event: %w", err)
	}
	return s.changed(ctx, tx, id, true)
}

// FindJob implements reins.JobStore.
func (s *Store) FindJob(ctx context.Context, id uuid.UUID) (*reins.Job, error) {
	return s.findJob(ctx, s.conn, id, "")
}

func (s *Store) findJob(ctx context.Context, q Querier, id uuid.UUID, suffix string) (*reins.Job, error) {
	job, err := scanJob(q.QueryRow(ctx, jobSelect+` WHERE j.id = $1`+suffix, id))
	if err != nil {
		if s.conn.IsNoRows(err) {
			return nil, reins.Errorf(reins.ENOTFOUND, "job %s not found", id)
		}
		return nil, s.wrap(err)
	}
	return job, nil
}

// JobEvents implements reins.JobStore.
func (s *Store) JobEvents(ctx context.Context, id uuid.UUID) ([]reins.Event, error) {
	rows, err := s.conn.Query(ctx, `SELECT at, from_status, to_status, actor, detail
		FROM reins_job_events WHERE job_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var events []reins.Event
	for rows.Next() {
		var e reins.Event
		if err := rows.Scan(&e.At, &e.From, &e.To, &e.Actor, &e.Detail); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		events = append(events, e)
	}
	return events, s.wrap(rows.Err())
}

// ApplyCommand implements reins.JobStore.
func (s *Store) ApplyCommand(ctx context.Context, id uuid.UUID, cmd reins.Command, actor string) (*reins.Job, reins.Transition, error) {
	var job *reins.Job
	var t reins.Transition
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		if job, err = s.findJob(ctx, tx, id, s.conn.ForUpdate()); err != nil {
			return err
		}
		if t, err = reins.NextStatus(job.Status, cmd); err != nil || t.NoOp {
			return err
		}
		now := s.stamp(job)
		from := job.Status
		job.Status, job.UpdatedAt = t.To, now
		if t.BumpEpoch {
			job.Epoch++
		}
		if t.To.Terminal() {
			job.FinishedAt = &now
		}
		// A new epoch fences off the run in flight; its lease, now of an older epoch, is void,
		// so the next run takes the job over at once (see StartRun).
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, run_epoch = $3, updated_at = $4,
			finished_at = $5 WHERE id = $1`, id, job.Status, job.Epoch, now, job.FinishedAt); err != nil {
			return fmt.Errorf("update job: %w", err)
		}
		if err := s.insertEvent(ctx, tx, id, from, t.To, actor, string(cmd), now); err != nil {
			return err
		}
		if t.To == reins.StatusPausing {
			if !holderCanAnswer(job, t) {
				return s.settlePause(ctx, tx, job, now)
			}
			// The holder answers with a commit of its own after this one, which waits for
			// the disk and so makes this one durable too: this one need not wait, and the
			// job's row lock, which the acknowledgement needs, is free a disk flush sooner
			// (docs/architecture.md, "Waiting for the acknowledgement").
			return s.conn.DeferDurability(ctx, tx)
		}
		if t.Run == reins.RunProcess {
			// A restarted job resumed while the old job still rolls back: the end of that
			// rollback enqueues its run.
			if waiting, err := waitsForRollback(ctx, tx, job); err != nil || waiting {
				return err
			}
		}
		if t.Run != reins.RunNone {
			return s.insertRun(ctx, tx, reins.RunArgs{JobID: id, Epoch: job.Epoch, Run: t.Run})
		}
		return nil
	})
	if err != nil {
		return nil, reins.Transition{}, err
	}
	return job, t, nil
}

// SyncJob implements reins.JobStore: a transaction that writes the job's row, committed
// durably, is durable only once everything committed before it is.
func (s *Store) SyncJob(ctx context.Context, id uuid.UUID) error {
	return s.inTx(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE reins_jobs SET updated_at = updated_at WHERE id = $1`, id)
		return err
	})
}

// holderCanAnswer reports whether someone holds the job who will stop and acknowledge a
// PAUSE: a transfer, or a run of the job's current epoch (its lease, even expired, lets it
// commit until someone takes the job over). A run enqueued but not yet started, or one
// whose epoch a command moved on, holds nothing and can commit nothing.
func holderCanAnswer(job *reins.Job, t reins.Transition) bool {
	if job.Lease == nil {
		return false
	}
	return job.LeaseKind == reins.RunTransfer || job.LeaseEpoch == job.Epoch && !t.BumpEpoch
}

// settlePause writes PAUSED at once for a PAUSING job that no holder will answer for (a
// RESUME whose run has not claimed the job yet, a throttled run waiting in the queue): the
// queued run, when it starts, finds the job PAUSED and leaves it be, and nothing can commit
// in between, so the counters are final now.
func (s *Store) settlePause(ctx context.Context, tx Tx, job *reins.Job, now time.Time) error {
	t := reins.RunTransitionOf(reins.RunStopped)
	if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, updated_at = $3 WHERE id = $1`,
		job.ID, t.To, now); err != nil {
		return fmt.Errorf("settle pause: %w", err)
	}
	job.Status = t.To
	return s.insertEvent(ctx, tx, job.ID, reins.StatusPausing, t.To, "reins", "no run held the job", now)
}

// runStatuses are the statuses in which a run of each kind may commit a batch. A batch in
// flight when PAUSE arrives still commits (PAUSING), so no work is thrown away and redone;
// the run then stops and acknowledges.
func runStatuses(kind reins.RunKind) []reins.Status {
	if kind == reins.RunRollback {
		return []reins.Status{reins.StatusRevoking, reins.StatusFailed}
	}
	return []reins.Status{reins.StatusStarted, reins.StatusResumed, reins.StatusPausing}
}

// statusList renders statuses as a SQL list of literals; they come from constants only.
func statusList(statuses []reins.Status) string {
	quoted := make([]string, len(statuses))
	for i, st := range statuses {
		quoted[i] = "'" + string(st) + "'"
	}
	return "(" + strings.Join(quoted, ", ") + ")"
}

func fenced(id uuid.UUID, epoch int64) error {
	return reins.Errorf(reins.EFENCED, "run of epoch %d lost its claim on job %s", epoch, id)
}

// fencedOr returns the fence's error when the batch's run no longer holds the job, and err
// otherwise: effects that fail because another run's are there already (a stale run's rows
// colliding with its successor's) are the stale run's fence, never the job's failure. It
// reads after the batch's transaction, which err aborted.
func (s *Store) fencedOr(ctx context.Context, b *reins.Batch, err error) error {
	var held bool
	if qerr := s.conn.QueryRow(ctx, `SELECT COUNT(*) > 0 FROM reins_jobs
		WHERE id = $1 AND run_epoch = $2 AND lease_token = $3 AND status IN `+statusList(runStatuses(b.Kind)),
		b.JobID, b.Epoch, b.Lease).Scan(&held); qerr == nil && !held {
		return fenced(b.JobID, b.Epoch)
	}
	return err
}

// CommitBatch implements reins.JobStore.
func (s *Store) CommitBatch(ctx context.Context, b *reins.Batch) (*reins.BatchResult, error) {
	res := &reins.BatchResult{}
	applyFailed := false
	err := s.inTx(ctx, func(tx Tx) error {
		// The batch's effects go in first and the fenced update comes last: the job row's
		// lock is then held only for the end of the transaction, so a command that comes
		// while the effects go in (an import's rows: most of its batch's time) is not held up
		// by them, and a PAUSE it made is seen, and acknowledged, by this very commit rather
		// than the next batch's. A command that moved the epoch or took the lease meanwhile
		// fences this batch, and its effects roll back with it.
		if b.Apply != nil {
			applied, err := b.Apply(ctx, tx)
			if err != nil {
				applyFailed = true
				return err
			}
			res.Applied = applied
		}
		return s.finishBatch(ctx, tx, b, res)
	})
	if applyFailed {
		// Checked once the transaction is over: on SQLite it holds the one connection.
		return nil, s.fencedOr(ctx, b, err)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// OverlapsBatches implements reins.JobStore: a Conn whose transactions run side by side
// says so by implementing ConcurrentTx.
func (s *Store) OverlapsBatches() bool {
	_, ok := s.conn.(ConcurrentTx)
	return ok
}

// ConcurrentTx is implemented by a Conn on which several transactions may be open at once
// (a pool of connections), so a run may begin a batch while its previous one commits.
type ConcurrentTx interface{ ConcurrentTx() }

// BeginBatch implements reins.JobStore.
func (s *Store) BeginBatch(ctx context.Context, b *reins.Batch) (reins.PendingBatch, error) {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return nil, s.wrap(err)
	}
	actx, cancel := context.WithCancel(ctx)
	p := &pendingBatch{s: s, b: b, tx: tx, cancel: cancel, applied: make(chan struct{})}
	go func() {
		defer close(p.applied)
		if b.Apply != nil {
			p.n, p.err = b.Apply(actx, tx)
		}
	}()
	return p, nil
}

// pendingBatch is a batch whose transaction is open while its effects go in.
type pendingBatch struct {
	s       *Store
	b       *reins.Batch
	tx      Tx
	cancel  context.CancelFunc
	applied chan struct{} // closed when Apply has returned n and err
	n       int64
	err     error
	once    sync.Once
}

// Commit implements reins.PendingBatch.
func (p *pendingBatch) Commit(ctx context.Context) (*reins.BatchResult, error) {
	<-p.applied
	defer p.cancel()
	if p.err != nil {
		p.rollback()
		return nil, p.s.fencedOr(ctx, p.b, p.s.wrap(p.err))
	}
	res := &reins.BatchResult{Applied: p.n}
	if err := p.s.finishBatch(ctx, p.tx, p.b, res); err != nil {
		p.rollback()
		return nil, p.s.wrap(err)
	}
	var err error
	p.once.Do(func() { err = p.tx.Commit(ctx) })
	if err != nil {
		return nil, p.s.wrap(err)
	}
	return res, nil
}

// Applied implements reins.PendingBatch.
func (p *pendingBatch) Applied() <-chan struct{} { return p.applied }

// Abandon implements reins.PendingBatch.
func (p *pendingBatch) Abandon() {
	p.cancel()
	<-p.applied
	p.rollback()
}

func (p *pendingBatch) rollback() {
	p.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.tx.Rollback(ctx)
	})
}

// finishBatch is the end of a batch's transaction, after its effects: the fenced update of
// the job's progress and checkpoint, and what the batch asks besides (a hand-over, the end of
// a rollback, the acknowledgement of a PAUSE).
func (s *Store) finishBatch(ctx context.Context, tx Tx, b *reins.Batch, res *reins.BatchResult) error {
	now := s.Now()
	var rateAt *time.Time
	if b.RatePerS != nil {
		rateAt = &now
	}
	var checkpoint *string // nil keeps the stored checkpoint
	if b.Checkpoint != nil {
		text := jsonText(b.Checkpoint)
		checkpoint = &text
	}
	// now was read before the update waited for the row's lock, which a command may have
	// held and stamped later meanwhile: then the stamp stays where it is rather than go back,
	// and a status this batch writes besides is stamped just after it (Store.stamp).
	asked := now
	err := tx.QueryRow(ctx, `UPDATE reins_jobs SET done = done + $3, total = COALESCE($4, total),
		active_ms = active_ms + $5, checkpoint = COALESCE($6, checkpoint),
		updated_at = CASE WHEN updated_at > $7 THEN updated_at ELSE $7 END, rate_per_s = COALESCE($9, rate_per_s),
		rate_at = COALESCE($10, rate_at)
		WHERE id = $1 AND run_epoch = $2 AND lease_token = $8 AND status IN `+statusList(runStatuses(b.Kind))+`
		RETURNING status, updated_at`,
		b.JobID, b.Epoch, b.DoneDelta, b.Total, b.ActiveMillis, checkpoint, now, b.Lease,
		b.RatePerS, rateAt).Scan(&res.Status, &now)
	if s.conn.IsNoRows(err) {
		return fenced(b.JobID, b.Epoch)
	} else if err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	if now = now.UTC(); !now.Equal(asked) {
		now = after(asked, now)
	}
	if res.Applied != 0 {
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET done = CASE WHEN done + $2 > 0 THEN done + $2 ELSE 0 END
			WHERE id = $1`, b.JobID, res.Applied); err != nil {
			return fmt.Errorf("count the batch's effects: %w", err)
		}
	}
	if err := s.changed(ctx, tx, b.JobID, false); err != nil {
		return err
	}
	if b.ResetDone {
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET done = 0, rolled_back_at = $2 WHERE id = $1`, b.JobID, now); err != nil {
			return fmt.Errorf("reset done: %w", err)
		}
		if err := releaseWaiting(ctx, tx, b.JobID); err != nil {
			return err
		}
	}
	if b.Continue {
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET lease_token = NULL, lease_expires_at = NULL
			WHERE id = $1`, b.JobID); err != nil {
			return fmt.Errorf("hand over: %w", err)
		}
		return s.insertRun(ctx, tx, reins.RunArgs{JobID: b.JobID, Epoch: b.Epoch, Run: b.Kind})
	}
	if b.Complete {
		return s.endInBatch(ctx, tx, b.JobID, reins.RunCompleted, res, now)
	}
	if b.StopIfPausing && res.Status == reins.StatusPausing {
		return s.endInBatch(ctx, tx, b.JobID, reins.RunStopped, res, now)
	}
	return nil
}

// endInBatch ends the run inside the transaction of its batch, as FinishRun does for ev: the
// job moves to ev's status and the run's lease is released. That is a PAUSE acknowledged by
// the batch that found the job PAUSING (reins.Batch.StopIfPausing), or the job completed by
// its last batch (reins.Batch.Complete). The batch's fenced update holds the row's lock and
// proved the epoch, the lease and a status the run may work in (each of which ev allows), so
// no other run or command can have moved the job since.
func (s *Store) endInBatch(ctx context.Context, tx Tx, id uuid.UUID, ev reins.RunEvent, res *reins.BatchResult, now time.Time) error {
	t := reins.RunTransitionOf(ev)
	if !t.Allows(res.Status) {
		return fmt.Errorf("end the run in its batch: a job %s cannot become %s", res.Status, t.To)
	}
	var finished *time.Time
	if t.To.Terminal() {
		finished = &now
	}
	if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, updated_at = $3, finished_at = COALESCE($4, finished_at),
		lease_token = NULL, lease_expires_at = NULL WHERE id = $1`, id, t.To, now, finished); err != nil {
		return fmt.Errorf("end the run in its batch (%s): %w", t.To, err)
	}
	from := res.Status
	res.Status = t.To
	return s.insertEvent(ctx, tx, id, from, t.To, "worker", "", now)
}

// FinishRun implements reins.JobStore.
func (s *Store) FinishRun(ctx context.Context, f *reins.Finish) (bool, error) {
	t := reins.RunTransitionOf(f.Event)
	var done bool
	err := s.inTx(ctx, func(tx Tx) error {
		job, err := s.findJob(ctx, tx, f.JobID, s.conn.ForUpdate())
		if err != nil {
			return err
		}
		now := s.Now()
		switch {
		case !t.Allows(job.Status):
			return nil
		case f.Epoch != 0 && job.Epoch != f.Epoch:
			return nil
		case f.Lease != nil && (job.Lease == nil || *job.Lease != *f.Lease):
			return nil
		case f.Lease == nil && leaseLive(job, now):
			// Only the holder of a live lease speaks for the job's work.
			return nil
		}
		now = after(now, job.UpdatedAt)
		var finished *time.Time
		if t.To.Terminal() {
			finished = &now
		}
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, error = CASE WHEN $3 = '' THEN error ELSE $3 END,
			updated_at = $4, finished_at = COALESCE($5, finished_at),
			lease_token = CASE WHEN $6 THEN lease_token ELSE NULL END,
			lease_expires_at = CASE WHEN $6 THEN lease_expires_at ELSE NULL END
			WHERE id = $1`, f.JobID, t.To, f.Error, now, finished, f.KeepLease); err != nil {
			return fmt.Errorf("finish run: %w", err)
		}
		done = true
		detail := f.Detail
		if f.Error != "" {
			detail = f.Error
		}
		return s.insertEvent(ctx, tx, f.JobID, job.Status, t.To, f.Actor, detail, now)
	})
	return done, err
}

// FailJob implements reins.JobStore.
func (s *Store) FailJob(ctx context.Context, id uuid.UUID, message, actor string) (bool, error) {
	var done bool
	err := s.inTx(ctx, func(tx Tx) error {
		job, err := s.findJob(ctx, tx, id, s.conn.ForUpdate())
		if err != nil {
			return err
		}
		if !reins.RunTransitionOf(reins.RunFailed).Allows(job.Status) {
			return nil
		}
		done = true
		return s.failInTx(ctx, tx, job, message, actor, s.stamp(job))
	})
	return done, err
}

// failInTx marks the locked job FAILED, moves its epoch and drops its lease (fencing off
// every holder), and enqueues the rollback run.
func (s *Store) failInTx(ctx context.Context, tx Tx, job *reins.Job, message, actor string, now time.Time) error {
	message = reins.Shorten(message, MaxErrorLength)
	epoch := job.Epoch + 1
	if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, error = $3, run_epoch = $4, updated_at = $5,
		finished_at = $5, lease_token = NULL, lease_expires_at = NULL
		WHERE id = $1`, job.ID, reins.StatusFailed, message, epoch, now); err != nil {
		return fmt.Errorf("fail job: %w", err)
	}
	if err := s.insertEvent(ctx, tx, job.ID, job.Status, reins.StatusFailed, actor, message, now); err != nil {
		return err
	}
	return s.insertRun(ctx, tx, reins.RunArgs{JobID: job.ID, Epoch: epoch, Run: reins.RunRollback})
}

// MaxErrorLength caps, in characters, the error a job stores (and its history repeats): a
// huge header must not make every listing of jobs huge.
const MaxErrorLength = 2000
