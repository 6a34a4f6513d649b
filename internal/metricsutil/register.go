// Package metricsutil registers Prometheus collectors the one way meshcert
// does: passed a Registerer (controller-runtime's metrics.Registry in the
// server, a fresh registry in tests), and idempotent, so constructing a
// package's metrics twice against one registry reuses the first collectors.
package metricsutil

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg and returns the collector in use: c, or the
// equal collector already registered.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("failed to register metrics: %w", err)
	}
	return c, nil
}
