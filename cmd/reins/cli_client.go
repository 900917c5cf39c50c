package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// apiClient talks to a Reins server over its HTTP API (docs/cli.md lists what it calls).
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

// apiError is a failed exchange with the server: its status and error_message, or why the
// server could not be reached.
type apiError struct {
	Status  int // 0 when the server was not reached
	Message string
}

func (e *apiError) Error() string {
	if e.Status == 0 {
		return e.Message
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// isNotFound reports whether err is the server's 404.
func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

func newAPIClient(server, token string) (*apiClient, error) {
	u, err := url.Parse(strings.TrimSpace(server))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server must be an http:// or https:// URL, got %q", server)
	}
	// No overall timeout: downloads, uploads and event streams last as long as the job.
	return &apiClient{base: strings.TrimRight(u.String(), "/"), token: token, http: &http.Client{}}, nil
}

// request makes a request for path (which may carry a query) with the token set.
func (c *apiClient) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "reins-cli")
	return req, nil
}

// send performs req and returns the response when it is a 2xx; otherwise an apiError with
// the server's error_message.
func (c *apiClient) send(req *http.Request) (*http.Response, error) {
	res, err := c.http.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, &apiError{Message: fmt.Sprintf("cannot reach the server at %s: %v (set --server or REINS_SERVER)", c.base, unwrapURLError(err))}
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return res, nil
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var e struct {
		Message string `json:"error_message"`
	}
	msg := ""
	if json.Unmarshal(raw, &e) == nil && e.Message != "" {
		msg = e.Message
	} else {
		msg = strings.TrimSpace(string(raw))
		if msg == "" {
			msg = res.Status
		}
		msg = req.Method + " " + req.URL.Path + ": " + msg
	}
	return nil, &apiError{Status: res.StatusCode, Message: msg}
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// call sends a request and decodes a JSON answer into out (when not nil); raw is the body.
func (c *apiClient) call(ctx context.Context, method, path string, body io.Reader, contentType string, out any) (raw []byte, err error) {
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err = io.ReadAll(res.Body)
	if err != nil {
		return nil, &apiError{Message: fmt.Sprintf("%s %s: reading the answer: %v", method, path, err)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, &apiError{Status: res.StatusCode, Message: fmt.Sprintf("%s %s: the answer is not the JSON expected: %v", method, path, err)}
		}
	}
	return raw, nil
}

func (c *apiClient) postForm(ctx context.Context, path string, form url.Values, out any) ([]byte, error) {
	return c.call(ctx, http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", out)
}

// job is a job as the API shows it, the fields the client reads. Raw keeps the whole
// object for --json.
type job struct {
	JobID     string `json:"job_id"`
	JobType   string `json:"job_type"`
	JobStatus string `json:"job_status"`
	Progress  struct {
		Done     int64    `json:"done"`
		Total    *int64   `json:"total"`
		Percent  *float64 `json:"percent"`
		RatePerS *float64 `json:"rate_per_s"`
		ETA      *float64 `json:"eta_s"`
	} `json:"progress"`
	Transfer *struct {
		State         string `json:"state"`
		FileName      string `json:"file_name"`
		BytesReceived int64  `json:"bytes_received"`
		BytesTotal    *int64 `json:"bytes_total"`
	} `json:"transfer"`
	Error  *string `json:"error"`
	Result *struct {
		URL string `json:"url"`
	} `json:"result"`
	CreatedAt     string  `json:"created_at"`
	FinishedAt    *string `json:"finished_at"`
	Skipped       int64   `json:"skipped"`
	EstimatedRows *int64  `json:"estimated_rows"`
	Errors        []struct {
		Line   int    `json:"line"`
		Column string `json:"column"`
		Reason string `json:"reason"`
	} `json:"errors"`
	History []struct {
		At     string `json:"at"`
		From   string `json:"from"`
		To     string `json:"to"`
		Actor  string `json:"actor"`
		Detail string `json:"detail"`
	} `json:"history"`
	Run *struct {
		Worker string `json:"worker"`
	} `json:"run"`
	Warnings []string `json:"warnings"`

	Raw json.RawMessage `json:"-"`
}

// terminal reports whether the job can change no more.
func (j *job) terminal() bool { return terminalStatus(j.JobStatus) }

func terminalStatus(s string) bool { return s == "COMPLETED" || s == "FAILED" || s == "REVOKED" }

func decodeJob(raw []byte) (*job, error) {
	j := &job{}
	if err := json.Unmarshal(raw, j); err != nil {
		return nil, err
	}
	if j.JobID == "" {
		return nil, fmt.Errorf("no job_id in %s", shorten(string(raw), 200))
	}
	j.Raw = append(json.RawMessage(nil), raw...)
	return j, nil
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// getJob returns GET job-status (detail=false) or GET jobs/{id} (detail=true, with history).
func (c *apiClient) getJob(ctx context.Context, id string, detail bool) (*job, error) {
	path := "/api/v1/job-status/" + url.PathEscape(id) + "/"
	if detail {
		path = "/api/v1/jobs/" + url.PathEscape(id)
	}
	raw, err := c.call(ctx, http.MethodGet, path, nil, "", nil)
	if err != nil {
		return nil, err
	}
	j, err := decodeJob(raw)
	if err != nil {
		return nil, &apiError{Status: http.StatusOK, Message: fmt.Sprintf("GET %s: %v", path, err)}
	}
	return j, nil
}

// command POSTs status=cmd (PAUSE, RESUME, REVOKE, CONFIRM) and returns the answer.
func (c *apiClient) command(ctx context.Context, id, cmd string) (*job, error) {
	path := "/api/v1/job-status/" + url.PathEscape(id) + "/"
	raw, err := c.postForm(ctx, path, url.Values{"status": {cmd}}, nil)
	if err != nil {
		return nil, err
	}
	j, err := decodeJob(raw)
	if err != nil {
		return nil, &apiError{Status: http.StatusOK, Message: fmt.Sprintf("POST %s: %v", path, err)}
	}
	return j, nil
}

// pollInterval is how often the client asks a server without an event stream.
const pollInterval = 500 * time.Millisecond

// follow calls seen with the job's state as it changes, until the job is terminal (the
// last state seen is returned) or ctx ends. It reads the job's event stream, reconnecting
// with Last-Event-ID when the stream drops; a server without the stream (404 for the
// stream while the job exists) is polled instead.
func (c *apiClient) follow(ctx context.Context, id string, seen func(*job)) (*job, error) {
	var last *job
	lastID := ""
	failures := 0
	for {
		err := c.stream(ctx, id, &lastID, func(j *job) {
			last = j
			failures = 0
			seen(j)
		})
		if last != nil && last.terminal() {
			return last, nil
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if isNotFound(err) {
			// Either the job does not exist or the server has no event stream: the job's
			// own status says which.
			if _, jerr := c.getJob(ctx, id, false); jerr != nil {
				return last, jerr
			}
			return c.poll(ctx, id, last, seen)
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
			return last, err
		}
		failures++
		if failures > 5 {
			if err == nil {
				err = errors.New("the event stream keeps ending before the job does")
			}
			return last, err
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(time.Duration(failures) * pollInterval): // back off before reconnecting
		}
	}
}

// poll follows a job through GET job-status, for servers without the event stream.
func (c *apiClient) poll(ctx context.Context, id string, last *job, seen func(*job)) (*job, error) {
	var lastRaw string
	if last != nil {
		lastRaw = string(last.Raw)
	}
	for {
		j, err := c.getJob(ctx, id, false)
		if err != nil {
			return last, err
		}
		if string(j.Raw) != lastRaw {
			last, lastRaw = j, string(j.Raw)
			seen(j)
		}
		if j.terminal() {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// stream reads GET /api/v1/jobs/{id}/events until it ends, calling seen for each status or
// progress event; *lastID tracks the last event id for a reconnect.
func (c *apiClient) stream(ctx context.Context, id string, lastID *string, seen func(*job)) error {
	req, err := c.request(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id)+"/events", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	res, err := c.send(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		// Something answered 2xx that is not the stream (an old server's fallback page).
		return &apiError{Status: http.StatusNotFound, Message: "no event stream at " + req.URL.Path}
	}
	return readEvents(res.Body, func(e streamEvent) error {
		if e.ID != "" {
			*lastID = e.ID
		}
		if e.Event != "status" && e.Event != "progress" && e.Event != "" {
			return nil
		}
		j, err := decodeJob([]byte(e.Data))
		if err != nil {
			return fmt.Errorf("event %s: %v", e.ID, err)
		}
		seen(j)
		return nil
	})
}

// streamEvent is one Server-Sent Event.
type streamEvent struct {
	ID, Event, Data string
}

// readEvents parses a text/event-stream body (the WHATWG format: field lines, a blank line
// ends an event, lines starting with ':' are comments) and calls fn per event.
func readEvents(r io.Reader, fn func(streamEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var e streamEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(data) > 0 {
				e.Data = strings.Join(data, "\n")
				if err := fn(e); err != nil {
					return err
				}
			}
			e, data = streamEvent{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			e.ID = value
		case "event":
			e.Event = value
		case "data":
			data = append(data, value)
		}
	}
	return sc.Err()
}

// listQuery is the query of GET /api/v1/jobs.
func listQuery(statuses []string, jobType string, limit int, cursor string) string {
	q := url.Values{}
	for _, s := range statuses {
		q.Add("status", s)
	}
	if jobType != "" {
		q.Set("type", jobType)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return q.Encode()
}
