package offline

import (
	"strings"
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
		wantMessage  string
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
  - {name: http, port: 80, protocol: HTTP}
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
			name: "what cert-manager takes but meshcert would refuse is only a warning, said once",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: ca, cert-manager.io/alt-names: bad_name.example.com}}
spec:
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
`,
			wantShim:     []string{"team-a/web-tls"},
			wantFindings: map[int][]string{0: {"warning MC1002 metadata.annotations[cert-manager.io/alt-names]"}},
		},
		{
			name: "what cert-manager's webhook refuses is an error on the annotation that set it, and no Certificate",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/issuer: ca, cert-manager.io/issuer-kind: Cluster, cert-manager.io/duration: 30m}}
spec:
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
`,
			wantFindings: map[int][]string{0: {
				"error MC3007 metadata.annotations[cert-manager.io/duration]",
				"error MC5001 metadata.annotations[cert-manager.io/issuer]",
			}},
		},
		{
			name: "a listener the shim skips is a warning: the Gateway is valid, and the other listener still gets its certificate",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  listeners:
  - {name: catch-all, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: default-tls}]}}
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
`,
			wantShim:     []string{"team-a/web-tls"},
			wantFindings: map[int][]string{0: {"warning MC2020 spec.listeners[0].hostname"}},
		},
		{
			name: "an issuer kind a ListenerSet takes from its Gateway is reported as the Gateway's to fix",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra, annotations: {cert-manager.io/issuer-kind: ClusterIssuer, cert-manager.io/issuer-group: awspca.cert-manager.io}}
spec:
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: le}}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
`,
			wantFindings: map[int][]string{1: {"error MC1001 metadata.annotations[cert-manager.io/issuer-group]", "error MC1001 metadata.annotations[cert-manager.io/issuer-kind]"}},
			wantMessage:  "this ListenerSet takes cert-manager.io/issuer-group from Gateway infra/shared: fix it there",
		},
		{
			name: "a ListenerSet whose Gateway is not in the input gets MC2021, and its own annotations are still checked",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: le, cert-manager.io/duration: 90d}}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
`,
			wantFindings: map[int][]string{0: {"error MC1002 metadata.annotations[cert-manager.io/duration]", "warning MC2021 spec.parentRef"}},
		},
		{
			name: "two Gateways of a namespace naming one Secret: the shim keeps the first's Certificate and the second's hosts go uncovered",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: a, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: shared-tls}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: b, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: b.example.com, tls: {certificateRefs: [{name: shared-tls}]}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
`,
			wantShim:     []string{"team-a/shared-tls"},
			wantFindings: map[int][]string{1: {"warning MC4002 spec.listeners[0].tls.certificateRefs"}},
			wantMessage:  `Certificate team-a/shared-tls already exists and is not this Gateway's (it is Gateway team-a/a's), so cert-manager's gateway-shim leaves it alone and "b.example.com" get no certificate from it`,
		},
		{
			name: "a Certificate of the input under the Secret's name is left alone by the shim",
			input: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, namespace: team-a}
spec:
  secretName: web-tls
  dnsNames: [old.example.com]
  issuerRef: {name: ca, kind: ClusterIssuer}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
`,
			wantFindings: map[int][]string{1: {"warning MC4002 spec.listeners[0].tls.certificateRefs"}},
			wantMessage:  "it has no controller",
		},
		{
			name: "a Certificate of an earlier Gateway of the same name, deleted and created again, is said to be that one's",
			input: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web-tls
  namespace: team-a
  ownerReferences: [{apiVersion: gateway.networking.k8s.io/v1, kind: Gateway, name: web, uid: "1111", controller: true}]
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: ca, kind: ClusterIssuer}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, uid: "2222", annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
`,
			wantFindings: map[int][]string{1: {"warning MC4002 spec.listeners[0].tls.certificateRefs"}},
			wantMessage:  "it is an earlier Gateway team-a/web's, deleted since, and goes once Kubernetes' garbage collector removes it",
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
			if tc.wantMessage != "" {
				var messages []string
				for _, f := range res.Findings {
					messages = append(messages, f.Message)
				}
				assert.Contains(t, strings.Join(messages, "\n"), tc.wantMessage)
			}
		})
	}
}
