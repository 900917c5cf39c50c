package http

import (
	"net/http"
	"slices"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/upload"
)

// handleRestart is fix and restart (docs/restart.md): POST /api/v1/jobs/{job_id}/restart with
// an optional new mapping, on_error or max_rows_per_s (form or JSON body, or query) creates a
// new job over the old job's file and answers 201 with it.
func (s *Server) handleRestart(w http.ResponseWriter, r *http.Request) {
	body, err := requestBody(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	old, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	params, warnings := s.requestParams(r, body, upload.RestartParams)
	changes := reins.Params{}
	for name, v := range params {
		if slices.Contains(upload.RestartParams, name) {
			changes[name] = v
		}
	}
	job, err := upload.Restart(r.Context(), s.engine, s.blob, old, changes, "api")
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := s.toJobJSON(job)
	out.Warnings = warnings
	writeJSON(w, http.StatusCreated, out)
}
