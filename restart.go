package reins

// CheckRestart says whether the upload job may be restarted over its file (docs/restart.md):
// its file arrived whole and is still kept, it was not restarted already, and its status is
// PAUSED, FAILED, REVOKING or REVOKED, or running (STARTED, RESUMED, PAUSING), which the
// restart revokes first. A COMPLETED job's rows are its result and stay: it cannot restart.
// Returns ECONFLICT naming the status or the reason, or EGONE when the file is gone.
func CheckRestart(job *Job) error {
	switch job.Status {
	case StatusPaused, StatusFailed, StatusRevoking, StatusRevoked, StatusStarted, StatusResumed, StatusPausing:
	default:
		return Errorf(ECONFLICT, "job %s is %s; only a PAUSED, FAILED, REVOKING or REVOKED upload job (or a running one, which is revoked first) can be restarted", job.ID, job.Status)
	}
	switch {
	case job.RestartedAs != nil:
		return Errorf(ECONFLICT, "job %s was already restarted as %s; restart that job instead", job.ID, job.RestartedAs)
	case job.Upload == nil || !job.Upload.Complete:
		return Errorf(ECONFLICT, "job %s is %s without a complete file to restart from; create a new job and upload the file", job.ID, job.Status)
	case job.Upload.SpoolRemoved:
		return Errorf(EGONE, "the file of job %s is no longer kept (spools are removed a while after their job ends); create a new job and upload the file again", job.ID)
	}
	return nil
}

// RestartRevokes reports whether restarting a job in status s revokes it first.
func RestartRevokes(s Status) bool {
	return s == StatusStarted || s == StatusResumed || s == StatusPausing || s == StatusPaused
}
