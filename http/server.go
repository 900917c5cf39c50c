// Package http serves the Reins REST API: the old service's endpoints, kept exactly, and the
// additive ones (job detail, result download, docs, health).
package http

import (
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
	"github.com/reins-dev/reins/upload"
)

// Server is the API's http.Handler.
type Server struct {
	engine   *engine.Engine
	blob     *blob.Store
	receiver *upload.Receiver
	log      *slog.Logger
	mux      *http.ServeMux
	broker   *broker
	metrics  *metrics.Metrics
	// heartbeat is how often an idle event stream sends a comment.
	heartbeat time.Duration
}

// NewServer returns the API server over the engine and the blob store.
func NewServer(e *engine.Engine, b *blob.Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{engine: e, blob: b, log: log, mux: http.NewServeMux(),
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
	s.route("/api/v1/docs", s.handleDocs, reads, http.MethodGet)
	s.route("/api/v1/jobs/{job_id}/events", s.handleJobEvents, reads, http.MethodGet)
	s.route("/api/v1/events", s.handleEvents, reads, http.MethodGet)
	s.route("/metrics", s.handleMetrics, reads, http.MethodGet)
	s.broker = newBroker(s)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, reins.Errorf(reins.ENOTFOUND, "no endpoint at %s", r.URL.Path))
	})
	return s
}

// Shutdown ends the live event streams (which never end on their own) and stops delivering
// events, so a graceful shutdown of the HTTP server does not wait for them: register it with
// http.Server.RegisterOnShutdown.
func (s *Server) Shutdown() { s.broker.close() }

// Whether an endpoint's GET only reads, so HEAD may be served by it.
const (
	reads  = true
	writes = false
)

// route registers h at exactly path, with and without a trailing slash (and nothing below
// it), answering a method that is not allowed with a JSON 405 (the mux's own answer is
// plain text).
func (s *Server) route(path string, h http.HandlerFunc, headOK bool, methods ...string) {
	if headOK && slices.Contains(methods, http.MethodGet) {
		methods = append(methods, http.MethodHead)
	}
	allowed := strings.Join(methods, ", ")
	handler := func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(methods, r.Method) {
			h(w, r)
			return
		}
		w.Header().Set("Allow", allowed)
		s.error(w, r, reins.Errorf(reins.EMETHOD, "method %s is not allowed on %s; use %s", r.Method, r.URL.Path, allowed))
	}
	s.mux.HandleFunc(path, handler)
	s.mux.HandleFunc(path+"/{$}", handler)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &statusRecorder{ResponseWriter: rw}
	defer func() {
		s.metrics.RequestServed(routeOf(r), r.Method, w.status())
	}()
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("reins: panic in handler", "path", r.URL.Path, "panic", v)
			s.error(w, r, reins.Errorf(reins.EINTERNAL, "internal error"))
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// statusOf maps each error code to its HTTP status: the one place that does.
var statusOf = map[string]int{
	reins.EINVALID:     http.StatusBadRequest,
	reins.ENOTFOUND:    http.StatusNotFound,
	reins.ECONFLICT:    http.StatusConflict,
	reins.EGONE:        http.StatusGone,
	reins.EUNSUPPORTED: http.StatusUnsupportedMediaType,
	reins.EMETHOD:      http.StatusMethodNotAllowed,
	reins.EUNAVAILABLE: http.StatusServiceUnavailable,
	reins.EFENCED:      http.StatusConflict,
	reins.EBUSY:        http.StatusConflict,
	reins.ETOOLARGE:    http.StatusRequestEntityTooLarge,
	reins.EINTERNAL:    http.StatusInternalServerError,
}

// error writes err as {"error_message": ...} with its code's status. Only internal errors
// are logged as errors.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	code := reins.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if code == reins.EINTERNAL {
		s.log.Error("reins: internal error", "method", r.Method, "path", r.URL.Path, "error", err)
	} else if code == reins.EUNAVAILABLE {
		s.log.Warn("reins: database unavailable", "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error_message": reins.ErrorMessage(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
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
		job, err = s.engine.Job(r.Context(), id)
	}
	if err == nil && job.Owner != s.owner(r) {
		// Another tenant's job does not exist for this caller.
		err = reins.Errorf(reins.ENOTFOUND, "no job %s", id)
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
	return reins.DefaultOwner
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
