package http

import (
	"io"
	"net/http"

	"github.com/reins-dev/reins/metrics"
)

// UseMetrics makes the server record its requests, commands and uploads in m and serve m
// at /metrics, in place of metrics of its own: a process shares one with its engine.
func (s *Server) UseMetrics(m *metrics.Metrics) { s.metrics = m }

// handleMetrics serves GET /metrics in the Prometheus text format.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.Handler().ServeHTTP(w, r)
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
