package http

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvexport"
)

// handleExport starts an export, the old service's GET export/?date_gte=&date_lte=.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	kind, err := s.engine.Kinds().Lookup(csvexport.Type)
	if err != nil {
		s.error(w, r, err)
		return
	}
	job, warnings, ok := s.create(w, r, kind, nil)
	if !ok {
		return
	}
	params, _, _ := reins.DecodeJob[csvexport.Params, csvexport.Checkpoint](job)
	out := map[string]any{
		"job_id":      job.ID.String(),
		"job_status":  job.Status,
		"job_message": params.Describe(),
		"ref":         refJSON{URL: "job-status/" + job.ID.String()},
	}
	if warnings != nil {
		out["warnings"] = warnings
	}
	for k, v := range kind.Present(job) {
		if k != "result" {
			out[k] = v
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// create makes a job of kind from the request's parameters (the query's, and body's when
// not nil), answering the error itself when it cannot; ok reports whether the handler may
// go on. known are parameters the handler reads besides the kind's.
func (s *Server) create(w http.ResponseWriter, r *http.Request, kind reins.Kind, body map[string]string, known ...string) (*reins.Job, []string, bool) {
	params, warnings := s.requestParams(r, body, kind.ParamNames(), known)
	if !s.admit(w, r, s.owner(r)) {
		return nil, nil, false
	}
	job, err := kind.NewJob(params)
	if err == nil {
		job.Owner = s.owner(r)
		err = s.engine.Create(r.Context(), job, "api")
	}
	if err != nil {
		s.error(w, r, err)
		return nil, nil, false
	}
	return job, warnings, true
}

// resulter is a kind whose finished jobs have a file to download.
type resulter interface {
	OpenResult(job *reins.Job) (body io.ReadCloser, size int64, name string, err error)
}

func (s *Server) handleResult(w http.ResponseWriter, r *http.Request) {
	job, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	id := job.ID
	kind, err := s.engine.Kinds().Lookup(job.Type)
	if err != nil {
		s.error(w, r, err)
		return
	}
	res, ok := kind.(resulter)
	switch {
	case !ok:
		err = reins.Errorf(reins.ENOTFOUND, "job %s is a %s job; it has no result file", id, job.Type)
	case job.Status == reins.StatusRevoked || job.Status == reins.StatusRevoking:
		err = reins.Errorf(reins.EGONE, "job %s was revoked; its file was deleted", id)
	case job.Status == reins.StatusFailed:
		err = reins.Errorf(reins.EGONE, "job %s failed (%s); its partial file was deleted", id, job.Error)
	case job.Status != reins.StatusCompleted:
		err = reins.Errorf(reins.ECONFLICT, "job %s is %s; its result is ready when it is COMPLETED", id, job.Status)
	case s.expired(job, time.Now()):
		_ = kind.Discard(r.Context(), job)
		err = reins.Errorf(reins.EGONE, "job %s finished more than %s ago; its file was deleted (--result-retention)", id, s.guard.limits.ResultRetention)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	body, size, name, err := res.OpenResult(job)
	if err != nil {
		s.error(w, r, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		if _, err := io.Copy(w, body); err != nil {
			s.log.Warn("reins: result download interrupted", "job_id", id, "error", err)
		}
	}
}
