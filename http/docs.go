package http

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/reins-dev/reins"
)

// OpenAPIYAML is the API's OpenAPI 3.1 document, the source of truth for every endpoint
// (docs/api.md): tests validate real requests and answers against it.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// openAPIJSON is OpenAPIYAML as JSON, converted once.
var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(OpenAPIYAML, &v); err != nil {
		return nil, fmt.Errorf("http/openapi.yaml: %w", err)
	}
	return json.Marshal(v)
})

// docsUI is the documentation viewer (Swagger UI, vendored; see docsui/README.md).
//
//go:embed docsui/index.html docsui/init.js docsui/swagger-ui-bundle.js docsui/swagger-ui.css docsui/favicon-32x32.png
var docsUI embed.FS

// docsCSP keeps the documentation page on this server: a browser refuses anything it
// would load from another host.
const docsCSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'self'"

// started is when the documents were last changed, as far as caches are concerned.
var started = time.Now()

func (s *Server) handleOpenAPIJSON(w http.ResponseWriter, r *http.Request) {
	doc, err := openAPIJSON()
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	http.ServeContent(w, r, "", started, bytes.NewReader(doc))
}

func (s *Server) handleOpenAPIYAML(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	http.ServeContent(w, r, "", started, bytes.NewReader(OpenAPIYAML))
}

// handleDocs serves the documentation page, which renders the OpenAPI document.
func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) {
	s.serveDocsFile(w, r, "index.html")
}

// handleDocsAsset serves the page's scripts and styles.
func (s *Server) handleDocsAsset(w http.ResponseWriter, r *http.Request) {
	s.serveDocsFile(w, r, r.PathValue("asset"))
}

var docsTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".png":  "image/png",
}

func (s *Server) serveDocsFile(w http.ResponseWriter, r *http.Request, name string) {
	body, err := docsUI.ReadFile("docsui/" + name)
	if err != nil || path.Base(name) != name {
		s.error(w, r, reins.Errorf(reins.ENOTFOUND, "no documentation file %s", quote(name)))
		return
	}
	w.Header().Set("Content-Type", docsTypes[path.Ext(name)])
	w.Header().Set("Content-Security-Policy", docsCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", started, bytes.NewReader(body))
}
