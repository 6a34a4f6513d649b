package certs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// planCodes plans a Gateway of one server against the shared cluster and
// returns its findings of code.
func planCodes(t *testing.T, code finding.Code, manifest string) []string {
	t.Helper()
	gw := certs.ParseGateway(objectFromYAML(t, manifest))
	plan := certs.PlanGateway(t.Context(), gw, indexOf(t, cluster), cliOptions())
	var got finding.Findings
	for _, f := range plan.Findings {
		if f.Code == code {
			got = append(got, f)
		}
	}
	return summaryOrNil(got)
}

// Each expectation is Istio's validation (pilot/pkg/model/validation
// validateTLSOptions and validateServerTLS) or istiod's SDS (a
// caCertCredentialName not ending in -cacert is served as a key pair).
func TestServerTLSRules(t *testing.T) {
	tests := []struct {
		name     string
		code     finding.Code
		manifest string
		want     []string
	}{
		{
			name: "an invalid name in credentialNames is reported at its entry, not at credentialName",
			code: finding.CodeInvalidCredentialName,
			manifest: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialNames: [web-rsa, Web_ECDSA]}
`,
			want: []string{"warning MC2009 spec.servers[0].tls.credentialNames[1]"},
		},
		{
			name: "an invalid credentialName is reported at credentialName",
			code: finding.CodeInvalidCredentialName,
			manifest: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: Web_TLS}
`,
			want: []string{"warning MC2009 spec.servers[0].tls.credentialName"},
		},
		{
			name: "a MUTUAL caCertCredentialName without the -cacert suffix gives the server no client CA",
			code: finding.CodeCredentialNotServed,
			manifest: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: MUTUAL, credentialName: web-tls, caCertCredentialName: client-ca}
`,
			want: []string{"error MC4008 spec.servers[0].tls.caCertCredentialName"},
		},
		{
			name: "a caCertCredentialName with the -cacert suffix is a client CA",
			code: finding.CodeCredentialNotServed,
			manifest: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: MUTUAL, credentialName: web-tls, caCertCredentialName: client-cacert}
`,
		},
		{
			name: "two tlsCertificates (one RSA, one ECDSA) are what Istio serves",
			code: finding.CodeConflictingCredentialSources,
			manifest: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls:
      mode: SIMPLE
      tlsCertificates:
      - {serverCertificate: /etc/certs/rsa.pem, privateKey: /etc/certs/rsa-key.pem}
      - {serverCertificate: /etc/certs/ec.pem, privateKey: /etc/certs/ec-key.pem}
`,
		},
		{
			name: "a third tlsCertificate is one Istio does not serve",
			code: finding.CodeConflictingCredentialSources,
			manifest: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls:
      mode: SIMPLE
      tlsCertificates:
      - {serverCertificate: /etc/certs/rsa.pem, privateKey: /etc/certs/rsa-key.pem}
      - {serverCertificate: /etc/certs/ec.pem, privateKey: /etc/certs/ec-key.pem}
      - {serverCertificate: /etc/certs/old.pem, privateKey: /etc/certs/old-key.pem}
`,
			want: []string{"warning MC2004 spec.servers[0].tls.tlsCertificates"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, planCodes(t, tt.code, tt.manifest))
		})
	}
}

// Istio's validateServer: port names are unique within a Gateway; each
// repeat is reported once, naming the first server with that name. A
// server without a port names none.
func TestDuplicatePortNames(t *testing.T) {
	gw := certs.ParseGateway(objectFromYAML(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - hosts: [none.example.com]
  - port: {number: 80, name: web, protocol: HTTP}
    hosts: [web.example.com]
  - port: {number: 81, name: other, protocol: HTTP}
    hosts: [web.example.com]
  - port: {number: 8080, name: web, protocol: HTTP}
    hosts: [web.example.com]
  - port: {number: 8081, name: web, protocol: HTTP}
    hosts: [web.example.com]
`))
	plan := certs.PlanGateway(t.Context(), gw, indexOf(t, cluster), cliOptions())
	var got []string
	for _, f := range plan.Findings {
		if f.Code == finding.CodeDuplicatePortName {
			got = append(got, f.Field+": "+f.Message)
		}
	}
	assert.Equal(t, []string{
		`spec.servers[3].port.name: port name "web" is also used by spec.servers[1]; Istio requires port names to be unique within a Gateway`,
		`spec.servers[4].port.name: port name "web" is also used by spec.servers[1]; Istio requires port names to be unique within a Gateway`,
	}, got)
}
