package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reins-dev/reins/reinstest"
)

// binDir holds the reins binary the tests build; TestMain removes it.
var binDir string

func TestMain(m *testing.M) { reinstest.MainWithTempDir(m, &binDir) }

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// reinsBinary builds the real binary from this package's directory, once per test run.
// It is built with the test binary's own -race and -tags, so the build reuses the packages
// `go test` has just compiled (a cold build of the SQLite driver alone takes minutes on two
// cores), and a data race in the real binary fails the test.
func reinsBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() { buildBin, buildErr = reinstest.BuildReins(binDir) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// childEnv is the test's environment without REINS_* settings, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REINS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// lockedBuffer is an output buffer safe to read while the process writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a child reins process.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	exited         chan struct{}
	err            error // valid once exited is closed
}

// startReins starts the binary with args; the process is killed when the test ends if it
// is still running.
func startReins(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startBinary(t, reinsBinary(t), env, args...)
}

// startBinary is startReins for a given reins binary (an earlier release's, say).
func startBinary(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(bin) + " " + strings.Join(args, " "), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", p.name, p.stderr.String())
		}
	})
	return p
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %s; stderr:\n%s", p.name, d, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// runReins runs the binary to completion (at most waitLimit) and returns its exit code.
func runReins(t *testing.T, env []string, args ...string) (*proc, int) {
	t.Helper()
	p := startReins(t, env, args...)
	return p, p.wait(t, waitLimit)
}

// mustRun runs the binary and fails the test unless it exits 0.
func mustRun(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return mustRunBinary(t, reinsBinary(t), env, args...)
}

// mustRunBinary is mustRun for a given reins binary.
func mustRunBinary(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := startBinary(t, bin, env, args...)
	if code := p.wait(t, waitLimit); code != 0 {
		t.Fatalf("%s exited %d; stderr:\n%s", p.name, code, p.stderr.String())
	}
	return p
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitHealthy polls addr's /healthz until it answers 200, failing the test if the process
// exits first or waitLimit passes.
func waitHealthy(t *testing.T, p *proc, addr string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	hc := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-p.exited:
			t.Fatalf("%s exited (%v) before it was healthy; stderr:\n%s", p.name, p.err, p.stderr.String())
		default:
		}
		res, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /healthz not 200 within %s (last: %v); stderr:\n%s", p.name, waitLimit, err, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

// noPanic fails the test if a process's output shows a panic.
func noPanic(t *testing.T, p *proc) {
	t.Helper()
	for _, out := range []string{p.stdout.String(), p.stderr.String()} {
		if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
			t.Errorf("%s panicked:\n%s", p.name, out)
		}
	}
}

// TestBinarySQLite runs the real binary on the embedded default: seed, serve, export,
// download; then SIGTERM while an export runs (a graceful exit 0), and a restarted serve
// finishes that export exactly.
func TestBinarySQLite(t *testing.T) {
	t.Parallel()
	const n = 5000
	const gte, lte = "2016-01-01", "2020-06-30"
	dir, addr := t.TempDir(), freeAddr(t)
	env := childEnv()
	mustRun(t, env, "seed", "--data-dir", dir, "--customers", fmt.Sprint(n))
	serve := func(addr string) *proc {
		p := startReins(t, env, "serve", "--data-dir", dir, "--addr", addr, "--workers", "2", "--grace", "10s", "--batch-size", "500")
		waitHealthy(t, p, addr)
		return p
	}
	stop := func(p *proc) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// The grace period is 10s; allow a little more for the process to exit.
		if code := p.wait(t, 15*time.Second); code != 0 {
			t.Fatalf("%s exited %d after SIGTERM, want 0; stderr:\n%s", p.name, code, p.stderr.String())
		}
		noPanic(t, p)
	}

	srv := serve(addr)
	c := newClient(t, addr)
	id := c.export(gte, lte, 0)
	c.waitStatus(id, "COMPLETED")
	want, rows := expectedCSV(t, n, gte, lte)
	got := c.download(id)
	if gotRows := strings.Count(got, "\n") - 1; gotRows != rows {
		t.Errorf("download has %d rows, want %d", gotRows, rows)
	}
	if got != want {
		t.Errorf("download differs from the expected CSV: %s", diffCSV(got, want))
	}

	// SIGTERM in the middle of a throttled export (about five seconds of work).
	running := c.export("2015-01-01", "2024-12-31", 1000)
	if s := c.waitFor(running, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 }); s.Progress.Done >= n {
		t.Fatalf("the export finished before SIGTERM")
	}
	stop(srv)

	// A new process on the same data dir continues it to the exact file.
	addr = freeAddr(t)
	srv = serve(addr)
	c = newClient(t, addr)
	if s := c.waitStatus(running, "COMPLETED"); s.Progress.Done != n {
		t.Fatalf("export resumed after restart completed with done=%d, want %d", s.Progress.Done, n)
	}
	want, _ = expectedCSV(t, n, "2015-01-01", "2024-12-31")
	if got := c.download(running); got != want {
		t.Fatalf("export interrupted by SIGTERM differs from the expected CSV: %s", diffCSV(got, want))
	}
	stop(srv)
}

// TestBinaryCluster runs two processes on one Postgres schema and one data dir: an API-only
// `serve --workers 0` and a `worker`. A PAUSE through the API process stops the run in the
// worker process (LISTEN/NOTIFY) and answers PAUSED truthfully.
func TestBinaryCluster(t *testing.T) {
	t.Parallel()
	const n = 20_000
	const gte, lte = "2015-01-01", "2024-12-31"
	dbURL := reinstest.PostgresURL(t) // skips when TEST_DATABASE_URL is unset (fails in CI)
	dir := t.TempDir()
	env := childEnv()
	store := []string{"--data-dir", dir, "--database-url", dbURL}
	mustRun(t, env, append([]string{"seed", "--customers", fmt.Sprint(n)}, store...)...)

	apiAddr, workerAddr := freeAddr(t), freeAddr(t)
	api := startReins(t, env, append([]string{"serve", "--workers", "0", "--addr", apiAddr, "--command-wait", "30s"}, store...)...)
	worker := startReins(t, env, append([]string{"worker", "--workers", "2", "--addr", workerAddr, "--batch-size", "500"}, store...)...)
	waitHealthy(t, api, apiAddr)
	waitHealthy(t, worker, workerAddr)

	// The worker process serves /healthz and nothing else.
	wc := newClient(t, workerAddr)
	for _, path := range []string{"/healthz", "/healthz/", "/readyz", "/readyz/"} {
		expectOK(t, wc.get(path))
	}
	expectError(t, wc.get("/api/v1/export/?date_gte=2021-01-01&date_lte=2021-12-31"), http.StatusNotFound)
	expectError(t, wc.get("/api/v1/new-job/"), http.StatusNotFound)

	c := newClient(t, apiAddr)
	id := c.export(gte, lte, 4000)
	running := c.waitFor(id, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 })
	if running.Progress.Done >= n {
		t.Fatalf("the export finished before it could be paused")
	}
	answer := c.command(id, "PAUSE")
	if answer.JobStatus != "PAUSED" {
		t.Fatalf("PAUSE through the API process answered %s, want PAUSED", answer.JobStatus)
	}
	// Observation window for a negative check (the counters must not move), not
	// synchronisation.
	for look := range 2 {
		time.Sleep(300 * time.Millisecond)
		if s := c.status(id); s.JobStatus != "PAUSED" || s.Progress.Done != answer.Progress.Done {
			t.Fatalf("look %d: job moved while paused: PAUSE said done=%d, now %s done=%d",
				look, answer.Progress.Done, s.JobStatus, s.Progress.Done)
		}
	}
	if s := c.command(id, "RESUME"); s.JobStatus != "RESUMED" {
		t.Fatalf("RESUME answered %s", s.JobStatus)
	}
	done := c.waitStatus(id, "COMPLETED")
	if done.Progress.Done != n {
		t.Fatalf("completed with done=%d, want %d", done.Progress.Done, n)
	}
	want, _ := expectedCSV(t, n, gte, lte)
	if got := c.download(id); got != want {
		t.Fatalf("download through the API process differs from the expected CSV: %s", diffCSV(got, want))
	}

	for _, p := range []*proc{api, worker} {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*proc{api, worker} {
		if code := p.wait(t, 40*time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0; stderr:\n%s", p.name, code, p.stderr.String())
		}
		noPanic(t, p)
	}
}

// TestBinaryMigrate runs `reins migrate` on SQLite, and twice at once on a fresh Postgres
// schema: every run exits 0, and a second migration is a no-op.
func TestBinaryMigrate(t *testing.T) {
	t.Parallel()
	env := childEnv()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for range 2 {
			p := mustRun(t, env, "migrate", "--data-dir", dir)
			if !strings.Contains(p.stdout.String(), "migrated") {
				t.Errorf("migrate printed %q", p.stdout.String())
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "reins.db")); err != nil {
			t.Errorf("no database file after migrate: %v", err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dbURL := reinstest.PostgresURL(t)
		var procs []*proc
		for range 2 {
			procs = append(procs, startReins(t, env, "migrate", "--data-dir", t.TempDir(), "--database-url", dbURL))
		}
		for _, p := range procs {
			if code := p.wait(t, waitLimit); code != 0 {
				t.Errorf("concurrent %s exited %d; stderr:\n%s", p.name, code, p.stderr.String())
			}
			noPanic(t, p)
		}
		mustRun(t, env, "migrate", "--data-dir", t.TempDir(), "--database-url", dbURL)
	})
}

// TestBinaryBadFlags checks that bad command lines exit non-zero with a message on stderr,
// and never panic or start serving.
func TestBinaryBadFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env     []string
		args    []string
		mention string
	}{
		{nil, []string{"serve", "--workers", "-1"}, "--workers"},
		{nil, []string{"serve", "--workers", "many"}, "workers"},
		{nil, []string{"worker", "--workers", "0"}, "--workers"},
		{nil, []string{"serve", "--batch-size", "0"}, "--batch-size"},
		{nil, []string{"serve", "--grace", "0s"}, "--grace"},
		{nil, []string{"serve", "--no-such-flag"}, "no-such-flag"},
		{nil, []string{"serve", "extra-argument"}, "extra-argument"},
		{nil, []string{"bogus"}, "bogus"},
		{nil, []string{"seed", "--customers", "0"}, "--customers"},
		{nil, []string{"seed", "--customers", "-3"}, "--customers"},
		{[]string{"REINS_WORKERS=abc"}, []string{"serve"}, "REINS_WORKERS"},
		{[]string{"REINS_GRACE=soon"}, []string{"serve"}, "REINS_GRACE"},
		{[]string{"REINS_BATCH_SIZE=1.5"}, []string{"migrate"}, "REINS_BATCH_SIZE"},
	}
	for _, tc := range cases {
		name := strings.Join(append(append([]string{}, tc.env...), tc.args...), " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A data dir and port of the test's own, in case a bad line started serving.
			args := append(append([]string{}, tc.args...), "--data-dir", t.TempDir())
			if tc.args[0] == "serve" || tc.args[0] == "worker" {
				args = append(args, "--addr", "127.0.0.1:0")
			}
			if tc.args[0] == "bogus" {
				args = tc.args
			}
			p, code := runReins(t, childEnv(tc.env...), args...)
			if code == 0 {
				t.Errorf("%s exited 0, want non-zero", p.name)
			}
			stderr := p.stderr.String()
			if !strings.Contains(stderr, tc.mention) {
				t.Errorf("%s: stderr does not mention %q:\n%s", p.name, tc.mention, stderr)
			}
			noPanic(t, p)
		})
	}
}
