package offline

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// Gateway API objects are planned beside Istio's: the shim's Certificates
// are predicted, not owned, and what is wrong with them is reported on the
// listener or annotation that decided it.
func TestPlanObjectsGatewayAPI(t *testing.T) {
	tests := []struct {
		name         string
		input        string
		wantShim     []string
		wantFindings map[int][]string
	}{
		{
			name: "a wildcard listener under an HTTP-01-only ACME issuer is reported on that listener's hostname",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: le}}
spec:
  gatewayClassName: istio
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
  - {name: api, port: 443, protocol: HTTPS, hostname: "*.api.example.com", tls: {certificateRefs: [{name: web-tls}]}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: le}
spec:
  acme:
    server: https://acme.example.com/directory
    privateKeySecretRef: {name: le}
    solvers:
    - http01: {gatewayHTTPRoute: {parentRefs: [{name: web, namespace: team-a}]}}
`,
			wantShim:     []string{"team-a/web-tls"},
			wantFindings: map[int][]string{0: {"error MC5007 spec.listeners[1].hostname"}},
		},
		{
			name: "an issuer that does not exist is reported on the annotation that names it",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, annotations: {cert-manager.io/issuer: missing}}
spec:
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
`,
			wantShim:     []string{"apps/web-tls"},
			wantFindings: map[int][]string{0: {"warning MC5002 metadata.annotations[cert-manager.io/issuer]"}},
		},
		{
			name: "a ListenerSet takes the issuer of its parent Gateway from the same input",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
`,
			wantShim: []string{"team-a/web-tls"},
		},
		{
			name: "a Gateway API object with a field of the wrong type is a finding, not a failure",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/issuer: ca}}
spec:
  listeners:
  - {name: web, port: "443", protocol: HTTPS, hostname: web.example.com}
`,
			wantFindings: map[int][]string{0: {"error MC7003 spec.listeners.port"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := PlanObjects(t.Context(), objectsFromYAML(t, tc.input), certs.DefaultOptions(), "apps")
			require.NoError(t, err)
			assert.Empty(t, res.Certificates, "meshcert owns none of them")
			var got []string
			for _, crt := range res.ShimCertificates {
				got = append(got, crt.Namespace+"/"+crt.Name)
			}
			assert.Equal(t, tc.wantShim, got)
			findings := map[int][]string{}
			for _, f := range res.Findings {
				findings[f.Index] = append(findings[f.Index], summary(finding.Findings{f.Finding})...)
			}
			if tc.wantFindings == nil {
				tc.wantFindings = map[int][]string{}
			}
			assert.Equal(t, tc.wantFindings, findings)
		})
	}
}
