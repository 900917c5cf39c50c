package http

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// The job listing's page sizes.
const (
	defaultListLimit = 50
	maxListLimit     = 1000
)

// listParams are the query parameters GET /api/v1/jobs takes.
var listParams = []string{"status", "type", "created_gte", "created_lte", "limit", "cursor"}

// handleListJobs answers GET /api/v1/jobs: the caller's jobs, newest first, filtered and a
// page at a time. next_cursor continues the listing after the page's last job; null means
// the page is the last.
func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) {
	f, err := s.parseJobFilter(r.URL.Query())
	if err != nil {
		s.error(w, r, err)
		return
	}
	f.Owner = s.owner(r)
	// One job more than the page tells whether another page follows.
	f.Limit++
	jobs, err := s.engine.Store().ListJobs(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var next *string
	if len(jobs) == f.Limit {
		jobs = jobs[:f.Limit-1]
		last := jobs[len(jobs)-1]
		c := encodeCursor(reins.JobCursor{CreatedAt: last.CreatedAt, ID: last.ID})
		next = &c
	}
	out := make([]jobJSON, len(jobs))
	for i, j := range jobs {
		out[i] = s.toListedJobJSON(j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out, "next_cursor": next})
}

// toListedJobJSON renders a job for a listing: its JSON without the long texts (history and
// row errors), which its detail shows.
func (s *Server) toListedJobJSON(j *reins.Job) jobJSON {
	return brief(s.toJobJSON(j))
}

// parseJobFilter reads the listing's query parameters. Returns EINVALID naming the
// parameter at fault.
func (s *Server) parseJobFilter(q url.Values) (*reins.JobFilter, error) {
	for name := range q {
		if !slices.Contains(listParams, name) {
			return nil, reins.Errorf(reins.EINVALID, "unknown parameter %s: the job listing takes %s",
				quote(name), strings.Join(listParams, ", "))
		}
	}
	f := &reins.JobFilter{Limit: defaultListLimit}
	for _, raw := range splitValues(q["status"]) {
		st := reins.Status(strings.ToUpper(raw))
		if !slices.Contains(reins.AllStatuses(), st) {
			return nil, reins.Errorf(reins.EINVALID, "status must be one of %s, got %s", joinStatuses(reins.AllStatuses()), quote(raw))
		}
		f.Statuses = append(f.Statuses, st)
	}
	types := s.engine.Kinds().Types()
	for _, raw := range splitValues(q["type"]) {
		t := reins.JobType(strings.ToLower(raw))
		if !slices.Contains(types, t) {
			names := make([]string, len(types))
			for i, t := range types {
				names[i] = string(t)
			}
			return nil, reins.Errorf(reins.EINVALID, "type must be one of %s, got %s", strings.Join(names, ", "), quote(raw))
		}
		f.Types = append(f.Types, t)
	}
	if raw := q.Get("created_gte"); raw != "" {
		from, _, err := parseListTime("created_gte", raw)
		if err != nil {
			return nil, err
		}
		f.CreatedFrom = &from
	}
	if raw := q.Get("created_lte"); raw != "" {
		at, day, err := parseListTime("created_lte", raw)
		if err != nil {
			return nil, err
		}
		// A day includes all of it; an instant includes itself (times are stored to the
		// microsecond).
		before := at.Truncate(time.Microsecond).Add(time.Microsecond)
		if day {
			before = at.AddDate(0, 0, 1)
		}
		f.CreatedBefore = &before
	}
	if f.CreatedFrom != nil && f.CreatedBefore != nil && !f.CreatedFrom.Before(*f.CreatedBefore) {
		return nil, reins.Errorf(reins.EINVALID, "created_gte %s is after created_lte %s", q.Get("created_gte"), q.Get("created_lte"))
	}
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxListLimit {
			return nil, reins.Errorf(reins.EINVALID, "limit must be a whole number from 1 to %d, got %s", maxListLimit, quote(raw))
		}
		f.Limit = n
	}
	if raw := q.Get("cursor"); raw != "" {
		c, err := decodeCursor(raw)
		if err != nil {
			return nil, err
		}
		f.After = &c
	}
	return f, nil
}

// splitValues returns a repeatable parameter's values, each also split at commas
// (status=PAUSED,FAILED is status=PAUSED&status=FAILED), empty ones left out.
func splitValues(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func joinStatuses(statuses []reins.Status) string {
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// parseListTime parses a listing's date bound: a whole day (YYYY-MM-DD, UTC) or an RFC 3339
// instant; day reports which. Returns EINVALID naming the parameter.
func parseListTime(name, raw string) (t time.Time, day bool, err error) {
	if t, err := time.Parse(time.DateOnly, raw); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
		return t.UTC(), false, nil
	}
	return time.Time{}, false, reins.Errorf(reins.EINVALID,
		"%s must be a date (YYYY-MM-DD) or an RFC 3339 time (2024-05-01T12:00:00Z), got %s", name, quote(raw))
}

// encodeCursor renders a listing position as opaque text: the position is the last listed
// job's creation time (microseconds) and id.
func encodeCursor(c reins.JobCursor) string {
	raw := strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor reads a cursor encodeCursor wrote. Returns EINVALID naming the parameter.
func decodeCursor(text string) (reins.JobCursor, error) {
	bad := reins.Errorf(reins.EINVALID, "cursor %s is not one this API gave: pass next_cursor from the previous page as it is",
		quote(text))
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return reins.JobCursor{}, bad
	}
	micros, id, ok := strings.Cut(string(raw), ".")
	if !ok {
		return reins.JobCursor{}, bad
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return reins.JobCursor{}, bad
	}
	uid, err := uuid.Parse(id)
	if err != nil {
		return reins.JobCursor{}, bad
	}
	return reins.JobCursor{CreatedAt: time.UnixMicro(us).UTC(), ID: uid}, nil
}

// handleSummary answers GET /api/v1/jobs/summary: how many of the caller's jobs are in each
// status (every status named, zeros included), and their total.
func (s *Server) handleSummary(w http.ResponseWriter, r *http.Request) {
	counts, err := s.engine.Store().CountJobs(r.Context(), s.owner(r))
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make(map[reins.Status]int64, len(reins.AllStatuses()))
	var total int64
	for _, st := range reins.AllStatuses() {
		out[st] = counts[st]
		total += counts[st]
	}
	writeJSON(w, http.StatusOK, map[string]any{"counts": out, "total": total})
}
