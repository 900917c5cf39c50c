package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestBenchSmall runs the whole harness at a tiny size against TEST_DATABASE_URL, so CI
// keeps it working: every figure must be measured (exit 0: nothing failed to run and no
// correctness check failed) and printed. It checks no timing: a missed target is a "no" in
// the table, not a failure.
func TestBenchSmall(t *testing.T) {
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		t.Skip("TEST_DATABASE_URL is not set")
	}
	if testing.Short() {
		t.Skip("-short: the harness builds and runs reins")
	}
	args := []string{"--database-url", dsn, "--rows", "4000", "--repeat", "2", "--cycles", "2",
		"--big-rows", "5000", "--scales", "2000,4000", "--status-rate", "200", "--status-for", "1s",
		"--job-timeout", "2m", "--timeout", "5m"}
	rows := []string{
		"seed 4,000 rows on Postgres",
		"export 4,000 rows, full range",
		"(reference) the same export vs `COPY (SELECT … ORDER BY",
		"export result = COPY's rows",
		"small export (2020-06-01:",
		"import 4,000 rows",
		"PAUSE at a random moment: export, unthrottled (mid-batch)",
		"PAUSE at a random moment: export, throttled",
		"PAUSE at a random moment: export, within 0.3 s of a RESUME",
		"PAUSE at a random moment: import, during the upload transfer",
		"PAUSE at a random moment: import, processing the file",
		"PAUSE at a random moment, all 5 kinds together",
		"PAUSE answered PAUSED, and nothing moved",
		"export 4,000 rows with 2 PAUSE/RESUME cycles",
		"paused export's result = COPY's rows",
		"`GET job-status` at 200 req/s",
		"export of a 20% date range",
		"range export result = COPY's rows",
		"export cost per row at 2k / 4k rows",
		"import cost per row at 2k / 4k rows",
		"peak RSS of `reins serve` during an export at 2k / 4k rows",
		"peak RSS of `reins serve` during an upload and import",
		"peak RSS of `reins serve` over the whole run",
		"a worker SIGKILLed while a second is live",
	}
	if _, err := exec.LookPath("sqlite3"); err == nil {
		args = append(args, "--sqlite-rows", "2000")
		rows = append(rows, "seed 2,000 rows on SQLite", "SQLite: export 2,000 rows", "SQLite: export result = sqlite3's rows", "SQLite: import 2,000 rows")
	} else {
		t.Log("no sqlite3 shell: the SQLite figures are skipped")
		args = append(args, "--skip-sqlite")
	}
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	out := stdout.String()
	if code != exitOK {
		t.Fatalf("reins-bench exited %d\nstdout:\n%s\nstderr:\n%s", code, out, tail(stderr.String(), 60))
	}
	for _, r := range rows {
		if !strings.Contains(out, "| "+r) {
			t.Errorf("the table has no row %q", r)
		}
	}
	if strings.Contains(out, "FAILED") {
		t.Errorf("a correctness check failed:\n%s", out)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", out)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
