// Package enginetest is the behaviour suite every backend runs: the transition table on the
// store, the export job, pause/resume exactness, revoke cleanup, racing commands and
// fencing. The sqlite and postgres packages' tests call Exercise.
package enginetest

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/demo"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/registry"
	"github.com/reins-dev/reins/reinstest"
)

// Opener opens a fresh, migrated backend for a test.
type Opener func(t testing.TB) reinstest.Backend

// waitLimit bounds every wait in the suite; reaching it fails the test.
const waitLimit = 3 * time.Minute

// harness is an engine with workers on a fresh backend.
type harness struct {
	t       testing.TB
	backend reinstest.Backend
	blob    *blob.Store
	engine  *engine.Engine
}

func newHarness(t testing.TB, backend reinstest.Backend, cfg engine.Config) *harness {
	t.Helper()
	b, err := blob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessOn(t, backend, b, cfg)
}

// newHarnessOn is newHarness on a given blob store, for engines that share one (a cluster).
func newHarnessOn(t testing.TB, backend reinstest.Backend, b *blob.Store, cfg engine.Config) *harness {
	t.Helper()
	return newHarnessWith(t, backend, b, registry.New(registry.Deps{Store: backend, Blob: b}), cfg)
}

// newHarnessWith is newHarnessOn with the given kinds, for tests that wrap a kind.
func newHarnessWith(t testing.TB, backend reinstest.Backend, b *blob.Store, kinds *reins.Registry, cfg engine.Config) *harness {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if cfg.CommandWait == 0 {
		// Long enough that a PAUSE answers PAUSED on a loaded CI machine; the suite asserts
		// the answer is true, not how fast it came.
		cfg.CommandWait = waitLimit
	}
	e, err := engine.New(backend, kinds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return &harness{t: t, backend: backend, blob: b, engine: e}
}

// seed loads n demo customers (spread over 2015..2024) and returns them in export order.
func seed(t testing.TB, store reins.CustomerStore, n int64) []reins.Customer {
	t.Helper()
	reinstest.Seed(t, store, n, func(i int64) reins.Customer { return demo.Customer(i, n) })
	out := make([]reins.Customer, n)
	for i := range out {
		out[i] = demo.Customer(int64(i), n)
	}
	return out
}

// escapeFormula is a text cell as an export escapes it by default (escape_formulas=true).
func escapeFormula(v string) string {
	if reins.IsFormula(v) {
		return "'" + v
	}
	return v
}

// expectedCSV renders the customers in [from, to) as the export must write them.
func expectedCSV(t testing.TB, customers []reins.Customer, p csvexport.Params) string {
	t.Helper()
	from, to := p.Range()
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	_ = w.Write(reins.CustomerColumns)
	for _, c := range customers {
		if !c.CreatedAt.Before(from) && c.CreatedAt.Before(to) {
			_ = w.Write([]string{escapeFormula(c.FirstName), escapeFormula(c.LastName), escapeFormula(c.Address),
				escapeFormula(c.Email), strconv.Itoa(c.Age), escapeFormula(c.Company)})
		}
	}
	w.Flush()
	return sb.String()
}

// params renders export params as a request gives them.
func (p exportParams) values() reins.Params {
	v := reins.Params{"date_gte": p.DateGTE, "date_lte": p.DateLTE}
	if p.MaxRowsPerS > 0 {
		v["max_rows_per_s"] = strconv.Itoa(p.MaxRowsPerS)
	}
	for k, x := range p.extra {
		v[k] = x
	}
	return v
}

// exportParams are an export's parameters for the suite, and any others to send.
type exportParams struct {
	csvexport.Params
	extra reins.Params
}

// create creates a job of the given type from request parameters, as the API does.
func (h *harness) create(t reins.JobType, params reins.Params) *reins.Job {
	h.t.Helper()
	return h.createAs(reins.DefaultOwner, t, params)
}

// createAs is create in the name of the tenant owner.
func (h *harness) createAs(owner string, t reins.JobType, params reins.Params) *reins.Job {
	h.t.Helper()
	kind, err := h.engine.Kinds().Lookup(t)
	if err != nil {
		h.t.Fatal(err)
	}
	job, err := kind.NewJob(params)
	if err != nil {
		h.t.Fatalf("new %s job: %v", t, err)
	}
	job.Owner = owner
	if err := h.engine.Create(context.Background(), job, "test"); err != nil {
		h.t.Fatal(err)
	}
	return job
}

func (h *harness) export(p csvexport.Params) *reins.Job {
	h.t.Helper()
	return h.create(csvexport.Type, exportParams{Params: p}.values())
}

func (h *harness) job(id uuid.UUID) *reins.Job {
	h.t.Helper()
	job, err := h.backend.FindJob(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return job
}

// waitFor waits until cond holds for the job, re-reading it on every signal for the job and
// on a short poll (progress commits do not signal). It fails the test after waitLimit.
func (h *harness) waitFor(id uuid.UUID, what string, cond func(*reins.Job) bool) *reins.Job {
	h.t.Helper()
	signals, unsubscribe := h.backend.Subscribe(id)
	defer unsubscribe()
	deadline := time.After(waitLimit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		job := h.job(id)
		if cond(job) {
			return job
		}
		select {
		case <-signals:
		case <-tick.C:
		case <-deadline:
			h.t.Fatalf("job %s: waited %s for %s; it is %s with done=%d", id, waitLimit, what, job.Status, job.Done)
		}
	}
}

func (h *harness) waitStatus(id uuid.UUID, want reins.Status) *reins.Job {
	h.t.Helper()
	return h.waitFor(id, "status "+string(want), func(j *reins.Job) bool {
		if j.Status.Terminal() && j.Status != want {
			h.t.Fatalf("job %s ended %s (error %q), want %s", id, j.Status, j.Error, want)
		}
		return j.Status == want
	})
}

func (h *harness) command(id uuid.UUID, cmd reins.Command) *reins.Job {
	h.t.Helper()
	job, err := h.engine.Command(context.Background(), id, cmd, "test")
	if err != nil {
		h.t.Fatalf("%s job %s: %v", cmd, id, err)
	}
	return job
}

func (h *harness) result(job *reins.Job) string {
	h.t.Helper()
	r, size, err := csvexport.OpenResult(h.blob, job)
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Close()
	body, err := io.ReadAll(r)
	if err != nil {
		h.t.Fatal(err)
	}
	if int64(len(body)) != size {
		h.t.Fatalf("result is %d bytes, its parts say %d", len(body), size)
	}
	return string(body)
}

func (h *harness) filesExist(id uuid.UUID) bool {
	h.t.Helper()
	ok, err := h.blob.Exists("exports/" + id.String())
	if err != nil {
		h.t.Fatal(err)
	}
	return ok
}
