package http

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// jobJSON is a job as the API shows it: the fields every kind has, then the kind's own
// (Kind.Present), merged into one object.
type jobJSON struct {
	JobID      string          `json:"job_id"`
	JobType    reins.JobType   `json:"job_type"`
	JobStatus  reins.Status    `json:"job_status"`
	Progress   reins.Progress  `json:"progress"`
	Transfer   *transferJSON   `json:"transfer,omitempty"`
	Params     json.RawMessage `json:"params"`
	Error      *string         `json:"error"`
	Result     *refJSON        `json:"result"`
	CreatedAt  string          `json:"created_at"`
	UpdatedAt  string          `json:"updated_at"`
	StartedAt  *string         `json:"started_at"`
	FinishedAt *string         `json:"finished_at"`
	History    []eventJSON     `json:"history,omitempty"`
	// HistoryTotal and HistoryNext page the history in the job's detail (history_offset,
	// history_limit): how many events there are, and the offset of the next page.
	HistoryTotal *int `json:"history_total,omitempty"`
	HistoryNext  *int `json:"history_next,omitempty"`
	// Run names the worker process holding the job's run, while one does.
	Run *runJSON `json:"run,omitempty"`
	// Warnings tell a creating client what was ignored in its request.
	Warnings []string `json:"warnings,omitempty"`
	// RestartOf and RestartedAs link a restarted upload job and its successor
	// (docs/restart.md); WaitingFor names the job whose rollback a restart waits for.
	RestartOf   *string `json:"restart_of,omitempty"`
	RestartedAs *string `json:"restarted_as,omitempty"`
	WaitingFor  *string `json:"waiting_for,omitempty"`

	kind map[string]any
}

// MarshalJSON writes the common fields and the kind's own in one object.
func (j jobJSON) MarshalJSON() ([]byte, error) {
	type plain jobJSON
	common, err := json.Marshal(plain(j))
	if err != nil || len(j.kind) == 0 {
		return common, err
	}
	own, err := json.Marshal(j.kind)
	if err != nil {
		return nil, err
	}
	return append(append(common[:len(common)-1], ','), own[1:]...), nil
}

type transferJSON struct {
	State         string `json:"state"`
	FileName      string `json:"file_name,omitempty"`
	BytesReceived int64  `json:"bytes_received"`
	BytesTotal    *int64 `json:"bytes_total"`
}

type runJSON struct {
	Worker         string `json:"worker"`
	LeaseExpiresAt string `json:"lease_expires_at"`
}

type refJSON struct {
	URL string `json:"url"`
}

type eventJSON struct {
	At     string       `json:"at"`
	From   reins.Status `json:"from"`
	To     reins.Status `json:"to"`
	Actor  string       `json:"actor"`
	Detail string       `json:"detail,omitempty"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := rfc3339(*t)
	return &s
}

func optID(id *uuid.UUID) *string {
	if id == nil {
		return nil
	}
	s := id.String()
	return &s
}

// toJobJSON renders a job; a kind that is not registered shows only the common fields.
func (s *Server) toJobJSON(j *reins.Job) jobJSON {
	now := time.Now()
	out := jobJSON{
		JobID: j.ID.String(), JobType: j.Type, JobStatus: j.Status, Progress: j.Progress(now), Params: j.Params,
		CreatedAt: rfc3339(j.CreatedAt), UpdatedAt: rfc3339(j.UpdatedAt),
		StartedAt: optTime(j.StartedAt), FinishedAt: optTime(j.FinishedAt),
	}
	if j.Error != "" {
		out.Error = &j.Error
	}
	out.RestartOf, out.RestartedAs = optID(j.RestartOf), optID(j.RestartedAs)
	if j.WaitsFor != nil && j.Status == reins.StatusCreated {
		out.WaitingFor = optID(j.WaitsFor)
	}
	out.Run = runOf(j, now)
	kind, err := s.engine.Kinds().Lookup(j.Type)
	if err != nil {
		return out
	}
	if _, ok := kind.(reins.UploadKind); ok {
		out.Transfer = transferOf(j)
	}
	out.kind = kind.Present(j)
	if res, ok := out.kind["result"].(map[string]string); ok {
		out.Result = &refJSON{URL: res["url"]}
		delete(out.kind, "result")
	}
	return out
}

// transferOf describes an upload job's transfer: waiting for the file, receiving it,
// paused, complete, or stopped (the job ended before the file was in).
func transferOf(j *reins.Job) *transferJSON {
	t := &transferJSON{State: "waiting"}
	if u := j.Upload; u != nil {
		t.FileName, t.BytesReceived, t.BytesTotal = u.FileName, u.Received, u.Expected
		switch {
		case u.Complete:
			t.State = "complete"
			t.BytesTotal = &t.BytesReceived
		case j.Status.Terminal() || j.Status == reins.StatusRevoking:
			t.State = "stopped"
		case j.Status == reins.StatusPaused || j.Status == reins.StatusPausing:
			t.State = "paused"
		default:
			t.State = "receiving"
		}
	} else if j.Status.Terminal() || j.Status == reins.StatusRevoking {
		t.State = "stopped"
	}
	return t
}

func (s *Server) handleJobStatus(w http.ResponseWriter, r *http.Request) {
	id, err := jobID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if r.Method == http.MethodPost {
		s.handleCommand(w, r, id)
		return
	}
	if job, ok := s.loadJob(w, r); ok {
		writeJSON(w, http.StatusOK, s.toJobJSON(job))
	}
}

func (s *Server) handleCommand(w http.ResponseWriter, r *http.Request, id uuid.UUID) {
	lift := s.withBodyDeadline(w)
	values, err := bodyValues(r)
	lift(err)
	if err != nil {
		s.error(w, r, err)
		return
	}
	raw, ok := values["status"]
	if !ok {
		s.error(w, r, reins.Errorf(reins.EINVALID, "'status' not present in request body"))
		return
	}
	cmd, err := reins.ParseCommand(raw)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if _, err := s.ownJob(r, id); err != nil {
		s.error(w, r, err)
		return
	}
	began := time.Now()
	job, err := s.engine.Command(r.Context(), id, cmd, "api")
	s.metrics.CommandAnswered(cmd, time.Since(began))
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"job_id": job.ID.String(), "job_status": job.Status,
		"progress": job.Progress(time.Now())})
}

func (s *Server) handleJobDetail(w http.ResponseWriter, r *http.Request) {
	job, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	page, err := parseHistoryPage(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	events, err := s.engine.Store().JobEvents(r.Context(), job.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := s.toJobJSON(job)
	events, out.HistoryTotal, out.HistoryNext = page.cut(events)
	out.History = make([]eventJSON, len(events))
	for i, e := range events {
		out.History[i] = eventJSON{At: rfc3339(e.At), From: e.From, To: e.To, Actor: e.Actor, Detail: e.Detail}
	}
	writeJSON(w, http.StatusOK, out)
}

// runOf names the worker holding the job's run: while its lease lasts, and never for a job
// that has finished (its last run lets go of the lease a moment after the job ends).
func runOf(j *reins.Job, now time.Time) *runJSON {
	if j.Status.Terminal() || j.Lease == nil || j.LeaseOwner == nil || j.LeaseExpiresAt == nil || !j.LeaseExpiresAt.After(now) {
		return nil
	}
	return &runJSON{Worker: *j.LeaseOwner, LeaseExpiresAt: rfc3339(*j.LeaseExpiresAt)}
}
