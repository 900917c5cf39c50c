package http

import (
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/registry"
	"github.com/reins-dev/reins/reinstest"
)

// BenchmarkRenderJob renders a running export and a running import as job-status answers
// them (toJobJSON and the JSON encoding), without the database read: the server's own part
// of every job-status request.
func BenchmarkRenderJob(b *testing.B) {
	backend := reinstest.OpenSQLite(b)
	bs, err := blob.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	e, err := engine.New(backend, registry.New(registry.Deps{Store: backend, Blob: bs}), engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	s := NewServer(e, bs, nil)
	now := time.Now()
	total := int64(1_000_000)
	jobs := map[string]*reins.Job{
		"export": {ID: uuid.New(), Type: "export", Status: reins.StatusStarted, Done: 120_000, Total: &total,
			Params:     json.RawMessage(`{"date_gte":"2015-01-01","date_lte":"2024-12-31","max_rows_per_s":20000}`),
			Checkpoint: json.RawMessage(`{"max_id":1000000,"snapshot":true,"after_id":120000,"end_id":1000000,"parts":[{"key":"exports/6f37b628-d21a-47ac-86c4-792bc91356ba/part-00000-1a2b3c4d.csv","size":10800000}]}`),
			CreatedAt:  now, UpdatedAt: now, StartedAt: &now},
		"import": {ID: uuid.New(), Type: "import", Status: reins.StatusStarted, Done: 120_000, Total: &total,
			Params:     json.RawMessage(`{"max_rows_per_s":20000,"on_error":"abort"}`),
			Checkpoint: json.RawMessage(`{"offset":13000000,"line":120001,"columns":["first_name","last_name","address","email","age","company","created_at"],"skipped":0}`),
			CreatedAt:  now, UpdatedAt: now, StartedAt: &now},
	}
	for name, job := range jobs {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := json.NewEncoder(io.Discard).Encode(s.toJobJSON(job)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
