package controller

import (
	"context"

	apiutil "github.com/cert-manager/cert-manager/pkg/api/util"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
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
	// The Certificates' own state, labelled with the Gateway each serves,
	// which cert-manager's certmanager_certificate_* metrics cannot say.
	certificateReadyMetric = metricsutil.Define(metricsutil.Definition{
		Name:   "meshcert_certificate_ready",
		Type:   metricsutil.Gauge,
		Help:   "1 when a Certificate meshcert manages is Ready, else 0 (not Ready, or no Ready condition yet), by Certificate (certificate_namespace, certificate_name) and the Gateway it serves (gateway: namespace/name; empty for istiod's CA); the labels avoid namespace and name, which Prometheus gives the scrape target.",
		Labels: []string{"certificate_namespace", "certificate_name", "gateway"},
	})
	certificateExpirationMetric = metricsutil.Define(metricsutil.Definition{
		Name:   "meshcert_certificate_expiration_timestamp_seconds",
		Type:   metricsutil.Gauge,
		Help:   "When the certificate a Certificate meshcert manages holds expires (its status.notAfter), as a Unix time; absent before the first issuance.",
		Labels: []string{"certificate_namespace", "certificate_name", "gateway"},
	})
	certificateRenewalMetric = metricsutil.Define(metricsutil.Definition{
		Name:   "meshcert_certificate_renewal_timestamp_seconds",
		Type:   metricsutil.Gauge,
		Help:   "When cert-manager will renew a Certificate meshcert manages (its status.renewalTime), as a Unix time; absent before the first issuance.",
		Labels: []string{"certificate_namespace", "certificate_name", "gateway"},
	})
)

// NewMetrics creates the controller's metrics and registers them with reg:
// meshcert_certificate_writes_total, meshcert_root_rotation_phase, and
// meshcert_managed_certificates and the per-Certificate ready, expiration
// and renewal gauges, read from reader (the manager's cache) when scraped. ctx is the
// process's, since a scrape brings none.
func NewMetrics(ctx context.Context, reg prometheus.Registerer, reader client.Reader) (*Metrics, error) {
	writes, err := metricsutil.CounterVec(reg, certificateWritesMetric)
	if err != nil {
		return nil, err
	}
	// One collector for the count and the per-Certificate gauges, so a
	// scrape lists the managed Certificates once.
	certificateStates := []metricsutil.Definition{managedCertificatesMetric, certificateReadyMetric, certificateExpirationMetric, certificateRenewalMetric}
	if err := metricsutil.GaugesFunc(reg, certificateStates, func(emit metricsutil.Emit) { emitCertificateStates(ctx, reader, emit) }); err != nil {
		return nil, err
	}
	phase, err := metricsutil.GaugeVec(reg, rootRotationPhaseMetric)
	if err != nil {
		return nil, err
	}
	return &Metrics{certificateWrites: writes, rootRotationPhase: phase}, nil
}

func listManaged(ctx context.Context, reader client.Reader) (*cmapi.CertificateList, bool) {
	var list cmapi.CertificateList
	if err := reader.List(ctx, &list, client.MatchingLabels{certs.LabelManagedBy: certs.ManagedByValue}, client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to list managed Certificates for metrics")
		return nil, false
	}
	return &list, true
}

// emitCertificateStates reads the managed Certificates from the cache when
// scraped, so a deleted one leaves no series behind. The count is 0 when
// the cache cannot list them.
func emitCertificateStates(ctx context.Context, reader client.Reader, emit metricsutil.Emit) {
	list, ok := listManaged(ctx, reader)
	if !ok {
		emit(managedCertificatesMetric, 0)
		return
	}
	emit(managedCertificatesMetric, float64(len(list.Items)))
	for i := range list.Items {
		crt := &list.Items[i]
		labels := []string{crt.Namespace, crt.Name, crt.Annotations[certs.AnnotationGateway]}
		ready := 0.0
		if apiutil.CertificateHasCondition(crt, cmapi.CertificateCondition{Type: cmapi.CertificateConditionReady, Status: cmmeta.ConditionTrue}) {
			ready = 1
		}
		emit(certificateReadyMetric, ready, labels...)
		if crt.Status.NotAfter != nil {
			emit(certificateExpirationMetric, float64(crt.Status.NotAfter.Unix()), labels...)
		}
		if crt.Status.RenewalTime != nil {
			emit(certificateRenewalMetric, float64(crt.Status.RenewalTime.Unix()), labels...)
		}
	}
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
