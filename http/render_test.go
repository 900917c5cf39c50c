package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/registry"
	"github.com/reins-dev/reins/reinstest"
)

// renderJobs returns a server and the jobs its answers render: a running export and a
// running import, and a failed import whose texts hold what JSON escapes (HTML's <, > and &,
// quotes, U+2028, a tab).
func renderJobs(tb testing.TB) (*Server, map[string]*reins.Job) {
	now := time.Now()
	total := int64(1_000_000)
	return newTestServer(tb), map[string]*reins.Job{
		"export": {ID: uuid.New(), Type: "export", Status: reins.StatusStarted, Done: 120_000, Total: &total,
			Params:     json.RawMessage(`{"date_gte":"2015-01-01","date_lte":"2024-12-31","max_rows_per_s":20000}`),
			Checkpoint: json.RawMessage(`{"max_id":1000000,"snapshot":true,"after_id":120000,"end_id":1000000,"estimate":1000000,"parts":[{"key":"exports/6f37b628-d21a-47ac-86c4-792bc91356ba/part-00000-1a2b3c4d.csv","size":10800000}]}`),
			CreatedAt:  now, UpdatedAt: now, StartedAt: &now},
		"import": {ID: uuid.New(), Type: "import", Status: reins.StatusStarted, Done: 120_000, Total: &total,
			Params:     json.RawMessage(`{"max_rows_per_s":20000,"on_error":"abort"}`),
			Checkpoint: json.RawMessage(`{"offset":13000000,"line":120001,"columns":["first_name","last_name","address","email","age","company","created_at"],"skipped":0}`),
			CreatedAt:  now, UpdatedAt: now, StartedAt: &now},
		"failed": {ID: uuid.New(), Type: "import", Status: reins.StatusFailed, Done: 3,
			Params:     json.RawMessage(`{ "on_error" : "skip", "mapping": {"<b>Mail</b> & co": "email"} }`),
			Checkpoint: json.RawMessage(`{"offset":90,"line":4,"skipped":1,"errors":[{"line":3,"field":"email","reason":"must be an email address like name@example.com, got \"<a href='x'>\u2028\t\""}]}`),
			Error:      `line 7: "<script>" & more`, CreatedAt: now, UpdatedAt: now, FinishedAt: &now},
	}
}

// TestWriteJobJSON checks that a job's answer, written from its MarshalJSON's bytes, is byte
// for byte what an Encoder writes for it (checked and compacted), and that the event stream's
// rendering is json.Marshal's.
func TestWriteJobJSON(t *testing.T) {
	s, jobs := renderJobs(t)
	for name, job := range jobs {
		j := s.toJobJSON(job)
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(j); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		writeJSON(rec, http.StatusOK, j)
		if got := rec.Body.String(); got != want.String() {
			t.Errorf("%s: writeJSON wrote\n%s\nan Encoder writes\n%s", name, got, want.String())
		}
		marshalled, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		own, err := j.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(own, marshalled) {
			t.Errorf("%s: MarshalJSON made\n%s\njson.Marshal makes\n%s", name, own, marshalled)
		}
	}
}

// BenchmarkRenderJob renders a running export and a running import as job-status answers
// them (toJobJSON and writeJSON), without the database read: the server's own part of every
// job-status request.
func BenchmarkRenderJob(b *testing.B) {
	s, jobs := renderJobs(b)
	for _, name := range []string{"export", "import"} {
		job := jobs[name]
		b.Run(name, func(b *testing.B) {
			w := &discardWriter{header: http.Header{}}
			for b.Loop() {
				writeJSON(w, http.StatusOK, s.toJobJSON(job))
			}
		})
	}
}

// discardWriter is an http.ResponseWriter that keeps nothing.
type discardWriter struct{ header http.Header }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// newTestServer is an API server over a fresh SQLite store and blob directory, with the
// default kinds.
func newTestServer(tb testing.TB) *Server {
	tb.Helper()
	backend := reinstest.OpenSQLite(tb)
	b, err := blob.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	e, err := engine.New(backend, registry.New(registry.Deps{Store: backend, Blob: b}), engine.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return NewServer(e, b, nil)
}
