package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// client drives the Reins API over HTTP.
type client struct {
	base string
	hc   *http.Client
}

func newClient(base string) *client {
	// Requests are bounded by their contexts; uploads may take long.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	return &client{base: base, hc: &http.Client{Transport: tr}}
}

// jobStatus is the part of a job-status answer (or a command's answer) the benchmark reads.
type jobStatus struct {
	JobID     string `json:"job_id"`
	JobStatus string `json:"job_status"`
	Progress  struct {
		Done  int64  `json:"done"`
		Total *int64 `json:"total"`
	} `json:"progress"`
	Error    *string `json:"error"`
	Transfer *struct {
		State         string `json:"state"`
		BytesReceived int64  `json:"bytes_received"`
	} `json:"transfer"`
}

// apiError is a non-2xx answer.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// requestTimeout bounds every request but uploads and downloads.
const requestTimeout = 30 * time.Second

func (c *client) do(ctx context.Context, method, path string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"error_message"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
		}
		return fmt.Errorf("%s %s: %w", method, path, &apiError{Status: resp.StatusCode, Message: e.Message})
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
		}
	}
	return nil
}

func (c *client) call(ctx context.Context, method, path string, body io.Reader, contentType string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return c.do(ctx, method, path, body, contentType, out)
}

// export starts an export of every demo customer; maxRate 0 means unthrottled.
func (c *client) export(ctx context.Context, maxRate int) (string, error) {
	return c.exportRange(ctx, fullRange, maxRate)
}

// exportRange starts an export of the customers created in r; maxRate 0 means unthrottled.
func (c *client) exportRange(ctx context.Context, r dateRange, maxRate int) (string, error) {
	q := url.Values{"date_gte": {r.gte}, "date_lte": {r.lte}}
	if maxRate > 0 {
		q.Set("max_rows_per_s", fmt.Sprint(maxRate))
	}
	var out jobStatus
	if err := c.call(ctx, http.MethodGet, "/api/v1/export/?"+q.Encode(), nil, "", &out); err != nil {
		return "", err
	}
	return out.JobID, nil
}

// newImport creates an import job waiting for its upload; maxRate 0 means unthrottled.
func (c *client) newImport(ctx context.Context, maxRate int) (string, error) {
	path := "/api/v1/new-job/"
	if maxRate > 0 {
		path += "?max_rows_per_s=" + fmt.Sprint(maxRate)
	}
	var out jobStatus
	if err := c.call(ctx, http.MethodGet, path, nil, "", &out); err != nil {
		return "", err
	}
	return out.JobID, nil
}

func (c *client) status(ctx context.Context, id string) (jobStatus, error) {
	var out jobStatus
	err := c.call(ctx, http.MethodGet, "/api/v1/job-status/"+id, nil, "", &out)
	return out, err
}

// command POSTs PAUSE, RESUME or REVOKE and returns the answer.
func (c *client) command(ctx context.Context, id, cmd string) (jobStatus, error) {
	var out jobStatus
	body := url.Values{"status": {cmd}}.Encode()
	err := c.call(ctx, http.MethodPost, "/api/v1/job-status/"+id, strings.NewReader(body),
		"application/x-www-form-urlencoded", &out)
	return out, err
}

// upload streams the file at path into the import job as the multipart field "file",
// without holding it in memory.
func (c *client) upload(ctx context.Context, id, path string, timeout time.Duration) error {
	return c.uploadPaced(ctx, id, path, timeout, nil)
}

// uploadPaced is upload with the file read through pace, when it is not nil (a slow client).
func (c *client) uploadPaced(ctx context.Context, id, path string, timeout time.Duration, pace *pacer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var src io.Reader = f
	if pace != nil {
		src = pace.reader(ctx, f)
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", filepath.Base(path))
		if err == nil {
			_, err = io.Copy(part, src)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close() // unblocks the writer if the request fails early
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.do(ctx, http.MethodPost, "/api/v1/upload/?job_id="+url.QueryEscape(id), pr, mw.FormDataContentType(), nil)
}

// download saves the export's result to dst and returns its size and SHA-256.
func (c *client) download(ctx context.Context, id, dst string, timeout time.Duration) (int64, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/jobs/"+id+"/result", nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, "", fmt.Errorf("download result of %s: HTTP %d: %s", id, resp.StatusCode, raw)
	}
	f, err := os.Create(dst)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("download result of %s: %w", id, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return 0, "", fmt.Errorf("download result of %s: got %d bytes of %d", id, n, resp.ContentLength)
	}
	return n, hex.EncodeToString(h.Sum(nil)), f.Close()
}

// pollEvery is how often waits poll job-status.
const pollEvery = 10 * time.Millisecond

// wait polls the job every pollEvery until done reports true, failing when the job ends
// otherwise (FAILED, REVOKED) or timeout passes.
func (c *client) wait(ctx context.Context, id string, timeout time.Duration, what string, done func(jobStatus) bool) (jobStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		st, err := c.status(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return st, fmt.Errorf("job %s: no %s within %s: %w", id, what, timeout, err)
			}
			return st, err
		}
		if done(st) {
			return st, nil
		}
		if err := endedBefore(id, what, st); err != nil {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("job %s: no %s within %s (last %s, done %d)", id, what, timeout, st.JobStatus, st.Progress.Done)
		case <-tick.C:
		}
	}
}

// endedBefore is the error for a job that ended (FAILED, REVOKED, or COMPLETED when that
// was not what the wait was for) before what a wait waited for, or nil while it has not.
func endedBefore(id, what string, st jobStatus) error {
	switch st.JobStatus {
	case "FAILED", "REVOKED", "COMPLETED":
		msg := ""
		if st.Error != nil {
			msg = ": " + *st.Error
		}
		return fmt.Errorf("job %s ended %s%s while waiting for %s", id, st.JobStatus, msg, what)
	}
	return nil
}

// waitCompleted follows the job's event stream until it is COMPLETED. The stream tells the
// moment the job completes (polling every pollEvery would add up to that to every timed
// figure) and asks the server for nothing while the job works, where polling would send it
// 100 job-status requests a second to serve beside the job being timed.
func (c *client) waitCompleted(ctx context.Context, id string, timeout time.Duration) (jobStatus, error) {
	return c.follow(ctx, id, timeout, "COMPLETED", func(st jobStatus) bool { return st.JobStatus == "COMPLETED" })
}

// follow reads the job's event stream (GET /api/v1/jobs/{id}/events, docs/events.md) until
// an event's job satisfies done, failing when the job ends otherwise, the stream ends first,
// or timeout passes.
func (c *client) follow(ctx context.Context, id string, timeout time.Duration, what string, done func(jobStatus) bool) (jobStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var st jobStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/jobs/"+id+"/events", nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return st, fmt.Errorf("job %s: follow its events: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return st, fmt.Errorf("job %s: follow its events: HTTP %d: %s", id, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 64<<10), 4<<20)
	for lines.Scan() {
		data, ok := strings.CutPrefix(lines.Text(), "data: ")
		if !ok {
			continue
		}
		if err := json.Unmarshal([]byte(data), &st); err != nil {
			return st, fmt.Errorf("job %s: decode event %q: %w", id, data, err)
		}
		if done(st) {
			return st, nil
		}
		if err := endedBefore(id, what, st); err != nil {
			return st, err
		}
	}
	if ctx.Err() != nil {
		return st, fmt.Errorf("job %s: no %s within %s (last %s, done %d)", id, what, timeout, st.JobStatus, st.Progress.Done)
	}
	return st, fmt.Errorf("job %s: its event stream ended before %s (last %s, done %d): %v", id, what, st.JobStatus, st.Progress.Done, lines.Err())
}

// dateRange is an export's date_gte and date_lte (both inclusive, whole days) and the
// half-open created_at range they mean, as csvexport turns them into SQL.
type dateRange struct {
	gte, lte   string // YYYY-MM-DD
	from, upTo string // created_at >= from AND created_at < upTo (RFC 3339, UTC)
}

// fullRange holds every demo customer (demo.First..demo.Last).
var fullRange = dateRange{gte: "2015-01-01", lte: "2024-12-31", from: "2015-01-01T00:00:00Z", upTo: "2025-01-01T00:00:00Z"}

// fifthRange is two of the demo customers' ten years: 20% of them, spread evenly.
var fifthRange = dateRange{gte: "2019-01-01", lte: "2020-12-31", from: "2019-01-01T00:00:00Z", upTo: "2021-01-01T00:00:00Z"}

// pacer slows a reader to about rate bytes a second, in chunks, until it is released: an
// upload that lasts long enough to be paused during its transfer.
type pacer struct {
	rate     int64
	released atomic.Bool
}

func (p *pacer) reader(ctx context.Context, r io.Reader) io.Reader {
	return &pacedReader{ctx: ctx, p: p, r: r}
}

type pacedReader struct {
	ctx context.Context
	p   *pacer
	r   io.Reader
}

const paceChunk = 16 << 10

func (pr *pacedReader) Read(b []byte) (int, error) {
	if pr.p.released.Load() {
		return pr.r.Read(b)
	}
	if len(b) > paceChunk {
		b = b[:paceChunk]
	}
	n, err := pr.r.Read(b)
	if n > 0 {
		if serr := sleep(pr.ctx, time.Duration(int64(n)*int64(time.Second)/max(1, pr.p.rate))); serr != nil {
			return n, serr
		}
	}
	return n, err
}
