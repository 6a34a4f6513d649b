package certs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// Istio's validateTLSOptions warns about suites istiod drops and about TLS
// below 1.2 without suites; the expected warnings are Istio's on the same
// settings (e2e TestGatewayValidityAgreesWithIstio compares them on
// testdata/fidelity/cipher-suites.yaml).
func TestCipherSuiteWarnings(t *testing.T) {
	tests := []struct {
		name, tls string
		want      []string
	}{
		{name: "Envoy's names and BoringSSL's operators pass", tls: `cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256, "-AES128-SHA", "+AES256-SHA", "[AES128-SHA|AES256-SHA]", "!x", ALL, ""]`},
		{name: "an OpenSSL or TLS 1.3 name is dropped", tls: `cipherSuites: [TLS_AES_128_GCM_SHA256, ECDHE-RSA-AES128-GCM-SHA256]`,
			want: []string{`istiod drops the cipher suites Envoy does not support, "TLS_AES_128_GCM_SHA256"`}},
		{name: "names are case-sensitive", tls: `cipherSuites: [ecdhe-rsa-aes128-gcm-sha256]`,
			want: []string{`"ecdhe-rsa-aes128-gcm-sha256"`}},
		{name: "a repeat is dropped, an unsupported repeat counts as unsupported only", tls: `cipherSuites: [AES128-SHA, AES128-SHA, BOGUS, BOGUS]`,
			want: []string{`does not support, "BOGUS"`, `drops the repeated cipher suites "AES128-SHA"`}},
		{name: "TLS 1.0 without suites finds no suite to agree on", tls: `minProtocolVersion: TLSV1_0`,
			want: []string{"TLSV1_0 allows TLS below 1.2"}},
		{name: "TLS 1.1 with suites is what Istio asks for", tls: `{minProtocolVersion: TLSV1_1, cipherSuites: [ECDHE-RSA-AES128-SHA]}`},
		{name: "TLS 1.2 needs no suites", tls: `minProtocolVersion: TLSV1_2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := objectFromYAML(t, gatewayWithTLS("{mode: PASSTHROUGH}"))
			tls := objectFromYAML(t, tt.tls)
			server := gw.Object["spec"].(map[string]any)["servers"].([]any)[0].(map[string]any)
			for k, v := range tls.Object {
				server["tls"].(map[string]any)[k] = v
			}
			plan := certs.PlanGateway(t.Context(), certs.ParseGateway(gw), indexOf(t, ""), cliOptions())
			var got []string
			for _, f := range plan.Findings {
				if f.Code == finding.CodeIgnoredCipherSuites {
					assert.Equal(t, finding.SeverityWarning, f.Severity)
					got = append(got, f.Message)
				}
			}
			if assert.Len(t, got, len(tt.want), "%v", got) {
				for i := range got {
					assert.Contains(t, got[i], tt.want[i])
				}
			}
		})
	}
}

// The Gateway CRD's schema makes both versions string enums: a number
// (which Istio's own decoder would take), a name in lower case or another
// type is refused by the API server.
func TestTLSVersionsTheAPIServerRejects(t *testing.T) {
	for _, tls := range []string{`{minProtocolVersion: 1}`, `{minProtocolVersion: tlsv1_0}`, `{maxProtocolVersion: true}`, `{maxProtocolVersion: TLSV1_4}`} {
		t.Run(tls, func(t *testing.T) {
			parsed := certs.ParseGateway(objectFromYAML(t, gatewayWithTLS(tls)))
			if assert.Len(t, parsed.Findings, 1) {
				assert.Equal(t, finding.CodeAPIServerRejects, parsed.Findings[0].Code)
				assert.Contains(t, parsed.Findings[0].Message, "use one of TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3")
			}
		})
	}
}

// gatewayWithTLS is a Gateway with one HTTPS server whose tls is the flow
// mapping tls.
func gatewayWithTLS(tls string) string {
	return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: ` + tls + `
`
}
