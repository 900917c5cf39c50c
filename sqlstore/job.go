package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

const jobColumns = `id, job_type, status, owner, params, run_epoch, done, total, active_ms,
	checkpoint, error, created_at, updated_at, started_at, finished_at, lease_token, lease_expires_at, lease_owner`

func scanJob(row Row) (*reins.Job, error) {
	var j reins.Job
	var params, checkpoint string
	if err := row.Scan(&j.ID, &j.Type, &j.Status, &j.Owner, &params, &j.Epoch, &j.Done, &j.Total,
		&j.ActiveMillis, &checkpoint, &j.Error, &j.CreatedAt, &j.UpdatedAt, &j.StartedAt, &j.FinishedAt,
		&j.Lease, &j.LeaseExpiresAt, &j.LeaseOwner); err != nil {
		return nil, err
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
func (s *Store) CreateJob(ctx context.Context, job *reins.Job, actor string, run reins.RunKind) error {
	now := s.Now()
	job.CreatedAt, job.UpdatedAt = now, now
	if job.Epoch == 0 {
		job.Epoch = 1
	}
	if job.Owner == "" {
		job.Owner = reins.DefaultOwner
	}
	return s.inTx(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO reins_jobs (id, job_type, status, owner, params, run_epoch,
			done, total, active_ms, checkpoint, error, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 0, $8, '', $9, $9)`,
			job.ID, job.Type, job.Status, job.Owner, jsonText(job.Params), job.Epoch, job.Total,
			jsonText(job.Checkpoint), now); err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		if err := insertEvent(ctx, tx, job.ID, "", job.Status, actor, "", now); err != nil {
			return err
		}
		if run != reins.RunNone {
			return tx.InsertRun(ctx, reins.RunArgs{JobID: job.ID, Epoch: job.Epoch, Run: run})
		}
		return nil
	})
}

func insertEvent(ctx context.Context, q Querier, id uuid.UUID, from, to reins.Status, actor, detail string, now time.Time) error {
	if _, err := q.Exec(ctx, `INSERT INTO reins_job_events (job_id, at, from_status, to_status, actor, detail)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, now, from, to, actor, detail); err != nil {
		return fmt.Errorf("insert job event: %w", err)
	}
	return nil
}

// FindJob implements reins.JobStore.
func (s *Store) FindJob(ctx context.Context, id uuid.UUID) (*reins.Job, error) {
	return s.findJob(ctx, s.conn, id, "")
}

func (s *Store) findJob(ctx context.Context, q Querier, id uuid.UUID, suffix string) (*reins.Job, error) {
	job, err := scanJob(q.QueryRow(ctx, `SELECT `+jobColumns+` FROM reins_jobs WHERE id = $1`+suffix, id))
	if err != nil {
		if s.conn.IsNoRows(err) {
			return nil, reins.Errorf(reins.ENOTFOUND, "job %s not found", id)
		}
		return nil, s.wrap(err)
	}
	return job, nil
}

// ListJobs implements reins.JobStore.
func (s *Store) ListJobs(ctx context.Context, owner string, limit int) ([]*reins.Job, error) {
	rows, err := s.conn.Query(ctx, `SELECT `+jobColumns+` FROM reins_jobs WHERE owner = $1
		ORDER BY created_at DESC, id LIMIT $2`, owner, limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var jobs []*reins.Job
	for rows.Next() {
		job, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	return jobs, s.wrap(rows.Err())
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
		now := s.Now()
		from := job.Status
		job.Status, job.UpdatedAt = t.To, now
		if t.BumpEpoch {
			job.Epoch++
		}
		if t.To.Terminal() {
			job.FinishedAt = &now
		}
		// A new epoch fences off the run in flight: its lease goes too, so the next run can
		// claim the job at once.
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, run_epoch = $3, updated_at = $4,
			finished_at = $5, lease_token = CASE WHEN $6 THEN NULL ELSE lease_token END,
			lease_expires_at = CASE WHEN $6 THEN NULL ELSE lease_expires_at END
			WHERE id = $1`, id, job.Status, job.Epoch, now, job.FinishedAt, t.BumpEpoch); err != nil {
			return fmt.Errorf("update job: %w", err)
		}
		if err := insertEvent(ctx, tx, id, from, t.To, actor, string(cmd), now); err != nil {
			return err
		}
		if t.Run != reins.RunNone {
			return tx.InsertRun(ctx, reins.RunArgs{JobID: id, Epoch: job.Epoch, Run: t.Run})
		}
		return nil
	})
	if err != nil {
		return nil, reins.Transition{}, err
	}
	return job, t, nil
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

// CommitBatch implements reins.JobStore.
func (s *Store) CommitBatch(ctx context.Context, b *reins.Batch) (*reins.BatchResult, error) {
	res := &reins.BatchResult{}
	err := s.inTx(ctx, func(tx Tx) error {
		// The fenced update comes first: it takes the job row's lock, so a command that moves
		// the epoch either commits before (and this batch writes nothing) or waits for us.
		err := tx.QueryRow(ctx, `UPDATE reins_jobs SET done = done + $3, total = COALESCE($4, total),
			active_ms = active_ms + $5, checkpoint = $6, updated_at = $7
			WHERE id = $1 AND run_epoch = $2 AND lease_token = $8 AND status IN `+statusList(runStatuses(b.Kind))+`
			RETURNING status`,
			b.JobID, b.Epoch, b.DoneDelta, b.Total, b.ActiveMillis, jsonText(b.Checkpoint), s.Now(), b.Lease).Scan(&res.Status)
		if s.conn.IsNoRows(err) {
			return fenced(b.JobID, b.Epoch)
		} else if err != nil {
			return fmt.Errorf("commit batch: %w", err)
		}
		if len(b.Insert) > 0 {
			if err := tx.InsertCustomers(ctx, &b.JobID, b.Insert); err != nil {
				return fmt.Errorf("insert customers: %w", err)
			}
		}
		if b.DeleteImported > 0 {
			if res.Deleted, err = tx.Exec(ctx, `DELETE FROM customers WHERE id IN
				(SELECT id FROM customers WHERE job_id = $1 LIMIT $2)`, b.JobID, b.DeleteImported); err != nil {
				return fmt.Errorf("delete imported customers: %w", err)
			}
			// done counts the job's rows in the table, so a rollback's progress shows.
			if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET done = CASE WHEN done > $2 THEN done - $2 ELSE 0 END
				WHERE id = $1`, b.JobID, res.Deleted); err != nil {
				return fmt.Errorf("count rolled back rows: %w", err)
			}
		}
		if b.Continue {
			if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET lease_token = NULL, lease_expires_at = NULL
				WHERE id = $1`, b.JobID); err != nil {
				return fmt.Errorf("hand over: %w", err)
			}
			return tx.InsertRun(ctx, reins.RunArgs{JobID: b.JobID, Epoch: b.Epoch, Run: b.Kind})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// FinishRun implements reins.JobStore.
func (s *Store) FinishRun(ctx context.Context, f *reins.Finish) (bool, error) {
	var done bool
	err := s.inTx(ctx, func(tx Tx) error {
		job, err := s.findJob(ctx, tx, f.JobID, s.conn.ForUpdate())
		if err != nil {
			return err
		}
		if job.Epoch != f.Epoch || !slices.Contains(f.From, job.Status) {
			return nil
		}
		if f.Lease != nil && (job.Lease == nil || *job.Lease != *f.Lease) {
			return nil
		}
		now := s.Now()
		var finished *time.Time
		if f.To.Terminal() {
			finished = &now
		}
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, error = $3, updated_at = $4,
			finished_at = COALESCE($5, finished_at), lease_token = NULL, lease_expires_at = NULL
			WHERE id = $1`, f.JobID, f.To, f.Error, now, finished); err != nil {
			return fmt.Errorf("finish run: %w", err)
		}
		done = true
		return insertEvent(ctx, tx, f.JobID, job.Status, f.To, f.Actor, f.Error, now)
	})
	return done, err
}

// FailJob implements reins.JobStore.
func (s *Store) FailJob(ctx context.Context, id uuid.UUID, message, actor string) (bool, error) {
	return s.failJob(ctx, id, message, actor, nil)
}

// failJob is FailJob, failing the job only if stillDue (when given) confirms, inside the
// transaction that holds the job's lock, that it should.
func (s *Store) failJob(ctx context.Context, id uuid.UUID, message, actor string, stillDue func(Tx) (bool, error)) (bool, error) {
	var done bool
	err := s.inTx(ctx, func(tx Tx) error {
		job, err := s.findJob(ctx, tx, id, s.conn.ForUpdate())
		if err != nil {
			return err
		}
		if job.Status.Terminal() {
			return nil
		}
		if stillDue != nil {
			if due, err := stillDue(tx); err != nil || !due {
				return err
			}
		}
		now := s.Now()
		epoch := job.Epoch + 1
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, error = $3, run_epoch = $4, updated_at = $5,
			finished_at = $5, lease_token = NULL, lease_expires_at = NULL
			WHERE id = $1`, id, reins.StatusFailed, message, epoch, now); err != nil {
			return fmt.Errorf("fail job: %w", err)
		}
		if err := insertEvent(ctx, tx, id, job.Status, reins.StatusFailed, actor, message, now); err != nil {
			return err
		}
		done = true
		return tx.InsertRun(ctx, reins.RunArgs{JobID: id, Epoch: epoch, Run: reins.RunRollback})
	})
	return done, err
}
