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

// NewMetrics creates the admission metrics and registers them with reg
// (controller-runtime's metrics.Registry in the server). Registering twice
// with one registry reuses the collectors already there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcert_admission_decisions_total",
			Help: "Admission decisions by webhook and result (allowed, denied, patched, errored).",
		}, []string{"webhook", "result"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcert_admission_findings_total",
			Help: "Findings the validating webhooks reported, by webhook, finding code and severity.",
		}, []string{"webhook", "code", "severity"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meshcert_admission_duration_seconds",
			Help:    "Time meshcert's admission handlers took to decide, by webhook.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
		}, []string{"webhook"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcert_admission_panics_total",
			Help: "Admission handler panics recovered and answered, by webhook (a bug: please report it with the log line).",
		}, []string{"webhook"}),
	}
	var err error
	if m.decisions, err = metricsutil.Register(reg, m.decisions); err != nil {
		return nil, err
	}
	if m.findings, err = metricsutil.Register(reg, m.findings); err != nil {
		return nil, err
	}
	if m.duration, err = metricsutil.Register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.panics, err = metricsutil.Register(reg, m.panics); err != nil {
		return nil, err
	}
	return m, nil
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

func (m *Metrics) panicked(webhook string) {
	if m == nil {
		return
	}
	m.panics.WithLabelValues(webhook).Inc()
}
