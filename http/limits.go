package http

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// Limits bound what one client may cost the service. A zero field means no limit. The
// command line's defaults are in cmd/reins (docs/security.md lists them).
type Limits struct {
	// MaxUploadBytes bounds one upload's file: more is 413 and the job FAILED, its spool
	// removed.
	MaxUploadBytes int64
	// MaxActiveJobs bounds a tenant's unfinished jobs (any status but COMPLETED, FAILED and
	// REVOKED): another creation is 429 with Retry-After.
	MaxActiveJobs int
	// MaxCreatesPerMinute bounds a tenant's job creations in any minute, in this process:
	// more is 429 with Retry-After.
	MaxCreatesPerMinute int
	// BodyTimeout bounds how long a request's small body (a command, a new job's form) may
	// take to arrive. Uploads bound their own idle time instead.
	BodyTimeout time.Duration
	// ResultRetention is how long a finished job's file is kept; after it, /result is 410.
	ResultRetention time.Duration
	// JobRetention is how long a finished job's row and history are kept; after it, the job
	// is gone (404).
	JobRetention time.Duration
}

// Security is how a server authenticates and limits its clients.
type Security struct {
	// Tokens are the accepted API tokens; nil runs open: every request acts for
	// reins.DefaultOwner.
	Tokens *Tokens
	// MetricsToken, when set, is the token /metrics asks for; otherwise /metrics is open.
	MetricsToken string
	Limits       Limits
}

// guard is the server's security state.
type guard struct {
	tokens        *Tokens
	metricsDigest []byte
	crossOrigin   *http.CrossOriginProtection
	limits        Limits
	creates       *rateCounter
}

func newGuard() guard {
	return guard{crossOrigin: http.NewCrossOriginProtection(), creates: newRateCounter(time.Minute)}
}

// Secure sets how the server authenticates and limits its clients. Call it before serving.
func (s *Server) Secure(sec Security) {
	s.guard.tokens = sec.Tokens
	s.guard.metricsDigest = nil
	if sec.MetricsToken != "" {
		d := sha256.Sum256([]byte(sec.MetricsToken))
		s.guard.metricsDigest = d[:]
	}
	s.guard.limits = sec.Limits
	s.receiver.MaxBytes = sec.Limits.MaxUploadBytes
}

// admit checks the tenant's quotas before a job is created, answering 429 itself when one
// is reached; ok reports whether the creation may go on.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, tenant string) bool {
	l := s.guard.limits
	if l.MaxCreatesPerMinute > 0 {
		if wait, ok := s.guard.creates.take(tenant, l.MaxCreatesPerMinute, time.Now()); !ok {
			s.tooMany(w, r, wait, "too many jobs created: at most %d a minute per tenant", l.MaxCreatesPerMinute)
			return false
		}
	}
	if l.MaxActiveJobs > 0 {
		n, err := s.activeJobs(r.Context(), tenant)
		if err != nil {
			s.error(w, r, err)
			return false
		}
		if n >= int64(l.MaxActiveJobs) {
			s.tooMany(w, r, 30*time.Second, "too many unfinished jobs: %d of at most %d per tenant; wait for some to finish, or revoke some", n, l.MaxActiveJobs)
			return false
		}
	}
	return true
}

func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration, format string, args ...any) {
	secs := int64((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	s.error(w, r, reins.Errorf(reins.ETOOMANY, format, args...))
}

// activeJobs counts the tenant's unfinished jobs.
func (s *Server) activeJobs(ctx context.Context, tenant string) (int64, error) {
	counts, err := s.engine.Store().CountJobs(ctx, tenant)
	if err != nil {
		return 0, reins.Errorf(reins.EUNAVAILABLE, "cannot count the tenant's jobs: %v", err)
	}
	var n int64
	for st, c := range counts {
		if !st.Terminal() {
			n += c
		}
	}
	return n, nil
}

// rateCounter counts events per key in a sliding window.
type rateCounter struct {
	window time.Duration
	mu     sync.Mutex
	events map[string][]time.Time
}

func newRateCounter(window time.Duration) *rateCounter {
	return &rateCounter{window: window, events: make(map[string][]time.Time)}
}

// take records an event for key unless limit events already fall in the window ending now;
// when refused it returns how long until one leaves the window.
func (c *rateCounter) take(key string, limit int, now time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cut := now.Add(-c.window)
	events := c.events[key]
	i := 0
	for i < len(events) && !events[i].After(cut) {
		i++
	}
	events = events[i:]
	if len(events) >= limit {
		c.events[key] = events
		return events[0].Sub(cut), false
	}
	if len(events) == 0 {
		// Forget idle keys, so the map does not grow with every tenant ever seen.
		for k, ev := range c.events {
			if len(ev) == 0 || !ev[len(ev)-1].After(cut) {
				delete(c.events, k)
			}
		}
	}
	c.events[key] = append(events, now)
	return 0, true
}

// withBodyDeadline bounds the time the request's body may take to arrive; the returned
// func lifts the bound once the body is in (a deadline left in place would, on expiring,
// cancel the request while a command waits for its run). After a failed read the bound
// stays: the server then discards the rest of the body, and must not wait for it forever.
func (s *Server) withBodyDeadline(w http.ResponseWriter) (lift func(readErr error)) {
	d := s.guard.limits.BodyTimeout
	if d <= 0 {
		return func(error) {}
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(d))
	return func(readErr error) {
		if readErr == nil {
			_ = rc.SetReadDeadline(time.Time{})
		}
	}
}

// expired reports whether a finished job's file is past its retention.
func (s *Server) expired(job *reins.Job, now time.Time) bool {
	keep := s.guard.limits.ResultRetention
	return keep > 0 && job.FinishedAt != nil && now.Sub(*job.FinishedAt) > keep
}

// SweepJobs deletes the jobs (rows, history and files) that finished more than the job
// retention before now, returning how many it deleted.
func (s *Server) SweepJobs(ctx context.Context, now time.Time) (int, error) {
	keep := s.guard.limits.JobRetention
	if keep <= 0 {
		return 0, nil
	}
	ids, err := s.finishedBefore(ctx, now.Add(-keep), reins.StatusCompleted, reins.StatusFailed, reins.StatusRevoked)
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, id := range ids {
		if job, err := s.engine.Job(ctx, id); err == nil {
			if kind, err := s.engine.Kinds().Lookup(job.Type); err == nil {
				if err := kind.Discard(ctx, job); err != nil {
					return deleted, err
				}
			}
		}
		ok, err := s.engine.Store().DeleteFinishedJob(ctx, id, reins.StatusCompleted, reins.StatusFailed, reins.StatusRevoked)
		if err != nil {
			return deleted, err
		}
		if ok {
			deleted++
		}
	}
	return deleted, nil
}

// sweepBatch is how many jobs one retention sweep looks at, oldest first.
const sweepBatch = 10000

// finishedBefore lists the jobs in the given statuses that finished before t, oldest first.
func (s *Server) finishedBefore(ctx context.Context, t time.Time, statuses ...reins.Status) ([]uuid.UUID, error) {
	return s.engine.Store().FinishedBefore(ctx, t, sweepBatch, statuses...)
}

// SweepResults deletes the files of jobs that finished more than the result retention
// before now, returning how many jobs it looked at. Deleting is idempotent: a file already
// gone is no error, so every process may sweep.
func (s *Server) SweepResults(ctx context.Context, now time.Time) (int, error) {
	keep := s.guard.limits.ResultRetention
	if keep <= 0 {
		return 0, nil
	}
	ids, err := s.finishedBefore(ctx, now.Add(-keep), reins.StatusCompleted)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		job, err := s.engine.Job(ctx, id)
		if err != nil {
			continue
		}
		kind, err := s.engine.Kinds().Lookup(job.Type)
		if err != nil {
			continue
		}
		if err := kind.Discard(ctx, job); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// The job detail's history comes in pages: a command storm must not make one answer huge.
const (
	defaultHistoryLimit = 100
	maxHistoryLimit     = 1000
)

// historyPage is a page of a job's history: history_offset events skipped (oldest first),
// then at most history_limit.
type historyPage struct{ offset, limit int }

func parseHistoryPage(r *http.Request) (historyPage, error) {
	p := historyPage{limit: defaultHistoryLimit}
	q := r.URL.Query()
	if raw := q.Get("history_limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxHistoryLimit {
			return p, reins.Errorf(reins.EINVALID, "history_limit must be a whole number from 1 to %d, got %s", maxHistoryLimit, quote(raw))
		}
		p.limit = n
	}
	if raw := q.Get("history_offset"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return p, reins.Errorf(reins.EINVALID, "history_offset must be a whole number, 0 or more, got %s", quote(raw))
		}
		p.offset = n
	}
	return p, nil
}

// cut returns the page's events, the total, and the next page's offset (nil on the last).
func (p historyPage) cut(events []reins.Event) ([]reins.Event, *int, *int) {
	total := len(events)
	start := min(p.offset, total)
	end := min(start+p.limit, total)
	var next *int
	if end < total {
		next = &end
	}
	return events[start:end], &total, next
}

// listErrorLength caps a job's error in a list; the job's detail has it whole.
const listErrorLength = 200

// brief leaves a job's long texts out of a list: a list of a thousand jobs must stay small.
// The row errors (an import's "errors") and the history are in the job's detail.
func brief(j jobJSON) jobJSON {
	if j.Error != nil {
		short := reins.Shorten(*j.Error, listErrorLength)
		j.Error = &short
	}
	j.History = nil
	if _, ok := j.kind["errors"]; ok {
		kind := make(map[string]any, len(j.kind))
		for k, v := range j.kind {
			if k != "errors" {
				kind[k] = v
			}
		}
		j.kind = kind
	}
	return j
}
