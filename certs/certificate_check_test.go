package certs_test

import (
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

func TestCheckCertificate(t *testing.T) {
	tests := []struct {
		name         string
		certificate  string
		strict       bool
		wantFindings []string
		wantMessage  string
	}{
		{
			name: "a Certificate using a known ClusterIssuer is fine",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: ca, kind: ClusterIssuer, group: cert-manager.io}}
`,
		},
		{
			name: "a Certificate using an Issuer in its namespace is fine, with kind and group defaulted",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: mesh-ca}}
`,
		},
		{
			name: "dnsNames in upper case, with a trailing dot or repeated once normalised are warned about, each with the form to use",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com, API.example.com, shop.example.com., WEB.example.com.], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			wantFindings: []string{"warning MC3005 spec.dnsNames[1]", "warning MC3005 spec.dnsNames[2]", "warning MC3005 spec.dnsNames[3]"},
			wantMessage:  `"API.example.com" is not in the form issuers take and TLS clients send (lower case, no trailing dot; an ACME server refuses the dot); list "api.example.com"`,
		},
		{
			name: "a wildcard dnsName in lower case is fine",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: ["*.example.com", example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
		},
		{
			name: "a ClusterIssuer of another cluster is explained as impossible",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: letsencrypt-cluster-b, kind: ClusterIssuer}}
`,
			wantFindings: []string{"warning MC5002 spec.issuerRef"},
			wantMessage:  "an issuerRef can only name an issuer in the same cluster",
		},
		{
			name:   "a missing issuer is an error when strict",
			strict: true,
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: nope, kind: ClusterIssuer}}
`,
			wantFindings: []string{"error MC5002 spec.issuerRef"},
		},
		{
			name: "an Issuer that lives in another namespace is named with where it is",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: team-ca, kind: Issuer}}
`,
			wantFindings: []string{"warning MC5003 spec.issuerRef"},
			wantMessage:  `it exists only in "team-a"`,
		},
		{
			name: "an unknown kind in cert-manager's group is invalid",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: ca, kind: CAIssuer, group: cert-manager.io}}
`,
			wantFindings: []string{"error MC5001 spec.issuerRef"},
		},
		{
			name: "an external issuer is not looked up",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: vault, kind: VaultIssuer, group: example.io}}
`,
		},
		{
			name: "an external issuer without a kind is invalid",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: vault, group: example.io}}
`,
			wantFindings: []string{"error MC5001 spec.issuerRef"},
		},
		{
			name: "an issuerRef without a name is invalid",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {kind: ClusterIssuer}}
`,
			wantFindings: []string{"error MC5001 spec.issuerRef"},
		},
		{
			name: "the legacy gateway certs Secret is warned about",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: istio-ingressgateway-certs, dnsNames: [web.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			wantFindings: []string{"warning MC4004 spec.secretName"},
		},
		{
			name: "an issuer that is not Ready is warned about",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: broken, kind: ClusterIssuer}}
`,
			wantFindings: []string{"warning MC5004 spec.issuerRef"},
			wantMessage:  "secret root not found",
		},
		{
			name: "an Istio host with its namespace part in dnsNames is no DNS name",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [team-a/web.example.com, ok.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			wantFindings: []string{"error MC3001 spec.dnsNames[0]"},
			wantMessage:  `"team-a/web.example.com" is an Istio Gateway host with its namespace part "team-a", not a DNS name; list "web.example.com"`,
		},
		{
			name: "a bare star in dnsNames cannot be certified",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: ["*"], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			wantFindings: []string{"error MC3001 spec.dnsNames[0]"},
		},
		{
			name: "meshcert's own label does not switch the checks off",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web
  namespace: istio-system
  labels: {app.kubernetes.io/managed-by: meshcert}
  annotations: {meshcert.io/gateway: team-a/web}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: missing, kind: ClusterIssuer}}
`,
			wantFindings: []string{"warning MC5002 spec.issuerRef"},
		},
	}
	index := indexOf(t, cluster+`
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: broken}
spec: {ca: {secretName: root}}
status:
  conditions:
  - {type: Ready, status: "False", reason: ErrGetKeyPair, message: secret root not found}
`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crt := &cmapi.Certificate{}
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(objectFromYAML(t, tc.certificate).Object, crt))
			opts := cliOptions()
			opts.Strict = tc.strict
			findings := certs.CheckCertificate(t.Context(), crt, index, opts)
			if tc.wantFindings == nil {
				tc.wantFindings = []string{}
			}
			assert.ElementsMatch(t, tc.wantFindings, summary(findings))
			if tc.wantMessage != "" {
				require.NotEmpty(t, findings)
				assert.Contains(t, findings[0].Message, tc.wantMessage)
			}
		})
	}
}

func TestUnknownCertificateFields(t *testing.T) {
	ref := finding.ObjectRef{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Namespace: "istio-system", Name: "web"}
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{name: "a Certificate of known fields has none", raw: `{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"name":"web"},"spec":{"secretName":"web","dnsNames":["a.example.com"],"issuerRef":{"name":"ca","kind":"ClusterIssuer"},"privateKey":{"algorithm":"ECDSA"}}}`, want: []string{}},
		{name: "typos are reported with their full path", raw: `{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"name":"web"},"spec":{"secretName":"web","dnsName":["a.example.com"],"issuerRef":{"name":"ca","knd":"ClusterIssuer"}}}`,
			want: []string{"error MC2014 spec.dnsName", "error MC2014 spec.issuerRef.knd"}},
		{name: "what does not decode as a Certificate is left to the decoder's own error", raw: `{"spec":{"dnsNames":"a"}}`, want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.ElementsMatch(t, tc.want, summary(certs.UnknownCertificateFields(ref, []byte(tc.raw))))
		})
	}
}
