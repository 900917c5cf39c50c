package http

import (
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvexport"
)

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	params, err := csvexport.ParseParams(q.Get("date_gte"), q.Get("date_lte"), q.Get("max_rows_per_s"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	job, err := csvexport.NewJob(params, reins.DefaultOwner)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.engine.Create(r.Context(), job, "api", reins.RunProcess); err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"job_id":      job.ID.String(),
		"job_status":  job.Status,
		"job_message": fmt.Sprintf("export of customers created from %s to %s started", params.DateGTE, params.DateLTE),
		"ref":         refJSON{URL: "job-status/" + job.ID.String()},
	})
}

func (s *Server) handleResult(w http.ResponseWriter, r *http.Request) {
	job, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	id := job.ID
	var err error
	switch {
	case job.Type != reins.JobTypeExport:
		err = reins.Errorf(reins.ENOTFOUND, "job %s is an %s job; only exports have a result file", id, job.Type)
	case job.Status == reins.StatusRevoked || job.Status == reins.StatusRevoking:
		err = reins.Errorf(reins.EGONE, "job %s was revoked; its file was deleted", id)
	case job.Status == reins.StatusFailed:
		err = reins.Errorf(reins.EGONE, "job %s failed (%s); its partial file was deleted", id, job.Error)
	case job.Status != reins.StatusCompleted:
		err = reins.Errorf(reins.ECONFLICT, "job %s is %s; its result is ready when it is COMPLETED", id, job.Status)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	body, size, err := csvexport.OpenResult(s.blob, job)
	if err != nil {
		s.error(w, r, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="export-%s.csv"`, id))
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		if _, err := io.Copy(w, body); err != nil {
			s.log.Warn("reins: result download interrupted", "job_id", id, "error", err)
		}
	}
}
