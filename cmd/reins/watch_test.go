package main

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/reins-dev/reins/reinstest"
)

// listPage is what GET /api/v1/jobs answers.
type listPage struct {
	Jobs       []map[string]any `json:"jobs"`
	NextCursor *string          `json:"next_cursor"`
}

// TestJobListing pages through the listing over HTTP by next_cursor, filters it, reads the
// summary, and checks that bad filters are refused with a 400 naming the parameter.
func TestJobListing(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)
		c := newClient(t, m.Addr())
		var ids []string
		for range 7 {
			ids = append(ids, newUploadJob(t, c))
		}
		slices.Reverse(ids) // newest first

		var listed []string
		next := ""
		for page := 0; ; page++ {
			q := url.Values{"limit": {"3"}}
			if next != "" {
				q.Set("cursor", next)
			}
			r := c.get("/api/v1/jobs/?" + q.Encode())
			expectOK(t, r)
			p := decode[listPage](t, r)
			for _, j := range p.Jobs {
				listed = append(listed, j["job_id"].(string))
				if _, ok := j["errors"]; ok {
					t.Errorf("a listed job carries its row errors: %v", j)
				}
				if _, ok := j["progress"].(map[string]any); !ok {
					t.Errorf("a listed job has no progress: %v", j)
				}
			}
			if p.NextCursor == nil {
				break
			}
			if page > 5 {
				t.Fatalf("the listing of 7 jobs by 3 goes on past page %d", page)
			}
			next = *p.NextCursor
		}
		if !slices.Equal(listed, ids) {
			t.Errorf("paged listing: %v, want %v", listed, ids)
		}

		count := func(query string) int {
			r := c.get("/api/v1/jobs?" + query)
			expectOK(t, r)
			return len(decode[listPage](t, r).Jobs)
		}
		for query, want := range map[string]int{
			"type=import": 7, "type=export": 0, "status=CREATED": 7, "status=COMPLETED": 0,
			"status=COMPLETED&status=CREATED": 7, "status=paused,created": 7, "created_gte=2000-01-01": 7,
			"created_lte=2000-01-01": 0, "created_gte=2000-01-01T00:00:00Z&created_lte=2999-01-01T00:00:00%2B02:00": 7,
		} {
			if got := count(query); got != want {
				t.Errorf("GET /api/v1/jobs?%s: %d jobs, want %d", query, got, want)
			}
		}

		for _, path := range slashes("/api/v1/jobs/summary") {
			r := c.get(path)
			expectOK(t, r)
			s := decode[struct {
				Counts map[string]int64 `json:"counts"`
				Total  int64            `json:"total"`
			}](t, r)
			if s.Total != 7 || s.Counts["CREATED"] != 7 || len(s.Counts) != 10 {
				t.Errorf("%s: want 7 CREATED of 7 and every status named", r)
			}
		}

		junk := base64.RawURLEncoding.EncodeToString([]byte("12.not-a-uuid"))
		for query, param := range map[string]string{
			"status=BOGUS": "status", "status=CREATED&status=": "", "type=bogus": "type",
			"created_gte=2024-13-01": "created_gte", "created_lte=yesterday": "created_lte",
			"created_gte=2024-02-01&created_lte=2024-01-01": "created_gte", "cursor=%25%25": "cursor",
			"cursor=" + junk: "cursor", "limit=0": "limit", "limit=1001": "limit", "stauts=CREATED": "stauts",
		} {
			r := c.get("/api/v1/jobs?" + query)
			if param == "" {
				expectOK(t, r) // an empty value is no filter
				continue
			}
			expectError(t, r, http.StatusBadRequest, param)
		}
	})
}

// TestTransferProgress holds an upload mid-transfer (the client has sent part of its file)
// and reads the job: its transfer shows the bytes received so far and the total the client
// declared, then, once the rest is in, the whole file.
func TestTransferProgress(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)
		c := newClient(t, m.Addr())
		id := c.newImportJob("")
		file := customersCSV(200)
		half := len(file) / 2

		pr, pw := io.Pipe()
		req, err := http.NewRequest(http.MethodPost, "http://"+m.Addr()+"/api/v1/upload/?job_id="+id, pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/csv")
		req.ContentLength = int64(len(file))
		answered := make(chan *http.Response, 1)
		go func() {
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("upload: %v", err)
				close(answered)
				return
			}
			answered <- res
		}()
		if _, err := pw.Write(file[:half]); err != nil {
			t.Fatal(err)
		}
		type transfer struct {
			State         string `json:"state"`
			BytesReceived int64  `json:"bytes_received"`
			BytesTotal    *int64 `json:"bytes_total"`
		}
		read := func() transfer {
			r := c.get("/api/v1/job-status/" + id + "/")
			expectOK(t, r)
			return decode[struct {
				Transfer transfer `json:"transfer"`
			}](t, r).Transfer
		}
		// The rest of the file is held back: the transfer waits mid-way until the test goes on.
		deadline := time.Now().Add(waitLimit)
		for tr := read(); tr.BytesReceived == 0; tr = read() {
			if time.Now().After(deadline) {
				t.Fatalf("mid-transfer, after %d bytes sent: transfer %+v", half, tr)
			}
			time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
		}
		tr := read()
		if tr.State != "receiving" || tr.BytesReceived > int64(half) || tr.BytesTotal == nil || *tr.BytesTotal != int64(len(file)) {
			t.Errorf("mid-transfer, %d of %d bytes sent: transfer %+v (total %v)", half, len(file), tr, tr.BytesTotal)
		}
		if _, err := pw.Write(file[half:]); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		res, ok := <-answered
		if !ok {
			return
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("upload answered %d", res.StatusCode)
		}
		if tr := read(); tr.State != "complete" || tr.BytesReceived != int64(len(file)) || tr.BytesTotal == nil || *tr.BytesTotal != int64(len(file)) {
			t.Errorf("after the upload: transfer %+v, want complete with %d bytes", tr, len(file))
		}
	})
}
