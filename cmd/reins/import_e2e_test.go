package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins/reinstest"
)

// customersCSV is an import file of n rows with distinct emails.
func customersCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("first_name,last_name,address,email,age,company\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "First%d,Last,\"%d Main St, Town\",user%d@example.com,%d,\"Acme, Inc\"\n", i, i, i, 18+i%60)
	}
	return b.Bytes()
}

// newImportJob creates an upload job through new-job and returns its id.
func (c *client) newImportJob(query string) string {
	c.t.Helper()
	r := c.get("/api/v1/new-job/" + query)
	expectOK(c.t, r)
	return r.json(c.t)["job_id"].(string)
}

// uploadFile posts file as the multipart field "file".
func (c *client) uploadFile(id, name string, file []byte) *response {
	c.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, err := w.CreateFormFile("file", name)
	if err != nil {
		c.t.Fatal(err)
	}
	_, _ = part.Write(file)
	_ = w.Close()
	return c.do(http.MethodPost, "/api/v1/upload/?job_id="+id, &body, w.FormDataContentType())
}

func imported(t *testing.T, m *Main, id string) (rows, emails int64) {
	t.Helper()
	rows, emails, err := m.Backend.CountImported(context.Background(), uuid.MustParse(id))
	if err != nil {
		t.Fatal(err)
	}
	return rows, emails
}

func spoolGone(t *testing.T, m *Main, id string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(m.Config.BlobDir(), "uploads", id))
	return os.IsNotExist(err)
}

// TestImportE2E is the upload flow over real HTTP, the users' first example: a 100,000-row
// baseline upload paused and resumed ends with exactly 100,000 rows; revoked at about half
// it ends with none.
//
// Under the race detector the SQLite half imports 20,000 rows (it would take minutes);
// make test also runs this test without it, at full size on both stores.
func TestImportE2E(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		n := int64(100_000)
		if raceDetector && kind.Name == "sqlite" {
			n = 20_000
		}
		file := customersCSV(int(n))
		m := startMain(t, kind)

		t.Run("PauseResume", func(t *testing.T) {
			c := newClient(t, m.Addr())
			id := c.newImportJob("?max_rows_per_s=40000")
			r := c.uploadFile(id, "baseline.csv", file)
			expectOK(t, r)
			if got := r.json(t); got["file"] != "baseline.csv" || got["job_id"] != id {
				t.Fatalf("upload answered %s", r)
			}
			c.waitFor(id, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 })
			paused := c.command(id, "PAUSE")
			if paused.JobStatus == "COMPLETED" {
				t.Skip("the import finished before it could be paused")
			}
			if paused.JobStatus != "PAUSED" {
				t.Fatalf("PAUSE answered %s", paused.JobStatus)
			}
			if rows, _ := imported(t, m, id); rows != paused.Progress.Done {
				t.Fatalf("PAUSED says done=%d, the table holds %d", paused.Progress.Done, rows)
			}
			time.Sleep(200 * time.Millisecond) // an observation window: nothing may move while paused
			if now := c.status(id); now.Progress.Done != paused.Progress.Done {
				t.Fatalf("done moved while paused: %d -> %d", paused.Progress.Done, now.Progress.Done)
			}
			if resumed := c.command(id, "RESUME"); resumed.JobStatus != "RESUMED" {
				t.Fatalf("RESUME answered %s", resumed.JobStatus)
			}
			done := c.waitStatus(id, "COMPLETED")
			rows, emails := imported(t, m, id)
			if rows != n || emails != n || done.Progress.Done != n || done.Progress.Total == nil || *done.Progress.Total != n {
				t.Fatalf("imported %d rows, %d distinct emails, done=%d total=%v; want %d", rows, emails, done.Progress.Done, done.Progress.Total, n)
			}
			// The run removes the spool as it ends, just after the COMPLETED it wrote.
			c.waitFor(id, "the completed import's spool removed", func(jobStatus) bool { return spoolGone(t, m, id) })
		})
		t.Run("RevokeAtHalf", func(t *testing.T) {
			c := newClient(t, m.Addr())
			id := c.newImportJob("?max_rows_per_s=40000")
			expectOK(t, c.uploadFile(id, "baseline.csv", file))
			c.waitFor(id, "half", func(s jobStatus) bool { return s.Progress.Done >= n/2 || s.JobStatus == "COMPLETED" })
			if got := c.command(id, "REVOKE"); got.JobStatus != "REVOKED" && got.JobStatus != "REVOKING" {
				t.Fatalf("REVOKE answered %s", got.JobStatus)
			}
			if done := c.waitStatus(id, "REVOKED"); done.Progress.Done != 0 {
				t.Fatalf("REVOKED with done=%d", done.Progress.Done)
			}
			if rows, _ := imported(t, m, id); rows != 0 {
				t.Fatalf("%d of the revoked job's rows remain", rows)
			}
			if spoolGone(t, m, id) {
				t.Fatal("the revoked job's file was removed at once; it is kept for a restart (--spool-retention)")
			}
		})
	})
}

// TestUploadTransferE2E pauses, revokes and abandons transfers over real HTTP.
func TestUploadTransferE2E(t *testing.T) {
	t.Parallel()
	file := customersCSV(20_000)
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)

		// stalled posts the file as a raw text/csv body: the first half now, the rest once
		// release is called. The answer arrives on the returned channel.
		stalled := func(t *testing.T, c *client, id string) (release func(), answer <-chan *http.Response) {
			pr, pw := io.Pipe()
			gate := make(chan struct{})
			go func() {
				_, _ = pw.Write(file[:len(file)/2])
				<-gate
				_, _ = pw.Write(file[len(file)/2:])
				pw.Close()
			}()
			ch := make(chan *http.Response, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodPost, c.base+"/api/v1/upload/?filename=raw.csv&job_id="+id, pr)
				req.Header.Set("Content-Type", "text/csv")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("upload: %v", err)
					ch <- nil
					return
				}
				ch <- resp
			}()
			return func() { close(gate) }, ch
		}

		t.Run("PauseDuringTransfer", func(t *testing.T) {
			c := newClient(t, m.Addr())
			id := c.newImportJob("")
			release, answer := stalled(t, c, id)
			c.waitStatus(id, "STARTED")
			if got := c.command(id, "PAUSE"); got.JobStatus != "PAUSED" {
				t.Fatalf("PAUSE during the transfer answered %s", got.JobStatus)
			}
			release()
			select {
			case resp := <-answer:
				t.Fatalf("the transfer finished while paused: %v", resp)
			case <-time.After(200 * time.Millisecond): // an observation window: the transfer must hold
			}
			c.command(id, "RESUME")
			resp := <-answer
			if resp == nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("upload after RESUME answered %v", resp)
			}
			resp.Body.Close()
			c.waitStatus(id, "COMPLETED")
			if rows, emails := imported(t, m, id); rows != 20_000 || emails != 20_000 {
				t.Fatalf("imported %d rows (%d emails), want 20000", rows, emails)
			}
		})
		t.Run("RevokeDuringTransfer", func(t *testing.T) {
			c := newClient(t, m.Addr())
			id := c.newImportJob("")
			release, answer := stalled(t, c, id)
			c.waitStatus(id, "STARTED")
			if got := c.command(id, "REVOKE"); got.JobStatus != "REVOKED" {
				t.Fatalf("REVOKE during the transfer answered %s", got.JobStatus)
			}
			release()
			resp := <-answer
			if resp == nil || resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("the revoked upload answered %v, want a 4xx", resp)
			}
			resp.Body.Close()
			if !spoolGone(t, m, id) {
				t.Fatal("the revoked transfer's spool remains")
			}
		})
		t.Run("ClientDisconnect", func(t *testing.T) {
			c := newClient(t, m.Addr())
			id := c.newImportJob("")
			conn, err := net.Dial("tcp", m.Addr())
			if err != nil {
				t.Fatal(err)
			}
			part := file[:len(file)/3]
			fmt.Fprintf(conn, "POST /api/v1/upload/?job_id=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n", id, len(file))
			_, _ = conn.Write(part)
			c.waitFor(id, "transfer", func(s jobStatus) bool { return s.JobStatus == "STARTED" })
			conn.Close()
			failed := c.waitStatus(id, "FAILED")
			if failed.Error == nil || !strings.Contains(*failed.Error, "client went away") {
				t.Fatalf("error %v does not say the client went away", failed.Error)
			}
			c.waitFor(id, "rollback", func(jobStatus) bool { return spoolGone(t, m, id) })
			if rows, _ := imported(t, m, id); rows != 0 {
				t.Fatalf("%d rows of the abandoned upload remain", rows)
			}
		})
		t.Run("BadUploads", func(t *testing.T) {
			c := newClient(t, m.Addr())
			id := c.newImportJob("")
			expectError(t, c.uploadFile(uuid.NewString(), "x.csv", file), http.StatusNotFound, "not found")
			expectError(t, c.do(http.MethodPost, "/api/v1/upload/", strings.NewReader("x"), "text/csv"), http.StatusBadRequest, "job_id")
			expectError(t, c.do(http.MethodPost, "/api/v1/upload/?job_id="+id, strings.NewReader("x"), "image/png"), http.StatusUnsupportedMediaType, "Content-Type")
			var body bytes.Buffer
			w := multipart.NewWriter(&body)
			_ = w.WriteField("other", "x")
			_ = w.Close()
			expectError(t, c.do(http.MethodPost, "/api/v1/upload/?job_id="+id, &body, w.FormDataContentType()), http.StatusBadRequest, "file")
			expectError(t, c.uploadFile(id, "bad.csv", []byte("first_name,last_name\nA,B\n")), http.StatusBadRequest, "company")
			c.waitStatus(id, "FAILED")
			expectError(t, c.uploadFile(id, "again.csv", file), http.StatusConflict, "FAILED")

			done := c.newImportJob("")
			expectOK(t, c.uploadFile(done, "good.csv", customersCSV(10)))
			// A second file: refused whether the first is still importing or already done.
			expectError(t, c.uploadFile(done, "twice.csv", file), http.StatusConflict, "file")
			export := c.export("2015-01-01", "2015-01-02", 0)
			expectError(t, c.uploadFile(export, "x.csv", file), http.StatusConflict, "export")
			expectError(t, c.get("/api/v1/new-job/?on_error=ignore"), http.StatusBadRequest, "on_error")
			expectError(t, c.get("/api/v1/new-job/?max_rows_per_s=0"), http.StatusBadRequest, "max_rows_per_s")
		})
	})
}

// TestNewJobBodies creates upload jobs with parameters in the query, a form and a JSON body:
// each reaches the job.
func TestNewJobBodies(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)
		c := newClient(t, m.Addr())
		for _, tc := range []struct {
			name string
			r    *response
		}{
			{"query", c.get("/api/v1/new-job/?on_error=skip&max_rows_per_s=250")},
			{"form", c.do(http.MethodPost, "/api/v1/new-job/", strings.NewReader("on_error=skip&max_rows_per_s=250"), "application/x-www-form-urlencoded")},
			{"json", c.do(http.MethodPost, "/api/v1/new-job/", strings.NewReader(`{"on_error": "skip", "max_rows_per_s": 250}`), "application/json")},
		} {
			expectOK(t, tc.r)
			id := tc.r.json(t)["job_id"].(string)
			params, _ := c.get("/api/v1/jobs/" + id + "/").json(t)["params"].(map[string]any)
			if params["on_error"] != "skip" || params["max_rows_per_s"] != float64(250) {
				t.Errorf("%s: the job's params are %v, want on_error=skip and max_rows_per_s=250", tc.name, params)
			}
		}
		expectError(t, c.do(http.MethodPost, "/api/v1/new-job/", strings.NewReader(`{"on_error": ["skip"]}`), "application/json"), http.StatusBadRequest, "on_error")
	})
}
