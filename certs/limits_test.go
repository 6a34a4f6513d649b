package certs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

func TestCertificateNameLimit(t *testing.T) {
	gatewayWith := func(hosts, altNames int, altPrefix string) string {
		hs := make([]string, hosts)
		for i := range hs {
			hs[i] = fmt.Sprintf("h%d.example.com", i)
		}
		alts := make([]string, altNames)
		for i := range alts {
			alts[i] = fmt.Sprintf("%s%d.example.com", altPrefix, i)
		}
		return strings.Replace(strings.Replace(simpleGateway, "hosts: [team-a/web.example.com, \"*/api.example.com\"]",
			"hosts: ["+strings.Join(hs, ", ")+"]", 1),
			"cert-manager.io/cluster-issuer: ca", "cert-manager.io/cluster-issuer: ca\n    cert-manager.io/alt-names: \""+strings.Join(alts, ",")+"\"", 1)
	}
	tests := []struct {
		name            string
		hosts, altNames int
		altPrefix       string
		want            []string
	}{
		{"1,000 names fit in one certificate", 1000, 0, "alt", []string{}},
		{"1,001 hosts do not", 1001, 0, "alt", []string{"error MC3006 spec.servers[0].hosts"}},
		{"alt-names count too", 900, 101, "alt", []string{"error MC3006 spec.servers[0].hosts"}},
		{"an alt-name repeating a host counts once", 1000, 1000, "h", []string{}},
	}
	t.Run("IP addresses count too", func(t *testing.T) {
		gw := strings.Replace(gatewayWith(1000, 0, "alt"), "h0.example.com", "192.0.2.1, h1000.example.com", 1)
		plan := certs.PlanGateway(t.Context(), certs.ParseGateway(objectFromYAML(t, gw)), indexOf(t, cluster), cliOptions())
		assert.Equal(t, []string{"error MC3006 spec.servers[0].hosts"}, summary(plan.Findings))
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := certs.PlanGateway(t.Context(), certs.ParseGateway(objectFromYAML(t, gatewayWith(tt.hosts, tt.altNames, tt.altPrefix))), indexOf(t, cluster), cliOptions())
			assert.Equal(t, tt.want, summary(plan.Findings))
			if len(tt.want) > 0 {
				assert.Empty(t, plan.Certificates, "no Certificate meshcert could not create")
				return
			}
			require.Len(t, plan.Certificates, 1)
			assert.Len(t, plan.Certificates[0].Spec.DNSNames, tt.hosts)
		})
	}
}
