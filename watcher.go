package reins

import (
	"sync"

	"github.com/google/uuid"
)

// Watcher receives job changes without ever holding up the publisher: changes that arrive
// before the watcher takes them are merged per job, and a status change is never merged away.
type Watcher struct {
	mu      sync.Mutex
	pending map[uuid.UUID]bool
	// resync says changes may have been missed (a lost LISTEN connection): every job may
	// have changed.
	resync bool
	ready  chan struct{}
}

// NewWatcher returns a watcher with nothing pending.
func NewWatcher() *Watcher {
	return &Watcher{pending: map[uuid.UUID]bool{}, ready: make(chan struct{}, 1)}
}

// Ready receives a value when changes are pending.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Add records a change.
func (w *Watcher) Add(c Change) {
	w.mu.Lock()
	w.pending[c.JobID] = w.pending[c.JobID] || c.Status
	w.mu.Unlock()
	w.signal()
}

// Resync records that changes may have been missed.
func (w *Watcher) Resync() {
	w.mu.Lock()
	w.resync = true
	w.mu.Unlock()
	w.signal()
}

func (w *Watcher) signal() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// Take returns the pending changes (job id → whether its status changed) and whether
// changes may have been missed, and clears them.
func (w *Watcher) Take() (changes map[uuid.UUID]bool, resync bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	changes, resync = w.pending, w.resync
	w.pending, w.resync = map[uuid.UUID]bool{}, false
	return changes, resync
}
