package upload

import (
	"context"
	"log/slog"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
)

// DefaultSpoolRetention is how long the spool of an ended upload job is kept, so that the
// job can be restarted over it (docs/restart.md).
const DefaultSpoolRetention = 24 * time.Hour

// Discard is an upload kind's Kind.Discard: a file that arrived whole is kept for restart
// (the Sweeper removes it once the retention has passed); a partial one is removed now.
func Discard(b *blob.Store, job *reins.Job) error {
	if job.Upload != nil && job.Upload.Complete {
		return nil
	}
	return b.DeletePrefix(Prefix(job.ID))
}

// Sweeper removes the spools of upload jobs that ended longer ago than Retention.
type Sweeper struct {
	Store     reins.UploadStore
	Blob      *blob.Store
	Retention time.Duration
	// Interval is how often Run sweeps.
	Interval time.Duration
	Logger   *slog.Logger
}

// sweepBatch bounds the spools one query returns.
const sweepBatch = 500

// Sweep removes the spools of jobs that ended before now minus the retention, and records
// each removal (a restart of the job then answers 410). It returns how many it removed.
func (s *Sweeper) Sweep(ctx context.Context, now time.Time) (int, error) {
	removed := 0
	for {
		ups, err := s.Store.EndedSpools(ctx, now.Add(-s.Retention), sweepBatch)
		if err != nil {
			return removed, err
		}
		for _, u := range ups {
			if err := s.Blob.DeletePrefix(Prefix(u.JobID)); err != nil {
				return removed, err
			}
			if err := s.Store.SpoolRemoved(ctx, u.JobID); err != nil {
				return removed, err
			}
			removed++
		}
		if len(ups) < sweepBatch {
			return removed, nil
		}
	}
}

// Run sweeps every Interval until ctx ends. A failed sweep is logged and tried again at the
// next tick: the spools only wait longer.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.Logger.Warn("reins: could not remove expired upload spools", "error", err)
		} else if n > 0 {
			s.Logger.Info("reins: removed expired upload spools", "count", n, "retention", s.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
