package http

import (
	"io"
	"net/http"
	"strings"

	"github.com/reins-dev/reins/metrics"
)

// UseMetrics makes the server record its requests, commands and uploads in m and serve m
// at /metrics, in place of metrics of its own: a process shares one with its engine.
func (s *Server) UseMetrics(m *metrics.Metrics) { s.metrics = m }

// handleMetrics serves GET /metrics in the Prometheus text format.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.Handler().ServeHTTP(w, r)
}

// routeOf names the route pattern that served r, as registered (without the trailing-slash
// twin), so the request metric has one series per endpoint rather than per job id.
func routeOf(r *http.Request) string {
	if r.Pattern == "" {
		return "unmatched"
	}
	route := strings.TrimSuffix(r.Pattern, "/{$}")
	if route == "" {
		return "/"
	}
	return route
}

// statusRecorder remembers the status code a handler wrote. Unwrap lets
// http.ResponseController reach the connection (flushes, deadlines).
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// countingReader counts the bytes of an upload as the receiver reads them.
type countingReader struct {
	r io.Reader
	m *metrics.Metrics
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.m.UploadReceived(int64(n))
	return n, err
}
