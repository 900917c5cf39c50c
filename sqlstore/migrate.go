package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ApplyMigrations applies, in order, the numbered migrations ("001_name.sql") in fsys that
// are not yet recorded in reins_migrations. The caller runs it in a transaction that holds
// the database's migration lock, so processes starting together apply each one once.
func ApplyMigrations(ctx context.Context, q Querier, fsys fs.FS) error {
	if _, err := q.Exec(ctx, `CREATE TABLE IF NOT EXISTS reins_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(path.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number: %w", name, err)
		}
		var n int
		if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM reins_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			return fmt.Errorf("read migrations: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		for _, stmt := range strings.Split(string(body), ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := q.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		if _, err := q.Exec(ctx, `INSERT INTO reins_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			version, name, time.Now().UTC()); err != nil {
			return fmt.Errorf("record migration %s: %w", name, err)
		}
	}
	return nil
}
