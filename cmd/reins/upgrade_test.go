package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/demo"
	"github.com/reins-dev/reins/reinstest"
)

// lastRelease is the commit of the last release, what users run today. The upgrade test
// starts jobs under its binary and finishes them under the working tree's.
const lastRelease = "9fe6a31"

var (
	releaseOnce sync.Once
	releaseBin  string
	releaseErr  error
)

// releaseBinary builds the last release's reins, once per test run. Outside CI a checkout
// without the release's commit (a source archive, a shallow clone) skips the test; in CI it
// fails, so the upgrade is never left untested.
func releaseBinary(t *testing.T) string {
	t.Helper()
	releaseOnce.Do(func() { releaseBin, releaseErr = reinstest.BuildRelease(lastRelease, binDir) })
	if errors.Is(releaseErr, reinstest.ErrNoRelease) && os.Getenv("CI") == "" {
		t.Skipf("%v (CI fails here instead)", releaseErr)
	}
	if releaseErr != nil {
		t.Fatalf("build the last release: %v", releaseErr)
	}
	return releaseBin
}

// The upgrade's sizes: small, and throttled so that the running jobs are usually mid-run
// when the old binary stops; the gates (see gate) make sure that none finishes under it.
const (
	upCustomers = 1500 // seeded; the exports read them all
	upImportN   = 600  // rows of the import left running
	upTeamsN    = 500  // teams of the teams job left running
	upRevokeN   = 300  // rows of the import revoked mid-rollback
	upRate      = 50   // rows a second of the running jobs
	upBatch     = 50   // --batch-size, and so the rows one rollback batch deletes
	upGte       = "2015-01-01"
	upLte       = "2024-12-31"
	upSmallGte  = "2016-01-01" // the export the old binary completes
	upSmallLte  = "2020-06-30"
)

// TestUpgradeInFlight upgrades a live database from the last release to this tree while
// jobs are in flight, on both stores, as docs/operations.md tells operators to: under the
// old binary an export is PAUSED mid-way, an import and a teams job are running, and a
// revoked import is mid-rollback; the new binary migrates the database while the old one
// serves (and the old one keeps working on it); the old binary is stopped (SIGTERM, or
// SIGKILL on Postgres), the new one serves, and every job ends exactly. The new binary
// applies whatever migrations the tree holds, so each new migration is tested against these
// jobs without a change here.
func TestUpgradeInFlight(t *testing.T) {
	t.Parallel()
	old := releaseBinary(t)
	reinsBinary(t) // built now, not while the old binary's jobs run
	for _, kind := range reinstest.Kinds(t) {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			t.Run(kind.Name+"/"+signalName(sig), func(t *testing.T) {
				t.Parallel()
				testUpgrade(t, old, kind, sig)
			})
		}
	}
}

func signalName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// upgradeJobs are the jobs the old binary leaves in flight, and what it saw of them.
type upgradeJobs struct {
	completed, paused, running, teams, revoked string
	pausedDone, revokedDone                    int64
}

func testUpgrade(t *testing.T, old string, kind reinstest.Kind, sig syscall.Signal) {
	dir, dbURL := t.TempDir(), kind.URL(t)
	env := childEnv("REINS_DATA_DIR="+dir, "REINS_DATABASE_URL="+dbURL)
	store := Config{DataDir: dir, DatabaseURL: dbURL}
	serveArgs := func(addr, name string, commandWait time.Duration) []string {
		return []string{"serve", "--addr", addr, "--name", name, "--workers", "4", "--batch-size", fmt.Sprint(upBatch),
			"--grace", "10s", "--command-wait", commandWait.String()}
	}

	// The last release: migrate, seed, and leave jobs in flight. The gates keep the running
	// jobs from finishing under it, however slow the machine: each fails the insert of its
	// job's last row, so the job retries that batch until the upgrade lifts the gate.
	mustRunBinary(t, old, env, "migrate")
	mustRunBinary(t, old, env, "seed", "--customers", fmt.Sprint(upCustomers))
	gates := []gate{
		{"upgrade_gate_import", "customers", "INSERT", fmt.Sprintf("NEW.email IN ('%s', '%s')",
			upgradeEmail("running", upImportN), upgradeEmail("revoke", upRevokeN))},
		{"upgrade_gate_teams", "teams", "INSERT", fmt.Sprintf("NEW.name = '%s'", teamName(upTeamsN-1))},
	}
	execSQL(t, store, createGates(dbURL, gates...)...)
	addr := freeAddr(t)
	// A short command wait: REVOKE of the gated rollback answers REVOKING after it.
	oldSrv := startBinary(t, old, env, serveArgs(addr, "old", 2*time.Second)...)
	waitHealthy(t, oldSrv, addr)
	oldc := newClient(t, addr)
	jobs, undoGate := startInFlight(t, oldc, store)
	gates = append(gates, undoGate)

	// This tree migrates the live database while the old binary serves, and the old binary
	// goes on working on the migrated schema, as it does during a rolling upgrade: it runs
	// an export there to the end.
	mustRun(t, env, "migrate")
	jobs.completed = oldc.export(upSmallGte, upSmallLte, 0)
	oldc.waitStatus(jobs.completed, "COMPLETED")

	// Stop it mid-flight, then lift the gates (they are the test's, not the upgrade's).
	if err := oldSrv.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if code := oldSrv.wait(t, 30*time.Second); sig == syscall.SIGTERM && code != 0 {
		t.Fatalf("%s exited %d after SIGTERM, want 0; stderr:\n%s", oldSrv.name, code, oldSrv.stderr.String())
	}
	noPanic(t, oldSrv)
	execSQL(t, store, dropGates(dbURL, gates...)...)

	// The jobs read with this tree's code as the old binary left them.
	checkLeft(t, store, jobs)

	addr = freeAddr(t)
	newSrv := startReins(t, env, serveArgs(addr, "new", 30*time.Second)...)
	waitHealthy(t, newSrv, addr)
	c := newClient(t, addr)
	if s := c.command(jobs.paused, "RESUME"); s.JobStatus != "RESUMED" {
		t.Fatalf("RESUME of the export paused under the last release answered %s", s.JobStatus)
	}
	checkFinished(t, c, jobs)
	if err := newSrv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := newSrv.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("%s exited %d after SIGTERM; stderr:\n%s", newSrv.name, code, newSrv.stderr.String())
	}
	noPanic(t, newSrv)
	checkRows(t, store, jobs)
}

// startInFlight starts, under the old binary at c, a paused export, a revoked import held
// mid-rollback (by the gate it returns), and a running import and teams job, in that order
// so the running ones have the most of their work left when the binary stops.
func startInFlight(t *testing.T, c *client, store Config) (upgradeJobs, gate) {
	t.Helper()
	var jobs upgradeJobs
	// An export paused mid-way: about seven seconds of work at its throttle.
	jobs.paused = c.export(upGte, upLte, 200)
	c.waitFor(jobs.paused, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 })
	c.command(jobs.paused, "PAUSE")
	jobs.pausedDone = c.waitStatus(jobs.paused, "PAUSED").Progress.Done
	if jobs.pausedDone >= upCustomers {
		t.Fatalf("the export finished before PAUSE (done=%d): the test did not test a paused export", jobs.pausedDone)
	}

	// An import paused part-way, then revoked: its rollback deletes a batch at a time in id
	// order, and the gate fails the batch holding its last row, so the rollback stays
	// REVOKING with its earlier batches undone (a rollback has no throttle).
	jobs.revoked = c.newImportJob(fmt.Sprintf("?max_rows_per_s=%d", upRate))
	expectOK(t, c.uploadFile(jobs.revoked, "revoke.csv", upgradeCSV("revoke", upRevokeN)))
	c.waitFor(jobs.revoked, "progress", func(s jobStatus) bool { return s.Progress.Done > upBatch })
	c.command(jobs.revoked, "PAUSE")
	inserted := c.waitStatus(jobs.revoked, "PAUSED").Progress.Done
	if inserted >= upRevokeN {
		t.Fatalf("the import to revoke finished before PAUSE (done=%d)", inserted)
	}
	undoGate := gateRollback(t, store, jobs.revoked)
	execSQL(t, store, createGates(store.DatabaseURL, undoGate)...)
	if s := c.command(jobs.revoked, "REVOKE"); s.JobStatus != "REVOKING" {
		t.Fatalf("REVOKE of the gated import answered %s, want REVOKING", s.JobStatus)
	}
	jobs.revokedDone = c.waitFor(jobs.revoked, "a rollback batch", func(s jobStatus) bool {
		return s.JobStatus == "REVOKING" && s.Progress.Done < inserted
	}).Progress.Done
	if jobs.revokedDone == 0 {
		t.Fatalf("the gated rollback undid every row")
	}

	// An import and a teams job running at the throttle: about ten seconds each.
	jobs.running = c.newImportJob(fmt.Sprintf("?max_rows_per_s=%d", upRate))
	expectOK(t, c.uploadFile(jobs.running, "running.csv", upgradeCSV("running", upImportN)))
	jobs.teams = c.newImportJob(fmt.Sprintf("?job_type=teams&max_rows_per_s=%d", upRate))
	expectOK(t, c.uploadFile(jobs.teams, "teams.csv", teamsCSV(upTeamsN)))
	for _, id := range []string{jobs.running, jobs.teams} {
		c.waitFor(id, "progress", func(s jobStatus) bool { return s.Progress.Done > 0 })
	}
	return jobs, undoGate
}

// checkLeft checks, with this tree's store on the migrated database, that the jobs are as
// the old binary left them: decoded by the new code, none finished behind the test's back.
func checkLeft(t *testing.T, store Config, jobs upgradeJobs) {
	t.Helper()
	withBackend(t, store, func(ctx context.Context, b backend) {
		find := func(id string) *reins.Job {
			job, err := b.FindJob(ctx, uuid.MustParse(id))
			if err != nil {
				t.Fatalf("job %s after the upgrade: %v", id, err)
			}
			return job
		}
		for _, id := range []string{jobs.paused, jobs.revoked, jobs.running, jobs.teams} {
			job := find(id)
			t.Logf("left by the last release: %s job %s at done=%d", job.Type, job.Status, job.Done)
		}
		if job := find(jobs.completed); job.Status != reins.StatusCompleted {
			t.Errorf("the completed export is %s after the upgrade", job.Status)
		}
		if job := find(jobs.paused); job.Status != reins.StatusPaused || job.Done != jobs.pausedDone {
			t.Errorf("the paused export is %s done=%d after the upgrade; it was PAUSED done=%d", job.Status, job.Done, jobs.pausedDone)
		}
		if job := find(jobs.revoked); job.Status != reins.StatusRevoking || job.Done != jobs.revokedDone {
			t.Errorf("the revoked import is %s done=%d after the upgrade; it was REVOKING done=%d", job.Status, job.Done, jobs.revokedDone)
		}
		for id, n := range map[string]int64{jobs.running: upImportN, jobs.teams: upTeamsN} {
			if job := find(id); !job.Status.Runnable() || job.Done == 0 || job.Done >= n {
				t.Errorf("the running %s job is %s done=%d of %d when the old binary stopped: the test did not catch it mid-way",
					job.Type, job.Status, job.Done, n)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
}

// checkFinished waits for every job to end under the new binary and checks its results.
func checkFinished(t *testing.T, c *client, jobs upgradeJobs) {
	t.Helper()
	want, _ := expectedCSV(t, upCustomers, upGte, upLte)
	if s := c.waitStatus(jobs.paused, "COMPLETED"); s.Progress.Done != upCustomers {
		t.Errorf("the resumed export completed with done=%d, want %d", s.Progress.Done, upCustomers)
	}
	if got := c.download(jobs.paused); got != want {
		t.Errorf("the export paused across the upgrade differs from the expected CSV: %s", diffCSV(got, want))
	}
	want, _ = expectedCSV(t, upCustomers, upSmallGte, upSmallLte)
	if got := c.download(jobs.completed); got != want {
		t.Errorf("the export completed under the last release downloads differently: %s", diffCSV(got, want))
	}
	for id, n := range map[string]int64{jobs.running: upImportN, jobs.teams: upTeamsN} {
		if s := c.waitStatus(id, "COMPLETED"); s.Progress.Done != n || s.Progress.Total == nil || *s.Progress.Total != n {
			t.Errorf("the %s job running across the upgrade completed with done=%d total=%v, want %d", s.JobType, s.Progress.Done, s.Progress.Total, n)
		}
	}
	if s := c.waitStatus(jobs.revoked, "REVOKED"); s.Progress.Done != 0 {
		t.Errorf("the import revoked across the upgrade ended REVOKED with done=%d", s.Progress.Done)
	}
}

// checkRows checks, straight in the database once the new binary has stopped, that each
// job's rows are exactly there or exactly gone, and that no spool outlived its job.
func checkRows(t *testing.T, store Config, jobs upgradeJobs) {
	t.Helper()
	withBackend(t, store, func(ctx context.Context, b backend) {
		for id, n := range map[string]int64{jobs.running: upImportN, jobs.revoked: 0} {
			rows, emails, err := b.CountImported(ctx, uuid.MustParse(id))
			if err != nil {
				t.Fatal(err)
			}
			if rows != n || emails != n {
				t.Errorf("import %s holds %d rows with %d distinct emails, want %d", id, rows, emails, n)
			}
		}
		var teams, names int64
		if err := b.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT name) FROM teams WHERE job_id = $1`,
			uuid.MustParse(jobs.teams)).Scan(&teams, &names); err != nil {
			t.Fatal(err)
		}
		if teams != upTeamsN || names != upTeamsN {
			t.Errorf("the teams job created %d teams with %d distinct names, want %d", teams, names, upTeamsN)
		}
	})
	for _, id := range []string{jobs.running, jobs.teams, jobs.revoked} {
		if _, err := os.Stat(filepath.Join(store.BlobDir(), "uploads", id)); !os.IsNotExist(err) {
			t.Errorf("the spool of job %s outlived it (%v)", id, err)
		}
	}
}

// withBackend opens the store with this tree's code, without migrating it, for fn.
func withBackend(t *testing.T, store Config, fn func(ctx context.Context, b backend)) {
	t.Helper()
	ctx := context.Background()
	b, err := openBackend(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fn(ctx, b)
}

// execSQL runs statements on the store, one at a time.
func execSQL(t *testing.T, store Config, stmts ...string) {
	t.Helper()
	withBackend(t, store, func(ctx context.Context, b backend) {
		for _, s := range stmts {
			if _, err := b.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	})
}

// gate is a trigger that fails the insert or delete of one row, so that a job can go no
// further than that row: its run fails the batch holding it, and retries with backoff.
type gate struct {
	name, table, event string
	when               string // the row, as a condition on NEW or OLD
}

// createGates returns the statements that create the gates, on SQLite (dbURL "") or Postgres.
func createGates(dbURL string, gates ...gate) []string {
	var stmts []string
	if dbURL != "" {
		stmts = append(stmts, `CREATE OR REPLACE FUNCTION upgrade_gate() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'upgrade test gate'; END $$`)
	}
	for _, g := range gates {
		if dbURL == "" {
			stmts = append(stmts, fmt.Sprintf(`CREATE TRIGGER %s BEFORE %s ON %s WHEN %s
				BEGIN SELECT RAISE(ABORT, 'upgrade test gate'); END`, g.name, g.event, g.table, g.when))
		} else {
			stmts = append(stmts, fmt.Sprintf(`CREATE TRIGGER %s BEFORE %s ON %s FOR EACH ROW WHEN (%s)
				EXECUTE FUNCTION upgrade_gate()`, g.name, g.event, g.table, g.when))
		}
	}
	return stmts
}

// dropGates returns the statements that remove the gates (those a migration that rebuilt a
// table has not removed already).
func dropGates(dbURL string, gates ...gate) []string {
	var stmts []string
	for _, g := range gates {
		if dbURL == "" {
			stmts = append(stmts, "DROP TRIGGER IF EXISTS "+g.name)
		} else {
			stmts = append(stmts, "DROP TRIGGER IF EXISTS "+g.name+" ON "+g.table)
		}
	}
	if dbURL != "" {
		stmts = append(stmts, "DROP FUNCTION IF EXISTS upgrade_gate()")
	}
	return stmts
}

// gateRollback returns a gate that lets a rollback of job undo its first batch (upBatch
// rows) and fails every later one, so the rollback stays REVOKING with its earlier batches
// undone. The last release's rollback picks a batch's rows without an order (LIMIT alone):
// on SQLite that is id order (the job_id index), so the gate is the delete of the job's last
// row; on Postgres the plan may pick any rows, so the gate counts deletes of the job's rows
// with a sequence (not rolled back with a failed batch) and fails all past the first batch.
func gateRollback(t *testing.T, store Config, job string) gate {
	t.Helper()
	if store.DatabaseURL != "" {
		execSQL(t, store, `CREATE SEQUENCE IF NOT EXISTS upgrade_undo_seq`)
		return gate{"upgrade_gate_undo", "customers", "DELETE",
			fmt.Sprintf("OLD.job_id = '%s' AND nextval('upgrade_undo_seq') > %d", uuid.MustParse(job), upBatch)}
	}
	var last int64
	withBackend(t, store, func(ctx context.Context, b backend) {
		if err := b.QueryRow(ctx, `SELECT MAX(id) FROM customers WHERE job_id = $1`, uuid.MustParse(job)).Scan(&last); err != nil {
			t.Fatal(err)
		}
	})
	return gate{"upgrade_gate_undo", "customers", "DELETE", fmt.Sprintf("OLD.id = %d", last)}
}

// upgradeCSV is an import file of n customers whose emails carry the prefix, so that the
// imports of one database never share an email.
func upgradeCSV(prefix string, n int) []byte {
	var b bytes.Buffer
	b.WriteString("first_name,last_name,address,email,age,company\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "First%d,Last,\"%d Main St, Town\",%s,%d,\"Acme, Inc\"\n", i, i, upgradeEmail(prefix, i), 18+i%60)
	}
	return b.Bytes()
}

// upgradeEmail is the email of row i of upgradeCSV(prefix, n).
func upgradeEmail(prefix string, i int) string { return fmt.Sprintf("%s%d@example.com", prefix, i) }

// teamName is the name of team i of teamsCSV.
func teamName(i int) string { return fmt.Sprintf("Upgrade team %d", i) }

// teamsCSV is a teams sheet of n teams, each managed by a seeded customer.
func teamsCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("name,manager_email\n")
	for i := range n {
		fmt.Fprintf(&b, "%s,%s\n", teamName(i), demo.Customer(int64(i%upCustomers), upCustomers).Email)
	}
	return b.Bytes()
}
