package http

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvimport"
)

func (s *Server) handleNewJob(w http.ResponseWriter, r *http.Request) {
	// Parameters come in the query, or for a POST also in a form or JSON body.
	values := map[string]string{}
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		var err error
		if values, err = bodyValues(r); err != nil {
			s.error(w, r, err)
			return
		}
	}
	q := r.URL.Query()
	for _, name := range []string{"max_rows_per_s", "on_error"} {
		if q.Has(name) {
			values[name] = q.Get(name)
		}
	}
	params, err := csvimport.ParseParams(values["max_rows_per_s"], values["on_error"])
	if err != nil {
		s.error(w, r, err)
		return
	}
	job, err := csvimport.NewJob(params, reins.DefaultOwner)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.engine.Create(r.Context(), job, "api", reins.RunNone); err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"job_id":     job.ID.String(),
		"job_status": job.Status,
		"ref":        refJSON{URL: "upload?job_id=" + job.ID.String()},
	})
}

// handleUpload streams an upload into its import job: a multipart field "file", or a raw
// text/csv body.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("job_id")
	if raw == "" {
		s.error(w, r, reins.Errorf(reins.EINVALID, "'job_id' not present in the query: POST /api/v1/upload/?job_id=<id>"))
		return
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		s.error(w, r, reins.Errorf(reins.ENOTFOUND, "job %q not found: a job id is a UUID", raw))
		return
	}
	if _, err := s.engine.Job(r.Context(), id); err != nil {
		s.error(w, r, err)
		return
	}
	name, body, err := uploadBody(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	extend := func(deadline time.Time) { _ = rc.SetReadDeadline(deadline) }
	res, err := s.receiver.Receive(r.Context(), id, name, body, extend)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"file":       name,
		"job_id":     id.String(),
		"job_status": res.Job.Status,
		"bytes":      res.Bytes,
		"records":    res.Records,
		"ref":        refJSON{URL: "job-status/" + id.String()},
	})
}

// uploadBody finds the file in the request without reading it: the multipart part named
// "file", or the whole body when it is sent as CSV.
func uploadBody(r *http.Request) (string, io.Reader, error) {
	ct := r.Header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", nil, reins.Errorf(reins.EUNSUPPORTED, "Content-Type %q: send multipart/form-data with a 'file' field, or text/csv", ct)
	}
	switch mediaType {
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return "", nil, reins.Errorf(reins.EINVALID, "malformed multipart body: %v", err)
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return "", nil, reins.Errorf(reins.EINVALID, "'file' not present in the multipart body")
			}
			if err != nil {
				return "", nil, reins.Errorf(reins.EINVALID, "malformed multipart body: %v", err)
			}
			if part.FormName() == "file" {
				name := path.Base(part.FileName())
				if name == "." || name == "/" {
					name = "upload.csv"
				}
				return name, part, nil
			}
		}
	case "text/csv", "application/csv", "application/octet-stream", "text/plain":
		name := path.Base(r.URL.Query().Get("filename"))
		if name == "." || name == "/" {
			name = "upload.csv"
		}
		return name, r.Body, nil
	}
	return "", nil, reins.Errorf(reins.EUNSUPPORTED, "Content-Type %q: send multipart/form-data with a 'file' field, or text/csv", mediaType)
}
