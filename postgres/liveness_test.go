package postgres_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/demo"
	"github.com/reins-dev/reins/engine"
	reinshttp "github.com/reins-dev/reins/http"
	"github.com/reins-dev/reins/postgres"
	"github.com/reins-dev/reins/registry"
	"github.com/reins-dev/reins/reinstest"
)

// TestDeadHolderTakenOverAtOnce claims an export in the name of a process that then dies (its
// database connections close) while its lease still has ten minutes to run: a live worker
// sees the holder's session gone and takes the job over without waiting for the lease, and
// the export completes with every row exactly once. Before liveness sessions, the live worker
// waited for the lease to expire and this test ran out of time.
func TestDeadHolderTakenOverAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := reinstest.PostgresURL(t)
	open := func() *postgres.DB {
		db, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		<-db.Listening()
		return db
	}
	live := open()
	t.Cleanup(func() { live.Close() }) // after serveEngine's cleanup: the engine stops first
	dying := open()

	const n = 300
	if err := live.SeedCustomers(ctx, n, func(i int64) reins.Customer { return demo.Customer(i, n) }); err != nil {
		t.Fatal(err)
	}
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kinds := registry.New(registry.Deps{Store: live, Blob: b})
	kind, err := kinds.Lookup(csvexport.Type)
	if err != nil {
		t.Fatal(err)
	}
	job, err := kind.NewJob(reins.Params{"date_gte": "2015-01-01", "date_lte": "2024-12-31"})
	if err != nil {
		t.Fatal(err)
	}
	job.ID = uuid.New()
	if err := live.CreateJob(ctx, job, "test", reins.RunNone, kind.Prepare); err != nil {
		t.Fatal(err)
	}
	held, err := dying.StartRun(ctx, job.ID, job.Epoch, reins.RunProcess, 10*time.Minute, "dying")
	if err != nil {
		t.Fatal(err)
	}
	if dying.Session() == nil {
		t.Fatal("the dying process holds no liveness session")
	}
	// The process dies: its sessions end with it.
	if err := dying.Close(); err != nil {
		t.Fatal(err)
	}

	srv := serveEngine(t, live, kinds, b, engine.Config{Workers: 1, BatchSize: 50, LeaseTTL: 10 * time.Minute})
	waitHTTP(t, srv.URL+"/api/v1/job-status/"+job.ID.String()+"/", http.StatusOK,
		func(b map[string]any) bool { return b["job_status"] == "COMPLETED" })

	done, err := live.FindJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Lease != nil && *done.Lease == *held.Lease {
		t.Fatal("the dead holder still holds the lease")
	}
	// The dead holder's lease is fenced off exactly as an expired one is.
	_, err = live.CommitBatch(ctx, &reins.Batch{JobID: job.ID, Epoch: job.Epoch, Kind: reins.RunProcess,
		Lease: *held.Lease, Checkpoint: done.Checkpoint, DoneDelta: 1})
	if reins.ErrorCode(err) != reins.EFENCED {
		t.Fatalf("a batch under the dead holder's lease: %v, want EFENCED", err)
	}
	status, body := getText(t, srv.URL+"/api/v1/jobs/"+job.ID.String()+"/result")
	if status != http.StatusOK {
		t.Fatalf("result: %d %s", status, body)
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		if seen[l] {
			t.Fatalf("row written twice: %s", l)
		}
		seen[l] = true
	}
	if len(seen) != n {
		t.Fatalf("the export has %d rows, want %d", len(seen), n)
	}
}

// serveEngine starts an engine on db with cfg and an API server over it, both stopped when
// the test ends (the engine given 10 s to drain).
func serveEngine(t *testing.T, db *postgres.DB, kinds *reins.Registry, b *blob.Store, cfg engine.Config) *httptest.Server {
	t.Helper()
	e, err := engine.New(db, kinds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reinshttp.NewServer(e, b, nil))
	t.Cleanup(func() {
		srv.Close()
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(stopCtx)
	})
	return srv
}

func getText(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		k, err := resp.Body.Read(buf)
		sb.Write(buf[:k])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}
