package enginetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/csvimport"
	"github.com/reins-dev/reins/engine"
)

// Exercise runs the behaviour suite on backends that open gives.
func Exercise(t *testing.T, open Opener) {
	t.Run("TransitionTable", func(t *testing.T) { t.Parallel(); testTransitionTable(t, open) })
	t.Run("Fencing", func(t *testing.T) { t.Parallel(); testFencing(t, open) })
	t.Run("ExportContents", func(t *testing.T) { t.Parallel(); testExportContents(t, open) })
	t.Run("PauseResumeExact", func(t *testing.T) { t.Parallel(); testPauseResumeExact(t, open) })
	t.Run("BoundedRunsHandOver", func(t *testing.T) { t.Parallel(); testBoundedRuns(t, open) })
	t.Run("Revoke", func(t *testing.T) { t.Parallel(); testRevoke(t, open) })
	t.Run("RacingCommands", func(t *testing.T) { t.Parallel(); testRacingCommands(t, open) })
	t.Run("RunAttempts", func(t *testing.T) { t.Parallel(); testRunAttempts(t, open) })
	t.Run("DataError", func(t *testing.T) { t.Parallel(); testDataError(t, open) })
	t.Run("RollbackNeverGivesUp", func(t *testing.T) { t.Parallel(); testRollbackNeverGivesUp(t, open) })
	ExerciseScheduling(t, open)
	exercisePauseCost(t, open)
}

// testTransitionTable applies every command to a job in every status through the store and
// checks the outcome against the table: status, epoch, history, and the forbidden ones.
func testTransitionTable(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	for _, from := range reins.AllStatuses() {
		for _, cmd := range reins.AllCommands() {
			job := &reins.Job{ID: uuid.New(), Type: csvimport.Type, Status: from}
			if err := backend.CreateJob(ctx, job, "test", reins.RunNone, nil); err != nil {
				t.Fatal(err)
			}
			if from == reins.StatusStarted || from == reins.StatusResumed {
				// A run holds a working job, to acknowledge a PAUSE (a PAUSE that no run holds
				// settles at once: testPauseWithNoRunSettles).
				if _, err := backend.StartRun(ctx, job.ID, job.Epoch, reins.RunProcess, time.Minute, "test"); err != nil {
					t.Fatal(err)
				}
			}
			want, wantErr := reins.NextStatus(from, cmd)
			got, tr, err := backend.ApplyCommand(ctx, job.ID, cmd, "test")
			if wantErr != nil {
				if reins.ErrorCode(err) != reins.EINVALID || !strings.Contains(reins.ErrorMessage(err), string(from)) {
					t.Errorf("%s from %s: got error %v, want EINVALID naming %s", cmd, from, err, from)
				}
				if stored, _ := backend.FindJob(ctx, job.ID); stored.Status != from || stored.Epoch != 1 {
					t.Errorf("%s from %s (forbidden) changed the job to %s epoch %d", cmd, from, stored.Status, stored.Epoch)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s from %s: %v", cmd, from, err)
			}
			if tr != want || got.Status != want.To {
				t.Errorf("%s from %s: got %+v status %s, want %+v", cmd, from, tr, got.Status, want)
			}
			stored, err := backend.FindJob(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEpoch := int64(1)
			if want.BumpEpoch {
				wantEpoch = 2
			}
			if stored.Status != want.To || stored.Epoch != wantEpoch {
				t.Errorf("%s from %s: stored %s epoch %d, want %s epoch %d", cmd, from, stored.Status, stored.Epoch, want.To, wantEpoch)
			}
			events, err := backend.JobEvents(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEvents := 2
			if want.NoOp {
				wantEvents = 1
			}
			if len(events) != wantEvents {
				t.Errorf("%s from %s: %d history entries, want %d", cmd, from, len(events), wantEvents)
			}
		}
	}
	if _, _, err := backend.ApplyCommand(ctx, uuid.New(), reins.CommandPause, "test"); reins.ErrorCode(err) != reins.ENOTFOUND {
		t.Errorf("command on an unknown job: got %v, want ENOTFOUND", err)
	}
}

// testFencing stalls a run (it stops renewing its lease), lets another run take the job
// over, then lets the stale run try to commit: nothing of it is written. Commands fence
// runs the same way through the epoch.
func testFencing(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	job := &reins.Job{ID: uuid.New(), Type: csvexport.Type, Status: reins.StatusCreated}
	if err := backend.CreateJob(ctx, job, "test", reins.RunNone, nil); err != nil {
		t.Fatal(err)
	}
	claim := func(epoch int64) (uuid.UUID, error) {
		j, err := backend.StartRun(ctx, job.ID, epoch, reins.RunProcess, time.Minute, "test")
		if err != nil {
			return uuid.Nil, err
		}
		return *j.Lease, nil
	}
	commit := func(epoch int64, lease uuid.UUID) error {
		_, err := backend.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: epoch, Kind: reins.RunProcess,
			Lease: lease, DoneDelta: 10, Checkpoint: []byte(`{"n":1}`)})
		return err
	}
	a, err := claim(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := commit(1, a); err != nil {
		t.Fatal(err)
	}
	if _, err := claim(1); reins.ErrorCode(err) != reins.EBUSY {
		t.Fatalf("a second run claiming a held job: got %v, want EBUSY", err)
	}
	// Run a stalls: as far as the rescuer is concerned, its lease expired long ago.
	rescued, err := backend.RescueExpired(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(rescued) != 1 || rescued[0] != job.ID {
		t.Fatalf("rescue: got %v, %v; want the job", rescued, err)
	}
	b, err := claim(1)
	if err != nil {
		t.Fatalf("the rescuing run could not claim the job: %v", err)
	}
	if err := commit(1, a); reins.ErrorCode(err) != reins.EFENCED {
		t.Fatalf("the stale run's commit: got %v, want EFENCED", err)
	}
	if held, err := backend.RenewLease(ctx, job.ID, a, time.Minute); err != nil || held {
		t.Fatalf("the stale run renewed its lease: held=%v err=%v", held, err)
	}
	if err := commit(1, b); err != nil {
		t.Fatalf("the new run's commit: %v", err)
	}
	// PAUSE records the intent: the batch in flight still commits, and tells the run to
	// stop; once the run acknowledges (PAUSED), nothing more can commit.
	if _, _, err := backend.ApplyCommand(ctx, job.ID, reins.CommandPause, "test"); err != nil {
		t.Fatal(err)
	}
	// A PAUSE the holder will acknowledge may commit without waiting for the disk; SyncJob,
	// which an answer without the acknowledgement calls first, leaves the job as it was.
	pausing, err := backend.FindJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.SyncJob(ctx, job.ID); err != nil {
		t.Fatalf("SyncJob: %v", err)
	}
	if synced, err := backend.FindJob(ctx, job.ID); err != nil || synced.Status != reins.StatusPausing ||
		synced.Done != pausing.Done || !synced.UpdatedAt.Equal(pausing.UpdatedAt) || synced.Epoch != pausing.Epoch {
		t.Fatalf("after SyncJob: %+v, %v; want the job as it was: %+v", synced, err, pausing)
	}
	res, err := backend.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: 1, Kind: reins.RunProcess,
		Lease: b, DoneDelta: 10, Checkpoint: []byte(`{"n":2}`)})
	if err != nil || res.Status != reins.StatusPausing {
		t.Fatalf("the batch in flight at PAUSE: got %+v, %v; want it committed, status PAUSING", res, err)
	}
	if ok, err := backend.FinishRun(ctx, &reins.Finish{JobID: job.ID, Epoch: 1, Lease: &b,
		Event: reins.RunStopped, Actor: "test"}); err != nil || !ok {
		t.Fatalf("acknowledging the pause: %v, %v", ok, err)
	}
	if err := commit(1, b); reins.ErrorCode(err) != reins.EFENCED {
		t.Fatalf("commit while PAUSED: got %v, want EFENCED", err)
	}
	// RESUME moves the epoch: the old run stays fenced off and may not claim the job.
	if _, _, err := backend.ApplyCommand(ctx, job.ID, reins.CommandResume, "test"); err != nil {
		t.Fatal(err)
	}
	if err := commit(1, b); reins.ErrorCode(err) != reins.EFENCED {
		t.Fatalf("commit of a stale epoch after RESUME: got %v, want EFENCED", err)
	}
	if _, err := claim(1); reins.ErrorCode(err) != reins.EFENCED {
		t.Fatalf("stale run claiming the job: got %v, want EFENCED", err)
	}
	c, err := claim(2)
	if err != nil {
		t.Fatalf("the resumed run could not claim the job: %v", err)
	}
	if err := commit(2, c); err != nil {
		t.Fatalf("commit of the current epoch: %v", err)
	}
	got, _ := backend.FindJob(ctx, job.ID)
	if got.Done != 40 {
		t.Fatalf("done = %d, want 40: only the four unfenced batches count", got.Done)
	}
}

func testExportContents(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 3000)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 250})
	for _, p := range []csvexport.Params{
		{DateGTE: "2015-01-01", DateLTE: "2024-12-31"}, // everything
		{DateGTE: "2017-08-01", DateLTE: "2019-02-28"}, // a slice
		{DateGTE: "2024-12-31", DateLTE: "2024-12-31"}, // one whole day, the last
		{DateGTE: "2030-01-01", DateLTE: "2030-12-31"}, // nothing: a header only
	} {
		job := h.export(p)
		done := h.waitStatus(job.ID, reins.StatusCompleted)
		want := expectedCSV(t, customers, p)
		if got := h.result(done); got != want {
			t.Fatalf("export %+v: CSV differs from the expected one (%d vs %d bytes)", p, len(got), len(want))
		}
		rows := int64(strings.Count(want, "\n") - 1)
		if done.Done != rows || done.Total == nil || *done.Total != rows {
			t.Fatalf("export %+v: progress done=%d total=%v, want %d", p, done.Done, done.Total, rows)
		}
	}
}

// testPauseResumeExact pauses a 50,000-row export midway several times: each PAUSED answer
// is true (the counters do not move and no batch can commit), and the finished CSV equals
// an unpaused export's.
func testPauseResumeExact(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 50_000)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 1000})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31", MaxRowsPerS: 40_000}
	job := h.export(p)

	var lastDone int64
	for cycle := 0; cycle < 3; cycle++ {
		h.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > lastDone && j.Done < 50_000 })
		paused := h.command(job.ID, reins.CommandPause)
		if paused.Status == reins.StatusCompleted {
			t.Skip("the export finished before it could be paused; the machine is faster than the throttle")
		}
		if paused.Status != reins.StatusPaused {
			t.Fatalf("cycle %d: PAUSE answered %s, want PAUSED", cycle, paused.Status)
		}
		// Repeating PAUSE is harmless.
		if again := h.command(job.ID, reins.CommandPause); again.Status != reins.StatusPaused || again.Done != paused.Done {
			t.Fatalf("cycle %d: repeated PAUSE answered %s done=%d", cycle, again.Status, again.Done)
		}
		// While paused the counters stay where PAUSE said: watch for a few throttle periods.
		time.Sleep(200 * time.Millisecond)
		if now := h.job(job.ID); now.Done != paused.Done || now.Status != reins.StatusPaused {
			t.Fatalf("cycle %d: counters moved while paused: %d -> %d (%s)", cycle, paused.Done, now.Done, now.Status)
		}
		lastDone = paused.Done
		if resumed := h.command(job.ID, reins.CommandResume); resumed.Status != reins.StatusResumed {
			t.Fatalf("cycle %d: RESUME answered %s", cycle, resumed.Status)
		}
	}
	done := h.waitStatus(job.ID, reins.StatusCompleted)
	if done.Done != 50_000 {
		t.Fatalf("done = %d after pauses, want 50000", done.Done)
	}
	if got, want := h.result(done), expectedCSV(t, customers, p); got != want {
		t.Fatalf("paused and resumed export differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
	events, err := backend.JobEvents(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var pauses int
	for _, e := range events {
		if e.To == reins.StatusPaused {
			pauses++
		}
	}
	if pauses != 3 {
		t.Fatalf("history has %d PAUSED entries, want 3", pauses)
	}
}

// testBoundedRuns makes every run hand over after a short budget: the job goes through many
// runs and still writes each row once.
func testBoundedRuns(t *testing.T, open Opener) {
	backend := open(t)
	customers := seed(t, backend, 4000)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 100, RunBudget: 30 * time.Millisecond})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31", MaxRowsPerS: 20_000}
	job := h.waitStatus(h.export(p).ID, reins.StatusCompleted)
	if got, want := h.result(job), expectedCSV(t, customers, p); got != want {
		t.Fatalf("export over many runs differs from the expected CSV (%d vs %d bytes)", len(got), len(want))
	}
}

func testRevoke(t *testing.T, open Opener) {
	backend := open(t)
	seed(t, backend, 20_000)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 500})
	p := csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31", MaxRowsPerS: 10_000}

	t.Run("Running", func(t *testing.T) {
		job := h.export(p)
		h.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > 0 })
		if !h.filesExist(job.ID) {
			t.Fatal("a running export has no file")
		}
		revoked := h.command(job.ID, reins.CommandRevoke)
		if revoked.Status != reins.StatusRevoked {
			t.Fatalf("REVOKE answered %s, want REVOKED", revoked.Status)
		}
		// One rule for every kind: nothing of a rolled-back job's work is left, so done is 0.
		if revoked.Done != 0 {
			t.Errorf("a revoked export shows done %d, want 0", revoked.Done)
		}
		if h.filesExist(job.ID) {
			t.Fatal("the revoked export's partial file is still there")
		}
		if again := h.command(job.ID, reins.CommandRevoke); again.Status != reins.StatusRevoked {
			t.Fatalf("repeated REVOKE answered %s", again.Status)
		}
		if _, err := h.engine.Command(context.Background(), job.ID, reins.CommandResume, "test"); reins.ErrorCode(err) != reins.EINVALID {
			t.Fatalf("RESUME of a revoked job: got %v, want EINVALID", err)
		}
	})
	t.Run("Paused", func(t *testing.T) {
		job := h.export(p)
		h.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > 0 })
		if got := h.command(job.ID, reins.CommandPause); got.Status != reins.StatusPaused {
			t.Fatalf("PAUSE answered %s", got.Status)
		}
		if got := h.command(job.ID, reins.CommandRevoke); got.Status != reins.StatusRevoked || got.Done != 0 {
			t.Fatalf("REVOKE of a paused job answered %s with done %d, want REVOKED with done 0", got.Status, got.Done)
		}
		if h.filesExist(job.ID) {
			t.Fatal("the revoked export's partial file is still there")
		}
	})
	t.Run("Completed", func(t *testing.T) {
		job := h.waitStatus(h.export(csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2015-01-02"}).ID, reins.StatusCompleted)
		if _, err := h.engine.Command(context.Background(), job.ID, reins.CommandRevoke, "test"); reins.ErrorCode(err) != reins.EINVALID {
			t.Fatalf("REVOKE of a completed job: got %v, want EINVALID", err)
		}
		if !h.filesExist(job.ID) {
			t.Fatal("a refused REVOKE removed a completed export's file")
		}
	})
}

// testRacingCommands fires PAUSE, RESUME and REVOKE at a running export all at once: every
// answer is a status the job really passed through, the history follows the table, and it
// ends REVOKED with nothing left behind.
func testRacingCommands(t *testing.T, open Opener) {
	backend := open(t)
	seed(t, backend, 20_000)
	h := newHarness(t, backend, engine.Config{Workers: 2, BatchSize: 200, CommandWait: 2 * time.Second})
	job := h.export(csvexport.Params{DateGTE: "2015-01-01", DateLTE: "2024-12-31", MaxRowsPerS: 5_000})
	h.waitFor(job.ID, "progress", func(j *reins.Job) bool { return j.Done > 0 })

	var wg sync.WaitGroup
	cmds := []reins.Command{reins.CommandPause, reins.CommandResume, reins.CommandPause, reins.CommandRevoke,
		reins.CommandPause, reins.CommandResume, reins.CommandRevoke, reins.CommandPause}
	for _, cmd := range cmds {
		wg.Add(1)
		go func(cmd reins.Command) {
			defer wg.Done()
			_, err := h.engine.Command(context.Background(), job.ID, cmd, "test")
			if err != nil && reins.ErrorCode(err) != reins.EINVALID {
				t.Errorf("%s: %v", cmd, err)
			}
		}(cmd)
	}
	wg.Wait()
	final := h.waitStatus(job.ID, reins.StatusRevoked)
	if h.filesExist(job.ID) {
		t.Fatal("files remain after the race ended REVOKED")
	}
	events, err := backend.JobEvents(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(events); i++ {
		e := events[i]
		if e.From != events[i-1].To {
			t.Fatalf("history entry %d goes from %s but the previous one ended at %s", i, e.From, events[i-1].To)
		}
		if !allowed(e) {
			t.Fatalf("history entry %d: %s -> %s (%s by %s) is not in the table", i, e.From, e.To, e.Detail, e.Actor)
		}
	}
	if final.Done > 20_000 {
		t.Fatalf("done = %d, more than the rows that exist", final.Done)
	}
}

// allowed reports whether a history entry is a command's transition (actor api or test,
// the command its detail) or a run's, by the tables in status.go.
func allowed(e reins.Event) bool {
	if e.Actor == "api" || e.Actor == "test" {
		tr, err := reins.NextStatus(e.From, reins.Command(e.Detail))
		return err == nil && tr.To == e.To && !tr.NoOp
	}
	return reins.IsRunTransition(e.From, e.To)
}

// testRunAttempts checks that a run the store enqueues may be tried as often as the engine
// retries (reins.RunMaxAttempts, docs/states.md), not River's default of 25: the stores'
// insert-only River clients once had an empty configuration.
func testRunAttempts(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	job := &reins.Job{ID: uuid.New(), Type: csvimport.Type, Status: reins.StatusCreated}
	if err := backend.CreateJob(ctx, job, "test", reins.RunProcess, nil); err != nil {
		t.Fatal(err)
	}
	var attempts int
	if err := backend.QueryRow(ctx, `SELECT max_attempts FROM river_job WHERE kind = $1`, reins.RunArgs{}.Kind()).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != reins.RunMaxAttempts {
		t.Errorf("a run is enqueued with max_attempts %d, want %d", attempts, reins.RunMaxAttempts)
	}
}

// testDataError checks that a value the database cannot take (Postgres refuses a NUL in
// jsonb, SQLSTATE class 22) is the caller's EINVALID, a 400, never an internal error.
func testDataError(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	job := &reins.Job{ID: uuid.New(), Type: csvimport.Type, Status: reins.StatusCreated,
		Params: []byte(`{"mapping": {"a\u0000b": "first_name"}}`)}
	err := backend.CreateJob(ctx, job, "test", reins.RunNone, nil)
	if err != nil && reins.ErrorCode(err) != reins.EINVALID {
		t.Errorf("a NUL in a job's params: got %v (code %s), want EINVALID or no error", err, reins.ErrorCode(err))
	}
}
