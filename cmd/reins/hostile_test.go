package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reins-dev/reins/reinstest"
)

// hostileUploadLimit is the --max-upload-bytes of the hostile-input servers: above the
// corpus's hostile files, small enough to go over cheaply.
const hostileUploadLimit = 4 << 20

// hostileRequest is one request of the corpus and the answer it must get. In path, {job}
// stands for a fresh upload job's id.
type hostileRequest struct {
	name        string
	method      string
	path        string
	contentType string
	body        func() io.Reader
	header      map[string]string
	status      int
	// mentions are texts the error_message must contain.
	mentions []string
	// check, when set, looks at the answer further.
	check func(t *testing.T, r *response)
	// raw sends the request over a plain connection (rawExchange); declared, when not 0, is
	// the Content-Length it claims, more than it sends.
	raw      bool
	declared int
}

func text(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }

func repeated(b byte, n int) func() io.Reader {
	return func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{b}, n)) }
}

const csvHeader = "first_name,last_name,address,email,age,company\n"

// rawMultipart is a multipart body with boundary XX whose one part has the given
// Content-Disposition parameters.
func rawMultipart(disposition, content string) func() io.Reader {
	return text("--XX\r\nContent-Disposition: form-data; name=\"file\"; " + disposition + "\r\nContent-Type: text/csv\r\n\r\n" +
		content + "\r\n--XX--\r\n")
}

// storedName checks that an accepted upload's file name is clean: valid UTF-8, no control
// characters, no directory, at most 255 characters.
func storedName(t *testing.T, r *response) {
	t.Helper()
	name, _ := r.json(t)["file"].(string)
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00\r\n/\\") || utf8.RuneCountInString(name) > 255 {
		t.Errorf("%s: stored file name %q is not clean", r, name)
	}
}

// shortBody checks that an error does not echo a huge input whole.
func shortBody(t *testing.T, r *response) {
	t.Helper()
	if len(r.body) > 1024 {
		t.Errorf("%s: error body is %d bytes; a long input must not be echoed whole", r.method+" "+r.path[:40], len(r.body))
	}
}

func hostileRequests() []hostileRequest {
	const mp = "multipart/form-data; boundary=XX"
	okCSV := csvHeader + "Ann,Lee,1 Main St,ann@example.com,30,Acme\n"
	return []hostileRequest{
		{name: "JSONTruncated", method: "POST", path: "/api/v1/new-job/", contentType: "application/json", body: text(`{"job_type":`),
			status: 400, mentions: []string{"not a valid JSON object"}},
		{name: "JSONArray", method: "POST", path: "/api/v1/job-status/{job}/", contentType: "application/json", body: text(`["PAUSE"]`),
			status: 400, mentions: []string{"JSON object"}},
		{name: "JSONWrongType", method: "POST", path: "/api/v1/job-status/{job}/", contentType: "application/json", body: text(`{"status": 5}`),
			status: 400, mentions: []string{"'status' must be one of"}},
		{name: "JSONNulInMapping", method: "POST", path: "/api/v1/new-job/", contentType: "application/json",
			body: text(`{"mapping": {"a\u0000b": "first_name"}}`), status: 400, mentions: []string{"mapping"}},
		{name: "JSONNulInValue", method: "POST", path: "/api/v1/new-job/", contentType: "application/json",
			body: text(`{"on_error": "skip\u0000"}`), status: 400, mentions: []string{"on_error"}},
		{name: "JSONHuge", method: "POST", path: "/api/v1/job-status/{job}/", contentType: "application/json",
			body: repeated(' ', 10<<20), status: 413, mentions: []string{"larger than"}, raw: true},
		{name: "FormHuge", method: "POST", path: "/api/v1/job-status/{job}/", contentType: "application/x-www-form-urlencoded",
			body: repeated('a', 10<<20), status: 413, mentions: []string{"larger than"}, raw: true},
		{name: "FormTruncated", method: "POST", path: "/api/v1/job-status/{job}/", contentType: "application/x-www-form-urlencoded",
			body: text("status=PAU"), declared: 1000, raw: true, status: 400, mentions: []string{"not readable"}},
		{name: "UploadTruncated", method: "POST", path: "/api/v1/upload/?job_id={job}", contentType: "text/csv",
			body: text(csvHeader + "Ann,Lee"), declared: 10_000, raw: true, status: 400, mentions: []string{"interrupted"}},
		{name: "FormBadEscape", method: "POST", path: "/api/v1/job-status/{job}/", contentType: "application/x-www-form-urlencoded",
			body: text("status=%zz"), status: 400, mentions: []string{"not a valid form"}},
		{name: "UnknownContentType", method: "POST", path: "/api/v1/job-status/{job}/", contentType: "application/xml",
			body: text("<status>PAUSE</status>"), status: 415, mentions: []string{"Content-Type"}},
		{name: "MalformedContentType", method: "POST", path: "/api/v1/job-status/{job}/", contentType: "multipart/form-data; boundary=",
			body: text("x"), status: 415, mentions: []string{"Content-Type"}},
		{name: "ExportYearZero", method: "GET", path: "/api/v1/export/?date_gte=0000-01-01&date_lte=2020-01-01",
			status: 400, mentions: []string{"date_gte", "0001-01-01"}},
		{name: "ExportYearFiveDigits", method: "GET", path: "/api/v1/export/?date_gte=2020-01-01&date_lte=10000-01-01",
			status: 400, mentions: []string{"date_lte"}},
		{name: "ExportDateWrongType", method: "GET", path: "/api/v1/export/?date_gte=yesterday&date_lte=2020-01-01",
			status: 400, mentions: []string{"date_gte"}},
		{name: "ExportRateWrongType", method: "GET", path: "/api/v1/export/?date_gte=2020-01-01&date_lte=2020-01-01&max_rows_per_s=fast",
			status: 400, mentions: []string{"max_rows_per_s"}},
		{name: "MultipartNoBoundaryEnd", method: "POST", path: "/api/v1/upload/?job_id={job}", contentType: mp,
			body: text("--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n" + csvHeader), status: 400},
		{name: "MultipartNoFile", method: "POST", path: "/api/v1/upload/?job_id={job}", contentType: mp,
			body: text("--XX\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XX--\r\n"), status: 400, mentions: []string{"'file'"}},
		{name: "MultipartGarbage", method: "POST", path: "/api/v1/upload/?job_id={job}", contentType: mp,
			body: text("this is not multipart"), status: 400, mentions: []string{"multipart"}},
		{name: "FileNameNul", method: "POST", path: "/api/v1/upload/?job_id={job}&filename=a%00b.csv", contentType: "text/csv",
			body: text(okCSV), status: 200, check: storedName},
		{name: "FileNameInvalidUTF8", method: "POST", path: "/api/v1/upload/?job_id={job}&filename=a%FF.csv", contentType: "text/csv",
			body: text(okCSV), status: 200, check: storedName},
		{name: "FileNameTraversal", method: "POST", path: "/api/v1/upload/?job_id={job}&filename=..%2F..%2Fetc%2Fpasswd", contentType: "text/csv",
			body: text(okCSV), status: 200, check: storedName},
		{name: "FileNameLong", method: "POST", path: "/api/v1/upload/?job_id={job}&filename=" + strings.Repeat("n", 5000) + ".csv", contentType: "text/csv",
			body: text(okCSV), status: 200, check: storedName},
		{name: "FileNameStarNulInvalid", method: "POST", path: "/api/v1/upload/?job_id={job}", contentType: mp,
			body: rawMultipart("filename*=UTF-8''a%00b%FF.csv", okCSV), status: 200, check: storedName},
		{name: "UploadTooLarge", method: "POST", path: "/api/v1/upload/?job_id={job}", contentType: "text/csv",
			body:   func() io.Reader { return strings.NewReader(csvHeader + strings.Repeat("x", hostileUploadLimit)) },
			status: 413, mentions: []string{"at most"}},
		{name: "UploadTooLargeMultipart", method: "POST", path: "/api/v1/upload/?job_id={job}", contentType: mp,
			body:   rawMultipart(`filename="big.csv"`, csvHeader+strings.Repeat("Ann,Lee,1 Main St,ann@example.com,30,Acme\n", hostileUploadLimit/40+1)),
			status: 413, mentions: []string{"larger than"}},
		{name: "IDHuge", method: "GET", path: "/api/v1/job-status/" + strings.Repeat("a", 100_000) + "/", status: 404, check: shortBody},
		{name: "IDHugeDetail", method: "GET", path: "/api/v1/jobs/" + strings.Repeat("b", 100_000), status: 404, check: shortBody},
		{name: "IDNul", method: "GET", path: "/api/v1/job-status/%00/", status: 404},
		{name: "IDTraversal", method: "GET", path: "/api/v1/jobs/..%2F..%2Fetc%2Fpasswd/result", status: 404},
		{name: "IDUnknownUUID", method: "POST", path: "/api/v1/job-status/00000000-0000-0000-0000-000000000000/",
			contentType: "application/x-www-form-urlencoded", body: text("status=REVOKE"), status: 404},
		{name: "UploadIDHuge", method: "POST", path: "/api/v1/upload/?job_id=" + strings.Repeat("c", 50_000), contentType: "text/csv",
			body: text(okCSV), status: 404, check: shortBody},
		{name: "HeaderHuge", method: "GET", path: "/api/v1/jobs", header: map[string]string{"X-Big": strings.Repeat("h", 2<<20)}, status: 431, raw: true},
	}
}

// hostileCSV is an import file of the corpus: the upload's answer, then (when the upload is
// taken) how the job must end.
type hostileCSV struct {
	name    string
	content string
	// status is the upload's answer; mentions are in its error, or the job's.
	status   int
	mentions []string
	// final is the job's end status when the upload is taken.
	final string
}

func hostileCSVs() []hostileCSV {
	wide := strings.Repeat("c,", 100_000) + "c\n"
	row := func(cells string) string { return csvHeader + cells + "\n" }
	return []hostileCSV{
		// A bad header or an unreadable file is refused by the upload itself.
		{name: "WideHeader", content: wide, status: 400, mentions: []string{"100001 columns", "at most 100"}},
		{name: "LongHeader", content: "first_name," + strings.Repeat("y", 2<<20) + "\n", status: 400, mentions: []string{"longer than"}},
		{name: "Empty", content: "", status: 400},
		{name: "ManyMissingColumns", content: strings.Repeat("x", 10) + "\n", status: 400, mentions: []string{"missing columns"}},
		{name: "ManyUnknownColumns", content: csvHeader[:len(csvHeader)-1] + "," + strings.Repeat("extra,", 50) + "z\n", status: 400},
		// A bad row fails the job (on_error=abort) with a message naming the line.
		{name: "HeaderOnly", content: csvHeader, status: 200, final: "COMPLETED"},
		{name: "LongLine", content: csvHeader + strings.Repeat("y", 2<<20) + "\n", status: 200, final: "FAILED", mentions: []string{"line 2", "longer than"}},
		{name: "UnclosedQuote", content: row(`"Ann,Lee,1 Main St,ann@example.com,30,Acme`), status: 200, final: "FAILED", mentions: []string{"line 2"}},
		{name: "InvalidUTF8", content: row("A\xffn,Lee,1 Main St,ann@example.com,30,Acme"), status: 200, final: "FAILED", mentions: []string{"line 2", "UTF-8"}},
		{name: "NulInCell", content: row("A\x00n,Lee,1 Main St,ann@example.com,30,Acme"), status: 200, final: "FAILED", mentions: []string{"line 2"}},
		{name: "FormulaEmail", content: row("Ann,Lee,1 Main St,=inj5@example.com,30,Acme"), status: 200, final: "FAILED", mentions: []string{"email"}},
		{name: "AgeWrongType", content: row("Ann,Lee,1 Main St,ann@example.com,thirty,Acme"), status: 200, final: "FAILED", mentions: []string{"age"}},
		{name: "AgeHuge", content: row("Ann,Lee,1 Main St,ann@example.com,99999999999999999999999,Acme"), status: 200, final: "FAILED", mentions: []string{"age"}},
		{name: "CellTooLong", content: row(strings.Repeat("n", 5000) + ",Lee,1 Main St,ann@example.com,30,Acme"), status: 200, final: "FAILED", mentions: []string{"first_name"}},
	}
}

// TestHostileInput sends the corpus on both stores: every request gets its expected 4xx
// (or 200) with a message naming the problem, and none yields a 5xx.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMainWith(t, kind, func(c *Config) { c.MaxUploadBytes = hostileUploadLimit })
		c := newClient(t, m.Addr())
		for _, tc := range hostileRequests() {
			t.Run(tc.name, func(t *testing.T) {
				c := newClient(t, m.Addr())
				path := strings.ReplaceAll(tc.path, "{job}", c.newImportJob(""))
				var r *response
				if tc.raw {
					r = rawExchange(t, m.Addr(), tc.method, path, tc.contentType, tc.header, tc.body, tc.declared)
				} else {
					r = c.doHeaders(tc.method, path, tc.body, tc.contentType, tc.header)
				}
				if r.status >= 500 {
					t.Fatalf("%s: a 5xx", r)
				}
				if tc.status >= 400 && r.status != 431 {
					expectError(t, r, tc.status, tc.mentions...)
				} else if r.status != tc.status {
					t.Errorf("%.300s: want status %d", r, tc.status)
				}
				if tc.check != nil {
					tc.check(t, r)
				}
			})
		}
		for _, tc := range hostileCSVs() {
			t.Run("CSV"+tc.name, func(t *testing.T) {
				c := newClient(t, m.Addr())
				id := c.newImportJob("")
				r := c.do(http.MethodPost, "/api/v1/upload/?job_id="+id, strings.NewReader(tc.content), "text/csv")
				if tc.status != http.StatusOK {
					expectError(t, r, tc.status, tc.mentions...)
					shortBody(t, r)
				} else {
					expectOK(t, r)
				}
				final := c.waitFor(id, "the end", func(s jobStatus) bool { return s.JobStatus == "FAILED" || s.JobStatus == "COMPLETED" })
				want := tc.final
				if want == "" {
					want = "FAILED"
				}
				if final.JobStatus != want {
					t.Fatalf("job %s ended %s, want %s", id, final.JobStatus, want)
				}
				if want == "FAILED" {
					if final.Error == nil || len(*final.Error) > 2000 {
						t.Fatalf("job %s: stored error missing or longer than 2000 bytes", id)
					}
					for _, m := range tc.mentions {
						if !strings.Contains(*final.Error, m) {
							t.Errorf("job %s: error %q does not mention %q", id, *final.Error, m)
						}
					}
				}
			})
		}
		// Nothing above broke the server.
		expectOK(t, c.get("/readyz"))
	})
}

// doHeaders is do with extra request headers.
func (c *client) doHeaders(method, path string, body func() io.Reader, contentType string, header map[string]string) *response {
	c.t.Helper()
	var b io.Reader
	if body != nil {
		b = body()
	}
	if len(header) == 0 {
		return c.do(method, path, b, contentType)
	}
	req, err := http.NewRequest(method, c.base+path, b)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	return &response{method: method, path: path, status: res.StatusCode, header: res.Header, body: got}
}

// rawExchange sends a request over a plain TCP connection and reads the answer, so that
// the server may answer before the body is sent (a 413) or refuse the headers (a 431)
// without the client failing on the closed connection.
func rawExchange(t *testing.T, addr, method, path, contentType string, header map[string]string, body func() io.Reader, declared int) *response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	var b []byte
	if body != nil {
		b, _ = io.ReadAll(body())
	}
	length := len(b)
	if declared > 0 {
		length = declared
	}
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n", method, path, addr, length)
	if contentType != "" {
		fmt.Fprintf(&head, "Content-Type: %s\r\n", contentType)
	}
	for k, v := range header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	head.WriteString("\r\n")
	go func() {
		// The server may stop reading once it has answered; a failed write is expected then.
		if _, err := conn.Write([]byte(head.String())); err == nil {
			_, _ = conn.Write(b)
		}
		if declared > 0 {
			// A truncated body: the client stops sending.
			_ = conn.(*net.TCPConn).CloseWrite()
		}
	}()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %.60s: read answer: %v", method, path, err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	return &response{method: method, path: path, status: res.StatusCode, header: res.Header, body: got}
}
