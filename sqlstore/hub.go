package sqlstore

import (
	"sync"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// Hub delivers job signals to the subscribers in this process. The postgres package feeds
// it from LISTEN; the sqlite package, whose cluster is one process, feeds it directly.
type Hub struct {
	mu       sync.Mutex
	subs     map[uuid.UUID]map[chan struct{}]struct{}
	watchers map[*reins.Watcher]struct{}
}

var _ reins.ChangeFeed = (*Hub)(nil)

// NewHub returns an empty Hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[uuid.UUID]map[chan struct{}]struct{}), watchers: make(map[*reins.Watcher]struct{})}
}

// Watch implements reins.ChangeFeed.
func (h *Hub) Watch() (*reins.Watcher, func()) {
	w := reins.NewWatcher()
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	return w, func() {
		h.mu.Lock()
		delete(h.watchers, w)
		h.mu.Unlock()
	}
}

// PublishChange hands a job change to every watcher in this process; a change of status
// also signals the job's subscribers. A command waiting for a run's acknowledgement, and a
// run waiting for a command, then wake when the transaction that changed the status commits,
// without waiting for a signal sent after it (on Postgres, a NOTIFY of its own that waits for
// a WAL flush of its own; docs/architecture.md, "Signals").
func (h *Hub) PublishChange(c reins.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		w.Add(c)
	}
	if c.Status {
		h.signal(c.JobID)
	}
}

// Subscribe implements reins.Notifier's Subscribe. A signal never blocks the publisher: a
// subscriber that has not consumed the previous signal still holds one pending.
func (h *Hub) Subscribe(jobID uuid.UUID) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[jobID] == nil {
		h.subs[jobID] = make(map[chan struct{}]struct{})
	}
	h.subs[jobID][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[jobID], ch)
		if len(h.subs[jobID]) == 0 {
			delete(h.subs, jobID)
		}
		h.mu.Unlock()
	}
}

// Publish signals every subscriber of the job in this process.
func (h *Hub) Publish(jobID uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.signal(jobID)
}

// signal signals the job's subscribers; h.mu is held.
func (h *Hub) signal(jobID uuid.UUID) {
	for ch := range h.subs[jobID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// PublishAll signals every subscriber of every job, for when signals may have been missed
// (a lost LISTEN connection): each wakes up and re-reads its job, and each watcher learns
// that every job may have changed.
func (h *Hub) PublishAll() {
	h.mu.Lock()
	ids := make([]uuid.UUID, 0, len(h.subs))
	for id := range h.subs {
		ids = append(ids, id)
	}
	for w := range h.watchers {
		w.Resync()
	}
	h.mu.Unlock()
	for _, id := range ids {
		h.Publish(id)
	}
}
