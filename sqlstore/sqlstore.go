// Package sqlstore implements reins.Store once, in SQL that Postgres and SQLite both accept.
// The postgres and sqlite packages adapt their drivers to the small Conn interface here and
// supply what differs: bulk loading, enqueueing River runs inside a transaction, and locking.
package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// Querier, Row and Rows are the root package's: a kind's effects run on the same interfaces.
type (
	Querier = reins.Querier
	Row     = reins.Row
	Rows    = reins.Rows
)

// Tx is a database transaction: what a kind sees (reins.Tx) and what only the store uses.
type Tx interface {
	reins.Tx
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error

	// InsertRun enqueues a River job for a run, inside this transaction (with RunInsertOpts).
	// It reports false when it did not: a replacement of a stranded run that is enqueued
	// already.
	InsertRun(ctx context.Context, args reins.RunArgs) (bool, error)
}

// Conn is a database connection pool.
type Conn interface {
	Querier
	Begin(ctx context.Context) (Tx, error)

	// ForUpdate is the clause that locks the selected job rows (alias j) until the transaction
	// ends ("" where transactions already serialize writers, as SQLite's BEGIN IMMEDIATE does).
	ForUpdate() string

	// IsNoRows reports whether err means a query returned no row.
	IsNoRows(err error) bool

	// IsUnavailable reports whether err means the database cannot be reached.
	IsUnavailable(err error) bool

	// StrandedRuns returns up to limit River jobs of runs that River records as running
	// since before (see Store.RescueStranded).
	StrandedRuns(ctx context.Context, before time.Time, limit int) ([]StrandedRun, error)

	// DeferDurability lets tx commit without waiting for the disk, when a later commit that
	// does wait will make it durable (Postgres: synchronous_commit off for tx). It may do
	// nothing (SQLite, which syncs by the connection, not by the transaction).
	DeferDurability(ctx context.Context, tx Tx) error

	// Publish announces c on the change feed: inside tx, delivered once it commits (nothing
	// if it rolls back), or at once when tx is nil.
	Publish(ctx context.Context, tx Tx, c reins.Change) error
}

// Store implements reins.Store on a Conn.
type Store struct {
	conn Conn
	// Now returns the current time; tests may replace it.
	Now func() time.Time
}

var _ reins.Store = (*Store)(nil)

// New returns a Store on conn.
func New(conn Conn) *Store {
	return &Store{conn: conn, Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// stamp is the time to write as the locked job's updated_at: now, or just after the job's
// stamp when a lagging clock (another machine's, or one read before the row's lock was won)
// would not move it forward. Watchers keep the newest copy of a job and ask for the jobs
// changed since a time, so each change of a job is stamped later than the one before
// (docs/events.md, "Live events").
func (s *Store) stamp(job *reins.Job) time.Time { return after(s.Now(), job.UpdatedAt) }

// after returns t, or the microsecond after prev (the stored precision) when t is not later.
func after(t, prev time.Time) time.Time {
	if !t.After(prev) {
		return prev.Add(time.Microsecond)
	}
	return t
}

// SetNow replaces the store's clock, before the store is in use: tests stand in a clock
// that lags the one that stamped the last change, as another machine's may.
func (s *Store) SetNow(now func() time.Time) { s.Now = now }

// Ping implements reins.Store.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.conn.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return s.wrap(err)
	}
	return nil
}

// Exec implements reins.Querier on the database.
func (s *Store) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	n, err := s.conn.Exec(ctx, query, args...)
	return n, s.wrap(err)
}

// Query implements reins.Querier on the database.
func (s *Store) Query(ctx context.Context, query string, args ...any) (reins.Rows, error) {
	rows, err := s.conn.Query(ctx, query, args...)
	return rows, s.wrap(err)
}

// QueryRow implements reins.Querier on the database.
func (s *Store) QueryRow(ctx context.Context, query string, args ...any) reins.Row {
	return s.conn.QueryRow(ctx, query, args...)
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx Tx) error) error {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return s.wrap(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return s.wrap(err)
	}
	return s.wrap(tx.Commit(ctx))
}

// changed publishes that the job's status (status) or progress changed, inside tx.
func (s *Store) changed(ctx context.Context, tx Tx, id uuid.UUID, status bool) error {
	if err := s.conn.Publish(ctx, tx, reins.Change{JobID: id, Status: status}); err != nil {
		return fmt.Errorf("publish the job's change: %w", err)
	}
	return nil
}

// wrap turns a connection failure into EUNAVAILABLE, leaving other errors as they are.
func (s *Store) wrap(err error) error {
	if err == nil || reins.ErrorCode(err) != reins.EINTERNAL {
		return err
	}
	if s.conn.IsUnavailable(err) {
		return &unavailableError{err: err}
	}
	var state interface{ SQLState() string }
	if errors.As(err, &state) && strings.HasPrefix(state.SQLState(), "22") {
		// Class 22, data exception: a value the database cannot take (a NUL in text, a
		// date out of range). The request or the job's input is at fault, not the service,
		// and no retry can mend it.
		return &dataError{err: err}
	}
	return err
}

// dataError is an EINVALID reins error for a value the database refused; it keeps its
// cause for logs.
type dataError struct{ err error }

func (e *dataError) Error() string { return fmt.Sprintf("data exception: %v", e.err) }
func (e *dataError) Unwrap() []error {
	return []error{e.err, reins.Errorf(reins.EINVALID, "the database refused a value: %s", reins.Shorten(e.err.Error(), 200))}
}

// unavailableError is an EUNAVAILABLE reins error that keeps its cause for logs.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return fmt.Sprintf("database unavailable: %v", e.err) }
func (e *unavailableError) Unwrap() []error {
	return []error{e.err, reins.Errorf(reins.EUNAVAILABLE, "the database is unavailable; retry shortly")}
}

// insertRun enqueues a run of the job inside tx (see throttle).
func (s *Store) insertRun(ctx context.Context, tx Tx, args reins.RunArgs) error {
	args, err := s.throttle(ctx, tx, args)
	if err != nil {
		return err
	}
	_, err = tx.InsertRun(ctx, args)
	return err
}

// throttle sets args.Throttled for a processing run of a throttled job (one with a
// max_rows_per_s): it goes to the throttled queue, so its waits never hold a worker slot
// that other jobs need.
func (s *Store) throttle(ctx context.Context, tx Tx, args reins.RunArgs) (reins.RunArgs, error) {
	if args.Run == reins.RunProcess {
		var params string
		if err := tx.QueryRow(ctx, `SELECT params FROM reins_jobs WHERE id = $1`, args.JobID).Scan(&params); err != nil {
			return args, fmt.Errorf("read the job's throttle: %w", err)
		}
		var p struct {
			MaxRowsPerS json.Number `json:"max_rows_per_s"`
		}
		if json.Unmarshal([]byte(params), &p) == nil {
			if n, err := p.MaxRowsPerS.Int64(); err == nil && n > 0 {
				args.Throttled = true
			}
		}
	}
	return args, nil
}
