package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// StartRun implements reins.JobStore.
func (s *Store) StartRun(ctx context.Context, id uuid.UUID, epoch int64, kind reins.RunKind, ttl time.Duration, owner string) (*reins.Job, error) {
	var job *reins.Job
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		if job, err = s.findJob(ctx, tx, id, s.conn.ForUpdate()); err != nil {
			return err
		}
		if job.Epoch != epoch || !slices.Contains(claimStatuses(kind), job.Status) {
			return fenced(id, epoch)
		}
		now := s.Now()
		if job.Lease != nil && job.LeaseExpiresAt != nil && job.LeaseExpiresAt.After(now) {
			return reins.Errorf(reins.EBUSY, "job %s is held by another run until %s", id, job.LeaseExpiresAt.Format(time.RFC3339Nano))
		}
		lease, expires := uuid.New(), now.Add(ttl)
		job.Lease, job.LeaseExpiresAt, job.LeaseOwner = &lease, &expires, &owner
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET lease_token = $2, lease_expires_at = $3, lease_owner = $4
			WHERE id = $1`, id, lease, expires, owner); err != nil {
			return fmt.Errorf("claim job: %w", err)
		}
		if job.Status != reins.StatusCreated {
			return nil
		}
		job.Status, job.StartedAt, job.UpdatedAt = reins.StatusStarted, &now, now
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, started_at = $3, updated_at = $3
			WHERE id = $1`, id, job.Status, now); err != nil {
			return fmt.Errorf("start job: %w", err)
		}
		return insertEvent(ctx, tx, id, reins.StatusCreated, reins.StatusStarted, "worker", "", now)
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// claimStatuses are the statuses in which a run of each kind may claim a job: a processing
// run claims a CREATED job (and starts it), but not a PAUSING one, which it acknowledges.
func claimStatuses(kind reins.RunKind) []reins.Status {
	if kind == reins.RunRollback {
		return runStatuses(kind)
	}
	return []reins.Status{reins.StatusCreated, reins.StatusStarted, reins.StatusResumed}
}

// RenewLease implements reins.JobStore.
func (s *Store) RenewLease(ctx context.Context, id, lease uuid.UUID, ttl time.Duration) (bool, error) {
	n, err := s.conn.Exec(ctx, `UPDATE reins_jobs SET lease_expires_at = $3 WHERE id = $1 AND lease_token = $2`,
		id, lease, s.Now().Add(ttl))
	return n == 1, s.wrap(err)
}

// ReleaseLease implements reins.JobStore.
func (s *Store) ReleaseLease(ctx context.Context, id, lease uuid.UUID) error {
	_, err := s.conn.Exec(ctx, `UPDATE reins_jobs SET lease_token = NULL, lease_expires_at = NULL
		WHERE id = $1 AND lease_token = $2`, id, lease)
	return s.wrap(err)
}

// RescueExpired implements reins.JobStore.
func (s *Store) RescueExpired(ctx context.Context, now time.Time, limit int) ([]uuid.UUID, error) {
	rescued, err := s.failStaleUploads(ctx, now, limit)
	if err != nil {
		return rescued, err
	}
	rows, err := s.conn.Query(ctx, `SELECT id FROM reins_jobs WHERE lease_token IS NOT NULL
		AND lease_expires_at < $1 ORDER BY lease_expires_at LIMIT $2`, now, limit)
	if err != nil {
		return rescued, s.wrap(err)
	}
	expired, err := collectIDs(rows)
	if err != nil {
		return rescued, err
	}
	for _, id := range expired {
		err := s.inTx(ctx, func(tx Tx) error {
			job, err := s.findJob(ctx, tx, id, s.conn.ForUpdate())
			if err != nil {
				return err
			}
			// Another process may have rescued it, or the run renewed it, meanwhile.
			if job.Lease == nil || job.LeaseExpiresAt == nil || !job.LeaseExpiresAt.Before(now) {
				return nil
			}
			if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET lease_token = NULL, lease_expires_at = NULL
				WHERE id = $1`, id); err != nil {
				return err
			}
			kind := reins.RunProcess
			if job.Status == reins.StatusRevoking || job.Status == reins.StatusFailed {
				kind = reins.RunRollback
			}
			rescued = append(rescued, id)
			return tx.InsertRun(ctx, reins.RunArgs{JobID: id, Epoch: job.Epoch, Run: kind})
		})
		if err != nil {
			return rescued, err
		}
	}
	return rescued, nil
}

// collectIDs reads a one-column result of ids and closes it (SQLite has one connection: the
// rows must be closed before the next statement).
func collectIDs(rows Rows) ([]uuid.UUID, error) {
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
