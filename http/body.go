package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/reins-dev/reins"
)

// maxBodyBytes bounds a command's or a new job's body; they are a few bytes.
const maxBodyBytes = 1 << 20

// bodyValues reads a form-encoded, multipart or JSON object body once, into its top-level
// fields. A JSON string is kept as is and any other JSON value as its JSON text (a mapping
// object, a number). A body that is a JSON object is read as JSON whatever type it was sent
// as: curl -d '{"status": "PAUSE"}' declares a form.
func bodyValues(r *http.Request) (map[string]string, error) {
	ct := r.Header.Get("Content-Type")
	mediaType := ""
	if ct != "" {
		var err error
		if mediaType, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, reins.Errorf(reins.EUNSUPPORTED, "malformed Content-Type %s: send form-encoded or JSON", quote(ct))
		}
	}
	if mediaType == "multipart/form-data" {
		r.Body = http.MaxBytesReader(nil, r.Body, maxBodyBytes)
		if err := r.ParseMultipartForm(maxBodyBytes); err != nil {
			return nil, bodyError(err, "a valid multipart form")
		}
		return formValues(r.MultipartForm.Value), nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return nil, bodyError(err, "readable")
	}
	trimmed := bytes.TrimSpace(body)
	switch {
	case mediaType == "application/json" || (mediaType == "" || mediaType == "application/x-www-form-urlencoded") && bytes.HasPrefix(trimmed, []byte("{")):
		return jsonValues(trimmed)
	case mediaType == "application/x-www-form-urlencoded" || mediaType == "":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, reins.Errorf(reins.EINVALID, "request body is not a valid form: %v", err)
		}
		return formValues(form), nil
	}
	return nil, reins.Errorf(reins.EUNSUPPORTED, "unsupported Content-Type %s: send form-encoded or JSON", quote(mediaType))
}

// bodyError turns a failed body read into a 413 when the body was too large.
func bodyError(err error, what string) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return reins.Errorf(reins.ETOOLARGE, "the request body is larger than %d bytes", tooBig.Limit)
	}
	return reins.Errorf(reins.EINVALID, "request body is not %s: %v", what, err)
}

func jsonValues(body []byte) (map[string]string, error) {
	if len(body) == 0 {
		return map[string]string{}, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		msg := "request body is not a valid JSON object"
		if err != nil {
			msg += ": " + err.Error()
		}
		return nil, reins.Errorf(reins.EINVALID, "%s", msg)
	}
	values := make(map[string]string, len(fields))
	for name, raw := range fields {
		var s string
		switch {
		case string(raw) == "null":
		case json.Unmarshal(raw, &s) == nil:
			values[name] = s
		default:
			values[name] = string(raw)
		}
	}
	return values, nil
}

func formValues(form map[string][]string) map[string]string {
	values := make(map[string]string, len(form))
	for name, vs := range form {
		if len(vs) > 0 {
			values[name] = vs[0]
		}
	}
	return values
}

// requestBody reads the body of a POST that has one (bodyValues), and nothing otherwise.
func requestBody(r *http.Request) (map[string]string, error) {
	if r.Method != http.MethodPost || r.ContentLength == 0 {
		return map[string]string{}, nil
	}
	return bodyValues(r)
}

// requestParams gathers a creation request's parameters: the body's (already read) and the
// query's, which win. It returns them with warnings for the names the kind does not
// understand (old clients send extras; they are ignored, not refused; create logs them with
// the job's id).
func (s *Server) requestParams(r *http.Request, body map[string]string, known ...[]string) (reins.Params, []string) {
	values := make(map[string]string, len(body))
	for name, v := range body {
		values[name] = v
	}
	for name := range r.URL.Query() {
		values[name] = r.URL.Query().Get(name)
	}
	var warnings []string
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.ContainsFunc(known, func(k []string) bool { return slices.Contains(k, name) }) {
			warnings = append(warnings, "unknown parameter "+reins.Shorten(name, 40)+" ignored")
		}
	}
	return reins.Params(values), warnings
}

// quote shows a value from a request in a message, shortened.
func quote(v string) string {
	return `"` + strings.ReplaceAll(reins.Shorten(v, 60), `"`, `\"`) + `"`
}
