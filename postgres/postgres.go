// Package postgres runs Reins on PostgreSQL through pgx: the store (sqlstore on a pgx pool,
// COPY for bulk loads), River's riverpgxv5 driver, and job signals over LISTEN/NOTIFY, so
// several processes on one database form one cluster.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/sqlstore"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// DB is Reins' Postgres backend.
type DB struct {
	*sqlstore.Store
	*Notifier

	pool   *pgxpool.Pool
	driver *riverpgxv5.Driver
	// inserter is an insert-only River client: it enqueues runs inside store transactions.
	inserter *river.Client[pgx.Tx]
	// copyTypes are the column types bulk inserts have looked up.
	copyTypes copyTypes
}

var _ reins.Store = (*DB)(nil)
var _ reins.Notifier = (*DB)(nil)

// Open connects to the database at url. It does not migrate; call Migrate.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, reins.Errorf(reins.EINVALID, "database url: %v", err)
	}
	// A run overlapping its batches holds two connections (docs/architecture.md,
	// "Overlapping batches"), the exports' pages read ahead up to eight together
	// (csvexport's aheadReads); the API, the heartbeats and River need theirs besides. A
	// pool_max_conns in the URL above this is kept.
	if cfg.MaxConns < 24 {
		cfg.MaxConns = 24
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		registerUUID(c.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// Reach the database before listening on it: a wrong host or port is one clear error,
	// not a LISTEN warning first.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	db := &DB{pool: pool, driver: riverpgxv5.New(pool)}
	if db.inserter, err = river.NewClient(db.driver, &river.Config{MaxAttempts: reins.RunMaxAttempts}); err != nil {
		pool.Close()
		return nil, fmt.Errorf("river insert client: %w", err)
	}
	db.Store = sqlstore.New(&conn{db: db})
	db.Notifier = newNotifier(pool)
	return db, nil
}

// Close stops listening and closes the pool.
func (db *DB) Close() error {
	db.Notifier.close()
	db.pool.Close()
	return nil
}

// Pool returns the pgx pool, for tests and tools that query the database directly.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Migrate applies River's and Reins' migrations under a session advisory lock, so processes
// that start together migrate once. River applies each of its versions in a transaction of
// its own (some cannot share one); Reins' migrations go in one transaction.
func (db *DB) Migrate(ctx context.Context) error {
	migrator, err := rivermigrate.New(db.driver, nil)
	if err != nil {
		return err
	}
	sub, err := fs.Sub(migrationFS, "migration")
	if err != nil {
		return err
	}
	lockConn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer lockConn.Release()
	if _, err := lockConn.Exec(ctx, `SELECT pg_advisory_lock(7368373)`); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer lockConn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7368373)`) //nolint:errcheck // the session ends the lock anyway
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		return sqlstore.ApplyMigrations(ctx, &querier{q: tx}, sub)
	})
}

// NewQueue returns a River client on this database with the given configuration.
func (db *DB) NewQueue(config *river.Config) (reins.Queue, error) {
	return river.NewClient(db.driver, config)
}

// conn adapts the pgx pool to sqlstore.Conn.
type conn struct {
	db *DB
}

func (c *conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return (&querier{q: c.db.pool}).Exec(ctx, q, args...)
}

func (c *conn) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return (&querier{q: c.db.pool}).Query(ctx, q, args...)
}

func (c *conn) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return c.db.pool.QueryRow(ctx, q, args...)
}

func (c *conn) Begin(ctx context.Context) (sqlstore.Tx, error) {
	tx, err := c.db.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &txn{querier: querier{q: tx}, tx: tx, db: c.db}, nil
}

func (c *conn) ForUpdate() string { return " FOR UPDATE OF j" }

// DeferDurability implements sqlstore.Conn.
func (c *conn) DeferDurability(ctx context.Context, tx sqlstore.Tx) error {
	_, err := tx.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`)
	return err
}

// ConcurrentTx implements sqlstore.ConcurrentTx: the pool opens transactions side by side.
func (c *conn) ConcurrentTx() {}

// StrandedRuns implements sqlstore.Conn.
func (c *conn) StrandedRuns(ctx context.Context, before time.Time, limit int) ([]sqlstore.StrandedRun, error) {
	return sqlstore.ListStranded(ctx, c.db.inserter, before, limit)
}

// Publish implements sqlstore.Conn with NOTIFY, which Postgres delivers when (and only if)
// the transaction commits.
func (c *conn) Publish(ctx context.Context, tx sqlstore.Tx, ch reins.Change) error {
	var q pgxQuerier = c.db.pool
	if t, ok := tx.(*txn); ok {
		q = t.tx
	}
	_, err := q.Exec(ctx, `SELECT pg_notify($1, $2)`, changeChannel, encodeChange(ch))
	return err
}

var _ sqlstore.Liveness = (*conn)(nil)

// Session implements sqlstore.Liveness.
func (c *conn) Session() *int64 { return c.db.Notifier.Session() }

// DeadSessions implements sqlstore.Liveness.
func (c *conn) DeadSessions(ctx context.Context, keys []int64) ([]int64, error) {
	return c.db.Notifier.DeadSessions(ctx, keys)
}

func (c *conn) IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func (c *conn) IsUnavailable(err error) bool { return isUnavailable(err) }

// isUnavailable reports whether err is a connection failure rather than a failed statement.
func isUnavailable(err error) bool {
	var netErr net.Error
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01..57P03: the server is shutting down or starting.
		return pgErr.Code[:2] == "08" || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	// A connection cut mid-message surfaces as a bare EOF from pgx's reader.
	return errors.As(err, &netErr) || pgconn.SafeToRetry(err) || isConnectError(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// pgxQuerier is what pgx pools, connections and transactions have in common.
type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// querier adapts a pgx querier to sqlstore.Querier.
type querier struct{ q pgxQuerier }

func (q *querier) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (q *querier) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q *querier) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	return q.q.QueryRow(ctx, sql, args...)
}

// txn adapts a pgx transaction to sqlstore.Tx.
type txn struct {
	querier
	tx pgx.Tx
	db *DB
}

func (t *txn) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t *txn) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

func (t *txn) InsertRun(ctx context.Context, args reins.RunArgs) (bool, error) {
	return sqlstore.InsertRun(ctx, t.db.inserter, t.tx, args)
}

// BulkInsert implements reins.Tx with a binary COPY, the fastest path Postgres has. The rows
// are encoded here (copy.go) as the connection sends them.
func (t *txn) BulkInsert(ctx context.Context, table string, columns []string, n int, row func(i int, dst []any)) error {
	if n == 0 {
		return nil
	}
	oids, err := t.db.copyTypes.lookup(ctx, t.tx, table, columns)
	if err != nil {
		return err
	}
	src := &copyRows{types: t.tx.Conn().TypeMap(), oids: oids, n: n, row: row, dst: make([]any, len(columns))}
	src.encode = src.encodeRow
	return t.copyFrom(ctx, table, columns, src)
}

// LoadCustomers implements reins.CustomerLoader: BulkInsert's COPY, with each customer
// encoded straight from its fields.
func (t *txn) LoadCustomers(ctx context.Context, jobID *uuid.UUID, ranged bool, rows []reins.Customer) error {
	if len(rows) == 0 {
		return nil
	}
	withID := ranged || rows[0].ID != 0
	columns, want := reins.CustomerInsertColumns, customerTypes
	switch {
	case ranged:
		columns, want = reins.CustomerInsertColumnsRanged, customerTypesRanged
	case withID:
		columns, want = reins.CustomerInsertColumnsWithID, customerTypesWithID
	}
	oids, err := t.db.copyTypes.lookup(ctx, t.tx, "customers", columns)
	if err != nil {
		return err
	}
	if !slices.Equal(oids, want) {
		// Not the table encodeCustomer knows: let BulkInsert encode each value by its type.
		return reins.BulkInsertCustomers(ctx, t, jobID, ranged, rows)
	}
	src := &copyRows{n: len(rows), encode: func(buf []byte, i int) ([]byte, error) {
		return encodeCustomer(buf, &rows[i], jobID, withID, ranged)
	}}
	return t.copyFrom(ctx, "customers", columns, src)
}

// copyFrom runs COPY FROM STDIN of src's binary tuples into the columns of table.
func (t *txn) copyFrom(ctx context.Context, table string, columns []string, src *copyRows) error {
	ident := make([]string, len(columns))
	for i, col := range columns {
		ident[i] = pgx.Identifier{col}.Sanitize()
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", pgx.Identifier{table}.Sanitize(), strings.Join(ident, ", "))
	tag, err := t.tx.Conn().PgConn().CopyFrom(ctx, src, sql)
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	if tag.RowsAffected() != int64(src.n) {
		return fmt.Errorf("copy into %s: %d rows stored, want %d", table, tag.RowsAffected(), src.n)
	}
	return nil
}

// Dialect implements reins.Tx.
func (t *txn) Dialect() string { return reins.DialectPostgres }

// listenRetry is how long the notifier waits before reconnecting its LISTEN connection.
const listenRetry = time.Second
