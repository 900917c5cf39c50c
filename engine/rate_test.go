package engine

import (
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// TestRateMeter feeds a meter batches at known times: no rate before it has worked for
// rateMinSpan (a job of a few milliseconds reports no figure of millions a second), then the
// rate over about the last rateWindow, which follows a change of pace instead of averaging
// the whole run.
func TestRateMeter(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	m := &rateMeter{now: clock.Now}
	m.samples = append(m.samples, rateSample{at: clock.now})
	step := func(d time.Duration, n int64) *float64 {
		clock.now = clock.now.Add(d)
		m.add(n)
		return m.rate()
	}
	if r := m.rate(); r != nil {
		t.Fatalf("rate before any batch: %v, want none", *r)
	}
	// A burst: 1,000 units in 2 ms is not a rate of 500,000 a second.
	if r := step(2*time.Millisecond, 1000); r != nil {
		t.Fatalf("rate after 2 ms: %v, want none", *r)
	}
	if r := step(998*time.Millisecond, 0); r == nil || *r != 1000 {
		t.Fatalf("rate after 1,000 units in 1 s: %v, want 1000", r)
	}
	// 100 units every 250 ms (400/s) for 10 s: the window forgets the burst.
	var r *float64
	for range 40 {
		r = step(250*time.Millisecond, 100)
	}
	if r == nil || *r != 400 {
		t.Fatalf("rate at a steady 400/s after the window moved on: %v, want 400", r)
	}
	// The pace halves: within a window the rate is the new one.
	for range 24 {
		r = step(500*time.Millisecond, 100)
	}
	if r == nil || *r != 200 {
		t.Fatalf("rate after slowing to 200/s: %v, want 200", r)
	}
}
