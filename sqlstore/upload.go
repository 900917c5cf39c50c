package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// BeginUpload implements reins.UploadStore.
func (s *Store) BeginUpload(ctx context.Context, u *reins.Upload, actor string, ttl time.Duration) (*reins.Job, error) {
	var job *reins.Job
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		if job, err = s.findJob(ctx, tx, u.JobID, s.conn.ForUpdate()); err != nil {
			return err
		}
		if job.Type != reins.JobTypeImport {
			return reins.Errorf(reins.ECONFLICT, "job %s is an %s job; it takes no upload", job.ID, job.Type)
		}
		if job.Status.Terminal() || job.Status == reins.StatusRevoking {
			return reins.Errorf(reins.ECONFLICT, "job %s is %s; it no longer takes a file", job.ID, job.Status)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM reins_uploads WHERE job_id = $1`, u.JobID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return reins.Errorf(reins.ECONFLICT, "job %s already has a file; create a new job for another upload", job.ID)
		}
		now := s.Now()
		if _, err := tx.Exec(ctx, `INSERT INTO reins_uploads (job_id, file_name, spool_key, received, complete,
			created_at, updated_at, lease_expires_at) VALUES ($1, $2, $3, 0, false, $4, $4, $5)`,
			u.JobID, u.FileName, u.SpoolKey, now, now.Add(ttl)); err != nil {
			return fmt.Errorf("insert upload: %w", err)
		}
		if job.Status != reins.StatusCreated {
			return nil
		}
		job.Status, job.StartedAt, job.UpdatedAt = reins.StatusStarted, &now, now
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, started_at = $3, updated_at = $3
			WHERE id = $1`, job.ID, job.Status, now); err != nil {
			return fmt.Errorf("start job: %w", err)
		}
		return insertEvent(ctx, tx, job.ID, reins.StatusCreated, reins.StatusStarted, actor, "upload", now)
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// RenewUpload implements reins.UploadStore.
func (s *Store) RenewUpload(ctx context.Context, jobID uuid.UUID, received int64, ttl time.Duration) error {
	now := s.Now()
	_, err := s.conn.Exec(ctx, `UPDATE reins_uploads SET received = $2, updated_at = $3, lease_expires_at = $4
		WHERE job_id = $1 AND NOT complete`, jobID, received, now, now.Add(ttl))
	return s.wrap(err)
}

// failStaleUploads fails the jobs whose transfer's lease expired before now.
func (s *Store) failStaleUploads(ctx context.Context, now time.Time, limit int) ([]uuid.UUID, error) {
	rows, err := s.conn.Query(ctx, `SELECT u.job_id FROM reins_uploads u JOIN reins_jobs j ON j.id = u.job_id
		WHERE NOT u.complete AND u.lease_expires_at < $1
		AND j.status NOT IN ('REVOKING', 'REVOKED', 'COMPLETED', 'FAILED') LIMIT $2`, now, limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	ids, err := collectIDs(rows)
	if err != nil {
		return nil, err
	}
	var failed []uuid.UUID
	for _, id := range ids {
		// The receiver may have renewed the lease since the query (a stall, now over):
		// check again under the job's lock.
		ok, err := s.failJob(ctx, id, "upload interrupted: the process receiving the file stopped; nothing was imported", "rescuer",
			func(tx Tx) (bool, error) {
				var n int
				err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM reins_uploads WHERE job_id = $1 AND NOT complete
					AND lease_expires_at < $2`, id, now).Scan(&n)
				return n == 1, err
			})
		if err != nil {
			return failed, err
		}
		if ok {
			failed = append(failed, id)
		}
	}
	return failed, nil
}

// CompleteUpload implements reins.UploadStore.
func (s *Store) CompleteUpload(ctx context.Context, jobID uuid.UUID, received, records int64) (*reins.Job, error) {
	var job *reins.Job
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		if job, err = s.findJob(ctx, tx, jobID, s.conn.ForUpdate()); err != nil {
			return err
		}
		if job.Status.Terminal() || job.Status == reins.StatusRevoking {
			return reins.Errorf(reins.ECONFLICT, "job %s became %s during the upload", job.ID, job.Status)
		}
		now := s.Now()
		if _, err := tx.Exec(ctx, `UPDATE reins_uploads SET received = $2, records = $3, complete = true,
			updated_at = $4, lease_expires_at = NULL WHERE job_id = $1`, jobID, received, records, now); err != nil {
			return fmt.Errorf("complete upload: %w", err)
		}
		job.Total = &records
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET total = $2, updated_at = $3 WHERE id = $1`,
			jobID, records, now); err != nil {
			return fmt.Errorf("set total: %w", err)
		}
		switch job.Status {
		case reins.StatusPausing:
			// The transfer was the job's only work in progress, and it has stopped.
			job.Status = reins.StatusPaused
			if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2 WHERE id = $1`, jobID, job.Status); err != nil {
				return err
			}
			return insertEvent(ctx, tx, jobID, reins.StatusPausing, reins.StatusPaused, "upload", "", now)
		case reins.StatusPaused:
			return nil // RESUME enqueues the run
		}
		return tx.InsertRun(ctx, reins.RunArgs{JobID: jobID, Epoch: job.Epoch, Run: reins.RunProcess})
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// FindUpload implements reins.UploadStore.
func (s *Store) FindUpload(ctx context.Context, jobID uuid.UUID) (*reins.Upload, error) {
	u := reins.Upload{JobID: jobID}
	err := s.conn.QueryRow(ctx, `SELECT file_name, spool_key, received, records, complete FROM reins_uploads
		WHERE job_id = $1`, jobID).Scan(&u.FileName, &u.SpoolKey, &u.Received, &u.Records, &u.Complete)
	if err != nil {
		if s.conn.IsNoRows(err) {
			return nil, reins.Errorf(reins.ENOTFOUND, "job %s has no upload", jobID)
		}
		return nil, s.wrap(err)
	}
	return &u, nil
}
