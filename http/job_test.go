package http

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// TestRunOf checks which jobs name the worker running them: one whose run holds a live
// lease, not one whose lease expired, and not one that has finished while its last run's
// lease is still held (the dashboard showed a worker beside COMPLETED jobs).
func TestRunOf(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(5*time.Second), now.Add(-time.Second)
	token, worker := uuid.New(), "worker-1"
	for _, tc := range []struct {
		status  reins.Status
		expires time.Time
		want    bool
	}{
		{reins.StatusStarted, later, true},
		{reins.StatusPausing, later, true},
		{reins.StatusRevoking, later, true},
		{reins.StatusStarted, earlier, false},
		{reins.StatusCompleted, later, false},
		{reins.StatusRevoked, later, false},
		{reins.StatusFailed, later, false},
	} {
		j := &reins.Job{Status: tc.status, Lease: &token, LeaseOwner: &worker, LeaseExpiresAt: &tc.expires}
		if got := runOf(j, now); (got != nil) != tc.want {
			t.Errorf("%s with a lease until %s: run %+v, want shown=%v", tc.status, tc.expires.Sub(now), got, tc.want)
		}
	}
	if got := runOf(&reins.Job{Status: reins.StatusStarted}, now); got != nil {
		t.Errorf("a job no run holds names a worker: %+v", got)
	}
}
