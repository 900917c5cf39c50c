package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"

	reinshttp "github.com/reins-dev/reins/http"
	"github.com/reins-dev/reins/reinstest"
)

// The OpenAPI document (http/openapi.yaml) is the API's source of truth. These tests hold
// it to that: every route the server registers is in it, and real requests through every
// route, and their answers, validate against it (kin-openapi's openapi3filter, which
// validates OpenAPI 3.1 documents with JSON Schema 2020-12).

var registerDecoders sync.Once

// loadOpenAPI loads and validates the embedded document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	registerDecoders.Do(func() {
		for _, ct := range []string{"text/html", "text/javascript", "text/css", "image/png", "image/svg+xml", "application/csv"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
		openapi3filter.RegisterBodyDecoder("text/event-stream", sseBodyDecoder)
	})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(reinshttp.OpenAPIYAML)
	if err != nil {
		t.Fatalf("load http/openapi.yaml: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() {
		t.Fatalf("http/openapi.yaml is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("http/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// sseLine is one line of a Server-Sent Events stream as the API writes it.
var sseLine = regexp.MustCompile(`^(|: ?.*|id: [0-9]+|event: (status|progress)|data: \{.*\}|retry: [0-9]+)$`)

// sseBodyDecoder checks a text/event-stream body's framing line by line and gives it to the
// schema as a string; the events' data are checked against the Job schema separately.
func sseBodyDecoder(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(b), "\n") {
		if !sseLine.MatchString(line) {
			return nil, fmt.Errorf("event stream line %d is not id:, event: status|progress, data: {...} or a comment: %q", i+1, line)
		}
	}
	return string(b), nil
}

// apiCase is one real request, for the route it goes to.
type apiCase struct {
	name        string
	route       string // the pattern the server registered, e.g. /api/v1/job-status/{job_id}
	method      string
	path        string // with query
	body        []byte
	contentType string
	header      http.Header
	want        []int // acceptable statuses
	// invalidRequest marks a request that is wrong on purpose (the answer is still checked).
	invalidRequest bool
	// stream reads an event stream only up to its first event, then hangs up.
	stream bool
}

type apiValidator struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	base   string
	client *http.Client
	job    *openapi3.Schema
	// served are the (route, method) pairs requests went through.
	served map[string]bool
}

func newAPIValidator(t *testing.T, doc *openapi3.T, addr string) *apiValidator {
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &apiValidator{t: t, doc: doc, router: router, base: "http://" + addr,
		client: &http.Client{Timeout: waitLimit}, job: doc.Components.Schemas["Job"].Value, served: map[string]bool{}}
}

// run sends c to the server, validates the request and the answer against the document and
// returns the answer's body.
func (v *apiValidator) run(c apiCase) []byte {
	t := v.t
	t.Helper()
	ctx := context.Background()
	// The document's paths have no trailing slash; the server answers both.
	docURL, err := url.Parse(v.base + c.path)
	if err != nil {
		t.Fatal(err)
	}
	if docURL.Path != "/" {
		docURL.Path = strings.TrimSuffix(docURL.Path, "/")
	}
	vreq, err := http.NewRequest(c.method, docURL.String(), bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range c.header {
		vreq.Header[k] = vs
	}
	if c.contentType != "" {
		vreq.Header.Set("Content-Type", c.contentType)
	}
	route, params, err := v.router.FindRoute(vreq)
	if err != nil {
		t.Errorf("%s %s: not in the OpenAPI document: %v", c.method, c.path, err)
		return nil
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if !c.invalidRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s: %s %s: the request does not match the document: %v", c.name, c.method, c.path, err)
		}
	}

	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, c.method, v.base+c.path, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = vreq.Header.Clone()
	res, err := v.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", c.name, c.method, c.path, err)
	}
	defer res.Body.Close()
	var body []byte
	if c.stream && c.method != http.MethodHead {
		body = readFirstEvent(t, res.Body)
		cancel()
	} else if body, err = io.ReadAll(res.Body); err != nil {
		t.Fatalf("%s: read the answer: %v", c.name, err)
	}
	v.served[c.route+" "+c.method] = true
	if !slices.Contains(c.want, res.StatusCode) {
		t.Errorf("%s: %s %s answered %d, want one of %v: %s", c.name, c.method, c.path, res.StatusCode, c.want, abbrev(body))
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s: no X-Request-Id in the answer", c.name)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode,
		Header: res.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s: %s %s -> %d: the answer does not match the document: %v\n%s", c.name, c.method, c.path, res.StatusCode, err, abbrev(body))
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") && c.method != http.MethodHead {
		v.checkEvents(c, body)
	}
	return body
}

// checkEvents validates every event's data against the document's Job schema.
func (v *apiValidator) checkEvents(c apiCase, body []byte) {
	events := 0
	for _, line := range strings.Split(string(body), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		events++
		var job any
		if err := json.Unmarshal([]byte(data), &job); err != nil {
			v.t.Errorf("%s: event data is not JSON: %v", c.name, err)
			continue
		}
		if err := v.job.VisitJSON(job, openapi3.EnableJSONSchema2020()); err != nil {
			v.t.Errorf("%s: event data is not a Job: %v\n%s", c.name, err, data)
		}
	}
	if events == 0 {
		v.t.Errorf("%s: the stream sent no event: %q", c.name, body)
	}
}

// readFirstEvent reads an event stream up to the end of its first event.
func readFirstEvent(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var out bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	sawData := false
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "data: ") {
			sawData = true
		}
		if sc.Text() == "" && sawData {
			return out.Bytes()
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read the event stream: %v", err)
	}
	return out.Bytes()
}

func abbrev(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

func formBody(kv ...string) []byte {
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return []byte(f.Encode())
}

func multipartFields(t *testing.T, fields map[string]string, file string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != "" {
		f, err := w.CreateFormFile("file", "customers.csv")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.Write([]byte(file))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

const (
	formCT = "application/x-www-form-urlencoded"
	jsonCT = "application/json"
)

// TestOpenAPIValidation sends real requests through every route the server registers, on
// both stores, and validates each request and answer against the OpenAPI document.
func TestOpenAPIValidation(t *testing.T) {
	doc := loadOpenAPI(t)
	// The document's server is "/", relative to wherever it is served: route on paths only.
	// Set once here: the stores' subtests share the document.
	doc.Servers = nil
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)
		seedDemo(t, m, 300)
		c := newClient(t, m.Addr())
		v := newAPIValidator(t, doc, m.Addr())
		registered := map[string][]string{}
		for _, r := range reinshttp.NewServer(m.Engine, m.Blob, nil).Routes() {
			registered[r.Pattern] = r.Methods
		}
		run := func(cs ...apiCase) {
			t.Helper()
			for _, cs := range cs {
				methods, ok := registered[cs.route]
				if !ok {
					t.Logf("%s: route %s is not served by this build", cs.name, cs.route)
					continue
				}
				if !slices.Contains(methods, cs.method) {
					t.Errorf("%s: route %s does not serve %s (it serves %v)", cs.name, cs.route, cs.method, methods)
					continue
				}
				v.run(cs)
				// Every read is also served to HEAD: check its answer too.
				if cs.method == http.MethodGet && slices.Contains(methods, http.MethodHead) {
					head := cs
					head.name, head.method = cs.name+" (HEAD)", http.MethodHead
					v.run(head)
				}
			}
		}
		ok := []int{http.StatusOK}
		const jobStatus = "/api/v1/job-status/{job_id}"
		const export = "/api/v1/export"
		csv := "first_name,last_name,address,email,age,company\n" +
			"Ada,Lovelace,1 Analytical St,ada.openapi@example.com,36,Engines Ltd\n" +
			"Bad,Row,2 Nowhere,not-an-email,999,X\n"

		run(
			apiCase{name: "liveness", route: "/healthz", method: "GET", path: "/healthz", want: ok},
			// 503 when the loaded machine makes the database slower than readiness waits.
			apiCase{name: "readiness", route: "/readyz", method: "GET", path: "/readyz/", want: []int{200, 503}},
			apiCase{name: "document as JSON", route: "/api/v1/openapi.json", method: "GET", path: "/api/v1/openapi.json", want: ok},
			apiCase{name: "document as YAML", route: "/api/v1/openapi.yaml", method: "GET", path: "/api/v1/openapi.yaml", want: ok},
			apiCase{name: "docs page", route: "/api/v1/docs", method: "GET", path: "/api/v1/docs/", want: ok},
			apiCase{name: "docs script", route: "/api/v1/docs/{asset}", method: "GET", path: "/api/v1/docs/swagger-ui-bundle.js", want: ok},
			apiCase{name: "docs style", route: "/api/v1/docs/{asset}", method: "GET", path: "/api/v1/docs/swagger-ui.css", want: ok},
			apiCase{name: "docs unknown file", route: "/api/v1/docs/{asset}", method: "GET", path: "/api/v1/docs/nope.js", want: []int{404}},
			apiCase{name: "metrics", route: "/metrics", method: "GET", path: "/metrics", want: ok},
			apiCase{name: "dashboard", route: "/", method: "GET", path: "/", want: ok},
		)

		// Exports: the old GET with every parameter, a misspelt one, bad input.
		body := v.run(apiCase{name: "export", route: export, method: "GET",
			path: "/api/v1/export/?date_gte=2000-01-01&date_lte=2100-12-31&include=created_at&escape_formulas=false", want: ok})
		done := jsonField(t, body, "job_id")
		run(
			apiCase{name: "export with columns and a throttle", route: export, method: "GET",
				path: "/api/v1/export?date_gte=2000-01-01&date_lte=2100-12-31&columns=email,first_name&max_rows_per_s=1000000", want: ok},
			apiCase{name: "export with a misspelt parameter", route: export, method: "GET",
				path: "/api/v1/export/?date_gte=2000-01-01&date_lte=2000-01-02&max_rows=5", want: ok},
			apiCase{name: "export without dates", route: export, method: "GET", path: "/api/v1/export/", want: []int{400}, invalidRequest: true},
			apiCase{name: "export, reversed dates", route: export, method: "GET",
				path: "/api/v1/export/?date_gte=2024-01-01&date_lte=2023-01-01", want: []int{400}},
		)
		if body := v.run(apiCase{name: "export with a misspelt parameter (warnings)", route: export, method: "GET",
			path: "/api/v1/export/?date_gte=2000-01-01&date_lte=2000-01-02&max_rows=5", want: ok}); !bytes.Contains(body, []byte("unknown parameter max_rows ignored")) {
			t.Errorf("no warning for max_rows: %s", body)
		}
		c.waitStatus(done, "COMPLETED")
		run(
			apiCase{name: "job status", route: jobStatus, method: "GET", path: "/api/v1/job-status/" + done + "/", want: ok},
			apiCase{name: "job status, unknown job", route: jobStatus, method: "GET", path: "/api/v1/job-status/" + uuid.NewString(), want: []int{404}},
			apiCase{name: "job status, malformed id", route: jobStatus, method: "GET", path: "/api/v1/job-status/42/", want: []int{404}},
			apiCase{name: "job detail", route: "/api/v1/jobs/{job_id}", method: "GET", path: "/api/v1/jobs/" + done, want: ok},
			apiCase{name: "result", route: "/api/v1/jobs/{job_id}/result", method: "GET", path: "/api/v1/jobs/" + done + "/result", want: ok},
			apiCase{name: "events of a finished job", route: "/api/v1/jobs/{job_id}/events", method: "GET", path: "/api/v1/jobs/" + done + "/events", want: ok},
			apiCase{name: "events of an unknown job", route: "/api/v1/jobs/{job_id}/events", method: "GET", path: "/api/v1/jobs/" + uuid.NewString() + "/events", want: []int{404}},
			apiCase{name: "a COMPLETED job cannot PAUSE", route: jobStatus, method: "POST", path: "/api/v1/job-status/" + done + "/",
				body: formBody("status", "PAUSE"), contentType: formCT, want: []int{400}},
			apiCase{name: "command without status", route: jobStatus, method: "POST", path: "/api/v1/job-status/" + done + "/",
				body: formBody("nope", "x"), contentType: formCT, want: []int{400}, invalidRequest: true},
			apiCase{name: "command in XML", route: jobStatus, method: "POST", path: "/api/v1/job-status/" + done + "/",
				body: []byte("<status>PAUSE</status>"), contentType: "text/xml", want: []int{415}, invalidRequest: true},
		)

		// A throttled export to steer: PAUSE (form), RESUME (JSON), a result not ready,
		// REVOKE (JSON sent as a form, as curl -d does).
		slow := jsonField(t, v.run(apiCase{name: "throttled export", route: export, method: "GET",
			path: "/api/v1/export/?date_gte=2000-01-01&date_lte=2100-12-31&max_rows_per_s=1", want: ok}), "job_id")
		run(
			apiCase{name: "PAUSE (form)", route: jobStatus, method: "POST", path: "/api/v1/job-status/" + slow + "/",
				body: formBody("status", "PAUSE"), contentType: formCT, want: ok},
			apiCase{name: "status of a paused job", route: jobStatus, method: "GET", path: "/api/v1/job-status/" + slow, want: ok},
			apiCase{name: "events of a paused job", route: "/api/v1/jobs/{job_id}/events", method: "GET", path: "/api/v1/jobs/" + slow + "/events/", want: ok, stream: true},
			apiCase{name: "all events", route: "/api/v1/events", method: "GET", path: "/api/v1/events", want: ok, stream: true},
			apiCase{name: "RESUME (JSON)", route: jobStatus, method: "POST", path: "/api/v1/job-status/" + slow,
				body: []byte(`{"status": "RESUME"}`), contentType: jsonCT, want: ok},
			apiCase{name: "result not ready", route: "/api/v1/jobs/{job_id}/result", method: "GET", path: "/api/v1/jobs/" + slow + "/result/", want: []int{409}},
			apiCase{name: "REVOKE (JSON sent as a form)", route: jobStatus, method: "POST", path: "/api/v1/job-status/" + slow + "/",
				body: []byte(`{"status": "REVOKE"}`), contentType: formCT, want: ok, invalidRequest: true},
			apiCase{name: "result of a revoked export", route: "/api/v1/jobs/{job_id}/result", method: "GET", path: "/api/v1/jobs/" + slow + "/result", want: []int{410}},
		)

		// The export guard: AWAITING_CONFIRMATION, then CONFIRM (multipart) and REVOKE.
		held := jsonField(t, v.run(apiCase{name: "guarded export", route: export, method: "GET",
			path: "/api/v1/export/?date_gte=2000-01-01&date_lte=2100-12-31&confirm_over=1&max_rows_per_s=1", want: ok}), "job_id")
		if s := c.status(held); s.JobStatus != "AWAITING_CONFIRMATION" {
			t.Errorf("an export over its confirm_over is %s, want AWAITING_CONFIRMATION", s.JobStatus)
		}
		confirm, confirmCT := multipartFields(t, map[string]string{"status": "CONFIRM"}, "")
		run(
			apiCase{name: "status AWAITING_CONFIRMATION", route: jobStatus, method: "GET", path: "/api/v1/job-status/" + held, want: ok},
			apiCase{name: "CONFIRM (multipart)", route: jobStatus, method: "POST", path: "/api/v1/job-status/" + held + "/",
				body: confirm, contentType: confirmCT, want: ok},
			apiCase{name: "REVOKE (form)", route: jobStatus, method: "POST", path: "/api/v1/job-status/" + held + "/",
				body: formBody("status", "REVOKE"), contentType: formCT, want: ok},
		)

		// Upload jobs: new-job by GET, by form, by JSON with a mapping, by multipart; the
		// file as multipart and as raw text/csv.
		const newJob = "/api/v1/new-job"
		const upload = "/api/v1/upload"
		imp := jsonField(t, v.run(apiCase{name: "new-job (GET)", route: newJob, method: "GET", path: "/api/v1/new-job/?on_error=skip&max_rows_per_s=1000", want: ok}), "job_id")
		raw := jsonField(t, v.run(apiCase{name: "new-job (form)", route: newJob, method: "POST", path: "/api/v1/new-job/",
			body: formBody("on_error", "skip", "job_type", "import"), contentType: formCT, want: ok}), "job_id")
		mapped := jsonField(t, v.run(apiCase{name: "new-job (JSON, mapping)", route: newJob, method: "POST", path: "/api/v1/new-job",
			body: []byte(`{"job_type": "import", "on_error": "abort", "mapping": {"Mail": "email", "Notes": ""}}`), contentType: jsonCT, want: ok}), "job_id")
		mp, mpCT := multipartFields(t, map[string]string{"job_type": "teams", "on_error": "skip"}, "")
		run(
			apiCase{name: "new-job (multipart, teams)", route: newJob, method: "POST", path: "/api/v1/new-job/", body: mp, contentType: mpCT, want: ok},
			apiCase{name: "new-job with a misspelt parameter", route: newJob, method: "GET", path: "/api/v1/new-job/?on_eror=skip", want: ok},
			apiCase{name: "new-job, bad on_error", route: newJob, method: "GET", path: "/api/v1/new-job/?on_error=maybe", want: []int{400}, invalidRequest: true},
			apiCase{name: "new-job, an export type", route: newJob, method: "GET", path: "/api/v1/new-job/?job_type=export", want: []int{400}, invalidRequest: true},
		)
		file, fileCT := multipartFields(t, nil, csv)
		run(
			apiCase{name: "upload (multipart)", route: upload, method: "POST", path: "/api/v1/upload/?job_id=" + imp, body: file, contentType: fileCT, want: ok},
			apiCase{name: "upload (raw CSV)", route: upload, method: "POST", path: "/api/v1/upload?job_id=" + raw + "&filename=people.csv",
				body: []byte(csv), contentType: "text/csv", want: ok},
			apiCase{name: "upload into a job that has its file", route: upload, method: "POST", path: "/api/v1/upload/?job_id=" + raw,
				body: []byte(csv), contentType: "text/csv", want: []int{409}},
			apiCase{name: "upload without job_id", route: upload, method: "POST", path: "/api/v1/upload/", body: []byte(csv), contentType: "text/csv", want: []int{400}, invalidRequest: true},
			apiCase{name: "upload into an unknown job", route: upload, method: "POST", path: "/api/v1/upload/?job_id=" + uuid.NewString(),
				body: []byte(csv), contentType: "text/csv", want: []int{404}},
			apiCase{name: "upload as JSON", route: upload, method: "POST", path: "/api/v1/upload/?job_id=" + mapped,
				body: []byte(`{}`), contentType: jsonCT, want: []int{415}, invalidRequest: true},
		)
		c.waitStatus(imp, "COMPLETED")
		run(
			apiCase{name: "an import that skipped a row", route: jobStatus, method: "GET", path: "/api/v1/job-status/" + imp, want: ok},
			apiCase{name: "import detail", route: "/api/v1/jobs/{job_id}", method: "GET", path: "/api/v1/jobs/" + imp + "/", want: ok},
			apiCase{name: "an import has no result file", route: "/api/v1/jobs/{job_id}/result", method: "GET", path: "/api/v1/jobs/" + imp + "/result", want: []int{404}},
			apiCase{name: "a waiting upload job", route: jobStatus, method: "GET", path: "/api/v1/job-status/" + mapped, want: ok},
			apiCase{name: "restart", route: "/api/v1/jobs/{job_id}/restart", method: "POST", path: "/api/v1/jobs/" + imp + "/restart",
				body: formBody("on_error", "skip"), contentType: formCT, want: []int{201, 400, 409}},
			apiCase{name: "restart (JSON)", route: "/api/v1/jobs/{job_id}/restart", method: "POST", path: "/api/v1/jobs/" + slow + "/restart/",
				body: []byte(`{"max_rows_per_s": 500}`), contentType: jsonCT, want: []int{201, 400, 409}},
			apiCase{name: "restart an unknown job", route: "/api/v1/jobs/{job_id}/restart", method: "POST", path: "/api/v1/jobs/" + uuid.NewString() + "/restart",
				body: formBody("on_error", "skip"), contentType: formCT, want: []int{404}},
		)

		// Watching: the list with every filter, the summary.
		const jobs = "/api/v1/jobs"
		run(
			apiCase{name: "list", route: jobs, method: "GET", path: "/api/v1/jobs/", want: ok},
			apiCase{name: "list with filters", route: jobs, method: "GET",
				path: "/api/v1/jobs?status=COMPLETED&status=REVOKED&type=export&created_gte=2000-01-01&created_lte=2100-12-31T00:00:00Z&limit=2", want: ok},
			apiCase{name: "list, limit out of range", route: jobs, method: "GET", path: "/api/v1/jobs/?limit=0", want: []int{400}, invalidRequest: true},
			apiCase{name: "summary", route: "/api/v1/jobs/summary", method: "GET", path: "/api/v1/jobs/summary", want: ok},
		)

		// Every method of every registered route went through the document.
		for pattern, methods := range registered {
			for _, method := range methods {
				if !v.served[pattern+" "+method] {
					t.Errorf("no request went through %s %s: add a case to TestOpenAPIValidation", method, pattern)
				}
			}
		}
	})
}

func jsonField(t *testing.T, body []byte, name string) string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, abbrev(body))
	}
	s, _ := v[name].(string)
	if s == "" {
		t.Fatalf("no %s in %s", name, abbrev(body))
	}
	return s
}

// docPath is the document's path for a server pattern: the trailing-slash twin and wildcard
// names aside, /api/v1/jobs/{job_id} and /ui/{path...} become /api/v1/jobs/{} and /ui/{}.
var wildcard = regexp.MustCompile(`\{[^}]*\}`)

func docPath(pattern string) string {
	if _, p, ok := strings.Cut(pattern, " "); ok && !strings.HasPrefix(pattern, "/") {
		pattern = p // "GET /x"
	}
	pattern = strings.TrimSuffix(pattern, "{$}")
	if len(pattern) > 1 && strings.HasSuffix(pattern, "/") {
		pattern += "{}" // a subtree: its files
	}
	return wildcard.ReplaceAllString(pattern, "{}")
}

// TestOpenAPIRouteWalk walks the routes the server registers and fails on any route, or any
// method of one, that the OpenAPI document lacks.
func TestOpenAPIRouteWalk(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := map[string]*openapi3.PathItem{}
	for path, item := range doc.Paths.Map() {
		documented[docPath(path)] = item
	}
	m := startMain(t, reinstest.Kinds(t)[0])
	routes := reinshttp.NewServer(m.Engine, m.Blob, nil).Routes()
	if len(routes) < 10 {
		t.Fatalf("the server lists only %d routes: %v", len(routes), routes)
	}
	for _, r := range routes {
		item := documented[docPath(r.Pattern)]
		if item == nil {
			t.Errorf("route %s is not in http/openapi.yaml", r.Pattern)
			continue
		}
		for _, method := range r.Methods {
			if item.GetOperation(method) == nil {
				t.Errorf("%s %s is not in http/openapi.yaml", method, r.Pattern)
			}
		}
	}
}

// TestOpenAPIServed checks that the served documents are the embedded one, as JSON and YAML.
func TestOpenAPIServed(t *testing.T) {
	doc := loadOpenAPI(t)
	m := startMain(t, reinstest.Kinds(t)[0])
	c := newClient(t, m.Addr())
	for _, path := range []string{"/api/v1/openapi.json", "/api/v1/openapi.yaml/"} {
		r := c.get(path)
		expectOK(t, r)
		served, err := openapi3.NewLoader().LoadFromData(r.body)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(served.Paths.Map()) != len(doc.Paths.Map()) || served.Info.Title != doc.Info.Title {
			t.Errorf("%s is not the embedded document", path)
		}
	}
}

// TestDocsOffline checks the documentation page loads nothing from another host: every
// file it references is this server's and served, and its Content-Security-Policy lets a
// browser load nothing from elsewhere.
func TestDocsOffline(t *testing.T) {
	m := startMain(t, reinstest.Kinds(t)[0])
	c := newClient(t, m.Addr())
	page := c.get("/api/v1/docs")
	expectOK(t, page)
	csp := page.header.Get("Content-Security-Policy")
	for _, directive := range strings.Split(csp, ";") {
		fields := strings.Fields(directive)
		if len(fields) == 0 {
			continue
		}
		for _, source := range fields[1:] {
			if !slices.Contains([]string{"'self'", "'unsafe-inline'", "data:"}, source) {
				t.Errorf("Content-Security-Policy allows %s in %s", source, fields[0])
			}
		}
	}
	if !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q does not limit the page to this server", csp)
	}
	refs := regexp.MustCompile(`(?i)(?:src|href)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(string(page.body), -1)
	if len(refs) < 3 {
		t.Fatalf("the docs page references only %d files: %s", len(refs), page.body)
	}
	if bytes.Contains(bytes.ToLower(page.body), []byte("//")) && regexp.MustCompile(`(?i)(https?:)?//[a-z0-9]`).Match(page.body) {
		t.Errorf("the docs page names another host: %s", page.body)
	}
	for _, ref := range append(refs, []string{"", "/api/v1/docs/init.js"}) {
		u, err := url.Parse(ref[1])
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(u.Path, "/") {
			t.Errorf("the docs page references %q, not a file of this server", ref[1])
			continue
		}
		r := c.get(u.Path)
		expectOK(t, r)
	}
	// The start-up script fetches the document from this server and turns the validator
	// badge (another host) off.
	script := c.get("/api/v1/docs/init.js")
	for _, want := range []string{`url: "/api/v1/openapi.json"`, `validatorUrl: "none"`} {
		if !bytes.Contains(script.body, []byte(want)) {
			t.Errorf("init.js lacks %s", want)
		}
	}
}
