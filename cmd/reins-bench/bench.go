package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// bench is one benchmark run: its schema, its temporary directory, the server under test
// and the figures measured so far.
type bench struct {
	opts   options
	log    io.Writer
	report *report

	schema    string
	schemaURL string // opts.databaseURL with search_path set to schema
	tmp       string
	dataDir   string
	binary    string
	srv       *server
	api       *client
	db        *pgx.Conn // the baselines' connection, on the schema

	pprof bool // the servers serve pprof (--cpuprofile, and reins serve has --pprof-addr)

	seeded int64 // the demo customers in the table now
	// noCheckpoint is set once CHECKPOINT was refused (checkpoint).
	noCheckpoint bool

	// Figures that later ones compare against.
	exportRows  rowset        // the baseline export's rows, at --rows
	plainExport time.Duration // median Reins export time
	copyExport  time.Duration // median COPY TO time
	rssByPhase  []string
	loadByPhase []string
	scales      map[int64]*scalePoint // the cost-per-row and memory figures, by size
}

func newBench(opts options, log io.Writer) *bench {
	return &bench{opts: opts, log: log, report: &report{}, scales: map[int64]*scalePoint{}}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// run sets up, measures every figure, and tears down; teardown runs whatever happened.
func (b *bench) run(ctx context.Context) (err error) {
	defer func() {
		if cerr := b.teardown(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := b.setup(ctx); err != nil {
		return err
	}
	// The figures at --rows first, on the table seeded at setup; then those that reseed it
	// at other sizes; the embedded store on a server of its own; recovery last, since it
	// kills servers.
	steps := []struct {
		name string
		skip bool
		fn   func(context.Context) error
	}{
		{"export", false, b.benchExport},
		{"small jobs", b.opts.skipSmall, b.benchSmallJobs},
		{"import", b.opts.skipImport, b.benchImport},
		{"pause latency", b.opts.skipPause, b.benchPauseLatency},
		{"pause/resume cost", b.opts.skipCost, b.benchPauseCost},
		{"job-status load", b.opts.skipStatus, b.benchStatusLoad},
		{"scales and range", len(b.opts.scales) == 0 && b.opts.bigRows == 0, b.benchScales},
		{"sqlite", b.opts.sqliteRows == 0, b.benchSQLite},
	}
	for _, s := range steps {
		if s.skip {
			b.logf("skip %s", s.name)
			continue
		}
		b.logf("== %s", s.name)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		b.notePhaseRSS(s.name)
	}
	if err := b.benchMemory(); err != nil {
		return err
	}
	if b.opts.skipRecovery {
		b.logf("skip recovery")
		return nil
	}
	b.logf("== recovery")
	return b.benchRecovery(ctx)
}

func (b *bench) setup(ctx context.Context) error {
	b.report.env = environment(b.opts)
	var err error
	if b.tmp, err = os.MkdirTemp("", "reins-bench-"); err != nil {
		return err
	}
	b.dataDir = filepath.Join(b.tmp, "data")
	b.binary = filepath.Join(b.tmp, "reins")
	b.logf("temporary directory %s", b.tmp)

	if err := b.createSchema(ctx); err != nil {
		return err
	}
	if err := b.build(ctx); err != nil {
		return err
	}
	b.checkPprof(ctx)
	if b.srv, err = startServer(ctx, b.binary, b.serveArgs(), b.tmp, b.pprof, b.logf); err != nil {
		return err
	}
	b.api = newClient(b.srv.baseURL)
	b.notePhaseRSS("start")
	if b.db, err = pgx.Connect(ctx, b.schemaURL); err != nil {
		return fmt.Errorf("connect for the baselines: %w", err)
	}
	return b.reseed(ctx, b.opts.rows)
}

// restartServer stops the server and starts a fresh one on the same database and data
// directory, so that a figure measures a process no earlier figure has grown: the Go heap a
// load leaves behind goes back to the system only after a while, and a peak RSS read
// right after it is that load's, not the figure's. The whole run's peak carries over.
func (b *bench) restartServer(ctx context.Context) error {
	peak, _ := b.srv.peakEver()
	if err := b.srv.stop(40 * time.Second); err != nil {
		return fmt.Errorf("stop the server: %w", err)
	}
	srv, err := startServer(ctx, b.binary, b.serveArgs(), b.tmp, b.pprof, b.logf)
	if srv != nil {
		srv.lifetimePeak = peak
		b.srv, b.api = srv, newClient(srv.baseURL)
	}
	return err
}

// reseed leaves exactly n demo customers in the table, and nothing else: it empties the
// table (TRUNCATE, far quicker than the seed's own delete of millions of rows) and runs
// `reins seed --customers n`, timed and reported, then VACUUM ANALYZE, so both sides get
// the same plan and neither pays for the seed's hint bits.
func (b *bench) reseed(ctx context.Context, n int64) error {
	if b.seeded == n {
		return nil
	}
	if b.seeded != 0 {
		if _, err := b.db.Exec(ctx, "TRUNCATE customers CASCADE"); err != nil {
			return fmt.Errorf("empty customers: %w", err)
		}
	}
	b.seeded = 0
	if err := b.seed(ctx, n); err != nil {
		return err
	}
	b.seeded = n
	start := time.Now()
	if _, err := b.db.Exec(ctx, "VACUUM ANALYZE customers"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	b.logf("VACUUM ANALYZE customers in %s", round(time.Since(start)))
	return nil
}

// serveArgs are the flags of every Postgres `reins serve` the harness starts. The limits
// on what one client may cost (docs/security.md) are lifted: the harness is one client
// that creates many jobs and uploads files over a gigabyte.
func (b *bench) serveArgs() []string {
	args := []string{"serve", "--database-url", b.schemaURL, "--data-dir", b.dataDir}
	return append(args, b.tuningArgs()...)
}

// tuningArgs are the flags every server under test gets, on either store.
func (b *bench) tuningArgs() []string {
	args := []string{"--max-upload-bytes", "0", "--max-active-jobs", "0", "--max-jobs-per-minute", "0"}
	if b.opts.batchSize > 0 {
		args = append(args, "--batch-size", fmt.Sprint(b.opts.batchSize))
	}
	if b.opts.workers > 0 {
		args = append(args, "--workers", fmt.Sprint(b.opts.workers))
	}
	return args
}

func (b *bench) createSchema(ctx context.Context) error {
	u, err := url.Parse(b.opts.databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("--database-url must be a postgres:// URL, got %q", b.opts.databaseURL)
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	schema := "reins_bench_" + hex.EncodeToString(raw[:])
	conn, err := connect(ctx, b.opts.databaseURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	b.schema = schema
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	b.schemaURL = u.String()
	b.logf("schema %s", schema)
	return nil
}

func connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to the database: %w", err)
	}
	return conn, nil
}

// moduleRoot is the directory of the module's go.mod, where ./cmd/reins is built.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run reins-bench inside the reins module (go run ./cmd/reins-bench)")
	}
	return filepath.Dir(gomod), nil
}

func (b *bench) build(ctx context.Context) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.binary, "./cmd/reins")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/reins: %w\n%s", err, out)
	}
	b.logf("built %s in %s", b.binary, round(time.Since(start)))
	return nil
}

// seed runs `reins seed --customers n` against the schema, and times it.
func (b *bench) seed(ctx context.Context, n int64) error {
	return b.seedWith(ctx, n, "--database-url", b.schemaURL, "--data-dir", b.dataDir)
}

// seedWith runs `reins seed --customers n` with the store flags given, and times it.
func (b *bench) seedWith(ctx context.Context, n int64, store ...string) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.jobTimeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, b.binary, append([]string{"seed", "--customers", fmt.Sprint(n)}, store...)...)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("reins seed: %w\n%s", err, out)
	}
	b.logf("%s", strings.TrimSpace(string(out)))
	where := "Postgres"
	if len(store) > 0 && store[0] != "--database-url" {
		where = "SQLite"
	}
	b.report.add(row{figure: fmt.Sprintf("seed %s rows on %s (`reins seed`, process start to exit)", count(n), where),
		reins: secs(elapsed), baseline: "–", ratio: "–", target: "–", pass: "–"})
	return nil
}

// teardown stops the server, drops the schema and removes the temporary directory, each
// step bounded, whatever state run left them in.
func (b *bench) teardown() error {
	var errs []error
	if b.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b.db.Close(ctx)
		cancel()
	}
	if b.srv != nil {
		if err := b.srv.stop(40 * time.Second); err != nil {
			errs = append(errs, err)
			b.srv.dumpLog(b.log, 40)
		}
	}
	if b.schema != "" {
		if b.opts.keep {
			b.logf("kept schema %s (--keep)", b.schema)
		} else if err := dropSchema(b.opts.databaseURL, b.schema); err != nil {
			errs = append(errs, err)
		} else {
			b.logf("dropped schema %s", b.schema)
		}
	}
	if b.tmp != "" {
		if b.opts.keep {
			b.logf("kept %s (--keep)", b.tmp)
		} else if err := os.RemoveAll(b.tmp); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func dropSchema(dsn, schema string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	return nil
}

// childEnv is this process's environment without REINS_* variables, so the flags alone
// configure the processes under test.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REINS_") {
			env = append(env, kv)
		}
	}
	return env
}
