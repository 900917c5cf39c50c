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
	"net/http/pprof"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/engine"
	reinshttp "github.com/reins-dev/reins/http"
	"github.com/reins-dev/reins/metrics"
	"github.com/reins-dev/reins/postgres"
	"github.com/reins-dev/reins/registry"
	"github.com/reins-dev/reins/sqlite"
	"github.com/reins-dev/reins/upload"
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
		run = func() error { return serve(ctx, cfg, mode, slog.Default()) }
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
	// Libraries that log through slog's default (the Postgres notifier) write in the same
	// format as the rest.
	logger := cfg.NewLogger(stderr)
	slog.SetDefault(logger)
	if err := run(); err != nil {
		if cfg.LogFormat == "json" {
			logger.Error("reins "+args[0]+" failed", "error", humanError(err))
		} else {
			fmt.Fprintf(stderr, "reins %s: %s\n", args[0], humanError(err))
		}
		return 1
	}
	return 0
}

// humanError is err's text for people: a Reins error's message without its code, wherever
// it is in the chain (the wrapped error's text is replaced by its message).
func humanError(err error) string {
	text := err.Error()
	var e *reins.Error
	if errors.As(err, &e) {
		text = strings.Replace(text, e.Error(), e.Message, 1)
	}
	return text
}

// backend is a database Reins runs on, as the command opens it.
type backend interface {
	engine.Backend
	Migrate(ctx context.Context) error
	Close() error
}

// openBackend opens Postgres when cfg has a URL, and the embedded SQLite file otherwise.
// A failed open returns a nil backend, never a nil *DB in a non-nil interface, which Close
// would panic on.
func openBackend(ctx context.Context, cfg Config) (backend, error) {
	if cfg.DatabaseURL != "" {
		if scheme, _, ok := strings.Cut(cfg.DatabaseURL, "://"); ok && scheme != "postgres" && scheme != "postgresql" {
			return nil, fmt.Errorf("--database-url must be a postgres:// URL (Reins runs on Postgres, or on SQLite without a URL), got a %s URL", reins.Shorten(scheme, 20))
		}
		db, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	if info, err := os.Stat(cfg.DataDir); err == nil && !info.IsDir() {
		return nil, fmt.Errorf("--data-dir %s is a file, not a directory", cfg.DataDir)
	}
	db, err := sqlite.Open(cfg.SQLitePath())
	if err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
	}
	return db, nil
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
	// API is the HTTP API (in serve and worker mode alike).
	API *reinshttp.Server
	// Metrics are this process's, served at /metrics (by a worker too).
	Metrics *metrics.Metrics

	listener net.Listener
	server   *http.Server
	served   chan error
	// cancelRequests cancels every request's context, failing open transfers cleanly.
	cancelRequests context.CancelFunc
	// stopSweeper ends the spool sweeper; swept is closed once it has.
	stopSweeper context.CancelFunc
	swept       chan struct{}
	// stopSweep ends the result sweeper.
	stopSweep context.CancelFunc
	// pprof serves --pprof-addr, when set, on pprofAddr.
	pprof     *http.Server
	pprofAddr string
}

// sweepInterval is how often finished jobs' files are checked against --result-retention.
const sweepInterval = time.Hour

// sweepResults deletes expired result files and jobs now and every sweepInterval until
// Close.
func (m *Main) sweepResults(api *reinshttp.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	m.stopSweep = cancel
	go func() {
		t := time.NewTicker(sweepInterval)
		defer t.Stop()
		for {
			if _, err := api.SweepResults(ctx, time.Now()); err != nil && ctx.Err() == nil {
				m.Logger.Warn("reins: result sweep failed", "error", err)
			}
			if _, err := api.SweepJobs(ctx, time.Now()); err != nil && ctx.Err() == nil {
				m.Logger.Warn("reins: job sweep failed", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
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
	kinds := registry.New(registry.Deps{Store: m.Backend, Blob: m.Blob, ExportConfirmOver: m.Config.ExportConfirmOver})
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
	m.startSweeper()
	tokens, err := m.Config.tokens()
	if err != nil {
		return err
	}
	api := reinshttp.NewServer(m.Engine, m.Blob, m.Logger)
	api.Secure(reinshttp.Security{Tokens: tokens, MetricsToken: m.Config.MetricsToken, Limits: reinshttp.Limits{
		MaxUploadBytes:      m.Config.MaxUploadBytes,
		MaxActiveJobs:       m.Config.MaxActiveJobs,
		MaxCreatesPerMinute: m.Config.MaxJobsPerMinute,
		BodyTimeout:         m.Config.BodyTimeout,
		ResultRetention:     m.Config.ResultRetention,
		JobRetention:        m.Config.JobRetention,
	}})
	if m.Mode == "serve" {
		if tokens == nil {
			m.Logger.Warn("reins: no API tokens configured (REINS_API_TOKENS, --api-tokens-file): the API is open to anyone who can reach it, and every job belongs to one tenant")
		} else {
			m.Logger.Info("reins: API tokens required", "tokens", tokens.Len(), "tenants", len(tokens.Tenants()))
		}
	}
	api.UseMetrics(m.Metrics)
	m.API = api
	var handler http.Handler = api
	if m.Mode == "serve" && (m.Config.ResultRetention > 0 || m.Config.JobRetention > 0) {
		m.sweepResults(api)
	}
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
	m.server = &http.Server{Handler: handler, ReadHeaderTimeout: m.Config.ReadHeaderTimeout, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return base }}
	// Event streams never end on their own: they end when the shutdown begins.
	m.server.RegisterOnShutdown(api.Shutdown)
	m.served = make(chan error, 1)
	go func() { m.served <- m.server.Serve(m.listener) }()
	if err = m.servePprof(); err != nil {
		return err
	}
	m.Logger.Info("reins: serving", "mode", m.Mode, "addr", m.listener.Addr().String(),
		"database", databaseName(m.Config), "workers", m.Config.Workers)
	return nil
}

// startSweeper removes the spools of upload jobs ended longer ago than --spool-retention,
// checking every tenth of it (at most hourly). Every process sweeps; a removal is idempotent.
func (m *Main) startSweeper() {
	retention := m.Config.SpoolRetention
	if retention <= 0 {
		retention = upload.DefaultSpoolRetention
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stopSweeper, m.swept = cancel, make(chan struct{})
	sw := &upload.Sweeper{Store: m.Backend, Blob: m.Blob, Retention: retention,
		Interval: min(time.Hour, max(time.Second, retention/10)), Logger: m.Logger}
	go func() {
		defer close(m.swept)
		sw.Run(ctx)
	}()
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
	if m.stopSweep != nil {
		m.stopSweep()
	}
	if m.pprof != nil {
		_ = m.pprof.Close() // profiles in progress are of no use to a process that stops
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
	if m.stopSweeper != nil {
		m.stopSweeper()
		<-m.swept
	}
	errs := []error{serverErr, engineErr}
	if m.Backend != nil {
		errs = append(errs, m.Backend.Close())
	}
	return errors.Join(errs...)
}

// servePprof serves Go's profiler on --pprof-addr, on a listener of its own so that it is
// never reachable through the API's address (docs/operations.md "Profiling").
func (m *Main) servePprof() error {
	if m.Config.PprofAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", m.Config.PprofAddr)
	if err != nil {
		return fmt.Errorf("--pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.pprofAddr = ln.Addr().String()
	go func() { _ = m.pprof.Serve(ln) }()
	m.Logger.Info("reins: serving the profiler", "addr", ln.Addr().String())
	return nil
}

// PprofAddr is the address the profiler listens on, "" when --pprof-addr is off.
func (m *Main) PprofAddr() string { return m.pprofAddr }

// databaseName names the database for people: postgres://HOST/NAME (never the user or
// password), or sqlite:PATH.
func databaseName(cfg Config) string {
	if cfg.DatabaseURL != "" {
		if u, err := url.Parse(cfg.DatabaseURL); err == nil && u.Host != "" {
			return "postgres://" + u.Host + u.Path
		}
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

func serve(ctx context.Context, cfg Config, mode string, logger *slog.Logger) error {
	if mode == "worker" && cfg.Workers == 0 {
		return fmt.Errorf("--workers must be at least 1 for a worker process")
	}
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
