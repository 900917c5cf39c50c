package main

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	reinshttp "github.com/reins-dev/reins/http"
	"github.com/reins-dev/reins/reinstest"
)

// logBuffer collects JSON log lines, safe for concurrent writers.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
	part  strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.part.Write(p)
	for {
		s := b.part.String()
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, s[:i])
		b.part.Reset()
		b.part.WriteString(s[i+1:])
	}
	return len(p), nil
}

// records returns the lines logged so far, decoded.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range b.lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %q", err, line)
		}
		out = append(out, rec)
	}
	return out
}

// startLoggedMain is startMain with a JSON logger at Info whose lines the test reads.
func startLoggedMain(t *testing.T, kind reinstest.Kind) (*Main, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir, cfg.DatabaseURL = "127.0.0.1:0", t.TempDir(), kind.URL(t)
	cfg.Workers, cfg.Grace = 1, 10*time.Second
	m := NewMain(cfg, "serve", slog.New(slog.NewJSONHandler(logs, nil)))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m, logs
}

// TestAccessLog checks one access-log line per request, with the route pattern, status,
// duration, size, request id and job id, and the request id in X-Request-Id: the
// client's own when sane, a new one otherwise.
func TestAccessLog(t *testing.T) {
	m, logs := startLoggedMain(t, reinstest.Kinds(t)[0])
	c := newClient(t, m.Addr())
	r := c.get("/api/v1/new-job/")
	expectOK(t, r)
	id := r.json(t)["job_id"].(string)

	send := func(path, requestID string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, "http://"+m.Addr()+path, nil)
		if requestID != "" {
			req.Header.Set("X-Request-Id", requestID)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res := send("/api/v1/job-status/"+id+"/", "proxy-id.42:a_b")
	if got := res.Header.Get("X-Request-Id"); got != "proxy-id.42:a_b" {
		t.Errorf("X-Request-Id %q, want the client's own", got)
	}
	for _, insane := range []string{"has space", strings.Repeat("x", 129), "new\\nline", "é"} {
		res := send("/healthz", insane)
		got := res.Header.Get("X-Request-Id")
		if _, err := uuid.Parse(got); err != nil {
			t.Errorf("for the request id %q the answer's X-Request-Id is %q, want a new UUID", insane, got)
		}
	}
	if res := send("/nope", ""); res.Header.Get("X-Request-Id") == "" {
		t.Errorf("a 404 has no X-Request-Id")
	}

	var access []map[string]any
	for _, rec := range logs.records(t) {
		if rec["msg"] == "reins: request" {
			access = append(access, rec)
		}
	}
	if len(access) != 7 {
		t.Fatalf("%d access-log lines for 7 requests: %v", len(access), access)
	}
	status := access[1]
	for k, want := range map[string]any{"level": "INFO", "method": "GET", "route": "/api/v1/job-status/{job_id}",
		"status": float64(200), "request_id": "proxy-id.42:a_b", "job_id": id} {
		if status[k] != want {
			t.Errorf("access log %s = %v, want %v (%v)", k, status[k], want, status)
		}
	}
	if d, _ := status["duration"].(float64); d <= 0 {
		t.Errorf("access log duration %v, want positive", status["duration"])
	}
	if b, _ := status["bytes"].(float64); b < 10 {
		t.Errorf("access log bytes %v, want the body's size", status["bytes"])
	}
	if route := access[0]["route"]; route != "/api/v1/new-job" {
		t.Errorf("route %v for /api/v1/new-job/, want the pattern", route)
	}
	if last := access[6]; last["status"] != float64(404) || last["route"] != "/" && last["route"] != "unmatched" {
		t.Errorf("the 404 logged %v", last)
	}
}

// TestClientGoneIsNotAnError checks that a request whose client went away (its context
// cancelled) while the handler read the database is not logged as an internal error or as
// the database being unavailable.
func TestClientGoneIsNotAnError(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m, _ := startLoggedMain(t, kind)
		c := newClient(t, m.Addr())
		r := c.get("/api/v1/new-job/")
		expectOK(t, r)
		id := r.json(t)["job_id"].(string)

		logs := &logBuffer{}
		api := reinshttp.NewServer(m.Engine, m.Blob, slog.New(slog.NewJSONHandler(logs, nil)))
		for _, path := range []string{"/api/v1/job-status/" + id, "/api/v1/jobs/" + id, "/api/v1/jobs/", "/readyz"} {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the client hung up before the handler reached the database
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil)
			api.ServeHTTP(httptest.NewRecorder(), req)
		}
		for _, rec := range logs.records(t) {
			if rec["level"] == "ERROR" || rec["level"] == "WARN" {
				t.Errorf("a request its client left was logged as %s: %v", rec["level"], rec)
			}
		}
	})
}

// TestLogFormat checks --log-format and REINS_LOG_FORMAT on the real binary: JSON lines for
// serve (start line naming the database, access log) and for a failing command, and a bad
// value refused.
func TestLogFormat(t *testing.T) {
	t.Parallel()
	t.Run("serve", func(t *testing.T) {
		t.Parallel()
		addr := freeAddr(t)
		p := startReins(t, childEnv("REINS_LOG_FORMAT=json"), "serve", "--data-dir", t.TempDir(), "--addr", addr, "--workers", "1")
		waitHealthy(t, p, addr)
		res, err := http.Get("http://" + addr + "/api/v1/jobs/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		rid := res.Header.Get("X-Request-Id")
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, waitLimit); code != 0 {
			t.Fatalf("serve exited %d", code)
		}
		var start, access bool
		sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("not a JSON log line: %q", sc.Text())
			}
			switch rec["msg"] {
			case "reins: serving":
				start = strings.HasPrefix(rec["database"].(string), "sqlite:")
			case "reins: request":
				access = access || rec["request_id"] == rid && rec["route"] == "/api/v1/jobs"
			}
		}
		if !start || !access {
			t.Errorf("JSON log lacks the start line (%v) or the access line for %s (%v):\n%s", start, rid, access, p.stderr.String())
		}
	})
	t.Run("failure", func(t *testing.T) {
		t.Parallel()
		p, code := runReins(t, childEnv(), "migrate", "--log-format", "json", "--database-url", "mysql://u@localhost/db")
		if code == 0 {
			t.Fatal("migrate with a mysql URL exited 0")
		}
		lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
		var rec map[string]any
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil || rec["level"] != "ERROR" ||
			!strings.Contains(rec["error"].(string), "postgres://") {
			t.Errorf("want one JSON ERROR line naming the problem, got:\n%s", p.stderr.String())
		}
	})
	t.Run("bad value", func(t *testing.T) {
		t.Parallel()
		p, code := runReins(t, childEnv(), "serve", "--log-format", "xml", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0")
		if code != 2 || !strings.Contains(p.stderr.String(), "--log-format") {
			t.Errorf("exit %d, stderr %q; want 2 naming --log-format", code, p.stderr.String())
		}
	})
}

// TestBinaryBadDatabase checks that every command that opens the database prints one clear
// line naming the problem and exits non-zero when it cannot: no panic, no internal error
// format, no warning before the error.
func TestBinaryBadDatabase(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		mention []string
	}{
		{"bogus sslmode", []string{"--database-url", "postgres://postgres:sekret@127.0.0.1:5432/x?sslmode=bogus"}, []string{"sslmode"}},
		{"mysql URL", []string{"--database-url", "mysql://u@localhost/db"}, []string{"mysql", "postgres://"}},
		{"wrong port", []string{"--database-url", "postgres://postgres:sekret@127.0.0.1:1/test?sslmode=disable&connect_timeout=5"}, []string{"127.0.0.1:1", "connect"}},
		{"data dir is a file", []string{"--data-dir", file}, []string{file, "not a directory"}},
		{"data dir cannot be created", []string{"--data-dir", filepath.Join(file, "sub")}, []string{filepath.Join(file, "sub"), "not a directory"}},
	}
	for _, command := range []string{"serve", "worker", "migrate", "seed"} {
		for _, tc := range cases {
			t.Run(command+" "+tc.name, func(t *testing.T) {
				t.Parallel()
				args := append([]string{command}, tc.args...)
				if !strings.Contains(strings.Join(tc.args, " "), "--data-dir") {
					args = append(args, "--data-dir", t.TempDir())
				}
				if command == "serve" || command == "worker" {
					args = append(args, "--addr", "127.0.0.1:0")
				}
				p, code := runReins(t, childEnv(), args...)
				if code == 0 {
					t.Fatalf("%s exited 0", p.name)
				}
				noPanic(t, p)
				stderr := strings.TrimSpace(p.stderr.String())
				if lines := strings.Split(stderr, "\n"); len(lines) != 1 {
					t.Errorf("%s printed %d lines, want one:\n%s", p.name, len(lines), stderr)
				}
				if !strings.HasPrefix(stderr, "reins "+command+": ") {
					t.Errorf("%s: the line does not start with reins %s: %q", p.name, command, stderr)
				}
				for _, m := range tc.mention {
					if !strings.Contains(stderr, m) {
						t.Errorf("%s: %q does not mention %q", p.name, stderr, m)
					}
				}
				for _, bad := range []string{"code=", "reins error", "sekret", "LISTEN"} {
					if strings.Contains(stderr, bad) {
						t.Errorf("%s: %q shows %q", p.name, stderr, bad)
					}
				}
			})
		}
	}
}

// TestStartLineNamesDatabase checks that serve's start line names the Postgres host and
// database, never the password.
func TestStartLineNamesDatabase(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(reinstest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "sekret") // trust auth ignores it
	addr := freeAddr(t)
	p := startReins(t, childEnv(), "serve", "--data-dir", t.TempDir(), "--addr", addr, "--workers", "1", "--database-url", u.String())
	waitHealthy(t, p, addr)
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.wait(t, waitLimit)
	var line string
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(l, "reins: serving") {
			line = l
		}
	}
	if want := "database=postgres://" + u.Host + u.Path; !strings.Contains(line, want) {
		t.Errorf("start line %q does not name %s", line, want)
	}
	if strings.Contains(p.stderr.String(), "sekret") {
		t.Errorf("the log shows the password:\n%s", p.stderr.String())
	}
}
