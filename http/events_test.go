package http

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestEventsHeartbeat opens an idle tenant stream: it says it is live, sends the heartbeat
// comment, and ends when the server shuts down.
func TestEventsHeartbeat(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.heartbeat = 10 * time.Millisecond
	ts := httptest.NewServer(s)
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/v1/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/events: %d %s", res.StatusCode, ct)
	}
	sc := bufio.NewScanner(res.Body)
	var lines []string
	for len(lines) < 4 && sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	want := []string{": no jobs", ": ping", ": ping", ": ping"}
	for i := range want {
		if i >= len(lines) || lines[i] != want[i] {
			t.Fatalf("an idle stream sent %q, want %q", lines, want)
		}
	}
	s.Shutdown()
	for sc.Scan() {
		if line := sc.Text(); line != "" && line != ": ping" {
			t.Fatalf("after the shutdown: %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("the stream did not end cleanly on shutdown: %v", err)
	}
}
