package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/demo"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/postgres"
	"github.com/reins-dev/reins/registry"
	"github.com/reins-dev/reins/reinstest"
)

// proxy forwards TCP connections to Postgres and can cut them all, as a database restart
// or a network failure does, without disturbing the other tests that share the server.
type proxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	down     bool
	conns    map[net.Conn]struct{}
}

func startProxy(t *testing.T, upstream string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close() }()
		go func() { _, _ = io.Copy(c, u); c.Close() }()
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func getJSON(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// waitHTTP polls u until it answers want (or fails the test after a minute).
func waitHTTP(t *testing.T, u string, want int, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		status, body := getJSON(t, u)
		if status == want && (cond == nil || cond(body)) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: waited a minute for %d; last %d %v", u, want, status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDatabaseOutage cuts every connection to Postgres in the middle of an export: the API
// answers 503 with an error_message meanwhile and /readyz reports it; when the database is
// back, everything recovers by itself and the export completes exactly.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	if reinstest.DatabaseURL(t) == "" {
		t.Skip("TEST_DATABASE_URL is not set (CI sets it, and fails without it)")
	}
	direct, err := url.Parse(reinstest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	upstream := direct.Host
	if !strings.Contains(upstream, ":") {
		upstream += ":5432"
	}
	px := startProxy(t, upstream)
	viaProxy := *direct
	viaProxy.Host = px.ln.Addr().String()
	exportThrough(t, viaProxy.String(), px.cut, px.restore)
}

// exportThrough runs an export on the database at dbURL and calls down in its middle: from
// then until up, every answer for the job is the job or a 503 with an error_message (never
// a 500), /readyz fails and /healthz does not; after up, it all recovers by itself and the
// export completes with every row exactly once.
func exportThrough(t *testing.T, dbURL string, down, up func()) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // after serveEngine's cleanup: the engine stops first
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 10_000
	if err := db.SeedCustomers(ctx, n, func(i int64) reins.Customer { return demo.Customer(i, n) }); err != nil {
		t.Fatal(err)
	}
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := serveEngine(t, db, registry.New(registry.Deps{Store: db, Blob: b}), b,
		engine.Config{Workers: 2, BatchSize: 200, LeaseTTL: time.Second, RescueInterval: 200 * time.Millisecond})

	status, body := getJSON(t, srv.URL+"/api/v1/export/?date_gte=2015-01-01&date_lte=2024-12-31&max_rows_per_s=4000")
	if status != http.StatusOK {
		t.Fatalf("export: %d %v", status, body)
	}
	id := body["job_id"].(string)
	jobURL := srv.URL + "/api/v1/job-status/" + id + "/"
	waitHTTP(t, jobURL, http.StatusOK, func(b map[string]any) bool {
		return b["progress"].(map[string]any)["done"].(float64) > 0
	})

	down()
	// Every answer during the outage is the job or a 503: never a 500.
	for i := 0; i < 20; i++ {
		if status, body := getJSON(t, jobURL); status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Fatalf("during the outage GET job-status answered %d %v", status, body)
		}
	}
	unavailable := waitHTTP(t, jobURL, http.StatusServiceUnavailable, nil)
	if msg, _ := unavailable["error_message"].(string); msg == "" {
		t.Fatalf("503 without an error_message: %v", unavailable)
	}
	waitHTTP(t, srv.URL+"/readyz", http.StatusServiceUnavailable, nil)
	if status, _ := getJSON(t, srv.URL+"/healthz"); status != http.StatusOK {
		t.Fatalf("liveness failed during the outage: %d", status)
	}
	up()

	waitHTTP(t, srv.URL+"/readyz", http.StatusOK, nil)
	waitHTTP(t, jobURL, http.StatusOK, func(b map[string]any) bool { return b["job_status"] == "COMPLETED" })

	resp, err := http.Get(srv.URL + "/api/v1/jobs/" + id + "/result")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(lines) != n+1 {
		t.Fatalf("the export has %d lines after the outage, want %d", len(lines), n+1)
	}
	seen := make(map[string]bool, n)
	for _, l := range lines[1:] {
		if seen[l] {
			t.Fatalf("row written twice after the outage: %s", l)
		}
		seen[l] = true
	}
}
