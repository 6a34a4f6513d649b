package offline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

// TestGatewayAPIObjectsAreHeldToTheNamespacePolicy: cert-manager's
// gateway-shim issues whatever a listener names, for any issuer the
// annotations name, so a namespace's policy (meshcert.io/allowed-hosts and
// allowed-issuers, docs/tenancy.md) holds the Certificates it will create
// for Gateway API objects as it holds a managed Istio Gateway's.
func TestGatewayAPIObjectsAreHeldToTheNamespacePolicy(t *testing.T) {
	const issuer = `
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
`
	namespace := func(annotations string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a%s}\n---\n", annotations)
	}
	const policy = `, annotations: {meshcert.io/allowed-hosts: "*.team-a.example.com", meshcert.io/allowed-issuers: ClusterIssuer/ca}`
	gateway := func(hostname string) string {
		return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  gatewayClassName: istio
  allowedListeners: {namespaces: {from: Same}}
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: %q, tls: {certificateRefs: [{name: web-tls}]}}
`, hostname)
	}
	const listenerSet = `
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: extra, namespace: team-a}
spec:
  parentRef: {name: web}
  listeners:
  - {name: other, port: 443, protocol: HTTPS, hostname: shop.example.org, tls: {certificateRefs: [{name: shop-tls}]}}
`
	tests := []struct {
		sentence string
		input    string
		mode     certs.PolicyMode
		want     []string
	}{
		{"a listener hostname the policy allows passes",
			namespace(policy) + gateway("web.team-a.example.com") + issuer, certs.PolicyRequired, []string{}},
		{"a listener hostname outside the policy is reported on that hostname",
			namespace(policy) + gateway("web.example.org") + issuer, certs.PolicyRequired,
			[]string{"1 error MC8003 spec.listeners[0].hostname"}},
		{"a namespace without a policy may claim no host and use no issuer",
			namespace("") + gateway("web.team-a.example.com") + issuer, certs.PolicyRequired,
			[]string{"1 error MC8003 metadata.namespace", "1 error MC8004 metadata.namespace"}},
		{"under the optional mode a namespace without a policy is unrestricted",
			namespace("") + gateway("web.team-a.example.com") + issuer, certs.PolicyOptional, []string{}},
		{"an issuer the policy does not allow is reported on the annotation naming it",
			namespace(`, annotations: {meshcert.io/allowed-hosts: "*.team-a.example.com", meshcert.io/allowed-issuers: ClusterIssuer/other}`) + gateway("web.team-a.example.com") + issuer,
			certs.PolicyRequired, []string{"1 error MC8004 metadata.annotations[cert-manager.io/cluster-issuer]"}},
		{"a ListenerSet's own listener outside the policy is reported on it, and on the Gateway whose issuer it takes",
			namespace(policy) + gateway("web.team-a.example.com") + issuer + listenerSet, certs.PolicyRequired,
			[]string{"1 error MC8003 metadata.annotations[cert-manager.io/cluster-issuer]", "3 error MC8003 spec.listeners[0].hostname"}},
		{"a listener whose Certificate another holds back (MC4002) is held to the policy all the same: the shim writes it once that one is gone",
			namespace(policy) + gateway("www.bank.example.org") + issuer + `
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, namespace: team-a}
spec: {secretName: web-tls, dnsNames: [web.team-a.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`, certs.PolicyRequired,
			[]string{"1 error MC8003 spec.listeners[0].hostname"}},
		{"a Gateway without an issuer gives its ListenerSets none, so nothing is issued and nothing said",
			namespace(policy) + strings.Replace(gateway("web.team-a.example.com"), "annotations: {cert-manager.io/cluster-issuer: ca}", "annotations: {}", 1) + issuer + listenerSet, certs.PolicyRequired,
			[]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			opts := certs.DefaultOptions()
			opts.NamespacePolicy = tc.mode
			opts.PolicyOnlyForKnownNamespaces = true
			res, err := PlanObjects(t.Context(), objectsFromYAML(t, tc.input), opts, "default")
			require.NoError(t, err)
			got := []string{}
			for _, f := range res.Findings {
				if f.Code == "MC8003" || f.Code == "MC8004" || f.Code == "MC8005" {
					got = append(got, fmt.Sprintf("%d %s %s %s", f.Index, f.Severity, f.Code, f.Field))
				}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestInheritedIssuerOutsidePolicySaysWhereToFixIt: a ListenerSet takes
// its Gateway's issuer, so an issuer its namespace may not use is the
// Gateway's to change, and the finding on the ListenerSet says so.
func TestInheritedIssuerOutsidePolicySaysWhereToFixIt(t *testing.T) {
	input := `
apiVersion: v1
kind: Namespace
metadata: {name: team-a, annotations: {meshcert.io/allowed-hosts: "*.team-a.example.com", meshcert.io/allowed-issuers: ClusterIssuer/team-a-ca}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra, annotations: {cert-manager.io/cluster-issuer: prod-ca}}
spec:
  gatewayClassName: istio
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: shop, namespace: team-a}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: shop, port: 443, protocol: HTTPS, hostname: shop.team-a.example.com, tls: {certificateRefs: [{name: shop-tls}]}}
`
	res, err := PlanObjects(t.Context(), objectsFromYAML(t, input), certs.DefaultOptions(), "default")
	require.NoError(t, err)
	var found bool
	for _, f := range res.Findings {
		if f.Index == 2 && f.Code == "MC8004" {
			found = true
			assert.Contains(t, f.Message, "(this ListenerSet takes cert-manager.io/cluster-issuer from Gateway infra/shared: fix it there)")
		}
	}
	assert.True(t, found, "MC8004 on the ListenerSet: %v", messages(res))
}
