package upload

import (
	"context"
	"encoding/json"
	"io"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/engine"
)

// RestartParams are the parameters a restart may change; the others keep the old job's.
var RestartParams = []string{"mapping", "on_error", "max_rows_per_s"}

// Restart is fix and restart (docs/restart.md): it creates a new job of old's kind over old's
// file, with old's parameters changed by changes (any of RestartParams), and links the two.
// A running or paused old job is revoked; the new job runs once the old job's rollback has
// ended, so the two jobs' rows never meet. It returns the new job.
//
// Returns ECONFLICT naming the status of a job that cannot restart, EGONE when its file is
// no longer kept, and EINVALID for a bad parameter or a mapping the file's header does not
// fit; nothing is changed then.
func Restart(ctx context.Context, e *engine.Engine, b *blob.Store, old *reins.Job, changes reins.Params, actor string) (*reins.Job, error) {
	kind, err := e.Kinds().Lookup(old.Type)
	if err != nil {
		return nil, err
	}
	uk, ok := kind.(reins.UploadKind)
	if !ok {
		return nil, reins.Errorf(reins.ECONFLICT, "job %s is an %s job; only upload jobs can be restarted", old.ID, old.Type)
	}
	if err := reins.CheckRestart(old); err != nil {
		return nil, err
	}
	params, err := paramsOf(old)
	if err != nil {
		return nil, err
	}
	for k, v := range changes {
		params[k] = v
	}
	job, err := kind.NewJob(params)
	if err != nil {
		return nil, err
	}
	job.ID, job.Owner = uuid.New(), old.Owner
	key := SpoolKey(job.ID)
	if err := b.Link(old.Upload.SpoolKey, key); reins.ErrorCode(err) == reins.ENOTFOUND {
		return nil, reins.Errorf(reins.EGONE, "the file of job %s is no longer kept; create a new job and upload the file again", old.ID)
	} else if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			_ = b.DeletePrefix(Prefix(job.ID))
		}
	}()
	if err := checkSpool(b, uk, job, key); err != nil {
		return nil, err
	}
	if _, err := e.Store().RestartJob(ctx, &reins.Restart{Of: old.ID, Job: job, SpoolKey: key, Actor: actor}); err != nil {
		return nil, err
	}
	done = true
	// Wake the old job's run (now revoked) and whoever watches either job.
	for _, id := range []uuid.UUID{old.ID, job.ID} {
		if err := e.Notifier().Notify(context.WithoutCancel(ctx), id); err != nil {
			e.Logger().Warn("reins: could not signal a job change", "job_id", id, "error", err)
		}
	}
	return e.Job(ctx, job.ID)
}

// checkSpool checks the file at key as the job's kind checks an upload: a mapping the header
// does not fit is refused now, not when the job runs.
func checkSpool(b *blob.Store, uk reins.UploadKind, job *reins.Job, key string) error {
	check, err := uk.CheckFile(job)
	if err != nil {
		return err
	}
	defer check.Abort()
	f, err := b.Open(key)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(check, f); err != nil {
		return err
	}
	_, err = check.Finish()
	return err
}

// paramsOf renders a job's params as a request gives them: strings as they are, other values
// as their JSON text.
func paramsOf(job *reins.Job) (reins.Params, error) {
	var raw map[string]json.RawMessage
	if len(job.Params) > 0 {
		if err := json.Unmarshal(job.Params, &raw); err != nil {
			return nil, reins.Errorf(reins.EINVALID, "%s params: %v", job.Type, err)
		}
	}
	out := make(reins.Params, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		} else {
			out[k] = string(v)
		}
	}
	return out, nil
}
