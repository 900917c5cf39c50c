package engine

import "time"

// Rate windows: a run reports its rate over about the last rateWindow of batches, and only
// once it has worked for at least rateMinSpan, so a job of a few milliseconds reports none
// rather than a figure of millions a second.
const (
	rateWindow  = 5 * time.Second
	rateMinSpan = time.Second
)

// rateMeter measures a run's recent rate from its batches.
type rateMeter struct {
	now     func() time.Time
	samples []rateSample // oldest first, the first one the window's start
	total   int64
}

type rateSample struct {
	at    time.Time
	total int64
}

func newRateMeter() *rateMeter {
	m := &rateMeter{now: time.Now}
	m.samples = append(m.samples, rateSample{at: m.now()})
	return m
}

// add records that n more units were done now.
func (m *rateMeter) add(n int64) {
	m.total += n
	now := m.now()
	m.samples = append(m.samples, rateSample{at: now, total: m.total})
	// Keep one sample older than the window, so the window is always covered.
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) > rateWindow {
		m.samples = m.samples[1:]
	}
}

// rate returns the units per second over the window, or nil while the run has not worked
// long enough for the figure to mean something.
func (m *rateMeter) rate() *float64 {
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	span := last.at.Sub(first.at)
	if span < rateMinSpan {
		return nil
	}
	r := float64(last.total-first.total) / span.Seconds()
	return &r
}
