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
		if leaseLive(job, now) && !leaseVoidFor(job, kind) {
			return reins.Errorf(reins.EBUSY, "job %s is held by a %s until %s", id, job.LeaseKind, job.LeaseExpiresAt.Format(time.RFC3339Nano))
		}
		if err := s.takeLease(ctx, tx, job, kind, epoch, now.Add(ttl), owner); err != nil {
			return err
		}
		if kind != reins.RunProcess || job.Status != reins.StatusCreated {
			return nil
		}
		return s.claimJob(ctx, tx, job, "worker", "", after(now, job.UpdatedAt))
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// leaseLive reports whether someone holds the job's lease and it has not expired.
func leaseLive(job *reins.Job, now time.Time) bool {
	return job.Lease != nil && job.LeaseExpiresAt != nil && job.LeaseExpiresAt.After(now)
}

// leaseVoidFor reports whether a run of kind may take over the job's live lease: a run's lease
// of an older epoch was fenced off by the command that moved the epoch, and a rollback takes
// over from an upload transfer (REVOKE fences every holder). A processing run waits for a
// transfer: the transfer enqueues the first run when the file is in.
func leaseVoidFor(job *reins.Job, kind reins.RunKind) bool {
	if job.LeaseKind == reins.RunTransfer {
		return kind == reins.RunRollback
	}
	return job.LeaseEpoch < job.Epoch
}

// takeLease gives the job's lease to a new holder, recording this process's liveness session
// (when the database has them) so that a live worker sees at once when the holder dies.
func (s *Store) takeLease(ctx context.Context, tx Tx, job *reins.Job, kind reins.RunKind, epoch int64, expires time.Time, owner string) error {
	lease := uuid.New()
	job.Lease, job.LeaseExpiresAt, job.LeaseOwner, job.LeaseKind, job.LeaseEpoch = &lease, &expires, &owner, kind, epoch
	var session *int64
	if l, ok := s.conn.(Liveness); ok {
		session = l.Session()
	}
	if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET lease_token = $2, lease_expires_at = $3, lease_owner = $4,
		lease_kind = $5, lease_epoch = $6, lease_session = $7 WHERE id = $1`,
		job.ID, lease, expires, owner, string(kind), epoch, session); err != nil {
		return fmt.Errorf("claim job: %w", err)
	}
	return nil
}

// claimJob moves a CREATED job to STARTED: its first run, or its upload, has begun.
func (s *Store) claimJob(ctx context.Context, tx Tx, job *reins.Job, actor, detail string, now time.Time) error {
	t := reins.RunTransitionOf(reins.RunClaimed)
	from := job.Status
	job.Status, job.StartedAt, job.UpdatedAt = t.To, &now, now
	if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET status = $2, started_at = $3, updated_at = $3
		WHERE id = $1`, job.ID, job.Status, now); err != nil {
		return fmt.Errorf("start job: %w", err)
	}
	return s.insertEvent(ctx, tx, job.ID, from, t.To, actor, detail, now)
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

// Liveness is what a Conn implements when its database can tell at once that a process died:
// each process holds a session (on Postgres, a session-level advisory lock on the connection
// that LISTENs) that ends with the process. A lease records its holder's session; a lease
// whose session is gone is taken over at once, without waiting for it to expire. Fencing is
// unchanged: taking a job over voids the lease token, so the old holder, if it still runs
// (its session only dropped), is fenced off at its next commit or heartbeat.
type Liveness interface {
	// Session is this process's session key while the session is held, else nil.
	Session() *int64
	// DeadSessions returns those of keys that no live session holds.
	DeadSessions(ctx context.Context, keys []int64) ([]int64, error)
}

// RescueExpired implements reins.JobStore. Besides leases that expired, it takes over the
// leases whose holder's session ended (see Liveness): the holder died.
func (s *Store) RescueExpired(ctx context.Context, now time.Time, limit int) ([]uuid.UUID, error) {
	rows, err := s.conn.Query(ctx, `SELECT id FROM reins_jobs WHERE lease_token IS NOT NULL
		AND lease_expires_at < $1 ORDER BY lease_expires_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	expired, err := collectIDs(rows)
	if err != nil {
		return nil, err
	}
	var rescued []uuid.UUID
	for _, id := range expired {
		ok, err := s.rescue(ctx, id, func(_ Tx, job *reins.Job) (bool, error) {
			return job.Lease != nil && job.LeaseExpiresAt != nil && job.LeaseExpiresAt.Before(now), nil
		})
		if err != nil {
			return rescued, err
		}
		if ok {
			rescued = append(rescued, id)
		}
	}
	orphans, err := s.orphaned(ctx, limit)
	if err != nil {
		return rescued, err
	}
	for id, session := range orphans {
		ok, err := s.rescue(ctx, id, func(tx Tx, job *reins.Job) (bool, error) {
			if job.Lease == nil {
				return false, nil
			}
			var holder *int64
			if err := tx.QueryRow(ctx, `SELECT lease_session FROM reins_jobs WHERE id = $1`, id).Scan(&holder); err != nil {
				return false, err
			}
			if holder == nil || *holder != session {
				return false, nil // taken meanwhile by another holder
			}
			// The session may have come back (its connection was restored) since the check.
			dead, err := s.conn.(Liveness).DeadSessions(ctx, []int64{session})
			return len(dead) == 1, err
		})
		if err != nil {
			return rescued, err
		}
		if ok {
			rescued = append(rescued, id)
		}
	}
	return rescued, nil
}

// orphaned returns up to limit jobs whose lease is held in the name of a session that no
// longer lives, with that session.
func (s *Store) orphaned(ctx context.Context, limit int) (map[uuid.UUID]int64, error) {
	l, ok := s.conn.(Liveness)
	if !ok {
		return nil, nil
	}
	rows, err := s.conn.Query(ctx, `SELECT id, lease_session FROM reins_jobs WHERE lease_token IS NOT NULL
		AND lease_session IS NOT NULL LIMIT $1`, limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	held := map[uuid.UUID]int64{}
	var keys []int64
	func() {
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			var session int64
			if err = rows.Scan(&id, &session); err != nil {
				return
			}
			if mine := l.Session(); mine != nil && *mine == session {
				continue // this process is alive
			}
			if !slices.Contains(keys, session) {
				keys = append(keys, session)
			}
			held[id] = session
		}
		err = rows.Err()
	}()
	if err != nil || len(keys) == 0 {
		return nil, s.wrap(err)
	}
	dead, err := l.DeadSessions(ctx, keys)
	if err != nil {
		return nil, s.wrap(err)
	}
	for id, session := range held {
		if !slices.Contains(dead, session) {
			delete(held, id)
		}
	}
	return held, nil
}

// RescueStranded implements reins.JobStore. A run holds its job's lease from its first
// moment to its last; River records how the run ended (done, retry at a later time, snooze)
// only after the run has let the lease go, in a batch, moments later. A process that dies in
// between leaves River's job running for nobody, and no lease for the lease rescue to find:
// only River's own rescue of stuck jobs, minutes later, would run it again. A River job
// running since before, whose Reins job no run holds, is such a run: it gets a replacement,
// unique by the stranded run's id (RunInsertOpts), when the job still wants that run (same
// epoch, a status the run may claim, or PAUSING for the run to acknowledge). River's later
// rescue of the stranded job finds the job held or done, as for any late duplicate.
func (s *Store) RescueStranded(ctx context.Context, before time.Time, limit int) ([]uuid.UUID, error) {
	runs, err := s.conn.StrandedRuns(ctx, before, limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	var rescued []uuid.UUID
	for _, run := range runs {
		var replaced bool
		err := s.inTx(ctx, func(tx Tx) error {
			job, err := s.findJob(ctx, tx, run.Args.JobID, s.conn.ForUpdate())
			if reins.ErrorCode(err) == reins.ENOTFOUND {
				return nil // deleted by retention
			} else if err != nil {
				return err
			}
			wanted := slices.Contains(claimStatuses(run.Args.Run), job.Status) || job.Status == reins.StatusPausing
			if job.Lease != nil || job.Epoch != run.Args.Epoch || !wanted {
				return nil // a run holds it, or a command or its end made this run moot
			}
			args, err := s.throttle(ctx, tx, reins.RunArgs{JobID: job.ID, Epoch: job.Epoch, Run: run.Args.Run, Replaces: run.ID})
			if err != nil {
				return err
			}
			replaced, err = tx.InsertRun(ctx, args)
			return err
		})
		if err != nil {
			return rescued, err
		}
		if replaced {
			rescued = append(rescued, run.Args.JobID)
		}
	}
	return rescued, nil
}

// rescue takes over one job whose holder is gone, re-checking under the job's lock with gone
// (another process may have rescued it, or the holder renewed it, meanwhile).
func (s *Store) rescue(ctx context.Context, id uuid.UUID, gone func(tx Tx, job *reins.Job) (bool, error)) (bool, error) {
	var rescued bool
	err := s.inTx(ctx, func(tx Tx) error {
		job, err := s.findJob(ctx, tx, id, s.conn.ForUpdate())
		if err != nil {
			return err
		}
		if ok, err := gone(tx, job); err != nil || !ok {
			return err
		}
		now := s.stamp(job)
		if _, err := tx.Exec(ctx, `UPDATE reins_jobs SET lease_token = NULL, lease_expires_at = NULL
			WHERE id = $1`, id); err != nil {
			return err
		}
		rescued = true
		if job.LeaseKind == reins.RunTransfer {
			if job.Status.Terminal() || job.Status == reins.StatusRevoking {
				return nil // its rollback, if any, is on its way
			}
			// The process receiving the file died: the client's bytes are gone.
			return s.failInTx(ctx, tx, job, "upload interrupted: the process receiving the file stopped; nothing was imported", "rescuer", now)
		}
		kind := reins.RunProcess
		if job.Status == reins.StatusRevoking || job.Status == reins.StatusFailed {
			kind = reins.RunRollback
		}
		return s.insertRun(ctx, tx, reins.RunArgs{JobID: id, Epoch: job.Epoch, Run: kind})
	})
	return rescued, err
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
