package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/reinstest"
)

// sseEvent is one Server-Sent Event as a client reads it.
type sseEvent struct {
	ID    int64
	Event string
	Job   jobStatus
	Data  map[string]any
}

// sseStream is a client's open event stream; its events arrive on Events, which is closed
// when the stream ends (Err then says how).
type sseStream struct {
	Header http.Header
	Events chan sseEvent
	Err    error
	cancel context.CancelFunc
}

// openEvents opens an event stream at path, sending lastID as Last-Event-ID when not 0, and
// fails the test unless it answers 200 with text/event-stream.
func openEvents(t *testing.T, addr, path string, lastID int64) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("GET %s: %d %s %s; want a 200 event stream", path, res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	s := &sseStream{Header: res.Header, Events: make(chan sseEvent, 1024), cancel: cancel}
	go func() {
		defer close(s.Events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		var data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data != "" {
					_ = json.Unmarshal([]byte(data), &ev.Job)
					_ = json.Unmarshal([]byte(data), &ev.Data)
					s.Events <- ev
				}
				ev, data = sseEvent{}, ""
			case strings.HasPrefix(line, "id: "):
				ev.ID, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
		s.Err = sc.Err()
	}()
	return s
}

// next returns the stream's next event, failing the test if the stream ends or nothing comes
// within waitLimit.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.Events:
		if !ok {
			t.Fatalf("the event stream ended early: %v", s.Err)
		}
		return ev
	case <-time.After(waitLimit):
		t.Fatalf("no event within %s", waitLimit)
	}
	return sseEvent{}
}

// until reads events until cond holds for one, checking that ids increase, and returns it.
func (s *sseStream) until(t *testing.T, what string, last *int64, cond func(sseEvent) bool) sseEvent {
	t.Helper()
	for {
		ev := s.next(t)
		if ev.ID <= *last {
			t.Fatalf("event id %d after %d: ids must increase", ev.ID, *last)
		}
		*last = ev.ID
		if ev.Event != "status" && ev.Event != "progress" {
			t.Fatalf("event type %q, want status or progress", ev.Event)
		}
		if cond(ev) {
			return ev
		}
		t.Logf("waiting for %s: %s %s done=%d", what, ev.Event, ev.Job.JobStatus, ev.Job.Progress.Done)
	}
}

// ended waits for the stream to end, failing the test if another event comes first.
func (s *sseStream) ended(t *testing.T) {
	t.Helper()
	select {
	case ev, ok := <-s.Events:
		if ok {
			t.Fatalf("an event after the stream should have ended: %+v", ev)
		}
	case <-time.After(waitLimit):
		t.Fatalf("the stream did not end within %s", waitLimit)
	}
}

// watchJob follows a throttled job's stream through PAUSE, RESUME and completion: its first
// event is its state, progress events show done rising, each command's status comes as a
// status event, and the stream ends after COMPLETED.
func watchJob(t *testing.T, addr string, c *client, id string) {
	t.Helper()
	s := openEvents(t, addr, "/api/v1/jobs/"+id+"/events", 0)
	var last int64
	first := s.until(t, "the current state", &last, func(sseEvent) bool { return true })
	if first.Event != "status" || first.Job.JobID != id {
		t.Fatalf("first event: %s of job %s, want the job's status", first.Event, first.Job.JobID)
	}
	if _, ok := first.Data["progress"].(map[string]any)["rate_per_s"]; !ok {
		t.Errorf("the event's job has no progress.rate_per_s: %v", first.Data)
	}
	// The job is throttled to take seconds: it is still running when PAUSE comes.
	s.until(t, "progress", &last, func(ev sseEvent) bool { return ev.Event == "progress" && ev.Job.Progress.Done > 0 })
	if got := c.command(id, "PAUSE"); got.JobStatus != "PAUSED" {
		t.Fatalf("PAUSE answered %s", got.JobStatus)
	}
	paused := s.until(t, "PAUSED", &last, func(ev sseEvent) bool { return ev.Job.JobStatus == "PAUSED" })
	if paused.Event != "status" {
		t.Errorf("PAUSED came as a %s event", paused.Event)
	}
	c.command(id, "RESUME")
	s.until(t, "RESUMED", &last, func(ev sseEvent) bool { return ev.Event == "status" && ev.Job.JobStatus == "RESUMED" })
	s.until(t, "progress after RESUME", &last, func(ev sseEvent) bool {
		if ev.Job.Progress.Done < paused.Job.Progress.Done {
			t.Fatalf("done went back from %d to %d", paused.Job.Progress.Done, ev.Job.Progress.Done)
		}
		return ev.Event == "progress" && ev.Job.Progress.Done > paused.Job.Progress.Done
	})
	done := s.until(t, "COMPLETED", &last, func(ev sseEvent) bool { return ev.Job.JobStatus == "COMPLETED" })
	if done.Event != "status" || done.Job.Progress.Total == nil || done.Job.Progress.Done != *done.Job.Progress.Total {
		t.Errorf("last event: %s %s done %d of %v", done.Event, done.Job.JobStatus, done.Job.Progress.Done, done.Job.Progress.Total)
	}
	s.ended(t)
}

// TestEvents watches jobs live on every store: one job's stream through pause, resume and
// completion; the tenant's stream; a reconnection with Last-Event-ID; 404 before the stream
// for an unknown job and for another tenant's; and a shutdown that ends open streams at once.
func TestEvents(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)
		seedDemo(t, m, 1000)
		c := newClient(t, m.Addr())

		// Another tenant's job: invisible on every stream.
		other := &reins.Job{ID: uuid.New(), Type: csvexport.Type, Status: reins.StatusCreated, Owner: "someone-else"}
		if err := m.Backend.CreateJob(context.Background(), other, "test", reins.RunNone, nil); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/api/v1/jobs/" + uuid.NewString() + "/events", "/api/v1/jobs/" + other.ID.String() + "/events",
			"/api/v1/jobs/not-a-uuid/events/"} {
			expectError(t, c.get(path), http.StatusNotFound)
		}

		all := openEvents(t, m.Addr(), "/api/v1/events", 0)
		// 1000 customers over 2015..2024: about 400 in 2019..2022, at 100 rows a second.
		id := c.export("2019-01-01", "2022-12-31", 100)
		watchJob(t, m.Addr(), c, id)

		// The tenant's stream saw the job from its creation to its end, and nothing else.
		var last int64
		var statuses []string
		all.until(t, "the export's end", &last, func(ev sseEvent) bool {
			if ev.Job.JobID != id {
				t.Fatalf("the tenant's stream shows job %s (%s), not the tenant's export", ev.Job.JobID, ev.Job.JobStatus)
			}
			if ev.Event == "status" {
				statuses = append(statuses, ev.Job.JobStatus)
			}
			return ev.Job.JobStatus == "COMPLETED"
		})
		if got := strings.Join(statuses, " "); !strings.Contains(got, "PAUSED RESUMED") || !strings.HasSuffix(got, "RESUMED COMPLETED") {
			t.Errorf("the tenant's stream showed the statuses %s", got)
		}

		// Reconnecting: the current state first, with ids after the last one seen; the
		// finished export is among the jobs of the last minute.
		again := openEvents(t, m.Addr(), "/api/v1/events", last)
		ev := again.next(t)
		if ev.ID <= last || ev.Job.JobID != id || ev.Job.JobStatus != "COMPLETED" {
			t.Errorf("after reconnecting with Last-Event-ID %d: event %d of job %s (%s)", last, ev.ID, ev.Job.JobID, ev.Job.JobStatus)
		}
		single := openEvents(t, m.Addr(), "/api/v1/jobs/"+id+"/events", last)
		if ev := single.next(t); ev.ID <= last || ev.Job.JobStatus != "COMPLETED" {
			t.Errorf("a finished job's stream: event %d %s", ev.ID, ev.Job.JobStatus)
		}
		single.ended(t)

		// A shutdown ends the open streams rather than waiting for them.
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.Grace)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close with open event streams: %v", err)
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("the shutdown took the whole grace period")
		}
		again.ended(t)
	})
}

// TestEventsAcrossProcesses watches, through an API-only process, a job that a separate
// worker process runs (Postgres): its status and progress cross processes.
func TestEventsAcrossProcesses(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	workerAddr := freeAddr(t)
	worker := startReins(t, cl.env(), "worker", "--workers", "2", "--addr", workerAddr, "--name", "w1", "--grace", "10s")
	waitHealthy(t, worker, workerAddr)
	mustRun(t, cl.env(), "seed", "--customers", "1000")
	id := cl.c.export("2019-01-01", "2022-12-31", 100)
	watchJob(t, cl.apiAddr, cl.c, id)

	// Both processes report the jobs the database holds; the rows are the worker's work.
	api, w := scrape(t, cl.c), scrape(t, newClient(t, workerAddr))
	const completed = `reins_jobs{job_type="export",status="COMPLETED"}`
	const rows = `reins_rows_processed_total{job_type="export",run="process"}`
	done := cl.c.status(id).Progress.Done
	if api[completed] != 1 || w[completed] != 1 {
		t.Errorf("completed exports: the API process says %v, the worker %v; want 1 from both", api[completed], w[completed])
	}
	if w[rows] != float64(done) || api[rows] != 0 {
		t.Errorf("rows processed: the worker says %v, the API process %v; want %d and 0", w[rows], api[rows], done)
	}
}
