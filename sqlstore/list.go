package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// ListJobs implements reins.JobStore. The order (created_at DESC, id DESC) is the index
// reins_jobs_owner_created_id's, and the cursor is a row-value comparison on it, so every page
// is one index range scan however deep the listing goes.
func (s *Store) ListJobs(ctx context.Context, f *reins.JobFilter) ([]*reins.Job, error) {
	where := []string{"j.owner = $1"}
	args := []any{f.Owner}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(f.Statuses) > 0 {
		in := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			in[i] = arg(string(st))
		}
		where = append(where, "j.status IN ("+strings.Join(in, ", ")+")")
	}
	if len(f.Types) > 0 {
		in := make([]string, len(f.Types))
		for i, t := range f.Types {
			in[i] = arg(string(t))
		}
		where = append(where, "j.job_type IN ("+strings.Join(in, ", ")+")")
	}
	if f.CreatedFrom != nil {
		where = append(where, "j.created_at >= "+arg(*f.CreatedFrom))
	}
	if f.CreatedBefore != nil {
		where = append(where, "j.created_at < "+arg(*f.CreatedBefore))
	}
	if f.UpdatedFrom != nil {
		where = append(where, "j.updated_at >= "+arg(*f.UpdatedFrom))
	}
	if f.After != nil {
		where = append(where, "(j.created_at, j.id) < ("+arg(f.After.CreatedAt)+", "+arg(f.After.ID)+")")
	}
	limit := arg(f.Limit)
	rows, err := s.conn.Query(ctx, jobSelect+` WHERE `+strings.Join(where, " AND ")+`
		ORDER BY j.created_at DESC, j.id DESC LIMIT `+limit, args...)
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

// CountJobs implements reins.JobStore.
func (s *Store) CountJobs(ctx context.Context, owner string) (map[reins.Status]int64, error) {
	rows, err := s.conn.Query(ctx, `SELECT status, COUNT(*) FROM reins_jobs WHERE owner = $1 GROUP BY status`, owner)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	counts := map[reins.Status]int64{}
	for rows.Next() {
		var st reins.Status
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		counts[st] = n
	}
	return counts, s.wrap(rows.Err())
}

// FinishedBefore implements reins.JobStore.
func (s *Store) FinishedBefore(ctx context.Context, t time.Time, limit int, statuses ...reins.Status) ([]uuid.UUID, error) {
	rows, err := s.conn.Query(ctx, `SELECT id FROM reins_jobs WHERE finished_at < $1 AND status IN `+statusList(statuses)+`
		ORDER BY finished_at LIMIT $2`, t.UTC(), limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	ids, err := collectIDs(rows)
	return ids, s.wrap(err)
}

// DeleteFinishedJob implements reins.JobStore. The history goes with the row (ON DELETE
// CASCADE), and the ranges of ids its batches recorded with it (migration 014).
func (s *Store) DeleteFinishedJob(ctx context.Context, id uuid.UUID, statuses ...reins.Status) (bool, error) {
	var deleted bool
	err := s.inTx(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM reins_jobs WHERE id = $1 AND status IN `+statusList(statuses), id)
		if err != nil || n == 0 {
			return err
		}
		deleted = true
		_, err = tx.Exec(ctx, `DELETE FROM reins_job_ranges WHERE job_id = $1`, id)
		return err
	})
	return deleted, s.wrap(err)
}

// CountJobsByType implements reins.JobStore.
func (s *Store) CountJobsByType(ctx context.Context) ([]reins.JobCount, error) {
	rows, err := s.conn.Query(ctx, `SELECT job_type, status, COUNT(*) FROM reins_jobs GROUP BY job_type, status
		ORDER BY job_type, status`)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var counts []reins.JobCount
	for rows.Next() {
		var c reins.JobCount
		if err := rows.Scan(&c.Type, &c.Status, &c.N); err != nil {
			return nil, err
		}
		counts = append(counts, c)
	}
	return counts, s.wrap(rows.Err())
}
