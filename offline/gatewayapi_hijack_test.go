package offline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// TestCredentialHijackAcrossKinds: istiod serves a Gateway API listener
// whatever Secret its certificateRefs name, and an Istio Gateway whatever
// Secret its credentialName resolves to in its gateway workload's
// namespace, so neither may take the key of the other kind's Gateway in
// another namespace: a Secret meshcert manages for an Istio Gateway, or one
// cert-manager's gateway-shim writes for a Gateway API listener (MC8001).
func TestCredentialHijackAcrossKinds(t *testing.T) {
	const common = `
apiVersion: v1
kind: Pod
metadata: {name: ingress, namespace: infra, labels: {istio: ingressgateway}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
---
`
	// What meshcert writes in infra for team-b's managed Istio Gateway.
	credential := certs.CredentialName("team-b", "shop", "https")
	istioGateway := func(namespace, annotations, tls string) string {
		return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: %s, annotations: {%s}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE%s}
`, namespace, annotations, tls)
	}
	apiGateway := func(namespace, secret, annotations string) string {
		return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: %s, annotations: {%s}}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: api.example.com, tls: {certificateRefs: [{name: %s}]}}
`, namespace, annotations, secret)
	}
	tests := []struct {
		sentence string
		input    string
		want     []string
	}{
		{"a Gateway API listener naming the Secret meshcert manages for an Istio Gateway of another namespace is denied",
			istioGateway("team-b", "cert-manager.io/cluster-issuer: ca", "") + "---\n" + apiGateway("infra", credential, ""),
			[]string{"Gateway infra/api error MC8001 spec.listeners[0].tls.certificateRefs[0]"}},
		{"the shim's Certificate would be taken too, and the error says it first: no MC4002 beside it",
			istioGateway("team-b", "cert-manager.io/cluster-issuer: ca", "") + "---\n" + apiGateway("infra", credential, "cert-manager.io/cluster-issuer: ca"),
			[]string{"Gateway infra/api error MC8001 spec.listeners[0].tls.certificateRefs[0]"}},
		{"an Istio Gateway of another namespace reading the Secret the shim writes for an older listener is denied",
			dated(apiGateway("infra", "api-tls", "cert-manager.io/cluster-issuer: ca"), "2026-01-01T00:00:00Z") + "---\n" + istioGateway("team-b", "", ", credentialName: api-tls"),
			[]string{"Gateway team-b/shop error MC8001 spec.servers[0].tls.credentialName"}},
		{"a listener naming the Secret an older Istio Gateway of another namespace serves is denied: the shim would overwrite it",
			dated(istioGateway("team-b", "", ", credentialName: api-tls"), "2026-01-01T00:00:00Z") + "---\n" + dated(apiGateway("infra", "api-tls", "cert-manager.io/cluster-issuer: ca"), "2026-02-01T00:00:00Z"),
			[]string{"Gateway infra/api error MC8001 spec.listeners[0].tls.certificateRefs[0]"}},
		{"without timestamps (files in CI) neither is known to be first, and both are told",
			apiGateway("infra", "api-tls", "cert-manager.io/cluster-issuer: ca") + "---\n" + istioGateway("team-b", "", ", credentialName: api-tls"),
			[]string{"Gateway infra/api error MC8001 spec.listeners[0].tls.certificateRefs[0]", "Gateway team-b/shop error MC8001 spec.servers[0].tls.credentialName"}},
		{"an Istio Gateway of the listener's own namespace may read it",
			apiGateway("infra", "api-tls", "cert-manager.io/cluster-issuer: ca") + "---\n" + istioGateway("infra", "", ", credentialName: api-tls"),
			[]string{}},
		{"a listener naming a Secret of its own is no hijack",
			istioGateway("team-b", "cert-manager.io/cluster-issuer: ca", "") + "---\n" + apiGateway("infra", "api-tls", "cert-manager.io/cluster-issuer: ca"),
			[]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			opts := certs.DefaultOptions()
			opts.PolicyOnlyForKnownNamespaces = true
			res, err := PlanObjects(t.Context(), objectsFromYAML(t, common+tc.input), opts, "default")
			require.NoError(t, err)
			got := errorsAnd(res, "MC4002")
			assert.Equal(t, tc.want, got, "%s", strings.Join(messages(res), "\n"))
		})
	}
}

// dated gives a manifest's object a creationTimestamp, as the API server
// stores it.
func dated(manifest, created string) string {
	return strings.Replace(manifest, "metadata: {", "metadata: {creationTimestamp: \""+created+"\", ", 1)
}

func messages(res *Result) []string {
	var out []string
	for _, f := range res.Findings {
		out = append(out, string(f.Code)+": "+f.Message)
	}
	return out
}

// errorsAnd lists the errors of res and its findings of code, as "Kind
// namespace/name severity code field".
func errorsAnd(res *Result, code finding.Code) []string {
	got := []string{}
	for _, f := range res.Findings {
		if f.Severity == finding.SeverityError || f.Code == code {
			got = append(got, fmt.Sprintf("%s %s/%s %s %s %s", f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Severity, f.Code, f.Field))
		}
	}
	return got
}
