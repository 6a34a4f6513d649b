package certs_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshcert/meshcert/certs"
)

// tenantGateway is a managed Gateway serving host on port 443 of the
// ingress gateway, created at created ("" for not stored yet).
func tenantGateway(namespace, name, host, port, selector, created string) string {
	meta := "metadata: {name: " + name + ", namespace: " + namespace
	if created != "" {
		meta += ", creationTimestamp: \"" + created + "\""
	}
	return `
apiVersion: networking.istio.io/v1
kind: Gateway
` + meta + `, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: ` + selector + `
  servers:
  - port: {number: ` + port + `, name: https, protocol: HTTPS}
    hosts: [` + host + `]
    tls: {mode: SIMPLE}
`
}

func TestHostHijack(t *testing.T) {
	const ingress = "{istio: ingressgateway}"
	tests := []struct {
		name     string
		existing string
		planned  string
		// pods are gateway Pods on top of the cluster's.
		pods string
		// previous is the stored Gateway an admission UPDATE replaces.
		previous string
		want     []string
		// wantCert: the planned Gateway still gets its Certificate.
		wantCert bool
	}{
		{
			name:     "a new Gateway claiming a host another namespace serves on the workload and port is denied",
			existing: tenantGateway("team-b", "shop", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-a", "thief", "shop.example.com", "443", ingress, ""),
			want:     []string{"error MC8002 spec.servers[0].hosts[0]"},
		},
		{
			name:     "the owner, updated later, keeps its host",
			existing: tenantGateway("team-a", "thief", "shop.example.com", "443", ingress, "2026-06-01T00:00:00Z"),
			planned:  tenantGateway("team-b", "shop", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			want:     []string{"error MC3003 spec.servers[0].hosts[0]"},
			wantCert: true,
		},
		{
			name:     "a selector naming another label of the same gateway Pod is the same workload, as istiod merges Gateways per proxy",
			existing: tenantGateway("team-b", "shop", "shop.example.com", "443", "{tier: edge}", "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-a", "thief", "shop.example.com", "443", ingress, ""),
			pods:     "apiVersion: v1\nkind: Pod\nmetadata: {name: edge-1, namespace: istio-system, labels: {istio: ingressgateway, tier: edge}}\n",
			want:     []string{"error MC8002 spec.servers[0].hosts[0]"},
		},
		{
			name:     "a selector that overlaps but matches no Pod the other one matches is another workload",
			existing: tenantGateway("team-b", "shop", "shop.example.com", "443", "{istio: ingressgateway, tier: edge}", "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-a", "mine", "shop.example.com", "443", ingress, ""),
			want:     []string{},
			wantCert: true,
		},
		{
			name:     "another workload may serve the host",
			existing: tenantGateway("team-b", "shop", "shop.example.com", "443", "{istio: other-gateway}", "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-a", "mine", "shop.example.com", "443", ingress, ""),
			want:     []string{},
			wantCert: true,
		},
		{
			name:     "another port may serve the host",
			existing: tenantGateway("team-b", "shop", "shop.example.com", "8443", ingress, "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-a", "mine", "shop.example.com", "443", ingress, ""),
			want:     []string{},
			wantCert: true,
		},
		{
			name:     "within one namespace it is Istio's conflict, not a hijack",
			existing: tenantGateway("team-a", "shop", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-a", "other", "shop.example.com", "443", ingress, ""),
			want:     []string{"error MC3003 spec.servers[0].hosts[0]"},
			wantCert: true,
		},
		{
			name:     "when neither is stored (files in CI) both are told",
			existing: tenantGateway("team-a", "thief", "shop.example.com", "443", ingress, ""),
			planned:  tenantGateway("team-b", "shop", "shop.example.com", "443", ingress, ""),
			want:     []string{"error MC8002 spec.servers[0].hosts[0]"},
		},
		{
			name:     "created in the same second, the name decides",
			existing: tenantGateway("team-a", "first", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-b", "second", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			want:     []string{"error MC8002 spec.servers[0].hosts[0]"},
		},
		{
			name:     "created in the same second, the name decides before the namespace, as istiod orders Gateways",
			existing: tenantGateway("team-a", "zeta", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-b", "alpha", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			want:     []string{"error MC3003 spec.servers[0].hosts[0]"},
			wantCert: true,
		},
		{
			name:     "created in the same second under one name, the namespace decides",
			existing: tenantGateway("team-b", "shop", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-a", "shop", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			want:     []string{"error MC3003 spec.servers[0].hosts[0]"},
			wantCert: true,
		},
		{
			name:     "an old Gateway edited to add another namespace's host is the newcomer for it",
			existing: tenantGateway("team-a", "shop", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-b", "legacy", "shop.example.com", "443", ingress, "2020-01-01T00:00:00Z"),
			previous: tenantGateway("team-b", "legacy", "legacy.example.com", "443", ingress, "2020-01-01T00:00:00Z"),
			want:     []string{"error MC8002 spec.servers[0].hosts[0]"},
		},
		{
			name:     "an old Gateway updated without adding the host keeps its place",
			existing: tenantGateway("team-a", "shop", "shop.example.com", "443", ingress, "2026-01-01T00:00:00Z"),
			planned:  tenantGateway("team-b", "legacy", "shop.example.com", "443", ingress, "2020-01-01T00:00:00Z"),
			previous: tenantGateway("team-b", "legacy", "shop.example.com", "443", ingress, "2020-01-01T00:00:00Z"),
			want:     []string{"error MC3003 spec.servers[0].hosts[0]"},
			wantCert: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index := indexOf(t, cluster+"\n---\n"+tt.existing+"\n---\n"+tt.pods)
			gw := certs.ParseGateway(objectFromYAML(t, tt.planned))
			if tt.previous != "" {
				gw.Previous = certs.ParseGateway(objectFromYAML(t, tt.previous))
			}
			plan := certs.PlanGateway(t.Context(), gw, index, cliOptions())
			assert.Equal(t, tt.want, summary(plan.Findings))
			assert.Equal(t, tt.wantCert, len(plan.Certificates) == 1, "a Certificate for the host")
			if len(tt.want) > 0 && strings.Contains(tt.want[0], "MC8002") {
				assert.Contains(t, plan.Findings[0].Message, "claimed it first")
			}
		})
	}
}

// An UPDATE is judged by what it adds: an old Gateway edited to read a
// credential meshcert manages for another namespace is the newcomer for
// it, however old the Gateway; one that read it before keeps its place.
func TestCredentialHijackOnUpdate(t *testing.T) {
	const managed = `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: shop-tls
  namespace: istio-system
  creationTimestamp: "2026-01-01T00:00:00Z"
  labels: {app.kubernetes.io/managed-by: meshcert}
  annotations: {meshcert.io/gateway: team-a/shop}
spec: {secretName: shop-tls, dnsNames: [shop.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`
	legacy := func(credential string) string {
		return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: legacy, namespace: team-b, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: ` + credential + `}
`
	}
	tests := []struct {
		name, previous string
		want           []string
	}{
		{name: "stored before the Certificate and never updated, it is the incumbent", want: []string{}},
		{name: "an update that adds the credential makes it the newcomer", previous: legacy("legacy-tls"),
			want: []string{"error MC8001 spec.servers[0].tls.credentialName"}},
		{name: "an update that keeps the credential keeps its place", previous: legacy("kubernetes://shop-tls"), want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index := indexOf(t, cluster+"\n---\n"+managed)
			gw := certs.ParseGateway(objectFromYAML(t, legacy("shop-tls")))
			if tt.previous != "" {
				gw.Previous = certs.ParseGateway(objectFromYAML(t, tt.previous))
			}
			plan := certs.PlanGateway(t.Context(), gw, index, cliOptions())
			var got []string
			for _, f := range summary(plan.Findings) {
				if strings.Contains(f, "MC8001") {
					got = append(got, f)
				}
			}
			if got == nil {
				got = []string{}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
