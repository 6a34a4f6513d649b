package controller

import (
	"context"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/meshcert/meshcert/certs"
)

// certificateWrites counts the Certificate writes the controller makes; a
// restart with nothing changed must not move it.
var certificateWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "meshcert_certificate_writes_total",
	Help: "Certificate writes by meshcert's controller, by operation (create, update, delete).",
}, []string{"operation"})

func init() {
	metrics.Registry.MustRegister(certificateWrites)
}

// registerManagedCertificates exposes how many Certificates meshcert owns,
// counted from the cache when scraped; ctx is the process's, since a scrape
// brings none.
func registerManagedCertificates(ctx context.Context, reader client.Reader) error {
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "meshcert_managed_certificates",
		Help: "Certificates in the cluster that meshcert created and manages.",
	}, func() float64 {
		var list cmapi.CertificateList
		if err := reader.List(ctx, &list, client.MatchingLabels{certs.LabelManagedBy: certs.ManagedByValue}, client.UnsafeDisableDeepCopy); err != nil {
			logf.FromContext(ctx).Error(err, "Failed to count managed Certificates")
			return 0
		}
		return float64(len(list.Items))
	})
	return metrics.Registry.Register(gauge)
}
