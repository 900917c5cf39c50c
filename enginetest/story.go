package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/csvimport"
	"github.com/reins-dev/reins/demo"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/teams"
	"github.com/reins-dev/reins/upload"
)

// ExerciseStory runs the stories of the behaviour suite: fix and restart (the team story),
// its refusals, the spool retention, the repeatable seed and the export's round trip.
func ExerciseStory(t *testing.T, open Opener) {
	t.Run("TeamStory", func(t *testing.T) { t.Parallel(); testTeamStory(t, open) })
	t.Run("RestartWaitsForRollback", func(t *testing.T) { t.Parallel(); testRestartWaits(t, open) })
	t.Run("RestartRefused", func(t *testing.T) { t.Parallel(); testRestartRefused(t, open) })
	t.Run("SpoolRetention", func(t *testing.T) { t.Parallel(); testSpoolRetention(t, open) })
	t.Run("SeedRepeatable", func(t *testing.T) { t.Parallel(); testSeedRepeatable(t, open) })
	t.Run("ExportRoundTrip", func(t *testing.T) { t.Parallel(); testExportRoundTrip(t, open) })
	t.Run("SeedDuringExport", func(t *testing.T) { t.Parallel(); testSeedDuringExport(t, open) })
}

// storySheet is the team story's sheet: row i is team "Squad i", led by demo customer i, with
// a deputy who is another customer (even rows) or nobody (odd rows).
func storySheet(n int, seeded int64) []byte { return storySheetNamed("Squad", n, seeded) }

// storySheetNamed is storySheet with teams named "<name> i".
func storySheetNamed(name string, n int, seeded int64) []byte {
	var b bytes.Buffer
	b.WriteString("Team,Lead email,Deputy email\n")
	for i := 1; i <= n; i++ {
		deputy := fmt.Sprintf("nobody%d@example.com", i)
		if i%2 == 0 {
			deputy = demoEmail(int64(i+1), seeded)
		}
		fmt.Fprintf(&b, "%s %d,%s,%s\n", name, i, demoEmail(int64(i), seeded), deputy)
	}
	return b.Bytes()
}

// The team story's mappings: the wrong one takes the deputy for the manager.
const (
	wrongMapping = `{"Team": "name", "Deputy email": "manager_email", "Lead email": ""}`
	fixedMapping = `{"Team": "name", "Lead email": "manager_email", "Deputy email": ""}`
)

// restart restarts the job as the API does, failing the test on error.
func (h *harness) restart(id uuid.UUID, changes reins.Params) *reins.Job {
	h.t.Helper()
	job, err := upload.Restart(context.Background(), h.engine, h.blob, h.job(id), changes, "test")
	if err != nil {
		h.t.Fatalf("restart %s: %v", id, err)
	}
	return job
}

// managers returns the tenant's teams, each name with its manager's email.
func (h *harness) managers() map[string]string {
	h.t.Helper()
	rs, err := h.backend.Query(context.Background(), `SELECT t.name, COALESCE(c.email, '') FROM teams t
		LEFT JOIN customers c ON c.id = t.manager_id WHERE t.owner = $1`, reins.DefaultOwner)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rs.Close()
	out := map[string]string{}
	for rs.Next() {
		var name, email string
		if err := rs.Scan(&name, &email); err != nil {
			h.t.Fatal(err)
		}
		out[name] = email
	}
	if err := rs.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// checkStoryTeams checks that the tenant has exactly the story's n teams, each led by its lead.
func (h *harness) checkStoryTeams(n int, seeded int64) {
	h.t.Helper()
	got := h.managers()
	if len(got) != n {
		h.t.Fatalf("the tenant has %d teams, want %d", len(got), n)
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("Squad %d", i)
		if want := demoEmail(int64(i), seeded); got[name] != want {
			h.t.Fatalf("team %q is led by %q, want %q", name, got[name], want)
		}
	}
}

// testTeamStory is the third story: a team sheet mapped wrongly (the deputy's column taken for
// the manager's) creates wrong teams and row errors; the user pauses it, restarts it with the
// fixed mapping and without a throttle, and gets exactly the right teams; the old job's teams
// are gone and the two jobs are linked both ways.
func testTeamStory(t *testing.T, open Opener) {
	backend := open(t)
	const seeded, n = 400, 300
	seed(t, backend, seeded)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 20})

	old := h.create(teams.Type, importParams{OnError: upload.OnErrorSkip, Mapping: wrongMapping, MaxRowsPerS: 300}.values())
	h.send(old, storySheet(n, seeded))
	h.waitFor(old.ID, "row errors", func(j *reins.Job) bool {
		skipped, _ := upload.Skipped(j)
		return skipped >= 5 && j.Done >= 5
	})
	paused := h.command(old.ID, reins.CommandPause)
	if paused.Status != reins.StatusPaused {
		t.Fatalf("PAUSE answered %s", paused.Status)
	}
	skipped, errs := upload.Skipped(paused)
	if paused.Done == 0 || h.teamsOf(old.ID) != paused.Done || skipped == 0 ||
		!strings.Contains(errs[0].Reason, "no customer has the email") || errs[0].Column != "Deputy email" {
		t.Fatalf("paused with done=%d, %d teams, skipped=%d, errors %+v; want wrong teams and row errors naming the deputy column",
			paused.Done, h.teamsOf(old.ID), skipped, errs)
	}

	next := h.restart(old.ID, reins.Params{"mapping": fixedMapping, "max_rows_per_s": ""})
	if next.RestartOf == nil || *next.RestartOf != old.ID || next.Type != teams.Type {
		t.Fatalf("the new job is a %s restart of %v, want a teams restart of %s", next.Type, next.RestartOf, old.ID)
	}
	if next.Total == nil || *next.Total != n || next.Upload == nil || !next.Upload.Complete {
		t.Fatalf("the new job has total %v and upload %+v; want the old job's whole file of %d rows", next.Total, next.Upload, n)
	}
	before := h.job(old.ID)
	if before.RestartedAs == nil || *before.RestartedAs != next.ID {
		t.Fatalf("the old job is restarted as %v, want %s", before.RestartedAs, next.ID)
	}
	if before.Status != reins.StatusRevoking && before.Status != reins.StatusRevoked {
		t.Fatalf("the old job is %s after the restart, want it revoked", before.Status)
	}
	done := h.waitStatus(next.ID, reins.StatusCompleted)
	if done.Done != n {
		t.Fatalf("the restarted job created %d teams, want %d", done.Done, n)
	}
	if s, _ := upload.Skipped(done); s != 0 {
		t.Fatalf("the restarted job skipped %d rows, want none", s)
	}
	ended := h.waitStatus(old.ID, reins.StatusRevoked)
	if ended.Done != 0 || h.teamsOf(old.ID) != 0 {
		t.Fatalf("the old job kept done=%d and %d teams", ended.Done, h.teamsOf(old.ID))
	}
	h.checkStoryTeams(n, seeded)
	params, _, err := reins.DecodeJob[upload.Params, upload.Checkpoint](done)
	if err != nil || params.Mapping["Lead email"] != "manager_email" || params.OnError != upload.OnErrorSkip || params.MaxRowsPerS != 0 {
		t.Fatalf("the restarted job's params are %+v (%v); want the fixed mapping, on_error kept, no throttle", params, err)
	}
	checkHistory(t, h, old.ID, next.ID)
}

// checkHistory checks that every history entry of the jobs is a transition of the tables.
func checkHistory(t *testing.T, h *harness, ids ...uuid.UUID) {
	t.Helper()
	for _, id := range ids {
		events, err := h.backend.JobEvents(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events[1:] {
			if !allowed(e) {
				t.Errorf("job %s: history entry %s -> %s (%s, %q) is no transition of the tables", id, e.From, e.To, e.Actor, e.Detail)
			}
		}
	}
}

// gatedTeams is the teams kind whose rollback waits before it deletes anything until the
// test lets it: at Discard, the rollback's first step, outside any transaction.
type gatedTeams struct {
	*teams.Kind
	entered chan struct{} // closed when a rollback begins
	release chan struct{} // closed by the test to let it go on
}

func (g *gatedTeams) Discard(ctx context.Context, job *reins.Job) error {
	select {
	case <-g.entered:
	default:
		close(g.entered)
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Kind.Discard(ctx, job)
}

// runsOf counts the River runs ever enqueued for the job.
func (h *harness) runsOf(id uuid.UUID) int64 {
	h.t.Helper()
	ctx := context.Background()
	var n int64
	// River keeps args as jsonb on Postgres and as JSON text on SQLite.
	err := h.backend.QueryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE args->>'job_id' = $1`, id.String()).Scan(&n)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// testRestartWaits restarts a paused job over the same sheet while the old job's rollback is
// held back: its teams still exist, and the new job's would clash with them (names are
// unique), so the new job must not run before the rollback ends; not even when it is paused
// and resumed meanwhile. Once the rollback ends, the new job runs and creates every team.
func testRestartWaits(t *testing.T, open Opener) {
	backend := open(t)
	const seeded, n = 300, 200
	seed(t, backend, seeded)
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gated := &gatedTeams{Kind: &teams.Kind{Store: backend, Blob: b}, entered: make(chan struct{}), release: make(chan struct{})}
	kinds := reins.NewRegistry(&csvimport.Kind{Store: backend, Blob: b}, gated)
	h := newHarnessWith(t, backend, b, kinds, engine.Config{Workers: 2, BatchSize: 20})

	old := h.create(teams.Type, importParams{Mapping: fixedMapping, MaxRowsPerS: 300}.values())
	h.send(old, storySheet(n, seeded))
	h.waitFor(old.ID, "progress", func(j *reins.Job) bool { return j.Done >= 20 })
	if got := h.command(old.ID, reins.CommandPause); got.Status != reins.StatusPaused {
		t.Fatalf("PAUSE answered %s", got.Status)
	}
	kept := h.teamsOf(old.ID)
	next := h.restart(old.ID, reins.Params{"max_rows_per_s": ""})
	if next.WaitsFor == nil || *next.WaitsFor != old.ID || next.Status != reins.StatusCreated {
		t.Fatalf("the new job is %s waiting for %v; want CREATED, waiting for %s", next.Status, next.WaitsFor, old.ID)
	}
	select {
	case <-gated.entered:
	case <-time.After(waitLimit):
		t.Fatal("the old job's rollback never started")
	}
	// The rollback is under way and the old teams are all there: nothing may run the new job.
	if got := h.command(next.ID, reins.CommandPause); got.Status != reins.StatusPaused {
		t.Fatalf("PAUSE of the waiting job answered %s", got.Status)
	}
	if got := h.command(next.ID, reins.CommandResume); got.Status != reins.StatusResumed {
		t.Fatalf("RESUME of the waiting job answered %s", got.Status)
	}
	if runs := h.runsOf(next.ID); runs != 0 {
		t.Fatalf("%d runs were enqueued for the new job while the old job's %d teams were being rolled back", runs, kept)
	}
	if j := h.job(next.ID); j.Done != 0 || h.teamsOf(next.ID) != 0 || h.teamsOf(old.ID) != kept {
		t.Fatalf("before the rollback ended: new job done=%d with %d teams, old job %d teams (want %d)",
			j.Done, h.teamsOf(next.ID), h.teamsOf(old.ID), kept)
	}
	close(gated.release)
	h.waitStatus(old.ID, reins.StatusRevoked)
	done := h.waitStatus(next.ID, reins.StatusCompleted)
	if done.Done != n || h.teamsOf(old.ID) != 0 {
		t.Fatalf("the new job created %d teams (want %d); the old job kept %d", done.Done, n, h.teamsOf(old.ID))
	}
	h.checkStoryTeams(n, seeded)
	checkHistory(t, h, old.ID, next.ID)
}

// testRestartRefused checks the restarts that are refused, each changing nothing: a job that
// completed, one already restarted, one without a whole file, an export, a mapping the sheet
// does not fit and a bad parameter.
func testRestartRefused(t *testing.T, open Opener) {
	backend := open(t)
	const seeded = 50
	seed(t, backend, seeded)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 20})
	ctx := context.Background()
	refused := func(id uuid.UUID, changes reins.Params, code, text string) {
		t.Helper()
		before := h.job(id)
		_, err := upload.Restart(ctx, h.engine, h.blob, before, changes, "test")
		if reins.ErrorCode(err) != code || !strings.Contains(reins.ErrorMessage(err), text) {
			t.Fatalf("restart of %s job: got %v, want %s naming %q", before.Status, err, code, text)
		}
		after := h.job(id)
		if after.Status != before.Status || after.Epoch != before.Epoch || (after.RestartedAs == nil) != (before.RestartedAs == nil) {
			t.Fatalf("a refused restart changed the job: %s epoch %d -> %s epoch %d", before.Status, before.Epoch, after.Status, after.Epoch)
		}
	}

	completed := h.create(teams.Type, importParams{Mapping: fixedMapping}.values())
	h.send(completed, storySheetNamed("Crew", 10, seeded))
	h.waitStatus(completed.ID, reins.StatusCompleted)
	refused(completed.ID, nil, reins.ECONFLICT, "is COMPLETED")

	failed := h.create(teams.Type, importParams{Mapping: wrongMapping}.values())
	h.send(failed, storySheet(10, seeded))
	h.waitStatus(failed.ID, reins.StatusFailed)
	h.waitFor(failed.ID, "rollback", func(j *reins.Job) bool { return j.RolledBackAt != nil })
	refused(failed.ID, reins.Params{"mapping": `{"Team": "name", "Boss": "manager_email"}`}, reins.EINVALID, "boss")
	refused(failed.ID, reins.Params{"on_error": "ignore"}, reins.EINVALID, "on_error")
	refused(failed.ID, reins.Params{"max_rows_per_s": "fast"}, reins.EINVALID, "max_rows_per_s")
	if _, err := h.backend.FindJob(ctx, failed.ID); err != nil {
		t.Fatal(err)
	}
	next := h.restart(failed.ID, reins.Params{"mapping": fixedMapping})
	if next.WaitsFor != nil {
		t.Fatalf("the restart of a rolled-back job waits for %s", next.WaitsFor)
	}
	h.waitStatus(next.ID, reins.StatusCompleted)
	refused(failed.ID, nil, reins.ECONFLICT, "already restarted as "+next.ID.String())

	waiting := h.create(teams.Type, nil)
	refused(waiting.ID, nil, reins.ECONFLICT, "is CREATED")
	h.command(waiting.ID, reins.CommandRevoke)
	h.waitStatus(waiting.ID, reins.StatusRevoked)
	refused(waiting.ID, nil, reins.ECONFLICT, "without a complete file")

	export := h.export(csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2015-01-02"})
	h.waitStatus(export.ID, reins.StatusCompleted)
	refused(export.ID, nil, reins.ECONFLICT, "only upload jobs")
}

// testSpoolRetention keeps an ended job's file for the retention period, so it can restart,
// and then removes it: a restart is then refused as gone.
func testSpoolRetention(t *testing.T, open Opener) {
	backend := open(t)
	const seeded = 50
	seed(t, backend, seeded)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 20})
	ctx := context.Background()
	job := h.create(teams.Type, importParams{Mapping: wrongMapping}.values())
	h.send(job, storySheet(10, seeded))
	h.waitStatus(job.ID, reins.StatusFailed)
	failed := h.waitFor(job.ID, "rollback", func(j *reins.Job) bool { return j.RolledBackAt != nil })
	if !h.spoolExists(job.ID) {
		t.Fatal("the failed job's file was removed at once; it must be kept for a restart")
	}
	sw := &upload.Sweeper{Store: backend, Blob: h.blob, Retention: time.Hour, Logger: h.engine.Logger()}
	if n, err := sw.Sweep(ctx, failed.FinishedAt.Add(59*time.Minute)); err != nil || n != 0 || !h.spoolExists(job.ID) {
		t.Fatalf("a sweep within the retention removed %d spools (%v); the file exists: %v", n, err, h.spoolExists(job.ID))
	}
	if n, err := sw.Sweep(ctx, failed.FinishedAt.Add(61*time.Minute)); err != nil || n != 1 || h.spoolExists(job.ID) {
		t.Fatalf("a sweep past the retention removed %d spools (%v); the file exists: %v", n, err, h.spoolExists(job.ID))
	}
	if n, err := sw.Sweep(ctx, failed.FinishedAt.Add(2*time.Hour)); err != nil || n != 0 {
		t.Fatalf("a second sweep removed %d spools (%v), want none", n, err)
	}
	_, err := upload.Restart(ctx, h.engine, h.blob, h.job(job.ID), reins.Params{"mapping": fixedMapping}, "test")
	if reins.ErrorCode(err) != reins.EGONE || !strings.Contains(reins.ErrorMessage(err), "no longer kept") {
		t.Fatalf("restart after the retention: got %v, want EGONE", err)
	}
	if j := h.job(job.ID); j.RestartedAs != nil {
		t.Fatalf("a refused restart linked the job to %s", j.RestartedAs)
	}
}

// customerRows returns every customer as id and email, in id order.
func customerRows(t testing.TB, store reins.Querier) []string {
	t.Helper()
	rs, err := store.Query(context.Background(), `SELECT id, email FROM customers ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var id int64
		var email string
		if err := rs.Scan(&id, &email); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %s", id, email))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// testSeedRepeatable runs the demo seed again and again: it leaves exactly n demo customers,
// the same rows each time, and never touches the other customers.
func testSeedRepeatable(t *testing.T, open Opener) {
	backend := open(t)
	ctx := context.Background()
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 100})
	imported := h.upload(importParams{}, importCSV(30, nil))
	h.waitStatus(imported.ID, reins.StatusCompleted)
	seedDemo := func(n int64) bool {
		t.Helper()
		inserted, err := backend.SeedDemoCustomers(ctx, n, func(i int64) reins.Customer { return demo.Customer(i, n) })
		if err != nil {
			t.Fatal(err)
		}
		return inserted
	}
	count := func() (all, demos int64) {
		t.Helper()
		if err := backend.QueryRow(ctx, `SELECT COUNT(*), COUNT(demo_of) FROM customers`).Scan(&all, &demos); err != nil {
			t.Fatal(err)
		}
		return all, demos
	}
	if !seedDemo(1000) {
		t.Fatal("the first seed inserted nothing")
	}
	first := customerRows(t, backend)
	if seedDemo(1000) {
		t.Fatal("the second seed of the same customers inserted them again")
	}
	if again := customerRows(t, backend); strings.Join(again, "\n") != strings.Join(first, "\n") {
		t.Fatalf("the second seed changed the customers: %d rows before, %d after", len(first), len(again))
	}
	if all, demos := count(); all != 1030 || demos != 1000 {
		t.Fatalf("after seeding 1000 twice: %d customers, %d demo ones; want 1030 and 1000", all, demos)
	}
	if !seedDemo(400) {
		t.Fatal("seeding another number changed nothing")
	}
	if all, demos := count(); all != 430 || demos != 400 {
		t.Fatalf("after seeding 400: %d customers, %d demo ones; want 430 and 400", all, demos)
	}
	if rows, emails := h.imported(imported.ID); rows != 30 || emails != 30 {
		t.Fatalf("seeding touched the imported customers: %d rows left, want 30", rows)
	}
	var n int64
	if err := backend.QueryRow(ctx, `SELECT COUNT(*) FROM customers WHERE demo_of IS NOT NULL AND email = $1`,
		demo.Customer(399, 400).Email).Scan(&n); err != nil || n != 1 {
		t.Fatalf("demo customer 399 of 400 is there %d times (%v), want once", n, err)
	}
}

// testExportRoundTrip exports customers with include=created_at, imports the file into an
// empty database and exports that: the two files are the same, byte for byte.
func testExportRoundTrip(t *testing.T, open Opener) {
	src := open(t)
	seed(t, src, 1500)
	a := newHarness(t, src, engine.Config{Workers: 2, BatchSize: 200})
	p := exportParams{Params: csvexport.Params{DateGTE: "2016-01-01", DateLTE: "2022-12-31"},
		extra: reins.Params{"include": "created_at"}}
	first := a.waitStatus(a.create(csvexport.Type, p.values()).ID, reins.StatusCompleted)
	file := a.result(first)
	if !strings.HasPrefix(file, strings.Join(reins.CustomerColumnsWithCreatedAt, ",")+"\n") {
		t.Fatalf("the export's header is %q, want the columns with created_at", strings.SplitN(file, "\n", 2)[0])
	}

	dst := open(t)
	b := newHarness(t, dst, engine.Config{Workers: 2, BatchSize: 200})
	imported := b.upload(importParams{}, []byte(file))
	done := b.waitStatus(imported.ID, reins.StatusCompleted)
	if first.Total == nil || done.Done != *first.Total {
		t.Fatalf("imported %d rows of an export of %v", done.Done, first.Total)
	}
	second := b.create(csvexport.Type, p.values())
	back := b.result(b.waitStatus(second.ID, reins.StatusCompleted))
	if back != file {
		t.Fatalf("the export of the imported rows differs from the file imported:\n%s\nvs\n%s", head(back), head(file))
	}
}

// head returns the first lines of a file, for messages.
func head(s string) string {
	lines := strings.SplitN(s, "\n", 4)
	return strings.Join(lines[:min(3, len(lines))], "\n")
}

// testSeedDuringExport is issue 7's first report: `reins seed` run with another number while
// an export runs replaces every demo customer (deleting the old rows, inserting new ones in
// bulk). The export stays the rows as of its creation: none of the new rows, none twice, done
// equal to the file's rows and never past total.
func testSeedDuringExport(t *testing.T, open Opener) {
	backend := open(t)
	ctx := context.Background()
	const n, again = 8000, 12000
	if _, err := backend.SeedDemoCustomers(ctx, n, func(i int64) reins.Customer { return demo.Customer(i, n) }); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 200})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31", MaxRowsPerS: 4000}
	job := h.export(p)
	h.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done >= 400 })
	// Paused, so the seed surely lands mid-export; the export's snapshot must hold across it.
	if got := h.command(job.ID, reins.CommandPause); got.Status != reins.StatusPaused {
		t.Fatalf("PAUSE answered %s", got.Status)
	}
	if _, err := backend.SeedDemoCustomers(ctx, again, func(i int64) reins.Customer { return demo.Customer(i, again) }); err != nil {
		t.Fatal(err)
	}
	h.command(job.ID, reins.CommandResume)
	final := h.waitStatus(job.ID, reins.StatusCompleted)
	file := h.result(final)
	rows := parseExport(t, file)
	if final.Total == nil || final.Done != int64(len(rows)) || final.Done > *final.Total || final.Done >= n {
		t.Fatalf("done=%d total=%v, the file has %d rows; want done the file's rows, at most total, fewer than the %d old rows",
			final.Done, final.Total, len(rows), n)
	}
	// The rows deleted by the seed before the export reached them are left out, and the new
	// rows (created after the export) are not in: the file is the start of the old rows' export.
	old := make([]reins.Customer, n)
	for i := range old {
		old[i] = demo.Customer(int64(i), n)
	}
	want := strings.SplitAfter(expectedCSV(t, old, p), "\n")
	got := strings.SplitAfter(file, "\n")
	for i, line := range got[:len(got)-1] { // the last is the empty text after the final newline
		if line != want[i] {
			t.Fatalf("line %d of the export is %q; the old rows' export has %q there", i+1, line, want[i])
		}
	}
}
