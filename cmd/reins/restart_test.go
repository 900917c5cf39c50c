package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reins-dev/reins/demo"
	"github.com/reins-dev/reins/reinstest"
)

// restartCustomers is how many demo customers the restart tests seed.
const restartCustomers = 50

// teamSheet is a teams sheet of n rows "<name> i" led by demo customer i, with a second email
// column nobody has.
func teamSheet(name string, n int) []byte {
	var b strings.Builder
	b.WriteString("Team,Lead email,Deputy email\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%s %d,%s,nobody%d@example.com\n", name, i, demo.Customer(int64(i%restartCustomers), restartCustomers).Email, i)
	}
	return []byte(b.String())
}

const (
	apiWrongMapping = `{"Team": "name", "Deputy email": "manager_email", "Lead email": ""}`
	apiFixedMapping = `{"Team": "name", "Lead email": "manager_email", "Deputy email": ""}`
)

// newTeamsJob creates a teams job with the given query and uploads the sheet.
func (c *client) newTeamsJob(query url.Values, sheet []byte) string {
	c.t.Helper()
	query.Set("job_type", "teams")
	id := c.newImportJob("?" + query.Encode())
	expectOK(c.t, c.uploadFile(id, "teams.csv", sheet))
	return id
}

func (c *client) restart(id string, form url.Values) *response {
	c.t.Helper()
	return c.postForm("/api/v1/jobs/"+id+"/restart", form)
}

// TestRestartAPI checks POST /api/v1/jobs/{id}/restart over real HTTP: the answers for jobs
// that cannot restart and for bad parameters (nothing changed), a restart of a failed job
// and of a running one, and 410 once the file's retention has passed.
func TestRestartAPI(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)
		seedDemo(t, m, restartCustomers)
		c := newClient(t, m.Addr())

		expectError(t, c.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000/restart"), http.StatusMethodNotAllowed, "POST")
		expectError(t, c.restart("00000000-0000-0000-0000-000000000000", nil), http.StatusNotFound)
		expectError(t, c.restart("nope", nil), http.StatusNotFound)

		export := c.export("2015-01-01", "2015-01-02", 0)
		c.waitStatus(export, "COMPLETED")
		expectError(t, c.restart(export, nil), http.StatusConflict, "only upload jobs")

		completed := c.newTeamsJob(url.Values{"mapping": {apiFixedMapping}}, teamSheet("Crew", 5))
		c.waitStatus(completed, "COMPLETED")
		expectError(t, c.restart(completed, nil), http.StatusConflict, "COMPLETED")

		failed := c.newTeamsJob(url.Values{"mapping": {apiWrongMapping}}, teamSheet("Squad", 20))
		c.waitStatus(failed, "FAILED")
		expectError(t, c.restart(failed, url.Values{"mapping": {"{"}}), http.StatusBadRequest, "mapping")
		expectError(t, c.restart(failed, url.Values{"mapping": {`{"Team": "name", "Boss": "manager_email"}`}}), http.StatusBadRequest, "boss")
		expectError(t, c.restart(failed, url.Values{"on_error": {"ignore"}}), http.StatusBadRequest, "on_error")
		if got := c.get("/api/v1/jobs/" + failed + "/").json(t); got["restarted_as"] != nil {
			t.Fatalf("a refused restart linked the job: %v", got["restarted_as"])
		}
		r := c.do(http.MethodPost, "/api/v1/jobs/"+failed+"/restart?max_rows_per_s=1000&shoe_size=9",
			strings.NewReader(`{"mapping": `+apiFixedMapping+`}`), "application/json")
		if r.status != http.StatusCreated {
			t.Fatalf("%s: want 201", r)
		}
		got := r.json(t)
		next, _ := got["job_id"].(string)
		transfer, _ := got["transfer"].(map[string]any)
		params, _ := got["params"].(map[string]any)
		if got["restart_of"] != failed || got["job_type"] != "teams" || transfer["state"] != "complete" ||
			params["max_rows_per_s"] != 1000.0 || !bodyContains(r.body, "unknown parameter shoe_size ignored") {
			t.Fatalf("restart answered %s", r)
		}
		if done := c.waitStatus(next, "COMPLETED"); done.Progress.Done != 20 {
			t.Fatalf("the restarted job created %d teams, want 20", done.Progress.Done)
		}
		if got := c.get("/api/v1/jobs/" + failed + "/").json(t); got["restarted_as"] != next {
			t.Fatalf("the failed job is restarted as %v, want %s", got["restarted_as"], next)
		}
		expectError(t, c.restart(failed, nil), http.StatusConflict, "already restarted as "+next)

		// A running job is revoked first; its teams are gone when the new one runs.
		running := c.newTeamsJob(url.Values{"mapping": {apiFixedMapping}, "max_rows_per_s": {"5"}}, teamSheet("Band", 200))
		c.waitFor(running, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 })
		r = c.restart(running, url.Values{"max_rows_per_s": {""}})
		if r.status != http.StatusCreated {
			t.Fatalf("%s: want 201", r)
		}
		again := r.json(t)["job_id"].(string)
		if s := c.waitStatus(running, "REVOKED"); s.Progress.Done != 0 {
			t.Fatalf("the revoked job kept done=%d", s.Progress.Done)
		}
		if done := c.waitStatus(again, "COMPLETED"); done.Progress.Done != 200 {
			t.Fatalf("the restart of a running job created %d teams, want 200", done.Progress.Done)
		}
	})
}

// TestRestartGone checks that once --spool-retention has passed, the sweeper removes an
// ended job's file and a restart answers 410.
func TestRestartGone(t *testing.T) {
	t.Parallel()
	kind := reinstest.Kinds(t)[0]
	cfg, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir, cfg.DatabaseURL, cfg.Workers = "127.0.0.1:0", t.TempDir(), kind.URL(t), 2
	cfg.SpoolRetention = time.Millisecond
	m := NewMain(cfg, "serve", slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	seedDemo(t, m, restartCustomers)
	c := newClient(t, m.Addr())
	failed := c.newTeamsJob(url.Values{"mapping": {apiWrongMapping}}, teamSheet("Squad", 5))
	c.waitStatus(failed, "FAILED")
	spool := filepath.Join(m.Config.BlobDir(), "uploads", failed)
	c.waitFor(failed, "the sweeper", func(jobStatus) bool {
		_, err := os.Stat(spool)
		return os.IsNotExist(err)
	})
	expectError(t, c.restart(failed, url.Values{"mapping": {apiFixedMapping}}), http.StatusGone, "no longer kept")
}
