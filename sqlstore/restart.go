package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// RestartJob implements reins.UploadStore.
func (s *Store) RestartJob(ctx context.Context, r *reins.Restart) (*reins.Job, error) {
	var old *reins.Job
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		if old, err = s.findJob(ctx, tx, r.Of, s.conn.ForUpdate()); err != nil {
			return err
		}
		if err := reins.CheckRestart(old); err != nil {
			return err
		}
		now := s.stamp(old)
		if reins.RestartRevokes(old.Status) {
			if err := s.revokeInTx(ctx, tx, old, r.Actor, now); err != nil {
				return err
			}
		}
		job := r.Job
		records := *old.Upload.Records
		job.Status, job.Owner, job.Epoch, job.Total, job.RestartOf = reins.StatusCreated, old.Owner, 1, &records, &old.ID
		job.CreatedAt, job.UpdatedAt = now, now
		// The new job's rows would clash with the old job's (a team name is unique in its
		// tenant): it runs once nothing of the old job is left.
		waiting := old.Status != reins.StatusRevoked && old.RolledBackAt == nil
		if waiting {
			job.WaitsFor = &old.ID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO reins_jobs (id, job_type, status, owner, params, run_epoch,
			done, total, active_ms, checkpoint, error, created_at, updated_at, restart_of, waits_for)
			VALUES ($1, $2, $3, $4, $5, 1, 0, $6, 0, '{}', '', $7, $7, $8, $9)`,
			job.ID, job.Type, job.Status, job.Owner, jsonText(job.Params), records, now, old.ID, job.WaitsFor); err != nil {
			return fmt.Errorf("insert restarted job: %w", err)
		}
		u := *old.Upload
		u.JobID, u.SpoolKey = job.ID, r.SpoolKey
		job.Upload = &u
		if _, err := tx.Exec(ctx, `INSERT INTO reins_uploads (job_id, file_name, spool_key, received, expected, records,
			complete, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, true, $7, $7)`,
			job.ID, u.FileName, u.SpoolKey, u.Received, u.Expected, records, now); err != nil {
			return fmt.Errorf("insert restarted job's upload: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET restarted_as = $2 WHERE id = $1`, old.ID, job.ID); err != nil {
			return fmt.Errorf("link restarted job: %w", err)
		}
		old.RestartedAs = &job.ID
		if err := s.insertEvent(ctx, tx, job.ID, "", job.Status, r.Actor, "restart of "+old.ID.String(), now); err != nil {
			return err
		}
		if waiting {
			return nil
		}
		_, err = tx.InsertRun(ctx, reins.RunArgs{JobID: job.ID, Epoch: job.Epoch, Run: reins.RunProcess})
		return err
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

// revokeInTx applies REVOKE to the locked job, as ApplyCommand does.
func (s *Store) revokeInTx(ctx context.Context, tx Tx, job *reins.Job, actor string, now time.Time) error {
	t, err := reins.NextStatus(job.Status, reins.CommandRevoke)
	if err != nil || t.NoOp {
		return err
	}
	from := job.Status
	job.Status, job.UpdatedAt = t.To, now
	if t.BumpEpoch {
		job.Epoch++
	}
	if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, run_epoch = $3, updated_at = $4 WHERE id = $1`,
		job.ID, job.Status, job.Epoch, now); err != nil {
		return fmt.Errorf("revoke job: %w", err)
	}
	if err := s.insertEvent(ctx, tx, job.ID, from, t.To, actor, string(reins.CommandRevoke), now); err != nil {
		return err
	}
	_, err = tx.InsertRun(ctx, reins.RunArgs{JobID: job.ID, Epoch: job.Epoch, Run: t.Run})
	return err
}

// waitsForRollback reports whether the locked job is a restart whose old job's rollback has
// not ended yet.
func waitsForRollback(ctx context.Context, tx Tx, job *reins.Job) (bool, error) {
	if job.WaitsFor == nil {
		return false, nil
	}
	var status reins.Status
	var ended *time.Time
	err := tx.QueryRow(ctx, `SELECT status, rolled_back_at FROM reins_jobs WHERE id = $1`, *job.WaitsFor).Scan(&status, &ended)
	if err != nil {
		return false, fmt.Errorf("read the job a restart waits for: %w", err)
	}
	return status != reins.StatusRevoked && ended == nil, nil
}

// releaseWaiting enqueues the first run of the restarted jobs that waited for the job's
// rollback, which has just ended in tx. A waiting job that was paused meanwhile gets its run
// on RESUME.
func releaseWaiting(ctx context.Context, tx Tx, id uuid.UUID) error {
	rows, err := tx.Query(ctx, `SELECT id, run_epoch FROM reins_jobs WHERE waits_for = $1 AND status IN ($2, $3)`,
		id, reins.StatusCreated, reins.StatusResumed)
	if err != nil {
		return fmt.Errorf("find waiting jobs: %w", err)
	}
	var runs []reins.RunArgs
	for rows.Next() {
		a := reins.RunArgs{Run: reins.RunProcess}
		if err := rows.Scan(&a.JobID, &a.Epoch); err != nil {
			rows.Close()
			return err
		}
		runs = append(runs, a)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return err
	}
	for _, a := range runs {
		if _, err := tx.InsertRun(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// EndedSpools implements reins.UploadStore.
func (s *Store) EndedSpools(ctx context.Context, before time.Time, limit int) ([]*reins.Upload, error) {
	rows, err := s.conn.Query(ctx, `SELECT u.job_id, u.file_name, u.spool_key, u.received, u.complete
		FROM reins_uploads u JOIN reins_jobs j ON j.id = u.job_id
		WHERE u.spool_removed_at IS NULL AND j.status IN ($1, $2, $3) AND j.finished_at < $4
		ORDER BY j.finished_at LIMIT $5`,
		reins.StatusCompleted, reins.StatusFailed, reins.StatusRevoked, before, limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []*reins.Upload
	for rows.Next() {
		var u reins.Upload
		if err := rows.Scan(&u.JobID, &u.FileName, &u.SpoolKey, &u.Received, &u.Complete); err != nil {
			return nil, err
		}
		out = append(out, &u)
	}
	return out, s.wrap(rows.Err())
}

// SpoolRemoved implements reins.UploadStore.
func (s *Store) SpoolRemoved(ctx context.Context, jobID uuid.UUID) error {
	_, err := s.conn.Exec(ctx, `UPDATE reins_uploads SET spool_removed_at = $2 WHERE job_id = $1`, jobID, s.Now())
	return s.wrap(err)
}
