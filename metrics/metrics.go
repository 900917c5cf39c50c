// Package metrics exposes what Reins does in the Prometheus text format
// (github.com/prometheus/client_golang): jobs by type and status as the database holds them,
// rows processed, batch durations, command answer latencies, rescues, upload bytes, HTTP
// requests, and the Go runtime's figures. docs/metrics.md lists them.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/reins-dev/reins"
)

// Metrics is one process's metrics. Its methods are safe for concurrent use; a nil *Metrics
// records nothing.
type Metrics struct {
	registry *prometheus.Registry

	rows           *prometheus.CounterVec
	batchSeconds   *prometheus.HistogramVec
	commandSeconds *prometheus.HistogramVec
	rescued        prometheus.Counter
	uploadBytes    prometheus.Counter
	requests       *prometheus.CounterVec
}

// New returns the metrics of a process whose jobs store holds; types are the job types it
// knows, each shown with every status even at zero.
func New(store reins.JobStore, types []reins.JobType, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.Default()
	}
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reins_rows_processed_total",
			Help: "Rows (units) that committed batches processed, by job type and run (process, or rollback removing them).",
		}, []string{"job_type", "run"}),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reins_batch_duration_seconds",
			Help:    "Time from preparing a batch to its commit, by job type and run.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12), // 1 ms .. about 1 min
		}, []string{"job_type", "run"}),
		commandSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reins_command_duration_seconds",
			Help:    "Time to answer a command (PAUSE, RESUME, REVOKE, CONFIRM), waiting for the run's acknowledgement included.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"command"}),
		rescued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reins_runs_rescued_total",
			Help: "Jobs this process took over because the run holding them stopped renewing its lease.",
		}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reins_upload_bytes_total",
			Help: "Bytes of uploaded files received by this process.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reins_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
	}
	m.registry.MustRegister(m.rows, m.batchSeconds, m.commandSeconds, m.rescued, m.uploadBytes, m.requests,
		&jobsCollector{store: store, types: types, log: log},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// BatchCommitted records a committed batch of a run of kind run that processed units (rows
// written, or removed by a rollback) and took d.
func (m *Metrics) BatchCommitted(t reins.JobType, run reins.RunKind, units int64, d time.Duration) {
	if m == nil {
		return
	}
	if units > 0 {
		m.rows.WithLabelValues(string(t), string(run)).Add(float64(units))
	}
	m.batchSeconds.WithLabelValues(string(t), string(run)).Observe(d.Seconds())
}

// Rescued records that this process took over a job whose run lost its lease.
func (m *Metrics) Rescued() {
	if m != nil {
		m.rescued.Inc()
	}
}

// CommandAnswered records how long a command took to answer.
func (m *Metrics) CommandAnswered(cmd reins.Command, d time.Duration) {
	if m != nil {
		m.commandSeconds.WithLabelValues(string(cmd)).Observe(d.Seconds())
	}
}

// UploadReceived records n bytes of an uploaded file received.
func (m *Metrics) UploadReceived(n int64) {
	if m != nil && n > 0 {
		m.uploadBytes.Add(float64(n))
	}
}

// RequestServed records an HTTP request answered with code, by its route pattern.
func (m *Metrics) RequestServed(route, method string, code int) {
	if m != nil {
		m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	}
}

// jobsCollector reads the number of jobs by type and status from the database at each
// scrape, so every replica reports the same figures (one GROUP BY query).
type jobsCollector struct {
	store reins.JobStore
	types []reins.JobType
	log   *slog.Logger
}

var (
	jobsDesc = prometheus.NewDesc("reins_jobs", "Jobs in the database, by job type and status (every tenant).",
		[]string{"job_type", "status"}, nil)
	databaseUpDesc = prometheus.NewDesc("reins_database_up", "1 when the database answered the scrape's query, 0 otherwise.",
		nil, nil)
)

// scrapeTimeout bounds the scrape's query.
const scrapeTimeout = 5 * time.Second

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- databaseUpDesc
}

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counts, err := c.store.CountJobsByType(ctx)
	if err != nil {
		c.log.Warn("reins: metrics could not count jobs", "error", err)
		ch <- prometheus.MustNewConstMetric(databaseUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(databaseUpDesc, prometheus.GaugeValue, 1)
	type key struct {
		t reins.JobType
		s reins.Status
	}
	n := map[key]int64{}
	for _, t := range c.types {
		for _, s := range reins.AllStatuses() {
			n[key{t, s}] = 0
		}
	}
	for _, jc := range counts {
		n[key{jc.Type, jc.Status}] += jc.N
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(v), string(k.t), string(k.s))
	}
}
