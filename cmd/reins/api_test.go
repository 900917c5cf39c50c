package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins/reinstest"
)

// apiCustomers is how many demo customers the API tests seed.
const apiCustomers = 2000

// TestAPI checks the compatibility contract (docs/design.md §3) and the additive endpoints over
// real HTTP against a running Main, on every backend.
func TestAPI(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)
		seedDemo(t, m, apiCustomers)
		addr := m.Addr()
		t.Run("NewJob", func(t *testing.T) { t.Parallel(); testNewJob(t, newClient(t, addr)) })
		t.Run("ExportAndStatus", func(t *testing.T) { t.Parallel(); testExportAndStatus(t, newClient(t, addr)) })
		t.Run("ListJobs", func(t *testing.T) { t.Parallel(); testListJobs(t, newClient(t, addr)) })
		t.Run("ExtremeDates", func(t *testing.T) { t.Parallel(); testExtremeDates(t, newClient(t, addr)) })
		t.Run("BadExport", func(t *testing.T) { t.Parallel(); testBadExport(t, newClient(t, addr)) })
		t.Run("BadJobIDs", func(t *testing.T) { t.Parallel(); testBadJobIDs(t, newClient(t, addr)) })
		t.Run("BadCommands", func(t *testing.T) { t.Parallel(); testBadCommands(t, newClient(t, addr)) })
		t.Run("Transitions", func(t *testing.T) { t.Parallel(); testTransitions(t, newClient(t, addr)) })
		t.Run("Result", func(t *testing.T) { t.Parallel(); testResult(t, newClient(t, addr)) })
		t.Run("Methods", func(t *testing.T) { t.Parallel(); testMethods(t, newClient(t, addr)) })
		t.Run("UnknownPaths", func(t *testing.T) { t.Parallel(); testUnknownPaths(t, newClient(t, addr)) })
		t.Run("UnknownSubpaths", func(t *testing.T) { t.Parallel(); testUnknownSubpaths(t, newClient(t, addr)) })
		t.Run("DocsAndHealth", func(t *testing.T) { t.Parallel(); testDocsAndHealth(t, newClient(t, addr)) })
		t.Run("UploadNotFound", func(t *testing.T) { t.Parallel(); testUploadNotFound(t, newClient(t, addr)) })
	})
}

// slashes returns path without and with a trailing slash (a query stays at the end).
func slashes(path string) []string {
	p, q, _ := strings.Cut(path, "?")
	p = strings.TrimSuffix(p, "/")
	if q != "" {
		q = "?" + q
	}
	return []string{p + q, p + "/" + q}
}

// expectError checks that r is an error answer of the given status: a JSON body
// {"error_message": "..."} whose message is not empty and contains each of mentions.
func expectError(t testing.TB, r *response, status int, mentions ...string) string {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: want status %d", r, status)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", r, ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Errorf("%s: body is not a JSON object: %v", r, err)
		return ""
	}
	msg, _ := body["error_message"].(string)
	if strings.TrimSpace(msg) == "" {
		t.Errorf("%s: no error_message", r)
	}
	if len(body) != 1 {
		t.Errorf("%s: error body has keys other than error_message", r)
	}
	for _, s := range mentions {
		if !strings.Contains(msg, s) {
			t.Errorf("%s: error_message does not mention %q", r, s)
		}
	}
	return msg
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkSnakeCase fails the test for any object key in v that is not snake_case.
func checkSnakeCase(t testing.TB, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if !snakeCase.MatchString(k) {
				t.Errorf("%s: JSON key %q is not snake_case", where, k)
			}
			checkSnakeCase(t, where+"."+k, child)
		}
	case []any:
		for _, child := range v {
			checkSnakeCase(t, where+"[]", child)
		}
	}
}

// checkTimestamp fails the test unless v is an RFC 3339 timestamp in UTC.
func checkTimestamp(t testing.TB, where string, v any) {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Errorf("%s = %v, want an RFC 3339 timestamp", where, v)
		return
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Errorf("%s = %q is not RFC 3339: %v", where, s, err)
		return
	}
	if !strings.HasSuffix(s, "Z") || at.Location() != time.UTC {
		t.Errorf("%s = %q is not in UTC", where, s)
	}
	if at.Before(time.Now().Add(-time.Hour)) || at.After(time.Now().Add(time.Hour)) {
		t.Errorf("%s = %q is not around now", where, s)
	}
}

func testNewJob(t *testing.T, c *client) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, path := range slashes("/api/v1/new-job") {
			r := c.do(method, path, nil, "")
			expectOK(t, r)
			body := r.json(t)
			checkSnakeCase(t, r.method+" "+r.path, body)
			id, _ := body["job_id"].(string)
			if _, err := uuid.Parse(id); err != nil {
				t.Fatalf("%s: job_id %q is not a UUID", r, id)
			}
			if body["job_status"] != "CREATED" {
				t.Errorf("%s: job_status %v, want CREATED", r, body["job_status"])
			}
			ref, _ := body["ref"].(map[string]any)
			if want := "upload?job_id=" + id; ref == nil || ref["url"] != want {
				t.Errorf("%s: ref %v, want {url: %q}", r, body["ref"], want)
			}
			if s := c.status(id); s.JobStatus != "CREATED" || s.JobType != "import" || s.JobID != id {
				t.Errorf("job-status of a new upload job: %+v", s)
			}
		}
	}
}

func testExportAndStatus(t *testing.T, c *client) {
	const gte, lte = "2017-08-01", "2019-02-28"
	want, rows := expectedCSV(t, apiCustomers, gte, lte)
	for _, path := range slashes("/api/v1/export?date_gte=" + gte + "&date_lte=" + lte) {
		r := c.get(path)
		expectOK(t, r)
		body := r.json(t)
		checkSnakeCase(t, r.method+" "+r.path, body)
		id, _ := body["job_id"].(string)
		if _, err := uuid.Parse(id); err != nil {
			t.Fatalf("%s: job_id %q is not a UUID", r, id)
		}
		for _, key := range []string{"job_status", "job_message"} {
			if s, _ := body[key].(string); s == "" {
				t.Errorf("%s: %s missing or empty", r, key)
			}
		}
		if ref, _ := body["ref"].(map[string]any); ref == nil || !strings.Contains(ref["url"].(string), id) {
			t.Errorf("%s: ref %v, want {url} naming the job", r, body["ref"])
		}

		// GET job-status shows progress.done and progress.total, with and without slash.
		for _, sp := range slashes("/api/v1/job-status/" + id) {
			sr := c.get(sp)
			expectOK(t, sr)
			sb := sr.json(t)
			checkSnakeCase(t, sr.method+" "+sr.path, sb)
			progress, _ := sb["progress"].(map[string]any)
			if _, ok := progress["done"]; !ok {
				t.Errorf("%s: no progress.done", sr)
			}
			if _, ok := progress["total"]; !ok {
				t.Errorf("%s: no progress.total", sr)
			}
			if sb["job_id"] != id || sb["job_type"] != "export" {
				t.Errorf("%s: wrong job", sr)
			}
		}

		done := c.waitStatus(id, "COMPLETED")
		if done.Progress.Done != int64(rows) || done.Progress.Total == nil || *done.Progress.Total != int64(rows) {
			t.Errorf("completed export: progress done=%d total=%v, want %d", done.Progress.Done, done.Progress.Total, rows)
		}
		if got := c.download(id); got != want {
			t.Errorf("export %s..%s via %s: CSV differs: %s", gte, lte, path, diffCSV(got, want))
		}

		// The status of a completed export links its result and has every timestamp.
		sr := c.get("/api/v1/job-status/" + id)
		sb := sr.json(t)
		if res, _ := sb["result"].(map[string]any); res == nil || res["url"] != "/api/v1/jobs/"+id+"/result" {
			t.Errorf("%s: result %v, want the result URL", sr, sb["result"])
		}
		for _, key := range []string{"created_at", "updated_at", "started_at", "finished_at"} {
			checkTimestamp(t, "job-status "+key, sb[key])
		}

		// Job detail has the history: every transition with at/from/to/actor.
		for _, dp := range slashes("/api/v1/jobs/" + id) {
			dr := c.get(dp)
			expectOK(t, dr)
			db := dr.json(t)
			checkSnakeCase(t, dr.method+" "+dr.path, db)
			for _, key := range []string{"created_at", "updated_at", "started_at", "finished_at"} {
				checkTimestamp(t, dp+" "+key, db[key])
			}
			history, _ := db["history"].([]any)
			if len(history) < 2 {
				t.Fatalf("%s: history has %d entries, want creation and completion at least", dr, len(history))
			}
			prev := ""
			for i, h := range history {
				e, _ := h.(map[string]any)
				for _, key := range []string{"at", "from", "to", "actor"} {
					if _, ok := e[key]; !ok {
						t.Errorf("%s: history[%d] has no %q", dp, i, key)
					}
				}
				checkTimestamp(t, dp+" history.at", e["at"])
				if e["to"] == "" || e["actor"] == "" {
					t.Errorf("%s: history[%d] = %v: empty to or actor", dp, i, e)
				}
				if i > 0 && e["from"] != prev {
					t.Errorf("%s: history[%d] from %v, but the previous entry went to %q", dp, i, e["from"], prev)
				}
				prev, _ = e["to"].(string)
			}
			if prev != "COMPLETED" {
				t.Errorf("%s: history ends at %q, want COMPLETED", dp, prev)
			}
		}
	}

	// The whole range, a single (last) day, and a range with no customers (header only).
	for _, rng := range [][2]string{{"2015-01-01", "2024-12-31"}, {"2024-12-31", "2024-12-31"}, {"2030-01-01", "2030-12-31"}} {
		want, rows := expectedCSV(t, apiCustomers, rng[0], rng[1])
		id := c.export(rng[0], rng[1], 0)
		s := c.waitStatus(id, "COMPLETED")
		if s.Progress.Done != int64(rows) {
			t.Errorf("export %v: done %d, want %d", rng, s.Progress.Done, rows)
		}
		if got := c.download(id); got != want {
			t.Errorf("export %v: CSV differs: %s", rng, diffCSV(got, want))
		}
	}
	// The demo data holds commas and quotes: the download parses back as RFC 4180.
	id := c.export("2015-01-01", "2024-12-31", 0)
	c.waitStatus(id, "COMPLETED")
	records, err := csv.NewReader(strings.NewReader(c.download(id))).ReadAll()
	if err != nil {
		t.Fatalf("the export is not valid CSV: %v", err)
	}
	if len(records) != apiCustomers+1 || strings.Join(records[0], ",") != "first_name,last_name,address,email,age,company" {
		t.Fatalf("export has %d records, header %v", len(records), records[0])
	}
	quoted := false
	for _, rec := range records[1:] {
		if strings.ContainsAny(rec[2]+rec[5], `,"`) {
			quoted = true
		}
	}
	if !quoted {
		t.Errorf("no exported value holds a comma or a quote; the quoting is not exercised")
	}
}

func testListJobs(t *testing.T, c *client) {
	id := newUploadJob(t, c)
	for _, path := range slashes("/api/v1/jobs") {
		r := c.get(path)
		expectOK(t, r)
		body := r.json(t)
		checkSnakeCase(t, path, body)
		jobs, ok := body["jobs"].([]any)
		if !ok || len(jobs) == 0 {
			t.Fatalf("%s: want a non-empty jobs list", r)
		}
	}
	r := c.get("/api/v1/jobs?limit=1")
	expectOK(t, r)
	if jobs, _ := r.json(t)["jobs"].([]any); len(jobs) != 1 {
		t.Errorf("%s: want exactly one job", r)
	}
	found := false
	for _, j := range decode[struct{ Jobs []jobStatus }](t, c.get("/api/v1/jobs/?limit=1000")).Jobs {
		found = found || j.JobID == id
	}
	if !found {
		t.Errorf("the job list does not hold the new job %s", id)
	}
	for _, limit := range []string{"0", "-1", "abc", "1001", "1.5"} {
		expectError(t, c.get("/api/v1/jobs?limit="+limit), http.StatusBadRequest, "limit", limit)
	}
}

// testExtremeDates exports with the earliest and the latest dates the API accepts: every
// customer is in range.
func testExtremeDates(t *testing.T, c *client) {
	want, rows := expectedCSV(t, apiCustomers, "2015-01-01", "2024-12-31")
	id := c.export("0001-01-01", "2030-12-31", 0)
	if s := c.waitStatus(id, "COMPLETED"); s.Progress.Done != int64(rows) {
		t.Errorf("export 0001-01-01..2030-12-31: done %d, want %d", s.Progress.Done, rows)
	}
	if got := c.download(id); got != want {
		t.Errorf("export 0001-01-01..2030-12-31: CSV differs: %s", diffCSV(got, want))
	}

	id = c.export("2015-01-01", "9999-12-31", 0)
	s := c.waitStatus(id, "COMPLETED")
	got := c.download(id)
	if s.Progress.Done != int64(rows) || got != want {
		t.Errorf("export 2015-01-01..9999-12-31: done %d, want %d; CSV: %s", s.Progress.Done, rows, diffCSV(got, want))
	}
}

func testBadExport(t *testing.T, c *client) {
	cases := []struct {
		query    string
		mentions []string
	}{
		{"date_gte=2021-02-30&date_lte=2021-03-31", []string{"date_gte", "2021-02-30"}},
		{"date_gte=2021-01-01&date_lte=2021-02-30", []string{"date_lte", "2021-02-30"}},
		{"date_gte=2021-13-01&date_lte=2021-12-31", []string{"date_gte", "2021-13-01"}},
		{"date_gte=abc&date_lte=2021-12-31", []string{"date_gte", "abc"}},
		{"date_gte=2021-01-01&date_lte=abc", []string{"date_lte", "abc"}},
		{"date_gte=&date_lte=2021-12-31", []string{"date_gte"}},
		{"date_gte=2021-01-01&date_lte=", []string{"date_lte"}},
		{"date_lte=2021-12-31", []string{"date_gte"}},
		{"date_gte=2021-01-01", []string{"date_lte"}},
		{"", []string{"date_gte"}},
		{"date_gte=2021-06-02&date_lte=2021-06-01", []string{"date_gte", "date_lte", "2021-06-02", "2021-06-01"}},
		{"date_gte=2021-01-01&date_lte=2021-12-31&max_rows_per_s=0", []string{"max_rows_per_s", "0"}},
		{"date_gte=2021-01-01&date_lte=2021-12-31&max_rows_per_s=-5", []string{"max_rows_per_s", "-5"}},
		{"date_gte=2021-01-01&date_lte=2021-12-31&max_rows_per_s=x", []string{"max_rows_per_s", "x"}},
		{"date_gte=2021-02-29&date_lte=2021-12-31", []string{"date_gte", "2021-02-29"}},
		{"date_gte=2021-1-1&date_lte=2021-12-31", []string{"date_gte", "2021-1-1"}},
		{"date_gte=2021-01-01T00:00:00Z&date_lte=2021-12-31", []string{"date_gte"}},
		{"date_gte=2021-01-01&date_lte=2021-12-31&max_rows_per_s=1e3", []string{"max_rows_per_s", "1e3"}},
		{"date_gte=2021-01-01&date_lte=2021-12-31&max_rows_per_s=100000001", []string{"max_rows_per_s"}},
		{"date_gte=01-01-2021&date_lte=2021-12-31", []string{"date_gte"}},
	}
	for _, tc := range cases {
		for _, path := range slashes("/api/v1/export?" + tc.query) {
			expectError(t, c.get(path), http.StatusBadRequest, tc.mentions...)
		}
	}
}

func testBadJobIDs(t *testing.T, c *client) {
	unknown := uuid.NewString()
	for _, id := range []string{"nope", "123", uuid.NewString() + "x", uuid.NewString() + "-0000", "%20", unknown} {
		for _, prefix := range []string{"/api/v1/job-status/", "/api/v1/jobs/"} {
			for _, path := range slashes(prefix + id) {
				expectError(t, c.get(path), http.StatusNotFound)
			}
		}
		for _, path := range slashes("/api/v1/job-status/" + id) {
			expectError(t, c.postForm(path, url.Values{"status": {"PAUSE"}}), http.StatusNotFound)
		}
		expectError(t, c.result(id), http.StatusNotFound)
	}
	expectError(t, c.get("/api/v1/job-status/"+unknown), http.StatusNotFound, unknown)
}

// newUploadJob creates an upload job, which stays CREATED until its file arrives.
func newUploadJob(t *testing.T, c *client) string {
	t.Helper()
	r := c.get("/api/v1/new-job/")
	expectOK(t, r)
	return r.json(t)["job_id"].(string)
}

func multipartBody(t *testing.T, fields map[string]string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, w.FormDataContentType()
}

func testBadCommands(t *testing.T, c *client) {
	id := newUploadJob(t, c)
	const missing = "'status' not present in request body"
	for _, path := range slashes("/api/v1/job-status/" + id) {
		post := func(body, contentType string) *response {
			return c.do(http.MethodPost, path, strings.NewReader(body), contentType)
		}
		form := "application/x-www-form-urlencoded"
		if msg := expectError(t, post("", ""), http.StatusBadRequest); msg != missing {
			t.Errorf("empty body: error_message %q, want %q", msg, missing)
		}
		if msg := expectError(t, post("foo=bar", form), http.StatusBadRequest); msg != missing {
			t.Errorf("no status field: error_message %q, want %q", msg, missing)
		}
		if msg := expectError(t, post("{}", "application/json"), http.StatusBadRequest); msg != missing {
			t.Errorf("JSON without status: error_message %q, want %q", msg, missing)
		}
		expectError(t, post("status=STOP", form), http.StatusBadRequest, "status", "STOP")
		// Commands are case-sensitive, as in the old API: a lowercase one is unknown.
		expectError(t, post("status=pause", form), http.StatusBadRequest, "status", "pause")
		expectError(t, post("status=", form), http.StatusBadRequest, "status")
		expectError(t, post(`{"status": "STOP"}`, "application/json"), http.StatusBadRequest, "STOP")
		expectError(t, post(`{"status": 5}`, "application/json"), http.StatusBadRequest, "status")
		expectError(t, post(`{"status": null}`, "application/json"), http.StatusBadRequest, "status")
		expectError(t, post(`{`, "application/json"), http.StatusBadRequest, "JSON")
		expectError(t, post(`["PAUSE"]`, "application/json"), http.StatusBadRequest, "JSON")
		expectError(t, post("status=PAUSE", "text/plain"), http.StatusUnsupportedMediaType, "text/plain")
		expectError(t, post("<status>PAUSE</status>", "application/xml"), http.StatusUnsupportedMediaType, "application/xml")
		expectError(t, post("status=PAUSE", ";;;"), http.StatusUnsupportedMediaType, "Content-Type")
		expectError(t, post("status=%zz", form), http.StatusBadRequest)
		// A body past the 1 MiB bound is refused with a 4xx, not read to the end.
		huge := post("status=PAUSE&pad="+strings.Repeat("x", 2<<20), form)
		if huge.status < 400 || huge.status >= 500 {
			t.Errorf("%s: want a 4xx for a 2 MiB body", huge.method+" "+huge.path+" -> "+strconv.Itoa(huge.status))
		}
		body, ct := multipartBody(t, map[string]string{"other": "x"})
		if msg := expectError(t, c.do(http.MethodPost, path, body, ct), http.StatusBadRequest); msg != missing {
			t.Errorf("multipart without status: error_message %q, want %q", msg, missing)
		}
	}
	// None of that changed the job.
	if s := c.status(id); s.JobStatus != "CREATED" {
		t.Fatalf("bad commands changed the job to %s", s.JobStatus)
	}

	// The good forms of the same body: multipart, then JSON, then form-encoded.
	body, ct := multipartBody(t, map[string]string{"status": "PAUSE"})
	r := c.do(http.MethodPost, "/api/v1/job-status/"+id+"/", body, ct)
	expectOK(t, r)
	checkSnakeCase(t, "POST job-status", r.json(t))
	if s := decode[jobStatus](t, r); s.JobStatus != "PAUSED" || s.JobID != id {
		t.Fatalf("%s: want job %s PAUSED", r, id)
	}
	r = c.do(http.MethodPost, "/api/v1/job-status/"+id, strings.NewReader(`{"status": "PAUSE"}`), "application/json; charset=utf-8")
	expectOK(t, r)
	if s := decode[jobStatus](t, r); s.JobStatus != "PAUSED" {
		t.Fatalf("%s: want PAUSED", r)
	}
}

func testTransitions(t *testing.T, c *client) {
	// An upload job stays CREATED until its file arrives: RESUME is forbidden, naming it.
	id := newUploadJob(t, c)
	expectError(t, c.postForm("/api/v1/job-status/"+id+"/", url.Values{"status": {"RESUME"}}), http.StatusBadRequest, "CREATED")
	if s := c.status(id); s.JobStatus != "CREATED" {
		t.Fatalf("a forbidden RESUME changed the job to %s", s.JobStatus)
	}
	// PAUSE, and PAUSE again: both 200 PAUSED.
	for range 2 {
		if s := c.command(id, "PAUSE"); s.JobStatus != "PAUSED" {
			t.Fatalf("PAUSE on an upload job answered %s, want PAUSED", s.JobStatus)
		}
	}
	// REVOKE on an upload job that never received its file: REVOKED, and again REVOKED.
	for _, upload := range []string{id, newUploadJob(t, c)} {
		for range 2 {
			if s := c.command(upload, "REVOKE"); s.JobStatus != "REVOKED" {
				t.Fatalf("REVOKE on an upload job answered %s, want REVOKED", s.JobStatus)
			}
		}
	}

	// A running export: PAUSE from STARTED, RESUME, then REVOKE; REVOKE again is 200, and a
	// command that is not REVOKE on a REVOKED job is 400 naming REVOKED.
	id = c.export("2015-01-01", "2024-12-31", 50)
	c.waitFor(id, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 })
	if s := c.command(id, "PAUSE"); s.JobStatus != "PAUSED" {
		t.Fatalf("PAUSE on a running export answered %s", s.JobStatus)
	}
	if s := c.command(id, "PAUSE"); s.JobStatus != "PAUSED" {
		t.Fatalf("repeated PAUSE answered %s", s.JobStatus)
	}
	if s := c.command(id, "RESUME"); s.JobStatus != "RESUMED" {
		t.Fatalf("RESUME answered %s", s.JobStatus)
	}
	if s := c.command(id, "RESUME"); s.JobStatus != "RESUMED" {
		t.Fatalf("repeated RESUME answered %s", s.JobStatus)
	}
	if s := c.command(id, "REVOKE"); s.JobStatus != "REVOKED" {
		t.Fatalf("REVOKE answered %s", s.JobStatus)
	}
	if s := c.command(id, "REVOKE"); s.JobStatus != "REVOKED" {
		t.Fatalf("REVOKE on REVOKED answered %s", s.JobStatus)
	}
	for _, cmd := range []string{"PAUSE", "RESUME"} {
		expectError(t, c.postForm("/api/v1/job-status/"+id, url.Values{"status": {cmd}}), http.StatusBadRequest, "REVOKED")
	}

	// A completed export refuses every command, naming COMPLETED.
	id = c.export("2024-12-01", "2024-12-31", 0)
	c.waitStatus(id, "COMPLETED")
	for _, cmd := range []string{"PAUSE", "RESUME", "REVOKE"} {
		expectError(t, c.postForm("/api/v1/job-status/"+id, url.Values{"status": {cmd}}), http.StatusBadRequest, "COMPLETED")
	}
}

func testResult(t *testing.T, c *client) {
	for _, path := range slashes("/api/v1/jobs/" + uuid.NewString() + "/result") {
		expectError(t, c.get(path), http.StatusNotFound)
	}
	// An upload job has no result file.
	expectError(t, c.result(newUploadJob(t, c)), http.StatusNotFound)

	// A running export (1 row a second: it runs for the whole test) is not finished: 409.
	id := c.export("2015-01-01", "2024-12-31", 1)
	for _, path := range slashes("/api/v1/jobs/" + id + "/result") {
		expectError(t, c.get(path), http.StatusConflict, "COMPLETED")
	}
	c.waitFor(id, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 })
	expectError(t, c.result(id), http.StatusConflict, "COMPLETED")
	// Revoked: 410, and its status says REVOKED.
	if s := c.command(id, "REVOKE"); s.JobStatus != "REVOKED" {
		t.Fatalf("REVOKE answered %s", s.JobStatus)
	}
	for _, path := range slashes("/api/v1/jobs/" + id + "/result") {
		expectError(t, c.get(path), http.StatusGone, "revoked")
	}

	// Completed: the CSV as an attachment, with and without slash, equal to the expected one.
	const gte, lte = "2016-02-29", "2016-12-31"
	want, _ := expectedCSV(t, apiCustomers, gte, lte)
	id = c.export(gte, lte, 0)
	c.waitStatus(id, "COMPLETED")
	for _, path := range slashes("/api/v1/jobs/" + id + "/result") {
		r := c.get(path)
		expectOK(t, r)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("%s: Content-Type %q, want text/csv", path, ct)
		}
		if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "filename=") {
			t.Errorf("%s: Content-Disposition %q, want an attachment with a file name", path, cd)
		}
		if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
			t.Errorf("%s: Content-Length %q, want %d", path, cl, len(want))
		}
		if got := string(r.body); got != want {
			t.Errorf("%s: CSV differs: %s", path, diffCSV(got, want))
		}
	}
	// HEAD answers the headers alone.
	r := c.do(http.MethodHead, "/api/v1/jobs/"+id+"/result", nil, "")
	if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Content-Length") != strconv.Itoa(len(want)) {
		t.Errorf("HEAD result: %d, %d body bytes, Content-Length %q", r.status, len(r.body), r.header.Get("Content-Length"))
	}
}

func testMethods(t *testing.T, c *client) {
	id := newUploadJob(t, c)
	cases := []struct {
		method, path, allow string
	}{
		{http.MethodDelete, "/api/v1/job-status/" + id, "GET, POST, HEAD"},
		{http.MethodPut, "/api/v1/job-status/" + id, "GET, POST, HEAD"},
		{http.MethodPost, "/api/v1/export?date_gte=2021-01-01&date_lte=2021-12-31", "GET"},
		{http.MethodDelete, "/api/v1/export", "GET"},
		// The old API's GETs that create jobs are not served to HEAD.
		{http.MethodHead, "/api/v1/export?date_gte=2021-01-01&date_lte=2021-12-31", "GET"},
		{http.MethodPut, "/api/v1/new-job", "GET, POST"},
		{http.MethodDelete, "/api/v1/new-job", "GET, POST"},
		{http.MethodHead, "/api/v1/new-job", "GET, POST"},
		{http.MethodPost, "/api/v1/jobs/" + id, "GET, HEAD"},
		{http.MethodDelete, "/api/v1/jobs/" + id + "/result", "GET, HEAD"},
		{http.MethodPost, "/api/v1/docs", "GET, HEAD"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
	}
	for _, tc := range cases {
		for _, path := range slashes(tc.path) {
			r := c.do(tc.method, path, strings.NewReader("status=REVOKE"), "application/x-www-form-urlencoded")
			if tc.method == http.MethodHead {
				// A HEAD answer has no body to hold the error_message.
				if r.status != http.StatusMethodNotAllowed {
					t.Errorf("%s: want 405", r)
				}
			} else {
				expectError(t, r, http.StatusMethodNotAllowed, tc.method)
			}
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("%s: Allow %q, want %q", r, got, tc.allow)
			}
		}
	}
	// A DELETE or PUT with status=REVOKE did nothing to the job.
	if s := c.status(id); s.JobStatus != "CREATED" {
		t.Fatalf("a wrong method changed the job to %s", s.JobStatus)
	}
}

func testUnknownPaths(t *testing.T, c *client) {
	for _, path := range []string{"/", "/nope", "/api", "/api/v1", "/api/v1/", "/api/v1/nope", "/api/v2/export/",
		"/api/v1/job-status", "/api/v1/job-status/", "/api/v1/exports/", "/api/v1/upload-job/"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			if path == "/" && method == http.MethodGet {
				continue // the dashboard (dashboard_test.go)
			}
			expectError(t, c.do(method, path, nil, ""), http.StatusNotFound)
		}
	}
}

// testUnknownSubpaths checks that a path below an endpoint is not that endpoint: a GET of
// /api/v1/new-job/anything must not create a job, /api/v1/export/anything must not start
// an export.
func testUnknownSubpaths(t *testing.T, c *client) {
	id := newUploadJob(t, c)
	var wrong []string
	for _, path := range []string{
		"/api/v1/new-job/anything",
		"/api/v1/export/anything?date_gte=2021-01-01&date_lte=2021-01-31",
		"/api/v1/job-status/" + id + "/anything",
		"/api/v1/jobs/" + id + "/anything",
		"/api/v1/jobs/" + id + "/result/anything",
		"/api/v1/docs/anything",
		"/api/v1/upload/anything?job_id=" + id,
		"/healthz/anything",
	} {
		r := c.get(path)
		if r.status != http.StatusNotFound {
			wrong = append(wrong, r.String())
			continue
		}
		expectError(t, r, http.StatusNotFound)
	}
	for _, w := range wrong {
		t.Errorf("want a JSON 404: %s", w)
	}
}

func testDocsAndHealth(t *testing.T, c *client) {
	for _, path := range slashes("/api/v1/docs") {
		r := c.get(path)
		expectOK(t, r)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %q, want text/html", path, ct)
		}
		// The page renders the OpenAPI document, which describes every endpoint
		// (TestOpenAPIRouteWalk checks it against the routes).
		if !bodyContains(r.body, "/api/v1/docs/init.js") {
			t.Errorf("%s does not load the viewer's start-up script", path)
		}
		doc := c.get("/api/v1/openapi.json")
		for _, endpoint := range []string{"/api/v1/new-job", "/api/v1/job-status/", "/api/v1/export",
			"/api/v1/jobs/", "/result", "/healthz", "PAUSE", "RESUME", "REVOKE", "CONFIRM", "error_message"} {
			if !bodyContains(doc.body, endpoint) {
				t.Errorf("the OpenAPI document does not mention %s", endpoint)
			}
		}
		// Offline: nothing is loaded from a CDN.
		for _, remote := range []string{"<script src=\"http", "<link href=\"http", "cdn"} {
			if bodyContains(bytes.ToLower(r.body), remote) {
				t.Errorf("%s loads %q from the network", path, remote)
			}
		}
	}
	for _, path := range append(slashes("/healthz"), slashes("/readyz")...) {
		r := c.get(path)
		expectOK(t, r)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q, want application/json", path, ct)
		}
	}
}

// testUploadNotFound checks the upload endpoint's contract for jobs that do not exist (the
// upload itself is covered by the import suite): unknown job 404, missing job_id 400.
func testUploadNotFound(t *testing.T, c *client) {
	for _, path := range slashes("/api/v1/upload") {
		for _, id := range []string{uuid.NewString(), "nope"} {
			body, ct := multipartFile(t, "first_name,last_name,address,email,age,company\n")
			expectError(t, c.do(http.MethodPost, path+"?job_id="+id, body, ct), http.StatusNotFound, id)
		}
		body, ct := multipartFile(t, "first_name,last_name,address,email,age,company\n")
		expectError(t, c.do(http.MethodPost, path, body, ct), http.StatusBadRequest, "job_id")
		expectError(t, c.get(path+"?job_id="+uuid.NewString()), http.StatusMethodNotAllowed, "GET")
	}
}

func multipartFile(t *testing.T, content string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	f, err := w.CreateFormFile("file", "customers.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte(content))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, w.FormDataContentType()
}
