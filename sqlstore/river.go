package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/reins-dev/reins"
)

// RunInsertOpts are the River options of a run's job: its queue, and for the replacement of
// a stranded run, uniqueness by its arguments, so every process that finds the same stranded
// run enqueues one replacement between them, however often it looks.
func RunInsertOpts(args reins.RunArgs) *river.InsertOpts {
	opts := &river.InsertOpts{Queue: args.Queue()}
	if args.Replaces != 0 {
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true}
	}
	return opts
}

// StrandedRun is a River job of a run that River records as running.
type StrandedRun struct {
	ID   int64
	Args reins.RunArgs
}

// ListStranded implements Conn.StrandedRuns with a River client of the backend's driver.
func ListStranded[TTx any](ctx context.Context, client *river.Client[TTx], before time.Time, limit int) ([]StrandedRun, error) {
	res, err := client.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateRunning).
		Kinds(reins.RunArgs{}.Kind()).First(limit))
	if err != nil {
		return nil, err
	}
	var runs []StrandedRun
	for _, j := range res.Jobs {
		if j.AttemptedAt == nil || !j.AttemptedAt.Before(before) {
			continue
		}
		var args reins.RunArgs
		if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
			return nil, fmt.Errorf("decode the arguments of run %d: %w", j.ID, err)
		}
		runs = append(runs, StrandedRun{ID: j.ID, Args: args})
	}
	return runs, nil
}
