// Package sqlite runs Reins embedded on one SQLite file (modernc.org/sqlite, pure Go): the
// store (sqlstore on database/sql), River's riversqlite driver, and job signals delivered in
// process. It is the default when no database URL is given: nothing to install.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/sqlstore"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// DB is Reins' embedded SQLite backend.
type DB struct {
	*sqlstore.Store
	*sqlstore.Hub

	db       *sql.DB
	driver   *riversqlite.Driver
	inserter *river.Client[*sql.Tx]
}

var _ reins.Store = (*DB)(nil)
var _ reins.Notifier = (*DB)(nil)

// Open opens (creating it if needed) the SQLite database file at path.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	sqlDB, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// SQLite allows one writer; River's SQLite driver wants a single connection, and every
	// read is a short keyset page so the connection is never held for long.
	sqlDB.SetMaxOpenConns(1)
	db := &DB{db: sqlDB, driver: riversqlite.New(sqlDB), Hub: sqlstore.NewHub()}
	if db.inserter, err = river.NewClient(db.driver, &river.Config{MaxAttempts: reins.RunMaxAttempts}); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("river insert client: %w", err)
	}
	db.Store = sqlstore.New(&conn{querier: querier{q: sqlDB}, db: db})
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.db.Close() }

// SQL returns the database handle, for tests and tools that query the database directly.
func (db *DB) SQL() *sql.DB { return db.db }

// Notify implements reins.Notifier: the cluster is this process.
func (db *DB) Notify(_ context.Context, jobID uuid.UUID) error {
	db.Publish(jobID)
	return nil
}

// Migrate applies River's migrations (each version in a transaction of its own, as River
// requires) and then Reins' in one immediate transaction, which SQLite serializes against any
// other process opening the same file.
func (db *DB) Migrate(ctx context.Context) error {
	migrator, err := rivermigrate.New(db.driver, nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	sub, err := fs.Sub(migrationFS, "migration")
	if err != nil {
		return err
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := sqlstore.ApplyMigrations(ctx, &querier{q: tx}, sub); err != nil {
		return err
	}
	return tx.Commit()
}

// NewQueue returns a River client on this database with the given configuration.
func (db *DB) NewQueue(config *river.Config) (reins.Queue, error) {
	return river.NewClient(db.driver, config)
}

// conn adapts *sql.DB to sqlstore.Conn.
type conn struct {
	querier
	db *DB
}

func (c *conn) Begin(ctx context.Context) (sqlstore.Tx, error) {
	tx, err := c.db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &txn{querier: querier{q: tx}, tx: tx, db: c.db}, nil
}

func (c *conn) ForUpdate() string { return "" }

// DeferDurability implements sqlstore.Conn: it does nothing, since SQLite syncs by the
// connection (PRAGMA synchronous), not by the transaction, and every commit waits as before.
func (c *conn) DeferDurability(context.Context, sqlstore.Tx) error { return nil }

// StrandedRuns implements sqlstore.Conn.
func (c *conn) StrandedRuns(ctx context.Context, before time.Time, limit int) ([]sqlstore.StrandedRun, error) {
	return sqlstore.ListStranded(ctx, c.db.inserter, before, limit)
}

// Publish implements sqlstore.Conn: a change made in a transaction reaches the watchers once
// the transaction commits.
func (c *conn) Publish(_ context.Context, tx sqlstore.Tx, ch reins.Change) error {
	if t, ok := tx.(*txn); ok {
		t.changes = append(t.changes, ch)
		return nil
	}
	c.db.PublishChange(ch)
	return nil
}

func (c *conn) IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// IsUnavailable is false: an embedded file does not go away like a server.
func (c *conn) IsUnavailable(error) bool { return false }

// txn adapts *sql.Tx to sqlstore.Tx.
type txn struct {
	querier
	tx *sql.Tx
	db *DB
	// changes are published once the transaction commits.
	changes []reins.Change
}

func (t *txn) Commit(context.Context) error {
	if err := t.tx.Commit(); err != nil {
		return err
	}
	for _, ch := range t.changes {
		t.db.PublishChange(ch)
	}
	return nil
}

func (t *txn) Rollback(context.Context) error { return t.tx.Rollback() }

func (t *txn) InsertRun(ctx context.Context, args reins.RunArgs) (bool, error) {
	return sqlstore.InsertRun(ctx, t.db.inserter, t.tx, args)
}

// Dialect implements reins.Tx.
func (t *txn) Dialect() string { return reins.DialectSQLite }

// maxParams is how many parameters one multi-row INSERT binds, well under SQLite's limit.
const maxParams = 4000

// BulkInsert implements reins.Tx with multi-row INSERTs inside the caller's transaction, the
// full chunks through one prepared statement.
func (t *txn) BulkInsert(ctx context.Context, table string, columns []string, n int, row func(i int, dst []any)) error {
	chunk := max(1, maxParams/len(columns))
	dst := make([]any, len(columns))
	args := make([]any, 0, chunk*len(columns))
	var full *sql.Stmt
	for start := 0; start < n; start += chunk {
		rows := min(chunk, n-start)
		args = args[:0]
		for i := start; i < start+rows; i++ {
			row(i, dst)
			args = append(args, dst...)
		}
		args = convertArgs(args)
		var err error
		switch {
		case rows < chunk:
			_, err = t.tx.ExecContext(ctx, insertSQL(table, columns, rows), args...)
		case full == nil:
			if full, err = t.tx.PrepareContext(ctx, insertSQL(table, columns, rows)); err != nil {
				return err
			}
			defer full.Close()
			fallthrough
		default:
			_, err = full.ExecContext(ctx, args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// insertSQL is an INSERT of rows rows into the columns of table. The names are the kinds'
// own constants, never text from a request.
func insertSQL(table string, columns []string, rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(columns)), ",") + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}
