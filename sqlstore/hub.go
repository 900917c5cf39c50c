package sqlstore

import (
	"sync"

	"github.com/google/uuid"
)

// Hub delivers job signals to the subscribers in this process. The postgres package feeds
// it from LISTEN; the sqlite package, whose cluster is one process, feeds it directly.
type Hub struct {
	mu   sync.Mutex
	subs map[uuid.UUID]map[chan struct{}]struct{}
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{subs: make(map[uuid.UUID]map[chan struct{}]struct{})} }

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
	for ch := range h.subs[jobID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// PublishAll signals every subscriber of every job, for when signals may have been missed
// (a lost LISTEN connection): each wakes up and re-reads its job.
func (h *Hub) PublishAll() {
	h.mu.Lock()
	ids := make([]uuid.UUID, 0, len(h.subs))
	for id := range h.subs {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	for _, id := range ids {
		h.Publish(id)
	}
}
