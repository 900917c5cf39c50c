// Command reins-bench measures Reins against the fastest thing a user could run instead,
// on the same machine and in the same run: every figure of issue 11's table (export and
// import against Postgres' COPY, a 20% range export, PAUSE at random moments of five kinds,
// the cost of pause/resume cycles, job-status under load, cost per row and peak memory at
// several sizes, the embedded store against the sqlite3 shell, recovery from a killed
// worker), each beside its baseline with the target and whether it was met. docs/benchmarks.md
// describes each figure and flag.
//
// It creates a schema of its own in --database-url, builds ./cmd/reins, starts `reins serve`
// on it as a child process, seeds --rows demo customers, runs every figure, prints a table,
// and drops the schema again, also on failure or interrupt. Run it from the repository:
//
//	go run ./cmd/reins-bench --database-url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' --rows 1000000
//
// It exits 1 when a figure could not be measured, 3 when a correctness check failed (a
// result without exactly the baseline's rows, a PAUSE not answered PAUSED, something that
// moved after the answer), and 0 otherwise: a missed performance target is marked in the
// table, not an error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	databaseURL   string
	rows          int64
	bigRows       int64   // rows seeded for the range-export figure; 0 skips it
	scales        []int64 // sizes of the cost-per-row and memory figures; empty skips them
	sqliteRows    int64   // rows of the SQLite figures; 0 skips them
	statusRate    int     // job-status requests a second in the load figure
	statusFor     time.Duration
	batchSize     int
	workers       int
	repeat        int
	cycles        int
	cpuProfileDir string
	skipImport    bool
	skipPause     bool
	skipCost      bool
	skipStatus    bool
	skipSmall     bool
	skipRecovery  bool
	jobTimeout    time.Duration
	timeout       time.Duration
	keep          bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("reins-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.databaseURL, "database-url", os.Getenv("TEST_DATABASE_URL"), "Postgres URL to benchmark on; a fresh schema is created in its database and dropped at the end (default $TEST_DATABASE_URL)")
	fs.Int64Var(&o.rows, "rows", 1_000_000, "customers to seed, export and import")
	fs.IntVar(&o.batchSize, "batch-size", 0, "passed to reins serve --batch-size; 0 keeps its default")
	fs.IntVar(&o.workers, "workers", 0, "passed to reins serve --workers; 0 keeps its default")
	fs.IntVar(&o.repeat, "repeat", 5, "timed runs of each export/import figure (the median is reported)")
	fs.IntVar(&o.cycles, "cycles", 20, "PAUSE/RESUME cycles in the pause figures")
	fs.Int64Var(&o.bigRows, "big-rows", 5_000_000, "rows seeded for the export of a 20% date range; 0 skips that figure")
	scales := fs.String("scales", "100000,1000000,10000000", "comma-separated sizes for the cost-per-row and peak-RSS figures (export and import at each); empty or 0 skips them")
	fs.Int64Var(&o.sqliteRows, "sqlite-rows", 1_000_000, "rows of the embedded-store figures against the sqlite3 shell; 0 skips them")
	fs.IntVar(&o.statusRate, "status-rate", 2000, "job-status requests a second in the load figure (open loop)")
	fs.DurationVar(&o.statusFor, "status-for", 10*time.Second, "how long the job-status load runs")
	fs.StringVar(&o.cpuProfileDir, "cpuprofile", "", "directory for CPU profiles of reins serve during the export, range, import, pause/resume cost, job-status load, scale and SQLite figures (needs reins serve --pprof-addr)")
	fs.BoolVar(&o.skipImport, "skip-import", false, "skip the import figure")
	fs.BoolVar(&o.skipPause, "skip-pause", false, "skip the PAUSE latency figures")
	fs.BoolVar(&o.skipCost, "skip-cost", false, "skip the pause/resume cost figure")
	fs.BoolVar(&o.skipStatus, "skip-status", false, "skip the job-status load figure")
	fs.BoolVar(&o.skipSmall, "skip-small", false, "skip the small exports figure (what a job costs besides its rows)")
	skipRange := fs.Bool("skip-range", false, "skip the 20% range export (as --big-rows 0)")
	skipScales := fs.Bool("skip-scales", false, "skip the cost-per-row and peak-RSS scale figures (as --scales 0)")
	skipSQLite := fs.Bool("skip-sqlite", false, "skip the SQLite figures (as --sqlite-rows 0)")
	fs.BoolVar(&o.skipRecovery, "skip-recovery", false, "skip the recovery figure (a second server, SIGKILLed workers)")
	fs.DurationVar(&o.jobTimeout, "job-timeout", 10*time.Minute, "the longest any one job or wait may take")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Hour, "the longest the whole benchmark may take")
	fs.BoolVar(&o.keep, "keep", false, "keep the schema and the temporary directory (for debugging)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./cmd/reins-bench --database-url URL [--rows N] [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.scales, err = parseSizes(*scales); err != nil {
		return o, fmt.Errorf("--scales: %w", err)
	}
	if *skipRange {
		o.bigRows = 0
	}
	if *skipScales {
		o.scales = nil
	}
	if *skipSQLite {
		o.sqliteRows = 0
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.databaseURL == "":
		return o, errors.New("--database-url is required (a Postgres URL)")
	case o.rows < 1000:
		return o, fmt.Errorf("--rows must be at least 1000, got %d", o.rows)
	case o.batchSize < 0 || o.workers < 0:
		return o, errors.New("--batch-size and --workers must not be negative")
	case o.repeat < 1:
		return o, fmt.Errorf("--repeat must be at least 1, got %d", o.repeat)
	case o.cycles < 1:
		return o, fmt.Errorf("--cycles must be at least 1, got %d", o.cycles)
	case o.bigRows != 0 && o.bigRows < 1000, o.sqliteRows != 0 && o.sqliteRows < 1000:
		return o, errors.New("--big-rows and --sqlite-rows must be 0 (skip) or at least 1000")
	case o.statusRate < 1 || o.statusFor <= 0:
		return o, errors.New("--status-rate and --status-for must be positive")
	case o.jobTimeout <= 0 || o.timeout <= 0:
		return o, errors.New("--job-timeout and --timeout must be positive")
	}
	return o, nil
}

// parseSizes reads a comma-separated list of row counts, each at least 1000, ascending and
// without repeats; "" and "0" are the empty list.
func parseSizes(s string) ([]int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return nil, nil
	}
	var out []int64
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(f), "_", ""), 10, 64)
		if err != nil || n < 1000 {
			return nil, fmt.Errorf("%q is not a row count of at least 1000", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitCorrect = 3 // a correctness check failed
)

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "reins-bench: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()

	b := newBench(opts, stderr)
	err = b.run(ctx)
	b.report.print(stdout)
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			fmt.Fprintf(stderr, "reins-bench: --timeout %s reached: %v\n", opts.timeout, err)
		case ctx.Err() != nil:
			fmt.Fprintf(stderr, "reins-bench: interrupted: %v\n", err)
		default:
			fmt.Fprintf(stderr, "reins-bench: %v\n", err)
		}
		return exitError
	}
	if b.report.incorrect {
		fmt.Fprintln(stderr, "reins-bench: a correctness check failed (see the table)")
		return exitCorrect
	}
	return exitOK
}
