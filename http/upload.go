package http

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/csvimport"
)

// handleNewJob creates a job that waits for its upload: the customers import by default,
// or the upload kind its job_type names.
func (s *Server) handleNewJob(w http.ResponseWriter, r *http.Request) {
	body, err := requestBody(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	jobType := body["job_type"]
	if r.URL.Query().Has("job_type") {
		jobType = r.URL.Query().Get("job_type")
	}
	if jobType == "" {
		jobType = string(csvimport.Type)
	}
	kind, err := s.engine.Kinds().Lookup(reins.JobType(jobType))
	if err == nil {
		if _, ok := kind.(reins.UploadKind); !ok {
			err = reins.Errorf(reins.EINVALID, "job_type %s takes no upload; new-job creates upload jobs (start an export with GET /api/v1/export/)", jobType)
		}
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	job, warnings, ok := s.create(w, r, kind, body, "job_type")
	if !ok {
		return
	}
	out := map[string]any{
		"job_id":     job.ID.String(),
		"job_status": job.Status,
		"job_type":   job.Type,
		"ref":        refJSON{URL: "upload?job_id=" + job.ID.String()},
	}
	if warnings != nil {
		out["warnings"] = warnings
	}
	writeJSON(w, http.StatusOK, out)
}

// handleUpload streams an upload into its job: a multipart field "file", or a raw text/csv
// body.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("job_id")
	if raw == "" {
		s.error(w, r, reins.Errorf(reins.EINVALID, "'job_id' not present in the query: POST /api/v1/upload/?job_id=<id>"))
		return
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		s.error(w, r, reins.Errorf(reins.ENOTFOUND, "job %s not found: a job id is a UUID", quote(raw)))
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
	var expected *int64
	if r.ContentLength > 0 && body == r.Body {
		expected = &r.ContentLength
	}
	rc := http.NewResponseController(w)
	extend := func(deadline time.Time) { _ = rc.SetReadDeadline(deadline) }
	res, err := s.receiver.Receive(r.Context(), id, name, expected, countingReader{r: body, m: s.metrics}, extend)
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
				return fileName(part.FileName()), part, nil
			}
		}
	case "text/csv", "application/csv", "application/octet-stream", "text/plain":
		return fileName(r.URL.Query().Get("filename")), r.Body, nil
	}
	return "", nil, reins.Errorf(reins.EUNSUPPORTED, "Content-Type %q: send multipart/form-data with a 'file' field, or text/csv", mediaType)
}

// maxFileName bounds a stored file name, in characters.
const maxFileName = 255

// fileName cleans a client's file name for storing and showing: its base name only, without
// control characters, valid UTF-8 (invalid bytes replaced), at most maxFileName characters.
func fileName(raw string) string {
	name := strings.ToValidUTF8(raw, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" || strings.TrimSpace(name) == "" {
		return "upload.csv"
	}
	if utf8.RuneCountInString(name) > maxFileName {
		name = string([]rune(name)[:maxFileName])
	}
	return name
}
