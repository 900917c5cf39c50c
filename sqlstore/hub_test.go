package sqlstore

import (
	"testing"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// TestHubStatusChangeSignals holds that a change of a job's status signals the job's
// subscribers (the waiting command wakes when the acknowledgement commits, not on a signal
// sent after it), while progress alone does not, and other jobs' subscribers sleep on.
func TestHubStatusChangeSignals(t *testing.T) {
	h := NewHub()
	id, other := uuid.New(), uuid.New()
	signals, unsubscribe := h.Subscribe(id)
	defer unsubscribe()
	otherSignals, unsubscribeOther := h.Subscribe(other)
	defer unsubscribeOther()

	h.PublishChange(reins.Change{JobID: id})
	select {
	case <-signals:
		t.Fatal("progress alone signalled the job's subscriber")
	default:
	}
	h.PublishChange(reins.Change{JobID: id, Status: true})
	select {
	case <-signals:
	default:
		t.Fatal("a change of status did not signal the job's subscriber")
	}
	select {
	case <-otherSignals:
		t.Fatal("another job's subscriber was signalled")
	default:
	}
}
