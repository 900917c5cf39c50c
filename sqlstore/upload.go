package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// BeginUpload implements reins.UploadStore.
func (s *Store) BeginUpload(ctx context.Context, u *reins.Upload, actor string, ttl time.Duration, owner string) (*reins.Job, error) {
	var job *reins.Job
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		if job, err = s.findJob(ctx, tx, u.JobID, s.conn.ForUpdate()); err != nil {
			return err
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
		if leaseLive(job, now) && !leaseVoidFor(job, reins.RunTransfer) {
			return reins.Errorf(reins.ECONFLICT, "job %s is held by a %s; it takes no file now", job.ID, job.LeaseKind)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO reins_uploads (job_id, file_name, spool_key, received, expected, complete,
			created_at, updated_at) VALUES ($1, $2, $3, 0, $4, false, $5, $5)`,
			u.JobID, u.FileName, u.SpoolKey, u.Expected, now); err != nil {
			return fmt.Errorf("insert upload: %w", err)
		}
		if err := s.takeLease(ctx, tx, job, reins.RunTransfer, job.Epoch, now.Add(ttl), owner); err != nil {
			return err
		}
		if job.Status != reins.StatusCreated {
			return s.changed(ctx, tx, job.ID, false) // the transfer began
		}
		return s.claimJob(ctx, tx, job, actor, "upload", now)
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// UpdateUpload implements reins.UploadStore.
func (s *Store) UpdateUpload(ctx context.Context, jobID uuid.UUID, received int64) error {
	n, err := s.conn.Exec(ctx, `UPDATE reins_uploads SET received = $2, updated_at = $3
		WHERE job_id = $1 AND NOT complete`, jobID, received, s.Now())
	if err == nil && n > 0 {
		err = s.changed(ctx, nil, jobID, false)
	}
	return s.wrap(err)
}

// CompleteUpload implements reins.UploadStore.
func (s *Store) CompleteUpload(ctx context.Context, jobID, lease uuid.UUID, received, records int64) (*reins.Job, error) {
	var job *reins.Job
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		if job, err = s.findJob(ctx, tx, jobID, s.conn.ForUpdate()); err != nil {
			return err
		}
		if job.Status.Terminal() || job.Status == reins.StatusRevoking {
			return reins.Errorf(reins.ECONFLICT, "job %s became %s during the upload", job.ID, job.Status)
		}
		if job.Lease == nil || *job.Lease != lease {
			return reins.Errorf(reins.EFENCED, "the transfer into job %s lost its lease", job.ID)
		}
		now := s.stamp(job)
		if _, err := tx.Exec(ctx, `UPDATE reins_uploads SET received = $2, records = $3, complete = true,
			updated_at = $4, lease_expires_at = NULL WHERE job_id = $1`, jobID, received, records, now); err != nil {
			return fmt.Errorf("complete upload: %w", err)
		}
		job.Total, job.Lease, job.LeaseExpiresAt = &records, nil, nil
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET total = $2, updated_at = $3, lease_token = NULL,
			lease_expires_at = NULL WHERE id = $1`, jobID, records, now); err != nil {
			return fmt.Errorf("set total: %w", err)
		}
		if err := s.changed(ctx, tx, jobID, false); err != nil {
			return err
		}
		switch job.Status {
		case reins.StatusPausing:
			// The transfer was the job's only work in progress, and it has stopped.
			t := reins.RunTransitionOf(reins.RunStopped)
			job.Status = t.To
			if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2 WHERE id = $1`, jobID, job.Status); err != nil {
				return err
			}
			return s.insertEvent(ctx, tx, jobID, reins.StatusPausing, t.To, "upload", "", now)
		case reins.StatusPaused:
			return nil // RESUME enqueues the run
		}
		return s.insertRun(ctx, tx, reins.RunArgs{JobID: jobID, Epoch: job.Epoch, Run: reins.RunProcess})
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// FindUpload implements reins.UploadStore.
func (s *Store) FindUpload(ctx context.Context, jobID uuid.UUID) (*reins.Upload, error) {
	u := reins.Upload{JobID: jobID}
	err := s.conn.QueryRow(ctx, `SELECT file_name, spool_key, received, expected, records, complete FROM reins_uploads
		WHERE job_id = $1`, jobID).Scan(&u.FileName, &u.SpoolKey, &u.Received, &u.Expected, &u.Records, &u.Complete)
	if err != nil {
		if s.conn.IsNoRows(err) {
			return nil, reins.Errorf(reins.ENOTFOUND, "job %s has no upload", jobID)
		}
		return nil, s.wrap(err)
	}
	return &u, nil
}
