package controller

import (
	"context"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/internal/metricsutil"
)

// Metrics are the controller's own metrics. A nil *Metrics records nothing.
type Metrics struct {
	// certificateWrites counts the Certificate writes the controller makes;
	// a restart with nothing changed must not move it.
	certificateWrites *prometheus.CounterVec
	// rootRotationPhase is 1 for the step each mesh CA is at.
	rootRotationPhase *prometheus.GaugeVec
}

// The controller's metrics, declared once for the server and the docs.
var (
	certificateWritesMetric = metricsutil.Define(metricsutil.Definition{
		Name:   "meshcert_certificate_writes_total",
		Type:   metricsutil.Counter,
		Help:   "Certificate writes by meshcert's controller, by operation (create, update, delete).",
		Labels: []string{"operation"},
	})
	rootRotationPhaseMetric = metricsutil.Define(metricsutil.Definition{
		Name:   "meshcert_root_rotation_phase",
		Type:   metricsutil.Gauge,
		Help:   "1 for the root rotation step istiod's CA is at (steady, trusting, switching), by the object that asks for it (kind, namespace, name).",
		Labels: []string{"kind", "namespace", "name", "phase"},
	})
	managedCertificatesMetric = metricsutil.Define(metricsutil.Definition{
		Name: "meshcert_managed_certificates",
		Type: metricsutil.Gauge,
		Help: "Certificates in the cluster that meshcert created and manages.",
	})
)

// NewMetrics creates the controller's metrics and registers them with reg:
// meshcert_certificate_writes_total, meshcert_root_rotation_phase, and
// meshcert_managed_certificates,
// counted from reader (the manager's cache) when scraped. ctx is the
// process's, since a scrape brings none.
func NewMetrics(ctx context.Context, reg prometheus.Registerer, reader client.Reader) (*Metrics, error) {
	writes, err := metricsutil.CounterVec(reg, certificateWritesMetric)
	if err != nil {
		return nil, err
	}
	if _, err := metricsutil.GaugeFunc(reg, managedCertificatesMetric, func() float64 { return countManaged(ctx, reader) }); err != nil {
		return nil, err
	}
	phase, err := metricsutil.GaugeVec(reg, rootRotationPhaseMetric)
	if err != nil {
		return nil, err
	}
	return &Metrics{certificateWrites: writes, rootRotationPhase: phase}, nil
}

func countManaged(ctx context.Context, reader client.Reader) float64 {
	var list cmapi.CertificateList
	if err := reader.List(ctx, &list, client.MatchingLabels{certs.LabelManagedBy: certs.ManagedByValue}, client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to count managed Certificates")
		return 0
	}
	return float64(len(list.Items))
}

// Certificate write operations, the values of the operation label.
const (
	opCreate = "create"
	opUpdate = "update"
	opDelete = "delete"
)

func (m *Metrics) wrote(operation string) {
	if m == nil {
		return
	}
	m.certificateWrites.WithLabelValues(operation).Inc()
}

// rootRotationPhases are the values of the phase label.
var rootRotationPhases = []string{"steady", "trusting", "switching"}

// rotationAt records the step the mesh CA of one object is at; an empty
// phase name forgets the object.
func (m *Metrics) rotationAt(kind, namespace, name, phase string) {
	if m == nil {
		return
	}
	for _, p := range rootRotationPhases {
		if phase == "" {
			m.rootRotationPhase.DeleteLabelValues(kind, namespace, name, p)
			continue
		}
		value := 0.0
		if p == phase {
			value = 1
		}
		m.rootRotationPhase.WithLabelValues(kind, namespace, name, p).Set(value)
	}
}
