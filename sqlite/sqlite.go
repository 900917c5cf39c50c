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
	if db.inserter, err = river.NewClient(db.driver, &river.Config{}); err != nil {
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

func (c *conn) IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// IsUnavailable is false: an embedded file does not go away like a server.
func (c *conn) IsUnavailable(error) bool { return false }

// txn adapts *sql.Tx to sqlstore.Tx.
type txn struct {
	querier
	tx *sql.Tx
	db *DB
}

func (t *txn) Commit(context.Context) error   { return t.tx.Commit() }
func (t *txn) Rollback(context.Context) error { return t.tx.Rollback() }

func (t *txn) InsertRun(ctx context.Context, args reins.RunArgs) error {
	_, err := t.db.inserter.InsertTx(ctx, t.tx, args, nil)
	return err
}

// insertChunk is the rows per multi-row INSERT: 8 parameters each, well under SQLite's limit.
const insertChunk = 500

// InsertCustomers loads rows with multi-row INSERTs inside the caller's transaction.
func (t *txn) InsertCustomers(ctx context.Context, jobID *uuid.UUID, rows []reins.Customer) error {
	var stmt *sql.Stmt
	for start := 0; start < len(rows); start += insertChunk {
		chunk := rows[start:min(start+insertChunk, len(rows))]
		args := make([]any, 0, len(chunk)*8)
		for i := range chunk {
			c := &chunk[i]
			args = append(args, c.FirstName, c.LastName, c.Address, c.Email, c.Age, c.Company,
				formatTime(c.CreatedAt), uuidArg(jobID))
		}
		if len(chunk) == insertChunk && stmt != nil {
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
			continue
		}
		query := insertCustomersSQL(len(chunk))
		if len(chunk) == insertChunk {
			var err error
			if stmt, err = t.tx.PrepareContext(ctx, query); err != nil {
				return err
			}
			defer stmt.Close()
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
			continue
		}
		if _, err := t.tx.ExecContext(ctx, query, args...); err != nil {
			return err
		}
	}
	return nil
}

func insertCustomersSQL(n int) string {
	b := []byte(`INSERT INTO customers (first_name, last_name, address, email, age, company, created_at, job_id) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "(?,?,?,?,?,?,?,?)"...)
	}
	return string(b)
}
