package engine

import (
	"sync"
	"time"
)

// fairShareSnooze is how long a run that found its tenant at its share waits before River
// offers it again.
const fairShareSnooze = time.Second

// fairShare bounds the worker slots one tenant's runs hold at once in this process, so that
// no tenant takes every slot and another tenant's job always finds one free
// (docs/security.md). A run of a tenant at its share is snoozed and comes back shortly.
// Throttled runs have capacity of their own and are not counted; nor are the jobs of
// reins.DefaultOwner, the one tenant Reins has when it runs without API tokens.
type fairShare struct {
	limit int // 0: unbounded

	mu   sync.Mutex
	held map[string]int
}

// newFairShare bounds each tenant to all but one of workers slots (at least one).
func newFairShare(workers int) *fairShare {
	f := &fairShare{held: map[string]int{}}
	if workers > 1 {
		f.limit = workers - 1
	}
	return f
}

// take claims a slot for owner's run, reporting false when owner holds its share already.
func (f *fairShare) take(owner string) bool {
	if f.limit == 0 {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held[owner] >= f.limit {
		return false
	}
	f.held[owner]++
	return true
}

// give returns a slot take claimed.
func (f *fairShare) give(owner string) {
	if f.limit == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held[owner]--; f.held[owner] <= 0 {
		delete(f.held, owner)
	}
}
