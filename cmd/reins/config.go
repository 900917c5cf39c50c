package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	reinshttp "github.com/reins-dev/reins/http"
)

// Config is the configuration shared by every subcommand, from flags with REINS_*
// environment equivalents.
type Config struct {
	Addr        string
	DataDir     string
	DatabaseURL string
	Workers     int
	// Grace bounds a graceful shutdown.
	Grace time.Duration
	// CommandWait bounds how long a command waits for a run to acknowledge it.
	CommandWait time.Duration
	// RunBudget is how long a run works before it hands the job to a new run.
	RunBudget time.Duration
	// BatchSize is the most rows one batch commits.
	BatchSize int
	// Name identifies this process in the jobs it runs (default host:pid).
	Name string
	// SpoolRetention is how long an ended upload job's file is kept for a restart.
	SpoolRetention time.Duration
	// ExportConfirmOver holds an export estimated above this many rows for CONFIRM, unless
	// the export sets its own confirm_over (0: off).
	ExportConfirmOver int64

	// APITokens are "tenant:token" entries separated by commas (REINS_API_TOKENS only: a
	// flag would show the tokens in the process list).
	APITokens string
	// APITokensFile holds one "tenant:token" a line.
	APITokensFile string
	// MetricsToken, when set, is the bearer token /metrics asks for.
	MetricsToken string
	// The limits on what one client may cost (docs/security.md).
	MaxUploadBytes    int64
	MaxActiveJobs     int
	MaxJobsPerMinute  int
	ReadHeaderTimeout time.Duration
	BodyTimeout       time.Duration
	ResultRetention   time.Duration
	// LogFormat is how log lines are written: "text" (key=value) or "json" (one object a line).
	LogFormat string
	// Server is the base URL the terminal client talks to; Token its bearer token.
	Server       string
	Token        string
	JobRetention time.Duration
	// PprofAddr, when set, is a HOST:PORT on which net/http/pprof is served, on a listener
	// of its own (docs/operations.md "Profiling").
	PprofAddr string
}

// DefaultConfig returns the defaults, overridden by REINS_* environment variables. A
// variable that does not parse is an error naming it, never silently ignored.
func DefaultConfig() (Config, error) {
	var errs []error
	c := Config{
		Addr:        env("REINS_ADDR", "0.0.0.0:8000"),
		DataDir:     env("REINS_DATA_DIR", "./data"),
		DatabaseURL: env("REINS_DATABASE_URL", ""),
		Workers:     envInt("REINS_WORKERS", 4, &errs),
		Grace:       envDuration("REINS_GRACE", 25*time.Second, &errs),
		CommandWait: envDuration("REINS_COMMAND_WAIT", 5*time.Second, &errs),
		RunBudget:   envDuration("REINS_RUN_BUDGET", 30*time.Second, &errs),
		BatchSize:   envInt("REINS_BATCH_SIZE", 20000, &errs),
		Name:        env("REINS_NAME", ""),

		APITokens:         env("REINS_API_TOKENS", ""),
		APITokensFile:     env("REINS_API_TOKENS_FILE", ""),
		MetricsToken:      env("REINS_METRICS_TOKEN", ""),
		MaxUploadBytes:    envInt64("REINS_MAX_UPLOAD_BYTES", 1<<30, &errs),
		MaxActiveJobs:     envInt("REINS_MAX_ACTIVE_JOBS", 100, &errs),
		MaxJobsPerMinute:  envInt("REINS_MAX_JOBS_PER_MINUTE", 600, &errs),
		ReadHeaderTimeout: envDuration("REINS_READ_HEADER_TIMEOUT", 10*time.Second, &errs),
		BodyTimeout:       envDuration("REINS_BODY_TIMEOUT", 30*time.Second, &errs),
		ResultRetention:   envDuration("REINS_RESULT_RETENTION", 7*24*time.Hour, &errs),
		LogFormat:         env("REINS_LOG_FORMAT", "text"),
		Server:            env("REINS_SERVER", "http://127.0.0.1:8000"),
		Token:             env("REINS_TOKEN", ""),
		JobRetention:      envDuration("REINS_JOB_RETENTION", 90*24*time.Hour, &errs),
	}
	c.PprofAddr = env("REINS_PPROF_ADDR", "")
	c.SpoolRetention = envDuration("REINS_SPOOL_RETENTION", 24*time.Hour, &errs)
	c.ExportConfirmOver = envInt64("REINS_EXPORT_CONFIRM_OVER", 0, &errs)
	return c, errors.Join(errs...)
}

// SQLitePath is where the embedded database lives inside the data dir.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "reins.db") }

// BlobDir is where job files live inside the data dir.
func (c Config) BlobDir() string { return filepath.Join(c.DataDir, "files") }

func (c Config) validate() error {
	switch {
	case c.Workers < 0:
		return fmt.Errorf("--workers must be 0 or more, got %d", c.Workers)
	case c.DataDir == "":
		return fmt.Errorf("--data-dir must not be empty")
	case c.BatchSize < 1:
		return fmt.Errorf("--batch-size must be at least 1, got %d", c.BatchSize)
	case c.Grace <= 0:
		return fmt.Errorf("--grace must be positive, got %s", c.Grace)
	case c.SpoolRetention <= 0:
		return fmt.Errorf("--spool-retention must be positive, got %s", c.SpoolRetention)
	case c.ExportConfirmOver < 0:
		return fmt.Errorf("--export-confirm-over must be 0 (off) or a number of rows, got %d", c.ExportConfirmOver)
	case c.MaxUploadBytes < 0 || c.MaxActiveJobs < 0 || c.MaxJobsPerMinute < 0:
		return fmt.Errorf("--max-upload-bytes, --max-active-jobs and --max-jobs-per-minute must be 0 (no limit) or more")
	case c.ReadHeaderTimeout < 0 || c.BodyTimeout < 0 || c.ResultRetention < 0 || c.JobRetention < 0:
		return fmt.Errorf("--read-header-timeout, --body-timeout, --result-retention and --job-retention must be 0 (none) or more")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("--log-format must be text or json, got %q", c.LogFormat)
	}
	return nil
}

// flagSet returns a flag set for a subcommand bound to c.
func (c *Config) flagSet(name string, stderr io.Writer, withServer bool) *flag.FlagSet {
	fs := flag.NewFlagSet("reins "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the embedded database and job files (REINS_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "Postgres URL; empty runs on embedded SQLite in --data-dir (REINS_DATABASE_URL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log lines as text or json (REINS_LOG_FORMAT)")
	if withServer {
		fs.StringVar(&c.Addr, "addr", c.Addr, "HOST:PORT to serve HTTP on (REINS_ADDR)")
		fs.IntVar(&c.Workers, "workers", c.Workers, "runs worked at once; 0 serves the API only (REINS_WORKERS)")
		fs.DurationVar(&c.Grace, "grace", c.Grace, "how long a graceful shutdown may take (REINS_GRACE)")
		fs.DurationVar(&c.CommandWait, "command-wait", c.CommandWait, "how long PAUSE/REVOKE wait for the run to stop (REINS_COMMAND_WAIT)")
		fs.DurationVar(&c.RunBudget, "run-budget", c.RunBudget, "how long one run works before handing over (REINS_RUN_BUDGET)")
		fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "most rows one batch commits (REINS_BATCH_SIZE)")
		fs.StringVar(&c.Name, "name", c.Name, "this process's name in the jobs it runs; default host:pid (REINS_NAME)")
		fs.DurationVar(&c.SpoolRetention, "spool-retention", c.SpoolRetention, "how long an ended upload job's file is kept for a restart (REINS_SPOOL_RETENTION)")
		fs.Int64Var(&c.ExportConfirmOver, "export-confirm-over", c.ExportConfirmOver, "hold an export estimated above this many rows for CONFIRM unless it sets confirm_over; 0 is off (REINS_EXPORT_CONFIRM_OVER)")
		fs.StringVar(&c.APITokensFile, "api-tokens-file", c.APITokensFile, "file of API tokens, one tenant:token a line; also REINS_API_TOKENS=tenant:token,...; none runs open (REINS_API_TOKENS_FILE)")
		fs.StringVar(&c.MetricsToken, "metrics-token", c.MetricsToken, "bearer token /metrics asks for; empty leaves it open (REINS_METRICS_TOKEN)")
		fs.Int64Var(&c.MaxUploadBytes, "max-upload-bytes", c.MaxUploadBytes, "largest upload file in bytes, 0 for no limit (REINS_MAX_UPLOAD_BYTES)")
		fs.IntVar(&c.MaxActiveJobs, "max-active-jobs", c.MaxActiveJobs, "most unfinished jobs per tenant, 0 for no limit (REINS_MAX_ACTIVE_JOBS)")
		fs.IntVar(&c.MaxJobsPerMinute, "max-jobs-per-minute", c.MaxJobsPerMinute, "most job creations per tenant per minute in each process, 0 for no limit (REINS_MAX_JOBS_PER_MINUTE)")
		fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "how long a client may take to send a request's headers (REINS_READ_HEADER_TIMEOUT)")
		fs.DurationVar(&c.BodyTimeout, "body-timeout", c.BodyTimeout, "how long a client may take to send a command's or a new job's body; uploads bound their idle time instead (REINS_BODY_TIMEOUT)")
		fs.DurationVar(&c.ResultRetention, "result-retention", c.ResultRetention, "how long a finished job's result file is kept; then /result answers 410; 0 keeps it (REINS_RESULT_RETENTION)")
		fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "HOST:PORT to serve Go's profiler (net/http/pprof) on, apart from the API; empty is off; keep it private (REINS_PPROF_ADDR)")
		fs.DurationVar(&c.JobRetention, "job-retention", c.JobRetention, "how long a finished job (its row, history and files) is kept; 0 keeps it (REINS_JOB_RETENTION)")
	}
	return fs
}

// NewLogger returns the logger the configuration asks for, writing to w.
func (c Config) NewLogger(w io.Writer) *slog.Logger {
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// clientFlagSet returns a flag set for a terminal-client command bound to c's server and
// token, and to json when it is not nil.
func (c *Config) clientFlagSet(name string, stderr io.Writer, json *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("reins "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Server, "server", c.Server, "base URL of the Reins server (REINS_SERVER)")
	fs.StringVar(&c.Token, "token", c.Token, "API token, sent as Authorization: Bearer (REINS_TOKEN)")
	if json != nil {
		fs.BoolVar(json, "json", false, "print JSON for scripts instead of tables and bars")
	}
	return fs
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envInt(name string, def int, errs *[]error) int {
	if v, ok := os.LookupEnv(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s must be a whole number, got %q", name, v))
		}
		return n
	}
	return def
}

func envInt64(name string, def int64, errs *[]error) int64 {
	if v, ok := os.LookupEnv(name); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s must be a whole number, got %q", name, v))
		}
		return n
	}
	return def
}

// tokens reads the API tokens from REINS_API_TOKENS and --api-tokens-file; nil when there
// are none. An error never shows a token.
func (c Config) tokens() (*reinshttp.Tokens, error) {
	var list, file *reinshttp.Tokens
	var err error
	if strings.TrimSpace(c.APITokens) != "" {
		if list, err = reinshttp.ParseTokenList(c.APITokens, "REINS_API_TOKENS"); err != nil {
			return nil, err
		}
	}
	if c.APITokensFile != "" {
		text, err := os.ReadFile(c.APITokensFile)
		if err != nil {
			return nil, fmt.Errorf("--api-tokens-file: %w", err)
		}
		if file, err = reinshttp.ParseTokenFile(string(text), c.APITokensFile); err != nil {
			return nil, err
		}
	}
	return list.Merge(file)
}

func envDuration(name string, def time.Duration, errs *[]error) time.Duration {
	if v, ok := os.LookupEnv(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s must be a duration such as 25s, got %q", name, v))
		}
		return d
	}
	return def
}
