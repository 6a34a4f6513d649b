// Package metricsutil registers Prometheus collectors the one way meshcert
// does: from a Definition declared once with Define (which is also what
// docs/operating.md's metrics table is generated from), passed a Registerer
// (controller-runtime's metrics.Registry in the server, a fresh registry in
// tests), and idempotent, so constructing a package's metrics twice against
// one registry reuses the first collectors.
package metricsutil

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Type is a metric's Prometheus type.
type Type string

// The metric types meshcert uses.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// Definition is one metric meshcert exposes.
type Definition struct {
	Name string
	Type Type
	// Help is the metric's HELP text and its meaning in the docs.
	Help string
	// Labels are the variable labels, in order.
	Labels []string
	// Buckets are a histogram's upper bounds.
	Buckets []float64
}

var (
	definedMu sync.Mutex
	defined   []Definition
)

// Define declares a metric (at package initialisation) and returns it. Every
// collector meshcert registers is built from a Definition, so Defined lists
// all of them.
func Define(d Definition) Definition {
	definedMu.Lock()
	defer definedMu.Unlock()
	if i := slices.IndexFunc(defined, func(o Definition) bool { return o.Name == d.Name }); i >= 0 {
		panic(fmt.Sprintf("metric %s is defined twice", d.Name))
	}
	defined = append(defined, d)
	return d
}

// Defined returns every Definition of the linked packages, sorted by name.
func Defined() []Definition {
	definedMu.Lock()
	defer definedMu.Unlock()
	out := slices.Clone(defined)
	slices.SortFunc(out, func(a, b Definition) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CounterVec registers d, a counter with labels, with reg.
func CounterVec(reg prometheus.Registerer, d Definition) (*prometheus.CounterVec, error) {
	return register(reg, d, Counter, prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, d.Labels))
}

// HistogramVec registers d, a histogram with labels, with reg.
func HistogramVec(reg prometheus.Registerer, d Definition) (*prometheus.HistogramVec, error) {
	return register(reg, d, Histogram, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: d.Buckets}, d.Labels))
}

// GaugeVec registers d, a gauge with labels, with reg.
func GaugeVec(reg prometheus.Registerer, d Definition) (*prometheus.GaugeVec, error) {
	return register(reg, d, Gauge, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: d.Name, Help: d.Help}, d.Labels))
}

// NewCounter registers d, a counter without labels, with reg.
func NewCounter(reg prometheus.Registerer, d Definition) (prometheus.Counter, error) {
	return register(reg, d, Counter, prometheus.NewCounter(prometheus.CounterOpts{Name: d.Name, Help: d.Help}))
}

// CounterFunc registers d, a counter read from value when scraped, with reg.
func CounterFunc(reg prometheus.Registerer, d Definition, value func() float64) (prometheus.CounterFunc, error) {
	return register(reg, d, Counter, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, value))
}

// register registers c with reg and returns the collector in use: c, or the
// equal collector already registered. A collector of a kind its Definition
// does not declare is a programming error, reported as one.
func register[C prometheus.Collector](reg prometheus.Registerer, d Definition, kind Type, c C) (C, error) {
	if d.Type != kind {
		return c, fmt.Errorf("failed to register metric %s: defined as a %s, built as a %s", d.Name, d.Type, kind)
	}
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("failed to register metric %s: %w", d.Name, err)
	}
	return c, nil
}

// Emit records one series of a gauge of GaugesFunc: d's value for the label
// values, in d.Labels' order.
type Emit func(d Definition, value float64, labelValues ...string)

// GaugesFunc registers gauges whose series are read when scraped: collect
// calls emit once for every series of every Definition in defs. It suits
// values that live elsewhere (a cache), where keeping a GaugeVec in step
// would mean deleting series whose objects are gone.
func GaugesFunc(reg prometheus.Registerer, defs []Definition, collect func(emit Emit)) error {
	c := &gaugesFunc{descs: map[string]*prometheus.Desc{}, collect: collect}
	for _, d := range defs {
		if d.Type != Gauge {
			return fmt.Errorf("failed to register metric %s: defined as a %s, built as a %s", d.Name, d.Type, Gauge)
		}
		c.descs[d.Name] = prometheus.NewDesc(d.Name, d.Help, d.Labels, nil)
	}
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			return nil
		}
		return fmt.Errorf("failed to register metrics %s: %w", names(defs), err)
	}
	return nil
}

type gaugesFunc struct {
	descs   map[string]*prometheus.Desc
	collect func(Emit)
}

func (c *gaugesFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *gaugesFunc) Collect(ch chan<- prometheus.Metric) {
	c.collect(func(d Definition, value float64, labelValues ...string) {
		desc, ok := c.descs[d.Name]
		if !ok {
			desc = prometheus.NewInvalidDesc(fmt.Errorf("metric %s is not one of this collector's", d.Name))
		}
		m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, value, labelValues...)
		if err != nil {
			m = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- m
	})
}

func names(defs []Definition) string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.Name
	}
	return strings.Join(out, ", ")
}
