package csvexport

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/reins-dev/reins"
)

// autoFactor and autoHistory define confirm_over=auto: an export estimated at more than
// autoFactor times the median of the tenant's last autoHistory completed exports waits.
const (
	autoFactor  = 10
	autoHistory = 20
)

// Prepare implements reins.Kind. In the transaction that creates the export it takes the
// snapshot (the highest customer id: rows inserted later are left out) and, when a guard
// applies, estimates the rows and holds the job in AWAITING_CONFIRMATION above the threshold.
//
// On Postgres the snapshot first takes the customers table in SHARE mode, which waits for the
// transactions writing to it and keeps new ones out until the job is created, so no row with
// a lower id can commit after the snapshot. On SQLite the creating transaction is the only
// writer.
func (k *Kind) Prepare(ctx context.Context, tx reins.Tx, job *reins.Job) error {
	params, cp, err := decode(job)
	if err != nil {
		return err
	}
	if tx.Dialect() == reins.DialectPostgres {
		if _, err := tx.Exec(ctx, `LOCK TABLE customers IN SHARE MODE`); err != nil {
			return err
		}
	}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM customers`).Scan(&cp.MaxID); err != nil {
		return err
	}
	cp.Snapshot = true
	threshold, err := k.threshold(ctx, tx, job, params)
	if err != nil {
		return err
	}
	if threshold >= 0 {
		estimate, err := Estimate(ctx, tx, tx.Dialect(), params)
		if err != nil {
			return err
		}
		cp.Estimate = &estimate
		if estimate > threshold {
			job.Status = reins.StatusAwaitingConfirmation
		}
	}
	job.Checkpoint, err = json.Marshal(cp)
	return err
}

// threshold is the job's guard: the rows above which it waits for CONFIRM, or -1 for none.
func (k *Kind) threshold(ctx context.Context, q reins.Querier, job *reins.Job, p Params) (int64, error) {
	switch p.ConfirmOver {
	case "":
		if k.ConfirmOver > 0 {
			return k.ConfirmOver, nil
		}
		return -1, nil
	case "auto":
		median, ok, err := recentMedian(ctx, q, job.Owner)
		if err != nil || !ok {
			return -1, err
		}
		return autoFactor * median, nil
	}
	n, err := strconv.ParseInt(p.ConfirmOver, 10, 64)
	return n, err
}

// recentMedian is the median row count of the tenant's last completed exports; ok is false
// when it has none to judge by.
func recentMedian(ctx context.Context, q reins.Querier, owner string) (int64, bool, error) {
	rows, err := q.Query(ctx, `SELECT total FROM reins_jobs WHERE owner = $1 AND job_type = $2 AND status = $3
		AND total IS NOT NULL ORDER BY finished_at DESC LIMIT $4`, owner, string(Type), string(reins.StatusCompleted), autoHistory)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	var totals []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return 0, false, err
		}
		totals = append(totals, n)
	}
	if err := rows.Err(); err != nil || len(totals) == 0 {
		return 0, false, err
	}
	slices.Sort(totals)
	return totals[len(totals)/2], true, nil
}

// Estimate returns about how many rows an export of p would write, cheaply: the planner's
// estimate on Postgres, and a count over the created_at index where there are no statistics
// to estimate from (SQLite keeps none; a Postgres table not yet analyzed has none).
func Estimate(ctx context.Context, q reins.Querier, dialect string, p Params) (int64, error) {
	from, to := p.Range()
	analyzed := false
	if dialect == reins.DialectPostgres {
		var tuples float64
		if err := q.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'customers'::regclass`).Scan(&tuples); err != nil {
			return 0, err
		}
		analyzed = tuples >= 0
	}
	if !analyzed {
		var n int64
		err := q.QueryRow(ctx, `SELECT COUNT(*) FROM customers WHERE created_at >= $1 AND created_at < $2`, from, to).Scan(&n)
		return n, err
	}
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	var raw string
	if err := q.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM customers WHERE created_at >= $1 AND created_at < $2`,
		from, to).Scan(&raw); err != nil {
		return 0, err
	}
	if err := json.Unmarshal([]byte(raw), &plan); err != nil || len(plan) == 0 {
		return 0, reins.Errorf(reins.EINTERNAL, "cannot read the planner's estimate: %v", err)
	}
	return int64(plan[0].Plan.Rows), nil
}
