package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// smallRange is one day of the demo customers: a job whose rows cost next to nothing, so
// its time is what any job pays to start, run and finish.
var smallRange = dateRange{gte: "2020-06-01", lte: "2020-06-01", from: "2020-06-01T00:00:00Z", upTo: "2020-06-02T00:00:00Z"}

// smallJobs is how many small exports the figure makes, and smallGap the pause after each,
// a steady stream of jobs faster than River's 100 ms poll for work.
const (
	smallJobs = 25
	smallGap  = 50 * time.Millisecond
)

// benchSmallJobs times small exports one after another, each smallGap after the one before
// completed, from the request to COMPLETED, against COPY of the same rows: what a job costs
// besides its rows. A run that waited for River's poll instead of its signal shows here.
func (b *bench) benchSmallJobs(ctx context.Context) error {
	dst := filepath.Join(b.tmp, "copy-small.csv")
	defer os.Remove(dst)
	var reins, copies []time.Duration
	var rows int64
	for i := range smallJobs {
		d, n, err := b.copyTo(ctx, dst, copyToSQL(smallRange, false))
		if err != nil {
			return err
		}
		copies, rows = append(copies, d), n
		_, took, err := b.exportOnce(ctx, smallRange, rows)
		if err != nil {
			return fmt.Errorf("small export %d: %w", i+1, err)
		}
		reins = append(reins, took)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(smallGap):
		}
	}
	sorted := slices.Clone(reins)
	slices.Sort(sorted)
	b.report.add(row{
		figure: fmt.Sprintf("small export (%s: %s rows), request → COMPLETED, %d in a row %s apart: p50 / p90 / max vs `COPY` of the same rows (median)",
			smallRange.gte, count(rows), smallJobs, smallGap),
		reins:    spread(sorted, 90),
		baseline: millis(median(copies)),
		ratio:    "–",
		target:   "–",
		pass:     "–",
	})
	b.report.note("small exports: %s rows each, Reins %s, COPY %s; each Reins export %s after the one before completed and right after a COPY of the same rows",
		count(rows), durations(reins), durations(copies), smallGap)
	return nil
}
