package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/engine"
	reinshttp "github.com/reins-dev/reins/http"
	"github.com/reins-dev/reins/metrics"
	"github.com/reins-dev/reins/postgres"
	"github.com/reins-dev/reins/registry"
	"github.com/reins-dev/reins/sqlite"
)

const usage = `reins runs long data jobs you can pause, resume and revoke at any moment.

Usage:
  reins serve   [flags]   API and workers in one process (the default single-node mode)
  reins worker  [flags]   workers only, for scale-out; serves /healthz and /readyz on --addr
  reins migrate [flags]   apply database migrations and exit
  reins seed --customers N [flags]   insert N deterministic demo customers
  reins probe URL           GET URL and exit 0 on 200 (a health check without curl)

Run 'reins COMMAND -h' for a command's flags. With no --database-url, Reins runs on an
embedded SQLite file in --data-dir.

` + clientUsage

// Run runs the reins command line and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if isClientCommand(args) {
		return runClient(ctx, args, os.Stdin, stdout, stderr, nil)
	}
	cfg, err := DefaultConfig()
	if err != nil {
		fmt.Fprintf(stderr, "reins: %v\n", err)
		return 2
	}
	var run func() error
	var fs *flag.FlagSet
	switch args[0] {
	case "serve", "worker":
		mode := args[0]
		fs = cfg.flagSet(mode, stderr, true)
		run = func() error { return serve(ctx, cfg, mode, stderr) }
	case "migrate":
		fs = cfg.flagSet("migrate", stderr, false)
		run = func() error { return migrate(ctx, cfg, stdout) }
	case "probe":
		fs = flag.NewFlagSet("reins probe", flag.ContinueOnError)
		fs.SetOutput(stderr)
		timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
		run = func() error {
			if fs.NArg() != 1 {
				return fmt.Errorf("usage: reins probe [--timeout D] URL")
			}
			return probe(ctx, fs.Arg(0), *timeout, stdout)
		}
	case "seed":
		fs = cfg.flagSet("seed", stderr, false)
		n := fs.Int64("customers", 1000, "how many demo customers to insert")
		run = func() error { return seed(ctx, cfg, *n, stdout) }
	default:
		fmt.Fprintf(stderr, "reins: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 && args[0] != "probe" {
		fmt.Fprintf(stderr, "reins %s: unexpected arguments %q\n", args[0], fs.Args())
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "reins %s: %v\n", args[0], err)
		return 2
	}
	if err := run(); err != nil {
		fmt.Fprintf(stderr, "reins %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// backend is a database Reins runs on, as the command opens it.
type backend interface {
	engine.Backend
	Migrate(ctx context.Context) error
	Close() error
}

// openBackend opens Postgres when cfg has a URL, and the embedded SQLite file otherwise.
func openBackend(ctx context.Context, cfg Config) (backend, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL)
	}
	return sqlite.Open(cfg.SQLitePath())
}

// Main is a running Reins process: the backend, the engine and the HTTP server. End-to-end
// tests start it on port 0 and drive it over HTTP.
type Main struct {
	Config  Config
	Mode    string // "serve" or "worker"
	Backend backend
	Blob    *blob.Store
	Engine  *engine.Engine
	Logger  *slog.Logger
	// Metrics are this process's, served at /metrics (by a worker too).
	Metrics *metrics.Metrics

	listener net.Listener
	server   *http.Server
	served   chan error
	// cancelRequests cancels every request's context, failing open transfers cleanly.
	cancelRequests context.CancelFunc
}

// NewMain returns a Main for cfg in the given mode.
func NewMain(cfg Config, mode string, logger *slog.Logger) *Main {
	if logger == nil {
		logger = slog.Default()
	}
	return &Main{Config: cfg, Mode: mode, Logger: logger}
}

// Open opens and migrates the database, starts the workers and serves HTTP. It returns once
// the listener is bound, so Addr is usable.
func (m *Main) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			m.Close(context.Background())
		}
	}()
	if m.Backend, err = openBackend(ctx, m.Config); err != nil {
		return err
	}
	if err = m.Backend.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if m.Blob, err = blob.New(m.Config.BlobDir()); err != nil {
		return err
	}
	kinds := registry.New(registry.Deps{Store: m.Backend, Blob: m.Blob})
	m.Metrics = metrics.New(m.Backend, kinds.Types(), m.Logger)
	m.Engine, err = engine.New(m.Backend, kinds, engine.Config{
		Workers:     m.Config.Workers,
		BatchSize:   m.Config.BatchSize,
		RunBudget:   m.Config.RunBudget,
		CommandWait: m.Config.CommandWait,
		Name:        m.Config.Name,
		Logger:      m.Logger,
		Observer:    m.Metrics,
	})
	if err != nil {
		return err
	}
	// The workers live until Close drains them: a cancelled ctx (SIGTERM) must not cut the
	// runs off mid-batch, which River would do to a client whose start context ends.
	if err = m.Engine.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	api := reinshttp.NewServer(m.Engine, m.Blob, m.Logger)
	api.UseMetrics(m.Metrics)
	var handler http.Handler = api
	if m.Mode == "worker" {
		handler = healthOnly(handler)
	}
	if m.listener, err = net.Listen("tcp", m.Config.Addr); err != nil {
		return err
	}
	base, cancel := context.WithCancel(context.Background())
	m.cancelRequests = cancel
	// No read or write timeout: uploads and downloads are long by nature (an upload bounds
	// its own idle time and pause); idle keep-alive connections are closed after a while.
	m.server = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return base }}
	// Event streams never end on their own: they end when the shutdown begins.
	m.server.RegisterOnShutdown(api.Shutdown)
	m.served = make(chan error, 1)
	go func() { m.served <- m.server.Serve(m.listener) }()
	m.Logger.Info("reins: serving", "mode", m.Mode, "addr", m.listener.Addr().String(),
		"database", databaseName(m.Config), "workers", m.Config.Workers)
	return nil
}

// Addr is the address the HTTP server listens on.
func (m *Main) Addr() string { return m.listener.Addr().String() }

// Close shuts down gracefully within ctx: it stops serving and lets open requests finish,
// drains the workers (running jobs are handed back at the next batch boundary), and closes
// the database. Upload transfers get most of the grace period to finish; then they are
// failed cleanly (the job FAILED with a clear error) rather than cut off.
func (m *Main) Close(ctx context.Context) error {
	if deadline, ok := ctx.Deadline(); ok && m.cancelRequests != nil {
		t := time.AfterFunc(time.Until(deadline)*4/5, m.cancelRequests)
		defer t.Stop()
	}
	var wg sync.WaitGroup
	var serverErr, engineErr error
	if m.server != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serverErr = m.server.Shutdown(ctx)
			m.cancelRequests()
		}()
	}
	if m.Engine != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			engineErr = m.Engine.Stop(ctx)
		}()
	}
	wg.Wait()
	errs := []error{serverErr, engineErr}
	if m.Backend != nil {
		errs = append(errs, m.Backend.Close())
	}
	return errors.Join(errs...)
}

func databaseName(cfg Config) string {
	if cfg.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite:" + cfg.SQLitePath()
}

// healthOnly serves /healthz, /readyz and /metrics and 404s the rest: a worker process has
// no API.
func healthOnly(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimSuffix(r.URL.Path, "/") {
		case "/healthz", "/readyz", "/metrics":
			api.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error_message": "this is a worker process; it serves only /healthz, /readyz and /metrics"}`+"\n")
	})
}

func serve(ctx context.Context, cfg Config, mode string, stderr io.Writer) error {
	if mode == "worker" && cfg.Workers == 0 {
		return fmt.Errorf("--workers must be at least 1 for a worker process")
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	m := NewMain(cfg, mode, logger)
	if err := m.Open(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("reins: shutting down", "grace", cfg.Grace)
	case err := <-m.served:
		logger.Error("reins: HTTP server stopped", "error", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), cfg.Grace)
	defer cancel()
	return m.Close(shutdown)
}

// openMigrated opens the backend and migrates it; the caller closes it.
func openMigrated(ctx context.Context, cfg Config) (backend, error) {
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := b.Migrate(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func migrate(ctx context.Context, cfg Config, stdout io.Writer) error {
	b, err := openMigrated(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(stdout, "migrated %s\n", databaseName(cfg))
	return nil
}
