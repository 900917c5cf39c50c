package http

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvimport"
)

// jobJSON is a job as the API shows it.
type jobJSON struct {
	JobID      string          `json:"job_id"`
	JobType    reins.JobType   `json:"job_type"`
	JobStatus  reins.Status    `json:"job_status"`
	Progress   reins.Progress  `json:"progress"`
	Params     json.RawMessage `json:"params"`
	Error      *string         `json:"error"`
	Result     *refJSON        `json:"result"`
	CreatedAt  string          `json:"created_at"`
	UpdatedAt  string          `json:"updated_at"`
	StartedAt  *string         `json:"started_at"`
	FinishedAt *string         `json:"finished_at"`
	History    []eventJSON     `json:"history,omitempty"`
	// Run names the worker process holding the job's run, while one does.
	Run *runJSON `json:"run,omitempty"`
	// Skipped and Errors list an import's rows skipped under on_error=skip.
	Skipped *int64               `json:"skipped,omitempty"`
	Errors  []csvimport.RowError `json:"errors,omitempty"`
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

func toJobJSON(j *reins.Job) jobJSON {
	out := jobJSON{
		JobID: j.ID.String(), JobType: j.Type, JobStatus: j.Status, Progress: j.Progress(), Params: j.Params,
		CreatedAt: rfc3339(j.CreatedAt), UpdatedAt: rfc3339(j.UpdatedAt),
		StartedAt: optTime(j.StartedAt), FinishedAt: optTime(j.FinishedAt),
	}
	if j.Error != "" {
		out.Error = &j.Error
	}
	if j.Lease != nil && j.LeaseOwner != nil && j.LeaseExpiresAt != nil {
		out.Run = &runJSON{Worker: *j.LeaseOwner, LeaseExpiresAt: rfc3339(*j.LeaseExpiresAt)}
	}
	if j.Type == reins.JobTypeImport {
		skipped, errs := csvimport.Skipped(j)
		out.Skipped, out.Errors = &skipped, errs
	}
	if j.Type == reins.JobTypeExport && j.Status == reins.StatusCompleted {
		out.Result = &refJSON{URL: "/api/v1/jobs/" + j.ID.String() + "/result"}
	}
	return out
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
		writeJSON(w, http.StatusOK, toJobJSON(job))
	}
}

func (s *Server) handleCommand(w http.ResponseWriter, r *http.Request, id uuid.UUID) {
	values, err := bodyValues(r)
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
	job, err := s.engine.Command(r.Context(), id, cmd, "api")
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"job_id": job.ID.String(), "job_status": job.Status, "progress": job.Progress()})
}

// maxBodyBytes bounds a command's body; commands are a few bytes.
const maxBodyBytes = 1 << 20

// bodyValues reads a form-encoded, multipart or JSON object body once, into its top-level
// fields. A JSON number or boolean is kept as its text; other JSON values are refused.
func bodyValues(r *http.Request) (map[string]string, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxBodyBytes)
	ct := r.Header.Get("Content-Type")
	mediaType := ""
	if ct != "" {
		var err error
		if mediaType, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, reins.Errorf(reins.EUNSUPPORTED, "malformed Content-Type %q: send form-encoded or JSON", ct)
		}
	}
	switch mediaType {
	case "application/json":
		var body map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			if errors.Is(err, io.EOF) {
				return map[string]string{}, nil
			}
			return nil, reins.Errorf(reins.EINVALID, "request body is not a valid JSON object: %v", err)
		}
		values := make(map[string]string, len(body))
		for name, raw := range body {
			var v any
			_ = json.Unmarshal(raw, &v)
			switch v := v.(type) {
			case nil:
			case string:
				values[name] = v
			case float64, bool:
				values[name] = string(raw)
			default:
				return nil, reins.Errorf(reins.EINVALID, "'%s' must be a string", name)
			}
		}
		return values, nil
	case "application/x-www-form-urlencoded", "multipart/form-data", "":
		var err error
		if mediaType == "multipart/form-data" {
			err = r.ParseMultipartForm(maxBodyBytes)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			return nil, reins.Errorf(reins.EINVALID, "request body is not a valid form: %v", err)
		}
		values := make(map[string]string, len(r.PostForm))
		for name := range r.PostForm {
			values[name] = r.PostForm.Get(name)
		}
		return values, nil
	}
	return nil, reins.Errorf(reins.EUNSUPPORTED, "unsupported Content-Type %q: send form-encoded or JSON", mediaType)
}

func (s *Server) handleJobDetail(w http.ResponseWriter, r *http.Request) {
	job, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	events, err := s.engine.Store().JobEvents(r.Context(), job.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := toJobJSON(job)
	out.History = make([]eventJSON, len(events))
	for i, e := range events {
		out.History[i] = eventJSON{At: rfc3339(e.At), From: e.From, To: e.To, Actor: e.Actor, Detail: e.Detail}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if raw := r.URL.Query().Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 1000 {
			s.error(w, r, reins.Errorf(reins.EINVALID, "limit must be a whole number from 1 to 1000, got %q", raw))
			return
		}
		limit = n
	}
	jobs, err := s.engine.Store().ListJobs(r.Context(), reins.DefaultOwner, limit)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make([]jobJSON, len(jobs))
	for i, j := range jobs {
		out[i] = toJobJSON(j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out})
}
