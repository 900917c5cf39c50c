// Package sqlstore implements reins.Store once, in SQL that Postgres and SQLite both accept.
// The postgres and sqlite packages adapt their drivers to the small Conn interface here and
// supply what differs: bulk loading, enqueueing River runs inside a transaction, and locking.
package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// Querier runs SQL written with $1-style placeholders. Times are passed and scanned as
// time.Time (and *time.Time for NULLable columns); ids as uuid.UUID.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Row is one result row.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Tx is a database transaction with the operations whose SQL differs between databases.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error

	// InsertRun enqueues a River job for a run, inside this transaction.
	InsertRun(ctx context.Context, args reins.RunArgs) error

	// InsertCustomers bulk-loads rows (COPY on Postgres), tagged with jobID when not nil.
	InsertCustomers(ctx context.Context, jobID *uuid.UUID, rows []reins.Customer) error
}

// Conn is a database connection pool.
type Conn interface {
	Querier
	Begin(ctx context.Context) (Tx, error)

	// ForUpdate is the clause that locks selected rows until the transaction ends ("" where
	// transactions already serialize writers, as SQLite's BEGIN IMMEDIATE does).
	ForUpdate() string

	// IsNoRows reports whether err means a query returned no row.
	IsNoRows(err error) bool

	// IsUnavailable reports whether err means the database cannot be reached.
	IsUnavailable(err error) bool
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

// Ping implements reins.Store.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.conn.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return s.wrap(err)
	}
	return nil
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

// wrap turns a connection failure into EUNAVAILABLE, leaving other errors as they are.
func (s *Store) wrap(err error) error {
	if err == nil || reins.ErrorCode(err) != reins.EINTERNAL {
		return err
	}
	if s.conn.IsUnavailable(err) {
		return &unavailableError{err: err}
	}
	return err
}

// unavailableError is an EUNAVAILABLE reins error that keeps its cause for logs.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return fmt.Sprintf("database unavailable: %v", e.err) }
func (e *unavailableError) Unwrap() []error {
	return []error{e.err, reins.Errorf(reins.EUNAVAILABLE, "the database is unavailable; retry shortly")}
}
