package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// loadResult is one open-loop run of GET job-status.
type loadResult struct {
	sent     int
	errs     int
	firstErr string
	lats     []time.Duration // sorted; from each request's due time to its answer read
	elapsed  time.Duration   // from the first due time to the last answer
}

// loadWorkers bounds the requests in flight. A request due while all are busy waits for
// one, and its wait counts in its latency (no coordinated omission).
const loadWorkers = 256

// openLoop sends GET job-status for the ids in turn at a fixed rate for d, whatever the
// answers' pace (an open loop: request i is due at start + i/rate), and times each from its
// due time.
func openLoop(ctx context.Context, base string, ids []string, rate int, d time.Duration) loadResult {
	n := max(1, int(float64(rate)*d.Seconds()))
	interval := time.Second / time.Duration(rate)
	host := strings.TrimPrefix(base, "http://")

	type job struct {
		i   int
		due time.Time
	}
	due := make(chan job, n)
	var mu sync.Mutex
	res := loadResult{lats: make([]time.Duration, 0, n)}
	var last time.Time
	var wg sync.WaitGroup
	for range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := &statusConn{host: host}
			defer conn.close()
			for j := range due {
				err := conn.get(ctx, "/api/v1/job-status/"+ids[j.i%len(ids)])
				at := time.Now()
				mu.Lock()
				res.sent++
				res.lats = append(res.lats, at.Sub(j.due))
				if at.After(last) {
					last = at
				}
				if err != nil {
					res.errs++
					if res.firstErr == "" {
						res.firstErr = err.Error()
					}
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now().Add(20 * time.Millisecond)
	for i := range n {
		t := start.Add(time.Duration(i) * interval)
		if w := time.Until(t); w > 0 {
			if sleep(ctx, w) != nil {
				break
			}
		}
		due <- job{i: i, due: t}
	}
	close(due)
	wg.Wait()
	slices.Sort(res.lats)
	res.elapsed = last.Sub(start)
	return res
}

// statusConn is one keep-alive HTTP/1.1 connection of the load generator, which writes each
// request and reads its answer itself. net/http's client spent about a third more CPU per
// request (a goroutine hand-off for each request's write and for its read: 185 against 140
// µs on this page's machine), and the load generator shares the 2 cores with the server it
// measures (docs/benchmarks.md, "job-status: where the time went").
type statusConn struct {
	host string
	c    net.Conn
	r    *bufio.Reader
}

// statusTimeout bounds one request of the load.
const statusTimeout = 10 * time.Second

// get sends GET path and reads the whole answer, which must be a 200. A connection that
// fails is closed, and the next request dials a new one.
func (s *statusConn) get(ctx context.Context, path string) error {
	if s.c == nil {
		c, err := (&net.Dialer{Timeout: statusTimeout}).DialContext(ctx, "tcp", s.host)
		if err != nil {
			return err
		}
		s.c, s.r = c, bufio.NewReaderSize(c, 16<<10)
	}
	if err := s.c.SetDeadline(time.Now().Add(statusTimeout)); err != nil {
		s.close()
		return err
	}
	if _, err := io.WriteString(s.c, "GET "+path+" HTTP/1.1\r\nHost: "+s.host+"\r\n\r\n"); err != nil {
		s.close()
		return err
	}
	resp, err := http.ReadResponse(s.r, nil)
	if err != nil {
		s.close()
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		s.close()
	}
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

func (s *statusConn) close() {
	if s.c != nil {
		s.c.Close()
		s.c, s.r = nil, nil
	}
}

// benchStatusLoad is the job-status figure: GET job-status at --status-rate requests a
// second for --status-for, open loop, while 4 jobs run (2 exports and 2 imports, throttled
// so that they outlast the load), after a one-second warm-up at the same rate.
func (b *bench) benchStatusLoad(ctx context.Context) error {
	runFor := 3*b.opts.statusFor + 20*time.Second
	rate := int(max(1, float64(b.opts.rows)/runFor.Seconds()))
	var ids []string
	for range 2 {
		id, err := b.api.export(ctx, rate)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	var maxID int64
	if err := b.db.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM customers").Scan(&maxID); err != nil {
		return err
	}
	path := filepath.Join(b.tmp, "load-import.csv")
	if _, err := writeImportCSV(path, b.opts.rows); err != nil {
		return fmt.Errorf("write the import file: %w", err)
	}
	defer os.Remove(path)
	for range 2 {
		id, err := b.api.newImport(ctx, rate)
		if err != nil {
			return err
		}
		if err := b.api.upload(ctx, id, path, b.opts.jobTimeout); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if _, err := b.waitMoved(ctx, id, 0); err != nil {
			return err
		}
	}
	warm := openLoop(ctx, b.srv.baseURL, ids, b.opts.statusRate, time.Second)
	b.logf("job-status warm-up: %d requests, %d errors", warm.sent, warm.errs)
	c0 := b.cpu()
	self0, _, _ := cpuTime("self")
	stop := b.profile(ctx, "status-load")
	res := openLoop(ctx, b.srv.baseURL, ids, b.opts.statusRate, b.opts.statusFor)
	stop()
	cpu := b.cpu().sub(c0)
	self1, _, _ := cpuTime("self")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	ran := 0
	for _, id := range ids {
		st, err := b.api.status(ctx, id)
		if err != nil {
			return err
		}
		if st.JobStatus == "STARTED" || st.JobStatus == "RESUMED" {
			ran++
		}
	}
	for _, id := range ids {
		if err := b.revoke(ctx, id); err != nil {
			return err
		}
	}
	left := int64(0) // the rollbacks removed every imported row
	if ran < len(ids) {
		left = -1 // an import that completed keeps its rows
	}
	if err := b.removeImported(ctx, maxID, left); err != nil {
		return fmt.Errorf("after the load: %w", err)
	}
	achieved := float64(res.sent) / res.elapsed.Seconds()
	p99 := percentile(res.lats, 99)
	ok := p99 <= 10*time.Millisecond && res.errs == 0 && achieved >= 0.95*float64(b.opts.statusRate) && ran == len(ids)
	b.report.add(row{
		figure: fmt.Sprintf("`GET job-status` at %s req/s for %s (open loop) while 4 jobs run: p50 / p99 / max; achieved rate; errors",
			count(int64(b.opts.statusRate)), b.opts.statusFor),
		reins:    fmt.Sprintf("%s; %s req/s; %d errors", spread(res.lats, 99), count(int64(achieved+0.5)), res.errs),
		baseline: "–", ratio: "–",
		target: "p99 ≤ 10 ms, no errors (and the rate achieved, the 4 jobs running throughout)",
		pass:   passMark(ok),
	})
	first := ""
	if res.firstErr != "" {
		first = "; first error: " + res.firstErr
	}
	b.report.note("job-status load: %d requests over %s (latency from each request's due time, so a late start counts), at most %d in flight, cycling over 2 exports and 2 imports throttled to %d rows/s each; %d of the 4 still running at the end; CPU during the load: %s, the load generator (this process, on the same machine) %.2f s%s",
		res.sent, round(res.elapsed), loadWorkers, rate, ran, cpuString(cpu), (self1 - self0).Seconds(), first)
	return nil
}

func cpuString(s cpuSample) string {
	return fmt.Sprintf("reins serve %.2f s, Postgres %.2f s", s.reins.Seconds(), s.postgres.Seconds())
}
