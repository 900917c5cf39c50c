package http

import (
	_ "embed"
	"net/http"
)

//go:embed docs.html
var docsHTML []byte

// handleDocs serves the human API documentation: one self-contained page, no CDN.
func (s *Server) handleDocs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(docsHTML)
}
