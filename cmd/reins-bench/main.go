// Command reins-bench measures Reins against Postgres' own COPY, on the same machine and in
// the same run: the targets of docs/design.md §6 (export, import, PAUSE latency, the cost of
// pause/resume cycles, and peak memory).
//
// It creates a schema of its own in --database-url, builds ./cmd/reins, starts `reins serve`
// on it as a child process, seeds --rows demo customers, runs every figure, prints a table,
// and drops the schema again, also on failure or interrupt. Run it from the repository:
//
//	go run ./cmd/reins-bench --database-url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' --rows 1000000
//
// It exits 1 when a figure could not be measured, 3 when a correctness check failed (a
// result that is not byte-identical, a row that moved after a PAUSED answer), and 0
// otherwise: a missed performance target is marked in the table, not an error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	databaseURL  string
	rows         int64
	batchSize    int
	workers      int
	repeat       int
	cycles       int
	skipImport   bool
	skipPause    bool
	skipRecovery bool
	jobTimeout   time.Duration
	timeout      time.Duration
	keep         bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("reins-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.databaseURL, "database-url", os.Getenv("TEST_DATABASE_URL"), "Postgres URL to benchmark on; a fresh schema is created in its database and dropped at the end (default $TEST_DATABASE_URL)")
	fs.Int64Var(&o.rows, "rows", 1_000_000, "customers to seed, export and import")
	fs.IntVar(&o.batchSize, "batch-size", 0, "passed to reins serve --batch-size; 0 keeps its default")
	fs.IntVar(&o.workers, "workers", 0, "passed to reins serve --workers; 0 keeps its default")
	fs.IntVar(&o.repeat, "repeat", 3, "timed runs of each export/import figure (the median is reported)")
	fs.IntVar(&o.cycles, "cycles", 20, "PAUSE/RESUME cycles in the pause figures")
	fs.BoolVar(&o.skipImport, "skip-import", false, "skip the import figure")
	fs.BoolVar(&o.skipPause, "skip-pause", false, "skip the pause latency and pause/resume cost figures")
	fs.BoolVar(&o.skipRecovery, "skip-recovery", false, "skip the recovery figure (a second server, SIGKILLed workers)")
	fs.DurationVar(&o.jobTimeout, "job-timeout", 10*time.Minute, "the longest any one job or wait may take")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Minute, "the longest the whole benchmark may take")
	fs.BoolVar(&o.keep, "keep", false, "keep the schema and the temporary directory (for debugging)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./cmd/reins-bench --database-url URL [--rows N] [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
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
	case o.jobTimeout <= 0 || o.timeout <= 0:
		return o, errors.New("--job-timeout and --timeout must be positive")
	}
	return o, nil
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
