package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/internal/metricsutil"
)

// Metrics are meshcert's admission metrics. A nil *Metrics records nothing.
type Metrics struct {
	decisions *prometheus.CounterVec
	findings  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	panics    *prometheus.CounterVec
}

// The admission metrics, declared once for the server and the docs.
var (
	decisionsMetric = metricsutil.Define(metricsutil.Definition{
		Name:   "meshcert_admission_decisions_total",
		Type:   metricsutil.Counter,
		Help:   "Admission decisions by webhook and result (allowed, denied, patched, errored).",
		Labels: []string{"webhook", "result"},
	})
	findingsMetric = metricsutil.Define(metricsutil.Definition{
		Name:   "meshcert_admission_findings_total",
		Type:   metricsutil.Counter,
		Help:   "Findings the validating webhooks reported, by webhook, finding code and severity.",
		Labels: []string{"webhook", "code", "severity"},
	})
	durationMetric = metricsutil.Define(metricsutil.Definition{
		Name:   "meshcert_admission_duration_seconds",
		Type:   metricsutil.Histogram,
		Help:   "Time meshcert's admission handlers took to decide, by webhook.",
		Labels: []string{"webhook"},
		// Up to the webhooks' timeout (TimeoutSeconds) and past it, so a
		// percentile can say how close admissions come to it.
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 5, 10},
	})
	panicsMetric = metricsutil.Define(metricsutil.Definition{
		Name:   "meshcert_admission_panics_total",
		Type:   metricsutil.Counter,
		Help:   "Admission handler panics recovered and answered (the mutating webhook allows, a validating one answers an error), by webhook: a bug, please report it with the log line and its stack.",
		Labels: []string{"webhook"},
	})
)

// NewMetrics creates the admission metrics and registers them with reg
// (controller-runtime's metrics.Registry in the server). Registering twice
// with one registry reuses the collectors already there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	var (
		m   Metrics
		err error
	)
	if m.decisions, err = metricsutil.CounterVec(reg, decisionsMetric); err != nil {
		return nil, err
	}
	if m.findings, err = metricsutil.CounterVec(reg, findingsMetric); err != nil {
		return nil, err
	}
	if m.duration, err = metricsutil.HistogramVec(reg, durationMetric); err != nil {
		return nil, err
	}
	if m.panics, err = metricsutil.CounterVec(reg, panicsMetric); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *Metrics) observe(webhook, result string, findings finding.Findings, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(webhook, result).Inc()
	for _, f := range findings {
		m.findings.WithLabelValues(webhook, string(f.Code), string(f.Severity)).Inc()
	}
	m.duration.WithLabelValues(webhook).Observe(elapsed.Seconds())
}

// serving starts the error and panic counters of a webhook at zero, so
// their series exist (and rate() and increase() see the first one) before
// anything goes wrong.
func (m *Metrics) serving(webhook string) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(webhook, ResultErrored)
	m.panics.WithLabelValues(webhook)
}

func (m *Metrics) panicked(webhook string) {
	if m == nil {
		return
	}
	m.panics.WithLabelValues(webhook).Inc()
}
