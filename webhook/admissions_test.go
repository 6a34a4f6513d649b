package webhook

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/internal/quiet"
)

func TestGatewayAdmissionsHoldTheControllersWritesBack(t *testing.T) {
	gateway := `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE}
`
	certificate := `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: team-a}
spec: {secretName: web, dnsNames: [web.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`
	tests := []struct {
		name     string
		handler  func(certs.Lookup, Config, *Metrics) admission.Handler
		object   string
		holdBack bool
	}{
		{name: "a Gateway the mutating webhook sees", handler: NewGatewayMutator, object: gateway, holdBack: true},
		{name: "a Gateway the validating webhook sees", handler: NewGatewayValidator, object: gateway, holdBack: true},
		// The controller's own Certificate writes come through this webhook:
		// counting them would make every write hold back the next.
		{name: "a Certificate, which the controller itself writes", handler: NewCertificateValidator, object: certificate, holdBack: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gate := quiet.New(time.Hour, time.Hour)
			objs := objects(t, tt.object)
			h := tt.handler(index(t), Config{Options: certs.DefaultOptions(), Admissions: gate}, nil)
			h.Handle(t.Context(), request(t, objs[0]))

			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			err := gate.Wait(ctx)
			if tt.holdBack {
				assert.ErrorIs(t, err, context.DeadlineExceeded, "writes must wait after this admission")
			} else {
				assert.NoError(t, err, "writes must not wait after this admission")
			}
		})
	}
}
