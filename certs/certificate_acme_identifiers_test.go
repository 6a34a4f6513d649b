package certs_test

import (
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshcert/meshcert/certs"
)

// TestACMEOrdersTheCommonName: cert-manager's ACME issuer orders the common
// name as an identifier of its own (a DNS name, or an IP address when it
// parses as one), so a solver must take it even where it is not among the
// DNS names or IP addresses; cert-manager refuses such a common name too
// (MC5008), but the solver it lacks is a second, separate reason the order
// fails.
func TestACMEOrdersTheCommonName(t *testing.T) {
	tests := []struct {
		name        string
		solvers     string
		spec        string
		want        []string
		wantMessage string
	}{
		{
			name:        "a DNS common name outside the DNS names needs a solver that takes it",
			solvers:     `[{http01: {ingress: {class: istio}}, selector: {dnsZones: [example.com]}}]`,
			spec:        "commonName: shop.example.org, dnsNames: [web.example.com]",
			want:        []string{"error MC5006 spec.commonName", "error MC5008 spec.commonName"},
			wantMessage: `would take "shop.example.org"`,
		},
		{
			name:        "an IPv6 common name is ordered as an IP address, which only HTTP-01 validates",
			solvers:     `[{dns01: {rfc2136: {nameserver: "127.0.0.1:53"}}}]`,
			spec:        `commonName: "2001:db8::1", dnsNames: [web.example.com]`,
			want:        []string{"error MC5006 spec.commonName", "error MC5008 spec.commonName"},
			wantMessage: `would take "2001:db8::1"`,
		},
		{
			name:    "a common name among the DNS names is ordered once",
			solvers: `[{http01: {ingress: {class: istio}}, selector: {dnsZones: [example.com]}}]`,
			spec:    "commonName: web.example.com, dnsNames: [web.example.com]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := objectFromYAML(t, acmeCertificate(tc.spec, ""))
			crt := &cmapi.Certificate{}
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, crt))
			got := acmeFindings(certs.CheckCertificate(t.Context(), crt, indexOf(t, acmeIssuer(pebble, tc.solvers)), cliOptions()))
			assert.ElementsMatch(t, tc.want, summary(got))
			if tc.wantMessage != "" {
				var messages []string
				for _, f := range got {
					messages = append(messages, f.Message)
				}
				assert.Contains(t, messages[0]+messages[len(messages)-1], tc.wantMessage)
			}
		})
	}
}

// TestACMERedirectsOfOtherGateways: Istio merges the port-80 servers of
// every Gateway on the ingress gateway workload, so another Gateway's
// redirect swallows the challenge; the Gateway being planned is read as
// admitted, never as the version the cache still holds.
func TestACMERedirectsOfOtherGateways(t *testing.T) {
	// storedWeb is team-a/web as the cache holds it before an update that
	// removes its redirect, and as another namespace may name a Gateway.
	storedWeb := func(namespace string) string {
		return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: ` + namespace + `}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [web.example.com]
    tls: {httpsRedirect: true}
`
	}
	tests := []struct {
		name        string
		extra       string
		want        []string
		wantMessage string
	}{
		{
			name:  "the stored version of the Gateway being planned is not another Gateway",
			extra: storedWeb("team-a"),
		},
		{
			name:        "a Gateway of the same name in another namespace is another Gateway",
			extra:       storedWeb("team-b"),
			want:        []string{"error MC5013 spec.servers[0].hosts[0]"},
			wantMessage: `server 0 of Gateway team-b/web, on the same gateway workload, redirects`,
		},
		{
			name:        "another Gateway's redirect is named with its Gateway",
			extra:       redirectGatewayYAML("ingressgateway"),
			want:        []string{"error MC5013 spec.servers[0].hosts[0]"},
			wantMessage: `server 0 of Gateway istio-system/http-redirect, on the same gateway workload, redirects`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gw := certs.ParseGateway(buildGateway(t,
				withAnnotation("cert-manager.io/cluster-issuer", "acme"),
				withHosts(0, "web.example.com"),
			))
			stream := acmeIssuer(pebble, `[{http01: {ingress: {class: istio}}}]`) + "---" + tc.extra
			got := http01Findings(certs.PlanGateway(t.Context(), gw, indexOf(t, stream), cliOptions()).Findings)
			if tc.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tc.want, summary(got))
			assert.Contains(t, got[0].Message, tc.wantMessage)
		})
	}

	t.Run("the Gateway's own redirect is named by its server alone", func(t *testing.T) {
		gw := certs.ParseGateway(buildGateway(t,
			withAnnotation("cert-manager.io/cluster-issuer", "acme"),
			withHosts(0, "web.example.com"),
			addServer(map[string]any{
				"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
				"hosts": anyList("web.example.com"),
				"tls":   map[string]any{"httpsRedirect": true},
			}),
		))
		got := http01Findings(certs.PlanGateway(t.Context(), gw, indexOf(t, acmeIssuer(pebble, `[{http01: {ingress: {class: istio}}}]`)), cliOptions()).Findings)
		require.Len(t, got, 1)
		assert.Contains(t, got[0].Message, `server 1 redirects every plain-HTTP request for "web.example.com"`)
	})
}
