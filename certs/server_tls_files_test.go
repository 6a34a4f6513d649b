package certs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// TestCertificateFilesNeedTheirPair: Istio's validation of a server that
// reads its certificate from files wants serverCertificate and privateKey
// together, whether given directly or as tlsCertificates entries.
func TestCertificateFilesNeedTheirPair(t *testing.T) {
	tests := []struct {
		name string
		tls  map[string]any
		want []string
	}{
		{name: "a serverCertificate without its privateKey is rejected at privateKey",
			tls:  map[string]any{"mode": "SIMPLE", "serverCertificate": "/etc/certs/tls.crt"},
			want: []string{"error MC2005 spec.servers[0].tls.privateKey"}},
		{name: "a privateKey without its serverCertificate is rejected at serverCertificate",
			tls:  map[string]any{"mode": "SIMPLE", "privateKey": "/etc/certs/tls.key"},
			want: []string{"error MC2005 spec.servers[0].tls.serverCertificate"}},
		{name: "a whole pair passes",
			tls: map[string]any{"mode": "SIMPLE", "serverCertificate": "/etc/certs/tls.crt", "privateKey": "/etc/certs/tls.key"}},
		{name: "a tlsCertificates entry without its key is rejected at that entry",
			tls:  map[string]any{"mode": "SIMPLE", "tlsCertificates": []any{map[string]any{"serverCertificate": "/etc/certs/tls.crt"}}},
			want: []string{"error MC2005 spec.servers[0].tls.tlsCertificates[0].privateKey"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := certs.ParseGateway(buildGateway(t, withoutAnnotation("cert-manager.io/cluster-issuer"), server(0, func(s map[string]any) { s["tls"] = tt.tls })))
			plan := certs.PlanGateway(t.Context(), gw, indexOf(t, cluster), cliOptions())
			var got finding.Findings
			for _, f := range plan.Findings {
				if f.Code == finding.CodeMissingCredential {
					got = append(got, f)
				}
			}
			assert.Equal(t, tt.want, summaryOrNil(got))
		})
	}
}
