package enginetest

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/csvimport"
)

// ExerciseWatching runs the half of the behaviour suite that watching jobs stands on: the
// listing's filters, paging by cursor while jobs are created, tenant scoping, the counts by
// status, the recorded rate, and the change feed of live events.
func ExerciseWatching(t *testing.T, open Opener) {
	t.Run("ListFilters", func(t *testing.T) { t.Parallel(); testListFilters(t, open) })
	t.Run("ListPaging", func(t *testing.T) { t.Parallel(); testListPaging(t, open) })
	t.Run("CountJobs", func(t *testing.T) { t.Parallel(); testCountJobs(t, open) })
	t.Run("RateRecorded", func(t *testing.T) { t.Parallel(); testRateRecorded(t, open) })
	t.Run("ChangeFeed", func(t *testing.T) { t.Parallel(); testChangeFeed(t, open) })
	t.Run("UpdatedAtOnlyForward", func(t *testing.T) { t.Parallel(); testUpdatedAtOnlyForward(t, open) })
}

// testUpdatedAtOnlyForward moves a job through its life while the store's clock runs an
// hour further behind at each change: on Postgres a batch reads the clock before it waits
// for the row a PAUSE holds, and in a cluster one machine's clock may lag another's. Every
// change must still stamp the job no earlier than the change before, and a change of status
// later, or a watcher that keeps the newest copy of each job (the dashboard) or asks for the
// jobs updated since the last change it saw misses it: a PAUSE answered PAUSED that the page
// shows PAUSING.
func testUpdatedAtOnlyForward(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	clocked, ok := backend.(interface{ SetNow(func() time.Time) })
	if !ok {
		t.Fatalf("%T has no SetNow", backend)
	}
	var lag atomic.Int64
	clocked.SetNow(func() time.Time {
		return time.Now().UTC().Truncate(time.Microsecond).Add(-time.Duration(lag.Load()))
	})
	job := &reins.Job{ID: uuid.New(), Type: csvexport.Type, Status: reins.StatusCreated, Owner: "alice"}
	if err := backend.CreateJob(ctx, job, "test", reins.RunNone, nil); err != nil {
		t.Fatal(err)
	}
	last := findJob(t, backend, job.ID)
	step := func(what string, want reins.Status, change func(j *reins.Job) error) {
		t.Helper()
		lag.Add(int64(time.Hour))
		if err := change(last); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		j := findJob(t, backend, job.ID)
		if j.Status != want {
			t.Fatalf("%s: the job is %s, want %s", what, j.Status, want)
		}
		if j.UpdatedAt.Before(last.UpdatedAt) || j.Status != last.Status && !j.UpdatedAt.After(last.UpdatedAt) {
			t.Fatalf("%s (%s to %s) stamped the job %s, after the change before it stamped %s", what, last.Status, j.Status, j.UpdatedAt, last.UpdatedAt)
		}
		listed, err := backend.ListJobs(ctx, &reins.JobFilter{Owner: "alice", UpdatedFrom: &last.UpdatedAt, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != 1 || listed[0].Status != want {
			t.Fatalf("after %s, the jobs updated since the change before are %v, want the job %s", what, listed, want)
		}
		last = j
	}
	var lease uuid.UUID
	start := func(j *reins.Job) error {
		held, err := backend.StartRun(ctx, j.ID, j.Epoch, reins.RunProcess, time.Minute, "test")
		if err == nil {
			lease = *held.Lease
		}
		return err
	}
	commit := func(b reins.Batch) func(j *reins.Job) error {
		return func(j *reins.Job) error {
			b.JobID, b.Epoch, b.Kind, b.Lease, b.DoneDelta, b.Checkpoint = j.ID, j.Epoch, reins.RunProcess, lease, 5, []byte(`{}`)
			_, err := backend.CommitBatch(ctx, &b)
			return err
		}
	}
	command := func(cmd reins.Command) func(j *reins.Job) error {
		return func(j *reins.Job) error {
			_, _, err := backend.ApplyCommand(ctx, j.ID, cmd, "test")
			return err
		}
	}
	step("the claim", reins.StatusStarted, start)
	step("a batch", reins.StatusStarted, commit(reins.Batch{StopIfPausing: true}))
	step("PAUSE", reins.StatusPausing, command(reins.CommandPause))
	step("the batch that acknowledges it", reins.StatusPaused, commit(reins.Batch{StopIfPausing: true}))
	step("RESUME", reins.StatusResumed, command(reins.CommandResume))
	step("the resumed run's claim", reins.StatusResumed, start)
	step("the last batch", reins.StatusCompleted, commit(reins.Batch{Complete: true}))
}

// testRateRecorded commits batches with and without a rate: a batch's rate is kept with the
// time of its commit, and a batch without one keeps the last.
func testRateRecorded(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	job := &reins.Job{ID: uuid.New(), Type: csvexport.Type, Status: reins.StatusCreated}
	if err := backend.CreateJob(ctx, job, "test", reins.RunNone, nil); err != nil {
		t.Fatal(err)
	}
	held, err := backend.StartRun(ctx, job.ID, 1, reins.RunProcess, time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	if held.RatePerS != nil || held.RateAt != nil {
		t.Fatalf("a new job has a rate: %v at %v", *held.RatePerS, held.RateAt)
	}
	commit := func(rate *float64) *reins.Job {
		t.Helper()
		if _, err := backend.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: 1, Kind: reins.RunProcess, Lease: *held.Lease,
			DoneDelta: 10, RatePerS: rate, Checkpoint: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		return findJob(t, backend, job.ID)
	}
	if j := commit(nil); j.RatePerS != nil || j.Done != 10 {
		t.Fatalf("after a batch with no rate: rate %v, done %d", j.RatePerS, j.Done)
	}
	rate := 123.5
	before := time.Now().Add(-time.Second)
	j := commit(&rate)
	if j.RatePerS == nil || *j.RatePerS != rate || j.RateAt == nil || j.RateAt.Before(before) {
		t.Fatalf("after a batch at 123.5/s: rate %v at %v", j.RatePerS, j.RateAt)
	}
	at := *j.RateAt
	if j := commit(nil); j.RatePerS == nil || *j.RatePerS != rate || !j.RateAt.Equal(at) || j.Done != 30 {
		t.Fatalf("a batch with no rate changed the last one: %v at %v (was %v at %v)", j.RatePerS, j.RateAt, rate, at)
	}
}

// testChangeFeed watches the feed while a job is created, claimed, committed, paused and
// acknowledged through the store: each change reaches the watcher once committed, a status
// change as one, and a rolled-back batch publishes nothing.
func testChangeFeed(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	w, stop := backend.Watch()
	defer stop()
	// expect waits for the job's change, merging what arrives meanwhile.
	expect := func(id uuid.UUID, what string, status bool) {
		t.Helper()
		deadline := time.After(waitLimit)
		for {
			select {
			case <-w.Ready():
			case <-deadline:
				t.Fatalf("no change of job %s for %s within %s", id, what, waitLimit)
			}
			changes, _ := w.Take()
			if st, ok := changes[id]; ok {
				if st != status {
					t.Fatalf("%s: change with status=%v, want %v", what, st, status)
				}
				return
			}
		}
	}
	job := &reins.Job{ID: uuid.New(), Type: csvexport.Type, Status: reins.StatusCreated}
	if err := backend.CreateJob(ctx, job, "test", reins.RunNone, nil); err != nil {
		t.Fatal(err)
	}
	expect(job.ID, "creation", true)
	held, err := backend.StartRun(ctx, job.ID, 1, reins.RunProcess, time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	expect(job.ID, "CREATED -> STARTED", true)
	batch := &reins.Batch{JobID: job.ID, Epoch: 1, Kind: reins.RunProcess, Lease: *held.Lease, DoneDelta: 5, Checkpoint: []byte(`{}`)}
	if _, err := backend.CommitBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	expect(job.ID, "a batch", false)
	// A batch whose effects fail is rolled back, and so is its change.
	failing := *batch
	failing.Apply = func(context.Context, reins.Tx) (int64, error) { return 0, reins.Errorf(reins.EINVALID, "no") }
	if _, err := backend.CommitBatch(ctx, &failing); err == nil {
		t.Fatal("a failing batch committed")
	}
	// Changes arrive in commit order: once a later job's creation is in, the failed batch
	// would have been too.
	marker := &reins.Job{ID: uuid.New(), Type: csvexport.Type, Status: reins.StatusCreated}
	if err := backend.CreateJob(ctx, marker, "test", reins.RunNone, nil); err != nil {
		t.Fatal(err)
	}
	for seen := false; !seen; {
		select {
		case <-w.Ready():
		case <-time.After(waitLimit):
			t.Fatalf("no change of the marker job within %s", waitLimit)
		}
		changes, _ := w.Take()
		if _, ok := changes[job.ID]; ok {
			t.Fatal("a batch that was rolled back published a change")
		}
		_, seen = changes[marker.ID]
	}
	if _, _, err := backend.ApplyCommand(ctx, job.ID, reins.CommandPause, "test"); err != nil {
		t.Fatal(err)
	}
	expect(job.ID, "PAUSE", true)
	if ok, err := backend.FinishRun(ctx, &reins.Finish{JobID: job.ID, Epoch: 1, Lease: held.Lease, Event: reins.RunStopped,
		Actor: "test"}); err != nil || !ok {
		t.Fatalf("acknowledge the pause: %v, %v", ok, err)
	}
	expect(job.ID, "PAUSING -> PAUSED", true)
}

// listedJob is a job the listing tests insert: its owner, type, status and creation time
// are chosen, so the filters and the order can be checked against them.
type listedJob struct {
	id      uuid.UUID
	owner   string
	typ     reins.JobType
	status  reins.Status
	created time.Time
}

// insertJob stores a job row as given, straight in the database: its creation time is the
// test's (several jobs share one, to exercise the order's tie-break on id).
func insertJob(t testing.TB, q reins.Querier, j listedJob) {
	t.Helper()
	if _, err := q.Exec(context.Background(), `INSERT INTO reins_jobs (id, job_type, status, owner, params, run_epoch,
		done, active_ms, checkpoint, error, created_at, updated_at)
		VALUES ($1, $2, $3, $4, '{}', 1, 0, 0, '{}', '', $5, $5)`,
		j.id, string(j.typ), string(j.status), j.owner, j.created); err != nil {
		t.Fatalf("insert job: %v", err)
	}
}

// listAll pages through the listing f selects, limit jobs a page, calling between (when not
// nil) after each page, and returns the ids in the order listed.
func listAll(t testing.TB, store reins.JobStore, f reins.JobFilter, between func()) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	for page := 0; ; page++ {
		if page > 10_000 {
			t.Fatal("the listing never ends")
		}
		jobs, err := store.ListJobs(context.Background(), &f)
		if err != nil {
			t.Fatalf("list jobs: %v", err)
		}
		for _, j := range jobs {
			ids = append(ids, j.ID)
		}
		if len(jobs) < f.Limit {
			return ids
		}
		last := jobs[len(jobs)-1]
		f.After = &reins.JobCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		if between != nil {
			between()
		}
	}
}

// expected returns the ids of jobs that keep selects, in the listing's order: newest first,
// then by id descending.
func expected(jobs []listedJob, keep func(listedJob) bool) []uuid.UUID {
	var sel []listedJob
	for _, j := range jobs {
		if keep(j) {
			sel = append(sel, j)
		}
	}
	slices.SortFunc(sel, func(a, b listedJob) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return slices.Compare(b.id[:], a.id[:])
	})
	ids := make([]uuid.UUID, len(sel))
	for i, j := range sel {
		ids[i] = j.id
	}
	return ids
}

// testListFilters lists the jobs of two tenants through every filter, and the filters
// combined, a page size at a time that splits ties in creation time: each listing is the
// tenant's jobs the filter selects, in order, each once.
func testListFilters(t *testing.T, open Opener) {
	backend := open(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	statuses := []reins.Status{reins.StatusCreated, reins.StatusStarted, reins.StatusPaused, reins.StatusCompleted, reins.StatusFailed}
	types := []reins.JobType{csvexport.Type, csvimport.Type}
	var jobs []listedJob
	for i := range 60 {
		j := listedJob{id: uuid.New(), owner: []string{"alice", "bob"}[i%2], typ: types[i%3%2],
			status: statuses[i%len(statuses)],
			// Groups of three share a creation time, a day apart every 12 jobs.
			created: base.Add(time.Duration(i/3)*time.Hour + time.Duration(i/12)*24*time.Hour)}
		insertJob(t, backend, j)
		jobs = append(jobs, j)
	}
	at := func(i int) *time.Time { c := jobs[i].created; return &c }
	cases := []struct {
		name string
		f    reins.JobFilter
		keep func(listedJob) bool
	}{
		{"all", reins.JobFilter{}, func(listedJob) bool { return true }},
		{"status", reins.JobFilter{Statuses: []reins.Status{reins.StatusPaused}},
			func(j listedJob) bool { return j.status == reins.StatusPaused }},
		{"statuses", reins.JobFilter{Statuses: []reins.Status{reins.StatusCreated, reins.StatusFailed}},
			func(j listedJob) bool { return j.status == reins.StatusCreated || j.status == reins.StatusFailed }},
		{"type", reins.JobFilter{Types: []reins.JobType{csvimport.Type}},
			func(j listedJob) bool { return j.typ == csvimport.Type }},
		{"created from", reins.JobFilter{CreatedFrom: at(30)},
			func(j listedJob) bool { return !j.created.Before(jobs[30].created) }},
		{"created before", reins.JobFilter{CreatedBefore: at(30)},
			func(j listedJob) bool { return j.created.Before(jobs[30].created) }},
		{"all filters", reins.JobFilter{Statuses: []reins.Status{reins.StatusStarted, reins.StatusCompleted},
			Types: []reins.JobType{csvexport.Type}, CreatedFrom: at(9), CreatedBefore: at(51)},
			func(j listedJob) bool {
				return (j.status == reins.StatusStarted || j.status == reins.StatusCompleted) && j.typ == csvexport.Type &&
					!j.created.Before(jobs[9].created) && j.created.Before(jobs[51].created)
			}},
		{"nothing", reins.JobFilter{Statuses: []reins.Status{reins.StatusRevoking}},
			func(j listedJob) bool { return false }},
	}
	for _, c := range cases {
		for _, owner := range []string{"alice", "bob", "nobody"} {
			for _, limit := range []int{1, 2, 4, 1000} {
				f := c.f
				f.Owner, f.Limit = owner, limit
				want := expected(jobs, func(j listedJob) bool { return j.owner == owner && c.keep(j) })
				if got := listAll(t, backend, f, nil); !slices.Equal(got, want) {
					t.Errorf("%s, owner %s, %d a page: listed %d jobs %v, want %d %v", c.name, owner, limit,
						len(got), got, len(want), want)
				}
			}
		}
	}
	if owner := "alice"; len(expected(jobs, func(j listedJob) bool { return j.owner == owner })) != 30 {
		t.Fatal("the fixture is not what the test thinks")
	}
}

// testListPaging pages through a tenant's jobs while new jobs are created between pages, for
// it and for another tenant, through the store as the API creates them: the pages hold every
// job that existed when the listing began, each once, and nothing of the other tenant.
func testListPaging(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	create := func(owner string) uuid.UUID {
		job := &reins.Job{ID: uuid.New(), Type: csvexport.Type, Status: reins.StatusCreated, Owner: owner}
		if err := backend.CreateJob(ctx, job, "test", reins.RunNone, nil); err != nil {
			t.Fatal(err)
		}
		return job.ID
	}
	var before []uuid.UUID
	for range 40 {
		before = append(before, create("alice"))
		create("bob")
	}
	var during []uuid.UUID
	got := listAll(t, backend, reins.JobFilter{Owner: "alice", Limit: 3}, func() {
		during = append(during, create("alice"), create("alice"))
		create("bob")
	})
	seen := map[uuid.UUID]int{}
	for _, id := range got {
		seen[id]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("job %s listed %d times", id, n)
		}
		if !slices.Contains(before, id) && !slices.Contains(during, id) {
			t.Errorf("job %s listed for alice is not hers", id)
		}
	}
	for i, id := range before {
		if seen[id] == 0 {
			t.Errorf("job %d of %d (%s), created before the listing began, was never listed", i+1, len(before), id)
		}
	}
	// The order holds across pages: newest first.
	var prev *reins.Job
	for _, id := range got {
		j := findJob(t, backend, id)
		if prev != nil && (j.CreatedAt.After(prev.CreatedAt) || j.CreatedAt.Equal(prev.CreatedAt) &&
			slices.Compare(j.ID[:], prev.ID[:]) > 0) {
			t.Errorf("job %s (%s) listed after %s (%s)", j.ID, j.CreatedAt, prev.ID, prev.CreatedAt)
		}
		prev = j
	}
}

func findJob(t testing.TB, store reins.JobStore, id uuid.UUID) *reins.Job {
	t.Helper()
	j, err := store.FindJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// testCountJobs counts two tenants' jobs by status, and every tenant's by type and status.
func testCountJobs(t *testing.T, open Opener) {
	ctx := context.Background()
	backend := open(t)
	want := map[string]map[reins.Status]int64{"alice": {}, "bob": {}}
	byType := map[string]int64{}
	for i := range 23 {
		j := listedJob{id: uuid.New(), owner: []string{"alice", "bob"}[i%2], typ: []reins.JobType{csvexport.Type, csvimport.Type}[i%3%2],
			status: reins.AllStatuses()[i%len(reins.AllStatuses())], created: time.Now()}
		insertJob(t, backend, j)
		want[j.owner][j.status]++
		byType[fmt.Sprint(j.typ, "/", j.status)]++
	}
	for owner, w := range want {
		got, err := backend.CountJobs(ctx, owner)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("counts of %s: got %v, want %v", owner, got, w)
		}
	}
	if got, err := backend.CountJobs(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("counts of a tenant with no job: got %v, %v", got, err)
	}
	counts, err := backend.CountJobsByType(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range counts {
		got[fmt.Sprint(c.Type, "/", c.Status)] = c.N
	}
	if fmt.Sprint(got) != fmt.Sprint(byType) {
		t.Errorf("counts by type: got %v, want %v", got, byType)
	}
}
