// Package http serves the Reins REST API: the old service's endpoints, kept exactly, and the
// additive ones (job detail, result download, docs, health).
package http

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/engine"
	"github.com/reins-dev/reins/metrics"
	"github.com/reins-dev/reins/ui"
	"github.com/reins-dev/reins/upload"
)

// Server is the API's http.Handler.
type Server struct {
	engine   *engine.Engine
	blob     *blob.Store
	receiver *upload.Receiver
	log      *slog.Logger
	mux      *http.ServeMux
	// routes are the endpoints registered with route, for the route-walk test.
	routes []Route
	guard
	broker  *broker
	metrics *metrics.Metrics
	// heartbeat is how often an idle event stream sends a comment.
	heartbeat time.Duration
}

// Route is one registered endpoint: its path pattern (as http.ServeMux has it, without the
// trailing-slash twin) and the methods it answers.
type Route struct {
	Pattern string
	Methods []string
}

// Routes lists every endpoint the server registered, in registration order.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// NewServer returns the API server over the engine and the blob store.
func NewServer(e *engine.Engine, b *blob.Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{engine: e, blob: b, log: log, mux: http.NewServeMux(), guard: newGuard(),
		metrics: metrics.New(e.Store(), e.Kinds().Types(), log), heartbeat: heartbeatInterval}
	s.receiver = &upload.Receiver{Engine: e, Blob: b, MaxPause: time.Hour, IdleTimeout: 2 * time.Minute,
		PollInterval: time.Second, ProgressInterval: 250 * time.Millisecond, Logger: log}
	// The old API's GETs create jobs (new-job, export): HEAD is served only where GET
	// merely reads.
	s.route("/healthz", s.handleHealth, reads, http.MethodGet)
	s.route("/readyz", s.handleReady, reads, http.MethodGet)
	s.route("/api/v1/new-job", s.handleNewJob, writes, http.MethodGet, http.MethodPost)
	s.route("/api/v1/job-status/{job_id}", s.handleJobStatus, reads, http.MethodGet, http.MethodPost)
	s.route("/api/v1/export", s.handleExport, writes, http.MethodGet)
	s.route("/api/v1/upload", s.handleUpload, writes, http.MethodPost)
	s.route("/api/v1/jobs", s.handleListJobs, reads, http.MethodGet)
	s.route("/api/v1/jobs/summary", s.handleSummary, reads, http.MethodGet)
	s.route("/api/v1/jobs/{job_id}", s.handleJobDetail, reads, http.MethodGet)
	s.route("/api/v1/jobs/{job_id}/result", s.handleResult, reads, http.MethodGet)
	s.route("/api/v1/jobs/{job_id}/restart", s.handleRestart, writes, http.MethodPost)
	s.route("/api/v1/docs", s.handleDocs, reads, http.MethodGet)
	s.route("/api/v1/docs/{asset}", s.handleDocsAsset, reads, http.MethodGet)
	s.route("/api/v1/openapi.json", s.handleOpenAPIJSON, reads, http.MethodGet)
	s.route("/api/v1/openapi.yaml", s.handleOpenAPIYAML, reads, http.MethodGet)
	s.route("/api/v1/jobs/{job_id}/events", s.handleJobEvents, streams, http.MethodGet)
	s.route("/api/v1/events", s.handleEvents, streams, http.MethodGet)
	s.route("/metrics", s.handleMetrics, streams, http.MethodGet)
	s.broker = newBroker(s)
	// The dashboard (docs/dashboard.md): its page at / only, its files under /ui/.
	s.mux.Handle("GET /{$}", ui.Index())
	s.mux.Handle("GET /ui/", ui.Assets())
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, reins.Errorf(reins.ENOTFOUND, "no endpoint at %s", r.URL.Path))
	})
	return s
}

// Shutdown ends the live event streams (which never end on their own) and stops delivering
// events, so a graceful shutdown of the HTTP server does not wait for them: register it with
// http.Server.RegisterOnShutdown.
func (s *Server) Shutdown() { s.broker.close() }

// access says what an endpoint's GET does, which decides HEAD and the cross-site check.
type access int

const (
	// reads: the GET only reads, so HEAD is served too.
	reads access = iota
	// writes: the GET creates a job (the old API), so a browser's cross-site GET is refused.
	writes
	// streams: a GET that streams until the client leaves (events) or is scraped
	// (metrics): no HEAD, which would only hold a connection open for nothing.
	streams
)

// route registers h at exactly path, with and without a trailing slash (and nothing below
// it), answering a method that is not allowed with a JSON 405 (the mux's own answer is
// plain text).
func (s *Server) route(path string, h http.HandlerFunc, a access, methods ...string) {
	if a == reads && slices.Contains(methods, http.MethodGet) {
		methods = append(methods, http.MethodHead)
	}
	allowed := strings.Join(methods, ", ")
	s.routes = append(s.routes, Route{Pattern: path, Methods: slices.Clone(methods)})
	handler := func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(methods, r.Method) {
			if a == writes && s.refuseCrossSiteGET(w, r) {
				return
			}
			h(w, r)
			return
		}
		w.Header().Set("Allow", allowed)
		s.error(w, r, reins.Errorf(reins.EMETHOD, "method %s is not allowed on %s; use %s", r.Method, r.URL.Path, allowed))
	}
	s.mux.HandleFunc(path, handler)
	s.mux.HandleFunc(path+"/{$}", handler)
}

// ServeHTTP implements http.Handler. Every request gets a request id (the client's
// X-Request-Id when it is sane), returned as X-Request-Id, and one access-log line.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", id)
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	rec := &recorder{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("reins: panic in handler", "path", r.URL.Path, "panic", v, "request_id", id)
			s.error(rec, r, reins.Errorf(reins.EINTERNAL, "internal error"))
		}
		// The mux set r.Pattern and the path values on r as it matched.
		attrs := []slog.Attr{slog.String("method", r.Method), slog.String("route", routeOf(r.Pattern)),
			slog.Int("status", rec.status()), slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes", rec.bytes), slog.String("request_id", id)}
		if job := cmp.Or(r.PathValue("job_id"), r.URL.Query().Get("job_id")); job != "" {
			attrs = append(attrs, slog.String("job_id", reins.Shorten(job, 40)))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "reins: request", attrs...)
		s.metrics.RequestServed(routeOf(r.Pattern), r.Method, rec.status())
	}()
	// The tenant's request replaces r, so the access log sees what the mux matched.
	protected, ok := s.protect(rec, r)
	if !ok {
		return
	}
	r = protected
	s.mux.ServeHTTP(rec, r)
}

// routeOf is the route a mux pattern stands for: its path without the trailing-slash twin's
// "/{$}", or "unmatched".
func routeOf(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if p := strings.TrimSuffix(pattern, "/{$}"); p != "" {
		return p
	}
	return "/"
}

type requestIDKey struct{}

// RequestID is the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID keeps a client's request id when it is sane (1 to 128 letters, digits and
// ._:- ), so a proxy's id follows the request, and makes a new one otherwise.
func requestID(given string) string {
	if len(given) >= 1 && len(given) <= 128 && strings.IndexFunc(given, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:-", c))
	}) < 0 {
		return given
	}
	return uuid.NewString()
}

// recorder notes the status and size of an answer for the access log. It passes Flush on
// (event streams) and unwraps for http.ResponseController (upload deadlines).
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (rec *recorder) WriteHeader(code int) {
	if rec.code == 0 {
		rec.code = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	return n, err
}

func (rec *recorder) Flush() {
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	_ = http.NewResponseController(rec.ResponseWriter).Flush() // as http.Flusher: nothing to do on failure
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

func (rec *recorder) status() int {
	if rec.code == 0 {
		return http.StatusOK
	}
	return rec.code
}

// statusOf maps each error code to its HTTP status: the one place that does.
var statusOf = map[string]int{
	reins.EINVALID:      http.StatusBadRequest,
	reins.ENOTFOUND:     http.StatusNotFound,
	reins.ECONFLICT:     http.StatusConflict,
	reins.EGONE:         http.StatusGone,
	reins.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	reins.EMETHOD:       http.StatusMethodNotAllowed,
	reins.EUNAVAILABLE:  http.StatusServiceUnavailable,
	reins.EFENCED:       http.StatusConflict,
	reins.EBUSY:         http.StatusConflict,
	reins.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	reins.EINTERNAL:     http.StatusInternalServerError,
	reins.EUNAUTHORIZED: http.StatusUnauthorized,
	reins.EFORBIDDEN:    http.StatusForbidden,
	reins.ETOOMANY:      http.StatusTooManyRequests,
}

// statusClientClosed is the access log's status for a request its client abandoned (no
// client sees it), as nginx logs it.
const statusClientClosed = 499

// error writes err as {"error_message": ...} with its code's status. Only internal errors
// are logged as errors.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	code := reins.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	gone := r.Context().Err() != nil && (code == reins.EINTERNAL || code == reins.EUNAVAILABLE)
	switch {
	case gone:
		// The client went away (or the server is shutting down): what failed was waiting
		// for it, not Reins. Nobody reads this answer.
		s.log.Info("reins: request ended by the client", "method", r.Method, "path", r.URL.Path,
			"request_id", RequestID(r.Context()), "error", err)
		status = statusClientClosed
	case code == reins.EINTERNAL:
		s.log.Error("reins: internal error", "method", r.Method, "path", r.URL.Path,
			"request_id", RequestID(r.Context()), "error", err)
	case code == reins.EUNAVAILABLE:
		s.log.Warn("reins: database unavailable", "path", r.URL.Path, "request_id", RequestID(r.Context()), "error", err)
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error_message": reins.ErrorMessage(err)})
}

// writeJSON writes v as the answer's JSON body, a line. A job (jobJSON) is written as the
// bytes its MarshalJSON makes: they come from json.Marshal, compact and HTML-escaped already,
// which an Encoder would check and compact once more (6% of the server time of a
// job-status answer in its profile). TestWriteJobJSON holds the two to the same bytes.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if j, ok := v.(jobJSON); ok {
		if b, err := j.MarshalJSON(); err == nil {
			_, _ = w.Write(append(b, '\n'))
			return
		}
	}
	_ = json.NewEncoder(w).Encode(v)
}

// jobID parses the {job_id} path value; a malformed id is a job that does not exist.
func jobID(r *http.Request) (uuid.UUID, error) {
	raw := r.PathValue("job_id")
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, reins.Errorf(reins.ENOTFOUND, "job %s not found: a job id is a UUID", quote(raw))
	}
	return id, nil
}

// handleHealth is liveness: the process serves, and it migrated the database at start (it
// serves nothing before). It does not fail while the database is away, so an orchestrator
// does not restart processes that would only wait for it.
// loadJob reads the {job_id} path value's job, answering the error itself when there is
// none; ok reports whether the handler may go on.
func (s *Server) loadJob(w http.ResponseWriter, r *http.Request) (job *reins.Job, ok bool) {
	id, err := jobID(r)
	if err == nil {
		job, err = s.ownJob(r, id)
	}
	if err != nil {
		s.error(w, r, err)
		return nil, false
	}
	return job, true
}

// owner is the tenant a request acts for: every job it creates belongs to it, and it sees
// only its own jobs. Without API tokens every request acts for reins.DefaultOwner.
func (s *Server) owner(r *http.Request) string {
	return tenantOf(r)
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady is readiness: the database answers now.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.engine.Store().Ping(ctx); err != nil {
		s.error(w, r, reins.Errorf(reins.EUNAVAILABLE, "the database is unreachable: %s", reins.ErrorMessage(err)))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
