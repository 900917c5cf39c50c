package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/csvimport"
	"github.com/reins-dev/reins/demo"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/teams"
	"github.com/reins-dev/reins/upload"
)

// ExerciseKinds runs the job kinds' half of the behaviour suite: bulk team creation, column
// mapping, and the export's guard.
func ExerciseKinds(t *testing.T, open Opener) {
	t.Run("Teams", func(t *testing.T) { t.Parallel(); testTeams(t, open) })
	t.Run("TeamsRevoke", func(t *testing.T) { t.Parallel(); testTeamsRevoke(t, open) })
	t.Run("Mapping", func(t *testing.T) { t.Parallel(); testMapping(t, open) })
	t.Run("ManagerLookupIndexed", func(t *testing.T) { t.Parallel(); testManagerLookupIndexed(t, open) })
	t.Run("ExportGuard", func(t *testing.T) { t.Parallel(); testExportGuard(t, open) })
	t.Run("ExportGuardAuto", func(t *testing.T) { t.Parallel(); testExportGuardAuto(t, open) })
}

// teamsCSV returns a teams sheet of n rows with the given header (two or three columns);
// row i is team "Team i" managed by demo customer i (of a seed of seeded), unless bad
// replaces the row.
func teamsCSV(header string, n int, seeded int64, bad map[int]string) []byte {
	return teamsCSVNamed("Team", header, n, seeded, bad)
}

// teamsCSVNamed is teamsCSV with teams named "<name> i".
func teamsCSVNamed(name, header string, n int, seeded int64, bad map[int]string) []byte {
	var b bytes.Buffer
	b.WriteString(header + "\n")
	extra := strings.Repeat(",x", strings.Count(header, ",")-1)
	for i := 1; i <= n; i++ {
		if line, ok := bad[i]; ok {
			b.WriteString(line + "\n")
			continue
		}
		fmt.Fprintf(&b, "%s %d,%s%s\n", name, i, demoEmail(int64(i), seeded), extra)
	}
	return b.Bytes()
}

func demoEmail(i, n int64) string { return demo.Customer(i, n).Email }

func (h *harness) teamsOf(id uuid.UUID) (rows int64) {
	h.t.Helper()
	if err := h.backend.QueryRow(context.Background(), `SELECT COUNT(*) FROM teams WHERE job_id = $1`, id).Scan(&rows); err != nil {
		h.t.Fatal(err)
	}
	return rows
}

// testTeams creates teams from a sheet whose headers are mapped, with bad rows skipped: a
// manager nobody is, a name taken earlier in the file, a name taken by another job.
func testTeams(t *testing.T, open Opener) {
	backend := open(t)
	const seeded = 500
	seed(t, backend, seeded)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 50})
	mapping := `{"Team": "name", "Lead email": "manager_email", "Notes": ""}`
	header := "Team,Lead email,Notes"

	earlier := h.create(teams.Type, importParams{OnError: upload.OnErrorAbort, Mapping: mapping}.values())
	h.send(earlier, teamsCSV(header, 1, seeded, map[int]string{1: "Taken," + demoEmail(7, seeded) + ",x"}))
	h.waitStatus(earlier.ID, reins.StatusCompleted)

	bad := map[int]string{
		30:  "Team 30,nobody@example.com,x",
		60:  "Taken," + demoEmail(60, seeded) + ",x",
		90:  "Team 89," + demoEmail(90, seeded) + ",x",
		120: "," + demoEmail(120, seeded) + ",x",
	}
	job := h.create(teams.Type, importParams{OnError: upload.OnErrorSkip, Mapping: mapping}.values())
	h.send(job, teamsCSV(header, 200, seeded, bad))
	done := h.waitStatus(job.ID, reins.StatusCompleted)
	if done.Done != 196 || h.teamsOf(job.ID) != 196 || done.Total == nil || *done.Total != 200 {
		t.Fatalf("done=%d total=%v teams=%d; want 196 of 200", done.Done, done.Total, h.teamsOf(job.ID))
	}
	skipped, errs := upload.Skipped(done)
	want := []struct {
		line         int
		column, text string
	}{
		{31, "Lead email", "no customer has the email"},
		{61, "Team", "already exists"},
		{91, "Team", "already exists"},
		{121, "Team", "must not be empty"},
	}
	if skipped != 4 || len(errs) != 4 {
		t.Fatalf("skipped %d, listed %+v; want 4", skipped, errs)
	}
	for i, w := range want {
		if errs[i].Line != w.line || errs[i].Column != w.column || !strings.Contains(errs[i].Reason, w.text) {
			t.Errorf("error %d is %+v, want line %d, column %q, %q", i, errs[i], w.line, w.column, w.text)
		}
	}

	abort := h.create(teams.Type, importParams{Mapping: mapping}.values())
	h.send(abort, teamsCSVNamed("Squad", header, 100, seeded, map[int]string{70: "Squad X,nobody@example.com,x"}))
	failed := h.waitStatus(abort.ID, reins.StatusFailed)
	if !strings.Contains(failed.Error, "line 71") || !strings.Contains(failed.Error, "nobody@example.com") {
		t.Fatalf("the failed job's error %q does not name line 71 and the email", failed.Error)
	}
	h.waitFor(abort.ID, "rollback", func(j *reins.Job) bool { return j.Done == 0 && h.teamsOf(abort.ID) == 0 })
}

// testTeamsRevoke revokes a team creation mid-way: its teams are deleted, counting down.
func testTeamsRevoke(t *testing.T, open Opener) {
	backend := open(t)
	const seeded = 2000
	seed(t, backend, seeded)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 100})
	job := h.create(teams.Type, importParams{MaxRowsPerS: 2000}.values())
	h.send(job, teamsCSV("name,manager_email", 2000, seeded, nil))
	h.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done >= 200 })
	if got := h.command(job.ID, reins.CommandPause); got.Status != reins.StatusPaused {
		t.Fatalf("PAUSE answered %s", got.Status)
	}
	if n := h.teamsOf(job.ID); n != h.job(job.ID).Done {
		t.Fatalf("PAUSED with done=%d but %d teams", h.job(job.ID).Done, n)
	}
	h.command(job.ID, reins.CommandRevoke)
	h.waitStatus(job.ID, reins.StatusRevoked)
	if n := h.teamsOf(job.ID); n != 0 || h.job(job.ID).Done != 0 {
		t.Fatalf("after REVOKE %d teams remain, done=%d", n, h.job(job.ID).Done)
	}
}

// testMapping imports a customers sheet with its own header names, and refuses mappings that
// name columns the sheet lacks or leave a required field without a column.
func testMapping(t *testing.T, open Opener) {
	h := newHarness(t, open(t), engine.Config{Workers: 2, BatchSize: 100})
	const rest = `"First Name": "first_name", "Surname": "last_name", "Street": "address", "Years": "age",
		"Employer": "company", "Phone": ""`
	mapping := `{"E-mail": "email", ` + rest + `}`
	file := "First Name,Surname,Street,E-mail,Years,Employer,Phone\n" +
		"Ada,Lovelace,1 St,ada@example.com,36,Engines,555\nAlan,Turing,2 St,alan@example.com,41,Bletchley,556\n"
	job := h.upload(importParams{Mapping: mapping}, []byte(file))
	if done := h.waitStatus(job.ID, reins.StatusCompleted); done.Done != 2 {
		t.Fatalf("imported %d rows, want 2", done.Done)
	}
	for _, c := range []struct{ name, mapping, want string }{
		{"lacking", `{"Mail": "email", ` + rest + `}`, `the mapping names column the sheet lacks: "mail"`},
		{"required", `{"E-mail": "", ` + rest + `}`, "missing column: email"},
	} {
		t.Run(c.name, func(t *testing.T) {
			job := h.newImport(importParams{Mapping: c.mapping})
			_, err := h.receiver().Receive(context.Background(), job.ID, "m.csv", nil, strings.NewReader(file), nil)
			if reins.ErrorCode(err) != reins.EINVALID || !strings.Contains(reins.ErrorMessage(err), c.want) {
				t.Fatalf("got %v, want EINVALID naming %q", err, c.want)
			}
			h.waitStatus(job.ID, reins.StatusFailed)
		})
	}
	kind, _ := h.engine.Kinds().Lookup(csvimport.Type)
	for _, bad := range []string{`[1]`, `{"a": "shoe_size"}`, `{"a": "email", "b": "email"}`, `{"a": 1}`, `{`} {
		if _, err := kind.NewJob(importParams{Mapping: bad}.values()); reins.ErrorCode(err) != reins.EINVALID ||
			!strings.Contains(reins.ErrorMessage(err), "mapping") {
			t.Errorf("mapping %s: got %v, want EINVALID about the mapping", bad, err)
		}
	}
}

// testExportGuard holds an export estimated above its confirm_over until CONFIRM, reading
// nothing meanwhile; REVOKE drops a held export; CONFIRM is refused elsewhere.
func testExportGuard(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 2000)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 200})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}
	guarded := exportParams{Params: p, extra: reins.Params{"confirm_over": "100"}}

	job := h.create(csvexport.Type, guarded.values())
	held := h.job(job.ID)
	if held.Status != reins.StatusAwaitingConfirmation || held.Done != 0 || h.filesExist(job.ID) {
		t.Fatalf("a guarded export is %s with done=%d (files: %v)", held.Status, held.Done, h.filesExist(job.ID))
	}
	kind, _ := h.engine.Kinds().Lookup(csvexport.Type)
	if est, ok := kind.Present(held)["estimated_rows"].(int64); !ok || est <= 100 {
		t.Fatalf("estimated_rows = %v, want over the threshold of 100", kind.Present(held)["estimated_rows"])
	}
	if _, err := h.engine.Command(context.Background(), job.ID, reins.CommandPause, "test"); reins.ErrorCode(err) != reins.EINVALID {
		t.Fatalf("PAUSE of a held export: got %v, want EINVALID", err)
	}
	if got := h.command(job.ID, reins.CommandConfirm); got.Status != reins.StatusCreated {
		t.Fatalf("CONFIRM answered %s", got.Status)
	}
	done := h.waitStatus(job.ID, reins.StatusCompleted)
	if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatal("the confirmed export differs from the expected CSV")
	}
	_, err := h.engine.Command(context.Background(), job.ID, reins.CommandConfirm, "test")
	if reins.ErrorCode(err) != reins.EINVALID || !strings.Contains(reins.ErrorMessage(err), "COMPLETED") {
		t.Fatalf("CONFIRM of a completed job: got %v, want EINVALID naming COMPLETED", err)
	}

	dropped := h.create(csvexport.Type, guarded.values())
	if got := h.command(dropped.ID, reins.CommandRevoke); got.Status != reins.StatusRevoked {
		t.Fatalf("REVOKE of a held export answered %s", got.Status)
	}
	small := h.create(csvexport.Type, exportParams{Params: csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2015-01-10"},
		extra: reins.Params{"confirm_over": "100"}}.values())
	h.waitStatus(small.ID, reins.StatusCompleted)
}

// testExportGuardAuto holds, under confirm_over=auto, an export far larger than the
// tenant's recent ones, and not one like them.
func testExportGuardAuto(t *testing.T, open Opener) {
	backend := open(t)
	seed(t, backend, 5000)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 500})
	auto := reins.Params{"confirm_over": "auto"}
	day := csvexport.Params{DateGTE: "2017-08-01", DateLTE: "2017-08-31"} // about 40 rows
	for range 3 {
		h.waitStatus(h.create(csvexport.Type, exportParams{Params: day, extra: auto}.values()).ID, reins.StatusCompleted)
	}
	all := h.create(csvexport.Type, exportParams{Params: csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}, extra: auto}.values())
	if got := h.job(all.ID); got.Status != reins.StatusAwaitingConfirmation {
		t.Fatalf("an export 100 times the usual is %s, want AWAITING_CONFIRMATION", got.Status)
	}
	h.waitStatus(h.create(csvexport.Type, exportParams{Params: day, extra: auto}.values()).ID, reins.StatusCompleted)
}

// testManagerLookupIndexed: every customer deleted, each row of an import's rollback among
// them, makes the database clear the manager_id of the teams that name it (ON DELETE SET
// NULL). Without an index on teams.manager_id that is a scan of all of teams for each
// deleted row: the rollback of a 1M-row import beside 100k teams reads 10^11 rows. The
// database must find a customer's teams by the index (migration 013), as it plans the same
// statement its foreign key runs.
func testManagerLookupIndexed(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	seed(t, backend, 2000)
	if _, err := backend.Exec(ctx, `INSERT INTO teams (owner, name, manager_id, created_at)
		SELECT 'default', 'Team ' || id, id, created_at FROM customers`); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.Exec(ctx, `ANALYZE teams`); err != nil {
		t.Fatal(err)
	}
	const stmt = `UPDATE teams SET manager_id = NULL WHERE manager_id = 1000`
	plan, err := explain(ctx, backend, stmt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "teams_manager_id") {
		t.Fatalf("clearing a deleted customer's teams does not use an index on manager_id; the plan is:\n%s", plan)
	}
}

// explain returns the database's plan for stmt: SQLite's EXPLAIN QUERY PLAN (the detail of
// each step), or Postgres' EXPLAIN. Each refuses the other's form, so the first that answers
// is the database's own.
func explain(ctx context.Context, q reins.Querier, stmt string) (string, error) {
	plan, err := planLines(ctx, q, "EXPLAIN QUERY PLAN "+stmt, func(rows reins.Rows) (string, error) {
		var id, parent, unused int64
		var detail string
		err := rows.Scan(&id, &parent, &unused, &detail)
		return detail, err
	})
	if err == nil {
		return plan, nil
	}
	return planLines(ctx, q, "EXPLAIN "+stmt, func(rows reins.Rows) (string, error) {
		var line string
		err := rows.Scan(&line)
		return line, err
	})
}

// planLines runs query and joins the line scan makes of each row.
func planLines(ctx context.Context, q reins.Querier, query string, scan func(reins.Rows) (string, error)) (string, error) {
	rows, err := q.Query(ctx, query)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		line, err := scan(rows)
		if err != nil {
			return "", err
		}
		plan.WriteString(line + "\n")
	}
	return plan.String(), rows.Err()
}
