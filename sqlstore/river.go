package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
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

// InsertRun enqueues a run in tx through client, and signals its queue's producers when tx
// commits, every time. River's client signals a queue at most once in its FetchCooldown
// (100 ms for an insert-only client), and a run enqueued within that time of another, a
// burst of new jobs or a run's hand-over, would wait for a producer's next poll for work
// instead (docs/architecture.md, "Starting runs"). It reports whether a run was inserted
// (false: a duplicate of a replacement, RunInsertOpts).
func InsertRun[TTx any](ctx context.Context, client *river.Client[TTx], tx TTx, args reins.RunArgs) (bool, error) {
	res, err := client.InsertTx(ctx, tx, args, RunInsertOpts(args))
	if err != nil || res.UniqueSkippedAsDuplicate {
		return false, err
	}
	// As River's client writes it; Postgres sends identical notifications of a transaction
	// once, so River's own, when it sent one, is not doubled.
	err = client.Driver().UnwrapExecutor(tx).NotifyMany(ctx, &riverdriver.NotifyManyParams{
		Topic: riverInsertTopic, Payload: []string{fmt.Sprintf(`{"queue": %q}`, args.Queue())}})
	return err == nil, err
}

// riverInsertTopic is the topic River's producers listen on for enqueued jobs (River's
// notifier.NotificationTopicInsert, which River keeps internal): a Postgres channel, or a
// row of River's notification table on SQLite, which River's listener polls.
const riverInsertTopic = "river_insert"

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
