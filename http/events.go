package http

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// Live events (Server-Sent Events). Every process reads each changed job once (the broker)
// and hands the job's JSON to the streams that show it; a stream writes it as an event.
// docs/events.md describes the stream as clients see it.
const (
	// heartbeatInterval is how often an idle stream sends a comment, so proxies keep it.
	heartbeatInterval = 15 * time.Second
	// progressInterval is the least time between two progress events of one job; status
	// changes go out at once.
	progressInterval = 250 * time.Millisecond
	// recentlyFinished is how long a finished job stays in the first events of /events.
	recentlyFinished = time.Minute
	// snapshotLimit bounds each of the two reads of /events' first events (running jobs,
	// recently finished ones).
	snapshotLimit = 1000
	// streamBuffer is how many events a stream may fall behind before it is resynchronised
	// (sent the current state again) rather than slowing the broker.
	streamBuffer = 64
)

// jobEvent is a job as one read saw it, rendered once for every stream.
type jobEvent struct {
	// seq orders reads: it is taken before the read, so a read with a higher seq saw the
	// job at least as new as one with a lower seq.
	seq  int64
	job  *reins.Job
	data []byte
}

// broker fans job changes out to the streams of this process.
type broker struct {
	server *Server

	mu      sync.Mutex
	streams map[*stream]struct{}
	lastSeq int64

	done      chan struct{}
	closeOnce sync.Once
	stopped   chan struct{}
}

// stream is one client's event stream: one job's, or every job of a tenant's.
type stream struct {
	jobID  uuid.UUID // uuid.Nil: every job of owner
	owner  string
	events chan jobEvent
	// resync asks the stream to send the current state again: events were dropped for it,
	// or may have been missed.
	resync chan struct{}
}

func newBroker(s *Server) *broker {
	b := &broker{server: s, streams: map[*stream]struct{}{}, done: make(chan struct{}), stopped: make(chan struct{})}
	w, stop := s.engine.Notifier().Watch()
	go b.run(w, stop)
	return b
}

// close ends every stream and the broker.
func (b *broker) close() {
	b.closeOnce.Do(func() { close(b.done) })
	<-b.stopped
}

// nextSeq returns an increasing number, close to the time in microseconds so that ids stay
// increasing across reconnections to other processes and restarts.
func (b *broker) nextSeq() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastSeq = max(b.lastSeq+1, time.Now().UnixMicro())
	return b.lastSeq
}

func (b *broker) add(st *stream) {
	b.mu.Lock()
	b.streams[st] = struct{}{}
	b.mu.Unlock()
}

func (b *broker) remove(st *stream) {
	b.mu.Lock()
	delete(b.streams, st)
	b.mu.Unlock()
}

// run reads the changed jobs: a status change at once, progress at most once per
// progressInterval per job (the latest state when the interval has passed).
func (b *broker) run(w *reins.Watcher, stop func()) {
	defer close(b.stopped)
	defer stop()
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	lastSent := map[uuid.UUID]time.Time{}
	deferred := map[uuid.UUID]bool{}
	send := func(id uuid.UUID, now time.Time) {
		delete(deferred, id)
		lastSent[id] = now
		b.publish(id)
	}
	for {
		select {
		case <-b.done:
			return
		case <-w.Ready():
			changes, resync := w.Take()
			if resync {
				b.resyncAll()
			}
			now := time.Now()
			for id, status := range changes {
				if !status && now.Sub(lastSent[id]) < progressInterval {
					deferred[id] = true
					continue
				}
				send(id, now)
			}
		case now := <-tick.C:
			for id := range deferred {
				if now.Sub(lastSent[id]) >= progressInterval {
					send(id, now)
				}
			}
			for id, at := range lastSent {
				if !deferred[id] && now.Sub(at) >= progressInterval {
					delete(lastSent, id)
				}
			}
		}
	}
}

// interested reports whether a stream may show the job.
func (b *broker) interested(id uuid.UUID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for st := range b.streams {
		if st.jobID == id || st.jobID == uuid.Nil {
			return true
		}
	}
	return false
}

// publish reads the job and hands it to the streams that show it. A stream too far behind
// to take it is resynchronised instead.
func (b *broker) publish(id uuid.UUID) {
	if !b.interested(id) {
		return
	}
	ev, err := b.read(id)
	if err != nil {
		if reins.ErrorCode(err) != reins.ENOTFOUND {
			b.server.log.Warn("reins: could not read a changed job for its event streams", "job_id", id, "error", err)
		}
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for st := range b.streams {
		if st.jobID != id && (st.jobID != uuid.Nil || st.owner != ev.job.Owner) {
			continue
		}
		select {
		case st.events <- ev:
		default:
			st.askResync()
		}
	}
}

// read reads the job and renders it, numbered before the read.
func (b *broker) read(id uuid.UUID) (jobEvent, error) {
	seq := b.nextSeq()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	job, err := b.server.engine.Job(ctx, id)
	if err != nil {
		return jobEvent{}, err
	}
	return b.render(seq, job)
}

func (b *broker) render(seq int64, job *reins.Job) (jobEvent, error) {
	data, err := b.server.toJobJSON(job).MarshalJSON() // json.Marshal's bytes (writeJSON)
	if err != nil {
		return jobEvent{}, err
	}
	return jobEvent{seq: seq, job: job, data: data}, nil
}

func (b *broker) resyncAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for st := range b.streams {
		st.askResync()
	}
}

func (st *stream) askResync() {
	select {
	case st.resync <- struct{}{}:
	default:
	}
}

// handleJobEvents serves GET /api/v1/jobs/{job_id}/events: the job's current state, then
// each change, until the job ends (its terminal state is the last event).
func (s *Server) handleJobEvents(w http.ResponseWriter, r *http.Request) {
	job, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	s.serveEvents(w, r, &stream{jobID: job.ID, owner: job.Owner})
}

// handleEvents serves GET /api/v1/events: the current state of the caller's running jobs and
// of those finished in the last minute, then each change of any of the caller's jobs.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	s.serveEvents(w, r, &stream{owner: s.owner(r)})
}

// serveEvents streams st's events until the client goes, the job ends (a single job's
// stream) or the server shuts down.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, st *stream) {
	st.events, st.resync = make(chan jobEvent, streamBuffer), make(chan struct{}, 1)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	// Subscribe before reading the current state, so no change falls between the two.
	s.broker.add(st)
	defer s.broker.remove(st)
	out := &eventWriter{w: w, rc: http.NewResponseController(w), status: map[uuid.UUID]reins.Status{},
		seen: map[uuid.UUID]int64{}}
	// A reconnecting client's ids go on from where it was.
	if last, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && last > 0 {
		out.lastID = last
	}
	w.WriteHeader(http.StatusOK)
	if err := out.rc.Flush(); err != nil {
		return
	}
	// The first events: the current state.
	if err := s.sendCurrent(r.Context(), st, out); err != nil || st.jobID != uuid.Nil && out.ended {
		s.streamEnded(r, err)
		return
	}
	heartbeat := time.NewTicker(s.heartbeat)
	defer heartbeat.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-s.broker.done:
			return
		case <-heartbeat.C:
			err = out.comment("ping")
		case <-st.resync:
			err = s.sendCurrent(r.Context(), st, out)
		case ev := <-st.events:
			err = out.send(ev)
		}
		if err != nil || st.jobID != uuid.Nil && out.ended {
			s.streamEnded(r, err)
			return
		}
	}
}

// streamEnded logs why a stream ended early (a database error, or a client gone before its
// request's context says so), not its normal ends.
func (s *Server) streamEnded(r *http.Request, err error) {
	if err != nil && r.Context().Err() == nil {
		s.log.Info("reins: an event stream ended on an error", "path", r.URL.Path, "error", err)
	}
}

// sendCurrent sends the current state of the stream's job(s).
func (s *Server) sendCurrent(ctx context.Context, st *stream, out *eventWriter) error {
	seq := s.broker.nextSeq()
	var jobs []*reins.Job
	if st.jobID != uuid.Nil {
		job, err := s.engine.Job(ctx, st.jobID)
		if err != nil {
			return err
		}
		jobs = []*reins.Job{job}
	} else {
		var running, terminal []reins.Status
		for _, status := range reins.AllStatuses() {
			if status.Terminal() {
				terminal = append(terminal, status)
			} else {
				running = append(running, status)
			}
		}
		since := time.Now().Add(-recentlyFinished)
		for _, f := range []*reins.JobFilter{
			{Owner: st.owner, Statuses: running, Limit: snapshotLimit},
			{Owner: st.owner, Statuses: terminal, UpdatedFrom: &since, Limit: snapshotLimit},
		} {
			page, err := s.engine.Store().ListJobs(ctx, f)
			if err != nil {
				return err
			}
			jobs = append(jobs, page...)
		}
	}
	for _, job := range jobs {
		ev, err := s.broker.render(seq, job)
		if err != nil {
			return err
		}
		if err := out.send(ev); err != nil || out.ended && st.jobID != uuid.Nil {
			return err
		}
	}
	if len(jobs) == 0 {
		// Nothing to show yet: say the stream is live.
		return out.comment("no jobs")
	}
	return nil
}

// eventWriter writes one stream's events: ids that increase, an event's type by whether the
// job's status changed since this stream last showed it, and no state older than one shown.
type eventWriter struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	lastID int64
	// status and seen are, per job, the status and the read (seq) last shown.
	status map[uuid.UUID]reins.Status
	seen   map[uuid.UUID]int64
	// ended is set once a terminal state was sent.
	ended bool
}

func (o *eventWriter) send(ev jobEvent) error {
	id := ev.job.ID
	if ev.seq < o.seen[id] {
		return nil // an older read than one shown
	}
	o.seen[id] = ev.seq
	kind := "progress"
	if prev, ok := o.status[id]; !ok || prev != ev.job.Status {
		kind = "status"
	}
	o.status[id] = ev.job.Status
	o.lastID = max(o.lastID+1, ev.seq)
	if ev.job.Status.Terminal() {
		o.ended = true
	}
	if _, err := o.w.Write([]byte("id: " + strconv.FormatInt(o.lastID, 10) + "\nevent: " + kind + "\ndata: ")); err != nil {
		return err
	}
	// ev.data is shared by every stream: written as it is, never appended to.
	if _, err := o.w.Write(ev.data); err != nil {
		return err
	}
	if _, err := o.w.Write([]byte("\n\n")); err != nil {
		return err
	}
	return o.rc.Flush()
}

func (o *eventWriter) comment(text string) error {
	if _, err := o.w.Write([]byte(": " + text + "\n\n")); err != nil {
		return err
	}
	return o.rc.Flush()
}
