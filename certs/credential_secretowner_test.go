package certs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshcert/meshcert/certs"
)

// A Secret with no Certificate behind it was made by hand or by another
// tool: cert-manager would overwrite it, so meshcert plans no Certificate
// for it (MC4009). One a Certificate writes is that Certificate's.
func TestAHandMadeSecretIsNeverPlannedOver(t *testing.T) {
	const gateway = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: web-tls}
`
	const secret = `
---
apiVersion: v1
kind: Secret
metadata: {name: web-tls, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: "", tls.key: ""}
`
	const certificate = `
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: other, namespace: istio-system}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: ca, kind: ClusterIssuer}
`
	tests := []struct {
		name      string
		others    string
		wantCerts int
		wantCode  bool
	}{
		{name: "no Secret yet: meshcert plans the Certificate", wantCerts: 1},
		{name: "a Secret without a Certificate: none, and MC4009", others: secret, wantCode: true},
		{name: "a Secret another Certificate writes is that Certificate's, not a hand-made one", others: secret + certificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := certs.ParseGateway(objectFromYAML(t, gateway))
			plan := certs.PlanGateway(t.Context(), gw, indexOf(t, cluster+tt.others), cliOptions())
			assert.Len(t, plan.Certificates, tt.wantCerts)
			found := false
			for _, f := range plan.Findings {
				found = found || f.Code == "MC4009"
			}
			assert.Equal(t, tt.wantCode, found, "findings: %v", summary(plan.Findings))
		})
	}
}
