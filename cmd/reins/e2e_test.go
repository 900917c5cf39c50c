package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reins-dev/reins/reinstest"
)

// TestPauseResumeE2E is the "done when" scenario through HTTP: a throttled export
// paused midway keeps its counters frozen while paused, and after RESUME completes with
// exactly the rows of an unpaused export of the same range.
func TestPauseResumeE2E(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		const n = 20_000
		const gte, lte = "2015-01-01", "2024-12-31"
		m := startMain(t, kind)
		seedDemo(t, m, n)
		c := newClient(t, m.Addr())

		unpaused := c.export(gte, lte, 0)
		// 4,000 rows a second: about five seconds of work, in batches of 1,000.
		paused := c.export(gte, lte, 4000)

		var lastDone int64
		for cycle := range 2 {
			running := c.waitFor(paused, "progress", func(s jobStatus) bool {
				return s.Progress.Done > lastDone || s.JobStatus == "COMPLETED"
			})
			if running.JobStatus == "COMPLETED" || running.Progress.Done == n {
				t.Fatalf("cycle %d: the export finished before it could be paused; the throttle did not hold", cycle)
			}
			if running.Progress.Total == nil || *running.Progress.Total != n {
				t.Fatalf("cycle %d: a running export's progress.total is %v, want %d", cycle, running.Progress.Total, n)
			}

			answer := c.command(paused, "PAUSE")
			if answer.JobStatus != "PAUSED" {
				t.Fatalf("cycle %d: PAUSE answered %s, want PAUSED", cycle, answer.JobStatus)
			}
			if answer.Progress.Done <= lastDone || answer.Progress.Done >= n {
				t.Fatalf("cycle %d: PAUSE answered done=%d, want between %d and %d", cycle, answer.Progress.Done, lastDone, n)
			}
			// The counters stay where PAUSE said. This is a negative check, so it needs an
			// observation window: two GETs a few throttle periods (250 ms each) apart. The
			// sleeps are that window, not synchronisation.
			for look := range 2 {
				time.Sleep(300 * time.Millisecond)
				if s := c.status(paused); s.JobStatus != "PAUSED" || s.Progress.Done != answer.Progress.Done {
					t.Fatalf("cycle %d, look %d: job moved while paused: PAUSE said done=%d, now %s done=%d",
						cycle, look, answer.Progress.Done, s.JobStatus, s.Progress.Done)
				}
			}
			// Repeating PAUSE is harmless and tells the same truth.
			if again := c.command(paused, "PAUSE"); again.JobStatus != "PAUSED" || again.Progress.Done != answer.Progress.Done {
				t.Fatalf("cycle %d: repeated PAUSE answered %s done=%d", cycle, again.JobStatus, again.Progress.Done)
			}
			lastDone = answer.Progress.Done

			if s := c.command(paused, "RESUME"); s.JobStatus != "RESUMED" {
				t.Fatalf("cycle %d: RESUME answered %s, want RESUMED", cycle, s.JobStatus)
			}
		}

		done := c.waitStatus(paused, "COMPLETED")
		if done.Progress.Done != n || done.Progress.Total == nil || *done.Progress.Total != n {
			t.Fatalf("paused export completed with done=%d total=%v, want %d", done.Progress.Done, done.Progress.Total, n)
		}
		c.waitStatus(unpaused, "COMPLETED")
		want, rows := expectedCSV(t, n, gte, lte)
		if rows != n {
			t.Fatalf("expected CSV has %d rows, want %d", rows, n)
		}
		gotUnpaused, gotPaused := c.download(unpaused), c.download(paused)
		if gotUnpaused != want {
			t.Fatalf("unpaused export differs from the expected CSV: %s", diffCSV(gotUnpaused, want))
		}
		if gotPaused != gotUnpaused {
			t.Fatalf("paused and resumed export differs from the unpaused one: %s", diffCSV(gotPaused, gotUnpaused))
		}

		// The history tells the story: two PAUSE/RESUME cycles by the API, PAUSED written by
		// the run that stopped.
		detail := c.get("/api/v1/jobs/" + paused).json(t)
		var path []string
		for _, h := range detail["history"].([]any) {
			e := h.(map[string]any)
			path = append(path, e["to"].(string)+"/"+e["actor"].(string))
		}
		if got := strings.Join(path, " "); strings.Count(got, "PAUSED/") != 2 || strings.Count(got, "RESUMED/api") != 2 ||
			!strings.HasSuffix(got, "COMPLETED/worker") {
			t.Errorf("history of the paused export: %s", got)
		}
	})
}

// TestRevokeRunningE2E revokes a running export through HTTP: the answer is REVOKED, the
// counters stop, and its result is gone (410).
func TestRevokeRunningE2E(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		const n = 5000
		m := startMain(t, kind)
		seedDemo(t, m, n)
		c := newClient(t, m.Addr())

		id := c.export("2015-01-01", "2024-12-31", 1000)
		c.waitFor(id, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 })
		expectError(t, c.result(id), http.StatusConflict)

		answer := c.command(id, "REVOKE")
		if answer.JobStatus != "REVOKED" {
			t.Fatalf("REVOKE answered %s, want REVOKED", answer.JobStatus)
		}
		if answer.Progress.Done >= n {
			t.Fatalf("REVOKE answered done=%d: the export had finished", answer.Progress.Done)
		}
		// Observation window for a negative check (nothing may move), not synchronisation.
		time.Sleep(300 * time.Millisecond)
		s := c.status(id)
		if s.JobStatus != "REVOKED" || s.Progress.Done != answer.Progress.Done {
			t.Fatalf("after REVOKE the job is %s done=%d, REVOKE said done=%d", s.JobStatus, s.Progress.Done, answer.Progress.Done)
		}
		expectError(t, c.result(id), http.StatusGone)
		if again := c.command(id, "REVOKE"); again.JobStatus != "REVOKED" {
			t.Fatalf("repeated REVOKE answered %s", again.JobStatus)
		}
		// Its partial file is deleted from the blob store.
		if ok, err := m.Blob.Exists("exports/" + id); err != nil || ok {
			t.Fatalf("revoked export's files exist=%v (err %v), want deleted", ok, err)
		}

		// PAUSE and REVOKE racing on a running export end in one consistent state: REVOKED.
		// Each answer is a 200 telling the truth, or a 400 naming the revoke in progress.
		id = c.export("2015-01-01", "2024-12-31", 1000)
		c.waitFor(id, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 })
		answers := make(chan *response, 2)
		for _, cmd := range []string{"PAUSE", "REVOKE"} {
			go func() {
				// c.do may not fail the test from this goroutine: post by hand.
				res, err := http.PostForm(c.base+"/api/v1/job-status/"+id+"/", map[string][]string{"status": {cmd}})
				if err != nil {
					answers <- &response{method: cmd, status: -1, body: []byte(err.Error())}
					return
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				answers <- &response{method: "POST status=" + cmd, path: id, status: res.StatusCode, header: res.Header, body: b}
			}()
		}
		for range 2 {
			r := <-answers
			switch {
			case r.status == http.StatusOK:
				if s := decode[jobStatus](t, r); s.JobStatus != "PAUSED" && s.JobStatus != "REVOKED" {
					t.Errorf("%s: a racing command answered %s, want PAUSED or REVOKED", r, s.JobStatus)
				}
			case r.status == http.StatusBadRequest && strings.HasPrefix(r.method, "POST status=PAUSE"):
				expectError(t, r, http.StatusBadRequest, "REVOK")
			default:
				t.Errorf("%s: unexpected answer to a racing command", r)
			}
		}
		if s := c.waitStatus(id, "REVOKED"); s.JobStatus != "REVOKED" {
			t.Fatalf("after racing PAUSE and REVOKE the job is %s", s.JobStatus)
		}
		expectError(t, c.result(id), http.StatusGone)
	})
}
