// Package reinstest opens real databases for tests: an embedded SQLite file in a temporary
// directory, and a Postgres schema of its own in TEST_DATABASE_URL, so tests run in parallel.
package reinstest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/postgres"
	"github.com/reins-dev/reins/sqlite"
)

// Backend is an opened, migrated database for a test, closed when the test ends.
type Backend interface {
	engine.Backend
	Migrate(ctx context.Context) error
	Close() error
}

// Kind names a backend a shared suite runs on.
type Kind struct {
	Name string
	// Open returns a fresh, migrated backend of this kind for t.
	Open func(t testing.TB) Backend
	// URL returns a database URL for a fresh database of this kind ("" means SQLite in dir),
	// for end-to-end tests that start the real binary.
	URL func(t testing.TB) string
}

// Kinds returns the backends every shared suite runs on: SQLite always, and Postgres when
// TEST_DATABASE_URL is set. In CI (CI=true) a missing TEST_DATABASE_URL fails the test,
// so the Postgres half can never be skipped silently.
func Kinds(t testing.TB) []Kind {
	kinds := []Kind{{Name: "sqlite", Open: OpenSQLite, URL: func(testing.TB) string { return "" }}}
	if DatabaseURL(t) != "" {
		kinds = append(kinds, Kind{Name: "postgres", Open: OpenPostgres, URL: PostgresURL})
	}
	return kinds
}

// DatabaseURL returns TEST_DATABASE_URL, failing the test in CI when it is unset.
func DatabaseURL(t testing.TB) string {
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" && os.Getenv("CI") != "" {
		t.Fatal("TEST_DATABASE_URL must be set in CI: the Postgres half of the suite must run")
	}
	return u
}

// OpenSQLite opens a migrated SQLite database in a temporary directory.
func OpenSQLite(t testing.TB) Backend {
	t.Helper()
	db, err := sqlite.Open(t.TempDir() + "/reins.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// PostgresURL creates a schema of the test's own in TEST_DATABASE_URL's database, dropped
// when the test ends, and returns a URL whose search_path selects it.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := DatabaseURL(t)
	if base == "" {
		t.Skip("TEST_DATABASE_URL is not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	schema := "reins_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// OpenPostgres opens a migrated Postgres backend on a schema of the test's own.
func OpenPostgres(t testing.TB) Backend {
	t.Helper()
	db, err := postgres.Open(context.Background(), PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-db.Listening()
	return db
}

// Seed inserts n demo-like customers, customer i created at base plus i seconds.
func Seed(t testing.TB, store reins.CustomerStore, n int64, gen func(i int64) reins.Customer) {
	t.Helper()
	if err := store.SeedCustomers(context.Background(), n, gen); err != nil {
		t.Fatalf("seed %d customers: %v", n, err)
	}
}

// BuildFlags returns the go build flags of the running test binary (-race, -tags), so a
// binary a test builds reuses the packages go test has just compiled, and a data race in it
// fails the test too.
func BuildFlags() []string {
	var flags []string
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch {
			case s.Key == "-race" && s.Value == "true":
				flags = append(flags, "-race")
			case s.Key == "-tags" && s.Value != "":
				flags = append(flags, "-tags="+s.Value)
			}
		}
	}
	return flags
}

// BuildReins builds the reins binary (./cmd/reins) into dir with BuildFlags and returns its
// path, or the build's output with the error.
func BuildReins(dir string) (string, error) {
	bin := filepath.Join(dir, "reins")
	args := append([]string{"build", "-o", bin}, BuildFlags()...)
	if out, err := exec.Command("go", append(args, "github.com/reins-dev/reins/cmd/reins")...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/reins: %v\n%s", err, out)
	}
	return bin, nil
}

// MainWithTempDir runs a package's tests (from its TestMain) with *dir set to a temporary
// directory, removed when they end, for the binaries the tests build.
func MainWithTempDir(m *testing.M, dir *string) {
	d, err := os.MkdirTemp("", "reins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*dir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}
