package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/demo"
	"github.com/reins-dev/reins/reinstest"
)

// waitLimit bounds every wait in these tests; reaching it fails the test.
const waitLimit = 2 * time.Minute

// forEachKind runs fn as a parallel subtest, named by kind, for every backend the shared
// suites run on: SQLite always, Postgres when TEST_DATABASE_URL is set.
func forEachKind(t *testing.T, fn func(t *testing.T, kind reinstest.Kind)) {
	t.Helper()
	for _, kind := range reinstest.Kinds(t) {
		t.Run(kind.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

// startMain starts a serve-mode Main on a fresh database of the given kind, on a free
// port, and closes it when the test ends. CommandWait is long so that a PAUSE answers
// PAUSED on a loaded machine: the tests assert the answer is true, not how fast it came.
func startMain(t *testing.T, kind reinstest.Kind) *Main {
	t.Helper()
	return startMainWith(t, kind, nil)
}

// startMainWith is startMain with the config changed by configure first (when not nil).
func startMainWith(t *testing.T, kind reinstest.Kind, configure func(*Config)) *Main {
	t.Helper()
	cfg, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.DatabaseURL = kind.URL(t)
	cfg.Workers = 2
	cfg.BatchSize = 500
	cfg.CommandWait = 30 * time.Second
	cfg.RunBudget = 30 * time.Second
	cfg.Grace = 10 * time.Second
	if configure != nil {
		configure(&cfg)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := NewMain(cfg, "serve", logger)
	if err := m.Open(context.Background()); err != nil {
		t.Fatalf("open Main on %s: %v", kind.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Logf("close Main: %v", err)
		}
	})
	return m
}

// seedDemo loads n deterministic demo customers into m's database.
func seedDemo(t *testing.T, m *Main, n int64) {
	t.Helper()
	if err := m.Backend.SeedCustomers(context.Background(), n, func(i int64) reins.Customer { return demo.Customer(i, n) }); err != nil {
		t.Fatalf("seed %d customers: %v", n, err)
	}
}

// expectedCSV renders, independently of the product, the export of `reins seed
// --customers n` for the date range: customers with created_at >= gte 00:00 UTC and
// < (lte + 1 day) 00:00 UTC, in created_at order (the order of i), RFC 4180 quoting.
func expectedCSV(t testing.TB, n int64, gte, lte string) (body string, rows int) {
	t.Helper()
	from, err := time.Parse(time.DateOnly, gte)
	if err != nil {
		t.Fatal(err)
	}
	to, err := time.Parse(time.DateOnly, lte)
	if err != nil {
		t.Fatal(err)
	}
	to = to.AddDate(0, 0, 1)
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	_ = w.Write([]string{"first_name", "last_name", "address", "email", "age", "company"})
	for i := range n {
		c := demo.Customer(i, n)
		if !c.CreatedAt.Before(from) && c.CreatedAt.Before(to) {
			_ = w.Write([]string{c.FirstName, c.LastName, c.Address, c.Email, strconv.Itoa(c.Age), c.Company})
			rows++
		}
	}
	w.Flush()
	return sb.String(), rows
}

// client drives a Reins API over real HTTP. Every response it sees is checked never to be
// a 5xx: the service answers bad input with a 4xx, whatever it is.
type client struct {
	t    testing.TB
	base string
	http *http.Client
	// token, when set, is sent as Authorization: Bearer.
	token string
}

func newClient(t testing.TB, addr string) *client {
	return &client{t: t, base: "http://" + addr, http: &http.Client{Timeout: waitLimit}}
}

// response is one HTTP exchange, body read.
type response struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

func (r *response) String() string {
	return r.method + " " + r.path + " -> " + strconv.Itoa(r.status) + " " + strings.TrimSpace(string(r.body))
}

// json decodes the body into a generic object, failing the test if it is not one.
func (r *response) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v", r, err)
	}
	return v
}

func (c *client) do(method, path string, body io.Reader, contentType string) *response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := &response{method: method, path: path, status: res.StatusCode, header: res.Header, body: b}
	if r.status >= 500 {
		c.t.Errorf("server error: %s", r)
	}
	return r
}

func (c *client) get(path string) *response { return c.do(http.MethodGet, path, nil, "") }

// postForm posts a form-encoded body.
func (c *client) postForm(path string, form url.Values) *response {
	return c.do(http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

// jobStatus is what GET job-status answers, the fields these tests read.
type jobStatus struct {
	JobID     string `json:"job_id"`
	JobType   string `json:"job_type"`
	JobStatus string `json:"job_status"`
	Progress  struct {
		Done  int64  `json:"done"`
		Total *int64 `json:"total"`
	} `json:"progress"`
	Error *string `json:"error"`
}

func decode[T any](t testing.TB, r *response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%s: %v", r, err)
	}
	return v
}

// expectOK fails the test unless r is a 200.
func expectOK(t testing.TB, r *response) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: want 200", r)
	}
}

// export starts an export and returns its job id.
func (c *client) export(gte, lte string, maxRowsPerS int) string {
	c.t.Helper()
	q := url.Values{"date_gte": {gte}, "date_lte": {lte}}
	if maxRowsPerS > 0 {
		q.Set("max_rows_per_s", strconv.Itoa(maxRowsPerS))
	}
	r := c.get("/api/v1/export/?" + q.Encode())
	expectOK(c.t, r)
	id, _ := r.json(c.t)["job_id"].(string)
	if id == "" {
		c.t.Fatalf("%s: no job_id", r)
	}
	return id
}

// status returns the job as GET job-status shows it.
func (c *client) status(id string) jobStatus {
	c.t.Helper()
	r := c.get("/api/v1/job-status/" + id + "/")
	expectOK(c.t, r)
	return decode[jobStatus](c.t, r)
}

// command POSTs status=cmd and returns the answer, which must be a 200.
func (c *client) command(id, cmd string) jobStatus {
	c.t.Helper()
	r := c.postForm("/api/v1/job-status/"+id+"/", url.Values{"status": {cmd}})
	expectOK(c.t, r)
	return decode[jobStatus](c.t, r)
}

// waitFor polls GET job-status until cond holds, failing the test after waitLimit.
func (c *client) waitFor(id, what string, cond func(jobStatus) bool) jobStatus {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := c.status(id)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s: waited %s for %s; it is %s with done=%d", id, waitLimit, what, s.JobStatus, s.Progress.Done)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

// waitStatus waits for the job to reach want, failing at once if it ends otherwise.
func (c *client) waitStatus(id, want string) jobStatus {
	c.t.Helper()
	return c.waitFor(id, "status "+want, func(s jobStatus) bool {
		if s.JobStatus != want && (s.JobStatus == "COMPLETED" || s.JobStatus == "REVOKED" || s.JobStatus == "FAILED") {
			errMsg := ""
			if s.Error != nil {
				errMsg = *s.Error
			}
			c.t.Fatalf("job %s ended %s (error %q), want %s", id, s.JobStatus, errMsg, want)
		}
		return s.JobStatus == want
	})
}

// result downloads a job's result file.
func (c *client) result(id string) *response {
	c.t.Helper()
	return c.get("/api/v1/jobs/" + id + "/result")
}

// download returns a COMPLETED export's CSV, checking the attachment headers.
func (c *client) download(id string) string {
	c.t.Helper()
	r := c.result(id)
	expectOK(c.t, r)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		c.t.Errorf("result Content-Type = %q, want text/csv", ct)
	}
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		c.t.Errorf("result Content-Disposition = %q, want an attachment", cd)
	}
	if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
		c.t.Errorf("result Content-Length = %q, body is %d bytes", cl, len(r.body))
	}
	return string(r.body)
}

// diffCSV describes the first difference between two CSV texts, for failure messages.
func diffCSV(got, want string) string {
	if got == want {
		return "equal"
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i] != w[i] {
			return "line " + strconv.Itoa(i+1) + ": got " + strconv.Quote(g[i]) + ", want " + strconv.Quote(w[i]) +
				" (" + strconv.Itoa(len(g)) + " vs " + strconv.Itoa(len(w)) + " lines)"
		}
	}
	return strconv.Itoa(len(g)) + " lines, want " + strconv.Itoa(len(w)) + "; " +
		strconv.Itoa(len(got)) + " bytes, want " + strconv.Itoa(len(want))
}

// bodyContains reports whether b contains s, for assertion messages.
func bodyContains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
