package certs_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
)

// interesting are servers whose plan depends on the other servers of the
// Gateway: two servers of the same name (their credentials get their
// position), and two servers sharing a credentialName (one Certificate with
// both servers' hosts).
// sharedCredential is the name meshcert derives for the first server
// sharing it, so meshcert may write it in the ingress namespace.
var sharedCredential = certs.CredentialName("team-a", "web", "shared-1")

func interesting() []any {
	return []any{
		map[string]any{
			"name": "https", "port": map[string]any{"number": int64(443), "name": "https-a", "protocol": "HTTPS"},
			"hosts": []any{"a.example.com"}, "tls": map[string]any{"mode": "SIMPLE"},
		},
		map[string]any{
			"port":  map[string]any{"number": int64(8443), "name": "shared-1", "protocol": "HTTPS"},
			"hosts": []any{"b.example.com"}, "tls": map[string]any{"mode": "SIMPLE", "credentialName": sharedCredential},
		},
		map[string]any{
			"name": "https", "port": map[string]any{"number": int64(4443), "name": "https-c", "protocol": "HTTPS"},
			"hosts": []any{"c.example.com"}, "tls": map[string]any{"mode": "SIMPLE"},
		},
		map[string]any{
			"port":  map[string]any{"number": int64(9443), "name": "shared-2", "protocol": "HTTPS"},
			"hosts": []any{"d.example.com"}, "tls": map[string]any{"mode": "MUTUAL", "credentialName": sharedCredential},
		},
	}
}

// padded puts n plain HTTP servers (which get nothing) between the
// interesting ones, so the Gateway is larger than any the planner might
// treat specially.
func padded(n int) []any {
	var out []any
	for i, s := range interesting() {
		out = append(out, s)
		for j := range n {
			out = append(out, map[string]any{
				"port":  map[string]any{"number": int64(8000 + i*100 + j), "name": fmt.Sprintf("http-%d-%d", i, j), "protocol": "HTTP"},
				"hosts": []any{fmt.Sprintf("plain%d-%d.example.com", i, j)},
			})
		}
	}
	return out
}

func gatewayOf(servers []any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": "web", "namespace": "team-a", "annotations": map[string]any{"cert-manager.io/cluster-issuer": "ca"}},
		"spec":     map[string]any{"selector": map[string]any{"istio": "ingressgateway"}, "servers": servers},
	}}
}

// TestPlanDoesNotDependOnGatewaySize plans the same servers in a small
// Gateway and in one of 44 servers, and expects the same injections, by
// server, and the same Certificates: no shortcut for small Gateways may
// change an answer.
func TestPlanDoesNotDependOnGatewaySize(t *testing.T) {
	index := indexOf(t, cluster)
	small := certs.PlanGateway(t.Context(), certs.ParseGateway(gatewayOf(interesting())), index, cliOptions())
	large := certs.PlanGateway(t.Context(), certs.ParseGateway(gatewayOf(padded(10))), index, cliOptions())
	require.Empty(t, small.Findings)
	require.Empty(t, large.Findings)
	require.Len(t, certs.ParseGateway(gatewayOf(padded(10))).Servers, 44, "a large Gateway")

	injected := func(p *certs.GatewayPlan) []string {
		var out []string
		for _, inj := range p.Injections {
			out = append(out, inj.CredentialName)
		}
		return out
	}
	// Pinned from the README's rule: the two servers named "https" are
	// "https-1" and "https-2"; sha256("6:team-a3:webhttps-1")[:10] and
	// sha256("6:team-a3:webhttps-2")[:10].
	want := []string{"team-a-web-https-1-eb689385a4", "team-a-web-https-2-8267762591"}
	assert.Equal(t, want, injected(small))
	assert.Equal(t, want, injected(large))

	certificates := func(p *certs.GatewayPlan) map[string][]string {
		out := map[string][]string{}
		for _, crt := range p.Certificates {
			out[crt.Namespace+"/"+crt.Name] = crt.Spec.DNSNames
		}
		return out
	}
	wantCerts := map[string][]string{
		"istio-system/team-a-web-https-1-eb689385a4": {"a.example.com"},
		"istio-system/team-a-web-https-2-8267762591": {"c.example.com"},
		"istio-system/" + sharedCredential:           {"b.example.com", "d.example.com"},
	}
	assert.Equal(t, wantCerts, certificates(small))
	assert.Equal(t, wantCerts, certificates(large))
}
