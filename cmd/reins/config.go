package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
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
	// Server is the base URL the terminal client talks to; Token its bearer token.
	Server string
	Token  string
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
		Server:      env("REINS_SERVER", "http://127.0.0.1:8000"),
		Token:       env("REINS_TOKEN", ""),
	}
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
	}
	return nil
}

// flagSet returns a flag set for a subcommand bound to c.
func (c *Config) flagSet(name string, stderr io.Writer, withServer bool) *flag.FlagSet {
	fs := flag.NewFlagSet("reins "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the embedded database and job files (REINS_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "Postgres URL; empty runs on embedded SQLite in --data-dir (REINS_DATABASE_URL)")
	if withServer {
		fs.StringVar(&c.Addr, "addr", c.Addr, "HOST:PORT to serve HTTP on (REINS_ADDR)")
		fs.IntVar(&c.Workers, "workers", c.Workers, "runs worked at once; 0 serves the API only (REINS_WORKERS)")
		fs.DurationVar(&c.Grace, "grace", c.Grace, "how long a graceful shutdown may take (REINS_GRACE)")
		fs.DurationVar(&c.CommandWait, "command-wait", c.CommandWait, "how long PAUSE/REVOKE wait for the run to stop (REINS_COMMAND_WAIT)")
		fs.DurationVar(&c.RunBudget, "run-budget", c.RunBudget, "how long one run works before handing over (REINS_RUN_BUDGET)")
		fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "most rows one batch commits (REINS_BATCH_SIZE)")
		fs.StringVar(&c.Name, "name", c.Name, "this process's name in the jobs it runs; default host:pid (REINS_NAME)")
	}
	return fs
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
