package reins

import (
	"testing"
	"time"
)

// TestProgress derives the reported progress from known counters and times: the percent,
// the recent rate while the job runs (none when stale or stopped), and the ETA from the rate
// and what is left (counting down to zero during a rollback).
func TestProgress(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ptr := func(v float64) *float64 { return &v }
	total := func(n int64) *int64 { return &n }
	at := func(ago time.Duration) *time.Time { t := now.Add(-ago); return &t }
	cases := []struct {
		name               string
		job                Job
		percent, rate, eta *float64
	}{
		{"running", Job{Status: StatusStarted, Done: 250, Total: total(1000), RatePerS: ptr(50), RateAt: at(time.Second)},
			ptr(25), ptr(50), ptr(15)},
		{"resumed", Job{Status: StatusResumed, Done: 900, Total: total(1000), RatePerS: ptr(200), RateAt: at(0)},
			ptr(90), ptr(200), ptr(0.5)},
		{"total unknown", Job{Status: StatusStarted, Done: 10, RatePerS: ptr(5), RateAt: at(0)}, nil, ptr(5), nil},
		{"no rate yet", Job{Status: StatusStarted, Done: 10, Total: total(40)}, ptr(25), nil, nil},
		{"stale rate", Job{Status: StatusStarted, Done: 10, Total: total(40), RatePerS: ptr(5), RateAt: at(RateFreshFor)},
			ptr(25), nil, nil},
		{"paused", Job{Status: StatusPaused, Done: 10, Total: total(40), RatePerS: ptr(5), RateAt: at(0)}, ptr(25), nil, nil},
		{"pausing: no ETA", Job{Status: StatusPausing, Done: 10, Total: total(40), RatePerS: ptr(5), RateAt: at(0)},
			ptr(25), ptr(5), nil},
		{"rolling back counts down", Job{Status: StatusRevoking, Done: 300, Total: total(1000), RatePerS: ptr(100), RateAt: at(0)},
			ptr(30), ptr(100), ptr(3)},
		{"failed, rolling back", Job{Status: StatusFailed, Done: 50, Total: total(100), RatePerS: ptr(25), RateAt: at(0)},
			ptr(50), ptr(25), ptr(2)},
		{"failed, rolled back", Job{Status: StatusFailed, Done: 0, Total: total(100), RatePerS: ptr(25), RateAt: at(0)},
			ptr(0), nil, nil},
		{"completed with skipped rows", Job{Status: StatusCompleted, Done: 2, Total: total(3), RatePerS: ptr(5), RateAt: at(0)},
			ptr(100), nil, nil},
		{"revoked", Job{Status: StatusRevoked, Done: 0, Total: total(3)}, ptr(0), nil, nil},
		{"empty", Job{Status: StatusStarted, Total: total(0)}, ptr(100), nil, nil},
		{"done past total", Job{Status: StatusStarted, Done: 12, Total: total(10)}, ptr(100), nil, nil},
		{"zero rate", Job{Status: StatusStarted, Done: 1, Total: total(10), RatePerS: ptr(0), RateAt: at(0)}, ptr(10), nil, nil},
	}
	eq := func(a, b *float64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	show := func(f *float64) any {
		if f == nil {
			return nil
		}
		return *f
	}
	for _, c := range cases {
		p := c.job.Progress(now)
		if p.Done != c.job.Done || p.Total != c.job.Total {
			t.Errorf("%s: done/total %d/%v, want the job's", c.name, p.Done, p.Total)
		}
		if !eq(p.Percent, c.percent) || !eq(p.RatePerS, c.rate) || !eq(p.ETASecond, c.eta) {
			t.Errorf("%s: percent %v rate_per_s %v eta_s %v; want %v %v %v", c.name, show(p.Percent), show(p.RatePerS),
				show(p.ETASecond), show(c.percent), show(c.rate), show(c.eta))
		}
	}
}
