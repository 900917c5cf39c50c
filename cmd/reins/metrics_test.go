package main

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/reins-dev/reins/reinstest"
)

// scrape reads GET /metrics into series (name{labels} as printed) and values, failing the
// test unless it is the Prometheus text format.
func scrape(t *testing.T, c *client) map[string]float64 {
	t.Helper()
	r := c.get("/metrics")
	expectOK(t, r)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type %q, want the text format", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics scrapes /metrics while an export runs, when it is paused and after it ends, and
// after an import: the jobs by type and status follow the database, the rows, batches,
// commands, upload bytes and requests are counted, and the Go runtime's figures are there.
func TestMetrics(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)
		seedDemo(t, m, 1000)
		c := newClient(t, m.Addr())
		const exportRows = `reins_rows_processed_total{job_type="export",run="process"}`
		jobs := func(typ, status string) string {
			return `reins_jobs{job_type="` + typ + `",status="` + status + `"}`
		}

		before := scrape(t, c)
		for _, name := range []string{jobs("export", "PAUSED"), jobs("import", "COMPLETED"), jobs("teams", "FAILED"),
			"reins_runs_rescued_total", "reins_upload_bytes_total", `reins_database_up`} {
			if _, ok := before[name]; !ok {
				t.Errorf("/metrics has no %s before any job", name)
			}
		}
		if before["go_goroutines"] == 0 || before["reins_database_up"] != 1 {
			t.Errorf("/metrics: go_goroutines %v, reins_database_up %v", before["go_goroutines"], before["reins_database_up"])
		}

		// About 400 rows at 100 a second: still running when PAUSE comes.
		id := c.export("2019-01-01", "2022-12-31", 100)
		c.waitFor(id, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 })
		paused := c.command(id, "PAUSE")
		if paused.JobStatus != "PAUSED" {
			t.Fatalf("PAUSE answered %s", paused.JobStatus)
		}
		mid := scrape(t, c)
		if mid[jobs("export", "PAUSED")] != 1 || mid[exportRows] != float64(paused.Progress.Done) {
			t.Errorf("while paused at done %d: %v paused exports, %v rows processed", paused.Progress.Done,
				mid[jobs("export", "PAUSED")], mid[exportRows])
		}
		if mid[`reins_command_duration_seconds_count{command="PAUSE"}`] != 1 {
			t.Errorf("PAUSE answers counted: %v, want 1", mid[`reins_command_duration_seconds_count{command="PAUSE"}`])
		}
		c.command(id, "RESUME")
		done := c.waitStatus(id, "COMPLETED")

		file := customersCSV(50)
		imp := c.newImportJob("")
		expectOK(t, c.uploadFile(imp, "m.csv", file))
		c.waitStatus(imp, "COMPLETED")

		after := scrape(t, c)
		for name, want := range map[string]float64{
			jobs("export", "PAUSED"):    0,
			jobs("export", "COMPLETED"): 1,
			jobs("import", "COMPLETED"): 1,
			exportRows:                  float64(done.Progress.Done),
			`reins_rows_processed_total{job_type="import",run="process"}`:                             50,
			`reins_command_duration_seconds_count{command="RESUME"}`:                                  1,
			`reins_http_requests_total{code="200",method="POST",route="/api/v1/job-status/{job_id}"}`: 2,
		} {
			if got := after[name]; got != want {
				t.Errorf("after the jobs: %s = %v, want %v", name, got, want)
			}
		}
		if got := after["reins_upload_bytes_total"]; got < float64(len(file)) {
			t.Errorf("reins_upload_bytes_total %v, want at least the file's %d bytes", got, len(file))
		}
		if b := after[`reins_batch_duration_seconds_count{job_type="export",run="process"}`]; b < 2 {
			t.Errorf("export batches timed: %v, want several", b)
		}
		if n := after[`reins_http_requests_total{code="200",method="GET",route="/metrics"}`]; n != 2 {
			t.Errorf("scrapes counted before this one: %v, want 2", n)
		}
	})
}
