package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/reins-dev/reins/reinstest"
)

// TestReadmeWalkthrough runs the README's walkthrough twice in a row against the real binary
// on one fresh data directory (or database), and checks what its comments promise: the seed
// leaves 100,000 customers however often it runs, so the export is 4,188 rows each time; the
// import of three rows keeps two and lists the third; the team story (wrong mapping, row
// errors, pause, restart with the fix) ends COMPLETED with 4,188 teams and the old job's gone;
// the guard holds a ten-year export. The steps mirror the README's curl commands.
//
// The README's numbers need its 100,000 customers, which the race detector makes minutes of
// work on SQLite: that half runs in make test's run without it.
func TestReadmeWalkthrough(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		if raceDetector && kind.Name == "sqlite" {
			t.Skip("100,000 customers on SQLite under -race take minutes; make test runs this without -race")
		}
		dir := t.TempDir()
		env := childEnv("REINS_DATA_DIR="+dir, "REINS_DATABASE_URL="+kind.URL(t))
		addr := freeAddr(t)
		serve := startReins(t, env, "serve", "--addr", addr, "--command-wait", "60s")
		waitHealthy(t, serve, addr)
		c := newClient(t, addr)
		for run := 1; run <= 2; run++ {
			t.Run(fmt.Sprintf("run%d", run), func(t *testing.T) {
				c.t = t
				readmeSeed(t, env, run)
				readmeExport(t, c)
				readmeImport(t, c)
				readmeTeams(t, c)
				readmeGuard(t, c)
			})
		}
		noPanic(t, serve)
	})
}

// readmeSeed is `reins seed --customers 100000`: the second run changes nothing.
func readmeSeed(t *testing.T, env []string, run int) {
	out := mustRun(t, env, "seed", "--customers", "100000").stdout.String()
	want := "seeded 100000 demo customers"
	if run > 1 {
		want = "the 100000 demo customers are already in"
	}
	if !strings.Contains(out, want) {
		t.Fatalf("seed run %d printed %q, want %q", run, out, want)
	}
}

// readmeExport is the export of 2017-08-01..2017-12-31 (4,188 rows), unthrottled.
func readmeExport(t *testing.T, c *client) {
	id := c.export("2017-08-01", "2017-12-31", 0)
	done := c.waitStatus(id, "COMPLETED")
	want, rows := expectedCSV(t, 100_000, "2017-08-01", "2017-12-31")
	if rows != 4188 || done.Progress.Total == nil || *done.Progress.Total != 4188 || done.Progress.Done != 4188 {
		t.Fatalf("the README's export is %d rows, done=%d total=%v; the README says 4,188", rows, done.Progress.Done, done.Progress.Total)
	}
	if got := c.download(id); got != want {
		t.Fatalf("the export differs: %s", diffCSV(got, want))
	}
}

// readmeCustomers is the README's customers.csv.
const readmeCustomers = `first_name,last_name,address,email,age,company
Ada,Lovelace,12 St James's Square,ada@example.com,36,Analytical Engines
Alan,Turing,2 High Street,alan@example.com,200,Bletchley Park
Grace,Hopper,3 Elm Avenue,grace@example.com,85,US Navy
`

// readmeImport is the import of customers.csv with on_error=skip.
func readmeImport(t *testing.T, c *client) {
	id := c.newImportJob("?on_error=skip")
	r := c.uploadFile(id, "customers.csv", []byte(readmeCustomers))
	expectOK(t, r)
	if got := r.json(t); got["records"] != 3.0 {
		t.Fatalf("upload answered %s; the README says \"records\":3", r)
	}
	c.waitStatus(id, "COMPLETED")
	detail := c.get("/api/v1/jobs/" + id + "/")
	got := detail.json(t)
	progress, _ := got["progress"].(map[string]any)
	if progress["done"] != 2.0 || got["skipped"] != 1.0 ||
		!bodyContains(detail.body, `"errors":[{"line":3,"column":"age","reason":"must be a whole number from 0 to 150, got \"200\""}]`) {
		t.Fatalf("the import is %s; the README says done 2, skipped 1 and the age error on line 3", detail)
	}
}

// readmeTeams is the team story: leads exported by email, a sheet with the wrong mapping,
// row errors, PAUSE, restart with the fix, COMPLETED.
func readmeTeams(t *testing.T, c *client) {
	r := c.get("/api/v1/export/?date_gte=2017-08-01&date_lte=2017-12-31&columns=email")
	expectOK(t, r)
	leads := r.json(t)["job_id"].(string)
	c.waitStatus(leads, "COMPLETED")
	emails := strings.Split(strings.TrimSuffix(c.download(leads), "\n"), "\n")
	if emails[0] != "email" || len(emails) != 4189 {
		t.Fatalf("the leads' export has header %q and %d rows; want email and 4,188", emails[0], len(emails)-1)
	}
	// The README's awk: team k is led by lead k; its deputy is lead k-1 when k is even and
	// nobody when it is odd.
	tag := leads[:strings.Index(leads, "-")]
	var sheet strings.Builder
	sheet.WriteString("Team,Lead email,Deputy email\n")
	for k := 1; k < len(emails); k++ {
		deputy := fmt.Sprintf("nobody%d@example.com", k)
		if k%2 == 0 {
			deputy = emails[k-1]
		}
		fmt.Fprintf(&sheet, "Team %s-%d,%s,%s\n", tag, k, emails[k], deputy)
	}

	r = c.do(http.MethodPost, "/api/v1/new-job/", strings.NewReader(`{"job_type": "teams", "on_error": "skip", "max_rows_per_s": 100,
		"mapping": {"Team": "name", "Deputy email": "manager_email", "Lead email": ""}}`), "application/json")
	expectOK(t, r)
	old := r.json(t)["job_id"].(string)
	r = c.uploadFile(old, "teams.csv", []byte(sheet.String()))
	expectOK(t, r)
	if got := r.json(t); got["records"] != 4188.0 {
		t.Fatalf("upload answered %s; the README says \"records\":4188", r)
	}
	c.waitFor(old, "row errors", func(jobStatus) bool {
		skipped, _ := c.get("/api/v1/jobs/" + old + "/").json(t)["skipped"].(float64)
		return skipped > 0
	})
	detail := c.get("/api/v1/jobs/" + old + "/")
	if !bodyContains(detail.body, `{"line":2,"column":"Deputy email","reason":"no customer has the email \"nobody1@example.com\""}`) {
		t.Fatalf("the wrongly mapped job shows %s; the README says the first error is line 2's deputy", detail)
	}
	if got := c.command(old, "PAUSE"); got.JobStatus != "PAUSED" {
		t.Fatalf("PAUSE answered %s; the README says PAUSED", got.JobStatus)
	}

	r = c.do(http.MethodPost, "/api/v1/jobs/"+old+"/restart", strings.NewReader(
		`{"mapping": {"Team": "name", "Lead email": "manager_email", "Deputy email": ""}, "max_rows_per_s": ""}`), "application/json")
	if r.status != http.StatusCreated || r.json(t)["restart_of"] != old {
		t.Fatalf("%s; the README says 201 with restart_of the old job", r)
	}
	next := r.json(t)["job_id"].(string)
	if done := c.waitStatus(next, "COMPLETED"); done.Progress.Done != 4188 {
		t.Fatalf("the restarted job created %d teams; the README says 4,188", done.Progress.Done)
	}
	if got := c.get("/api/v1/jobs/" + next + "/").json(t); got["skipped"] != 0.0 {
		t.Fatalf("the restarted job skipped %v rows; the README says 0", got["skipped"])
	}
	ended := c.waitStatus(old, "REVOKED")
	oldDetail := c.get("/api/v1/jobs/" + old + "/").json(t)
	if ended.Progress.Done != 0 || oldDetail["restarted_as"] != next {
		t.Fatalf("the old job is %v; the README says REVOKED, done 0, restarted_as the new job", oldDetail)
	}
	// Restarting it again is refused, naming why.
	expectError(t, c.postForm("/api/v1/jobs/"+old+"/restart", url.Values{}), http.StatusConflict, "already restarted")
}

// readmeGuard is the wrong-date guard: a ten-year export held, then revoked.
func readmeGuard(t *testing.T, c *client) {
	r := c.get("/api/v1/export/?date_gte=2015-01-01&date_lte=2024-12-31&confirm_over=50000")
	expectOK(t, r)
	id := r.json(t)["job_id"].(string)
	got := c.get("/api/v1/jobs/" + id + "/").json(t)
	if est, _ := got["estimated_rows"].(float64); got["job_status"] != "AWAITING_CONFIRMATION" || est < 50_000 || est > 200_000 {
		t.Fatalf("the ten-year export is %v with estimated_rows %v; the README says AWAITING_CONFIRMATION, about 100000", got["job_status"], got["estimated_rows"])
	}
	if s := c.command(id, "REVOKE"); s.JobStatus != "REVOKED" && s.JobStatus != "REVOKING" {
		t.Fatalf("REVOKE answered %s", s.JobStatus)
	}
	if done := c.waitStatus(id, "REVOKED"); done.Progress.Done != 0 {
		t.Fatalf("the held export read %d rows", done.Progress.Done)
	}
}
