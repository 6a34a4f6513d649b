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

// TestHostsSharedWithIstioGatewaysOnOneWorkload: istiod turns the listeners
// of a Gateway API Gateway of class istio into servers and merges them with
// the Istio Gateways that apply to the same proxy (PushContext.mergeGateways),
// so one host served with tls settings by both on one port cannot be
// served twice. A listener applies to the Pods behind the Gateway's own
// Services: the gateway istiod deploys (its Pods carry
// gateway.networking.k8s.io/gateway-name), or the Services spec.addresses
// names, in the Gateway's namespace. On a gateway istiod deploys, Istio
// Gateways of other namespaces are not merged at all
// (PILOT_ENABLE_STRICT_GATEWAY_MERGING). Both sides are told, as between
// Istio Gateways: another namespace's object that claimed the host first
// takes it (MC8002, and meshcert makes no certificate for it); otherwise
// istiod cannot serve both (MC3003).
func TestHostsSharedWithIstioGatewaysOnOneWorkload(t *testing.T) {
	const common = `
apiVersion: v1
kind: Pod
metadata: {name: ingress, namespace: infra, labels: {istio: ingressgateway}}
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: infra}
spec: {selector: {istio: ingressgateway}, ports: [{port: 443, targetPort: 8443}]}
---
`
	istioGateway := func(namespace, selector, protocol, tls string) string {
		return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: %s}
spec:
  selector: {%s}
  servers:
  - port: {number: 443, name: https, protocol: %s}
    hosts: [api.example.com]
%s
`, namespace, selector, protocol, tls)
	}
	const simple = "    tls: {mode: SIMPLE, credentialName: shop-tls}"
	apiGateway := func(namespace, addresses, protocol string) string {
		return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: %s}
spec:
  gatewayClassName: istio
  addresses: [%s]
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - {name: https, port: 443, protocol: %s, hostname: api.example.com, tls: {certificateRefs: [{name: api-tls}]}}
`, namespace, addresses, protocol)
	}
	listenerSet := `apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a}
spec:
  parentRef: {name: api, namespace: infra}
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: shop.example.com, tls: {certificateRefs: [{name: shop-tls}]}}
`
	const manual = "{type: Hostname, value: istio-ingressgateway}"
	const gatewayPods = "gateway.networking.k8s.io/gateway-name: api"
	tests := []struct {
		sentence string
		input    string
		want     []string
	}{
		{"an Istio Gateway of the Gateway's namespace on the gateway istiod deploys cannot serve the listener's host with tls settings too",
			istioGateway("infra", gatewayPods, "HTTPS", simple) + "---\n" + apiGateway("infra", "", "HTTPS"),
			[]string{"Gateway infra/shop error MC3003 spec.servers[0].hosts[0]", "Gateway infra/api error MC3003 spec.listeners[0].hostname"}},
		{"a TLS listener's host counts as an HTTPS one's",
			istioGateway("infra", gatewayPods, "HTTPS", simple) + "---\n" + apiGateway("infra", "", "TLS"),
			[]string{"Gateway infra/shop error MC3003 spec.servers[0].hosts[0]", "Gateway infra/api error MC3003 spec.listeners[0].hostname"}},
		{"on the gateway istiod deploys, an Istio Gateway of another namespace is not merged: it takes nothing, and is told it is not served there",
			istioGateway("team-b", gatewayPods, "HTTPS", simple) + "---\n" + apiGateway("infra", "", "HTTPS"),
			[]string{"Gateway team-b/shop warning MC2025 spec.selector"}},
		{"an Istio Gateway without a selector is meant for every gateway, and is not told",
			strings.Replace(istioGateway("team-b", "", "HTTPS", simple), "  selector: {}\n", "", 1) + "---\n" + apiGateway("infra", "", "HTTPS"),
			[]string{}},
		{"an Istio Gateway selecting other Pods is not on the Gateway's workload",
			istioGateway("infra", "istio: ingressgateway", "HTTPS", simple) + "---\n" + apiGateway("infra", "", "HTTPS"),
			[]string{}},
		{"an Istio Gateway serving the host in plain text is no TLS conflict",
			istioGateway("infra", gatewayPods, "HTTP", "") + "---\n" + apiGateway("infra", "", "HTTPS"),
			[]string{}},
		{"a manual deployment runs on the Pods its Service selects, where an older Istio Gateway of another namespace owns the host",
			dated(istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple), "2026-01-01T00:00:00Z") + "---\n" + dated(apiGateway("infra", manual, "HTTPS"), "2026-02-01T00:00:00Z"),
			[]string{"Gateway team-b/shop error MC3003 spec.servers[0].hosts[0]", "Gateway infra/api error MC8002 spec.listeners[0].hostname"}},
		{"without timestamps (files in CI) neither is known to be first, and both are told",
			istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple) + "---\n" + apiGateway("infra", manual, "HTTPS"),
			[]string{"Gateway team-b/shop error MC8002 spec.servers[0].hosts[0]", "Gateway infra/api error MC8002 spec.listeners[0].hostname"}},
		{"a newer Istio Gateway of another namespace may not take the host of an older Gateway on its Pods, which still cannot serve it beside",
			dated(istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple), "2026-02-01T00:00:00Z") + "---\n" + dated(apiGateway("infra", manual, "HTTPS"), "2026-01-01T00:00:00Z"),
			[]string{"Gateway team-b/shop error MC8002 spec.servers[0].hosts[0]", "Gateway infra/api error MC3003 spec.listeners[0].hostname"}},
		{"an address naming a Service of another namespace is one istiod never matches",
			istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple) + "---\n" + apiGateway("infra", "{type: Hostname, value: istio-ingressgateway.istio-system.svc.cluster.local}", "HTTPS"),
			[]string{}},
		{"a fully qualified address of the Gateway's namespace is its Service",
			istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple) + "---\n" + apiGateway("infra", "{type: Hostname, value: istio-ingressgateway.infra.svc.cluster.local}", "HTTPS"),
			[]string{"Gateway team-b/shop error MC8002 spec.servers[0].hosts[0]", "Gateway infra/api error MC8002 spec.listeners[0].hostname"}},
		{"one IP address is still a gateway istiod deploys",
			istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple) + "---\n" + apiGateway("infra", "{type: IPAddress, value: 10.0.0.1}", "HTTPS"),
			[]string{}},
		{"a ListenerSet's listeners run on its Gateway's workload, with the Istio Gateways of the Gateway's namespace",
			strings.Replace(istioGateway("infra", gatewayPods, "HTTPS", simple), "api.example.com", "shop.example.com", 1) + "---\n" + apiGateway("infra", "", "HTTPS") + "---\n" + listenerSet,
			[]string{"Gateway infra/shop error MC8002 spec.servers[0].hosts[0]", "ListenerSet team-a/team error MC8002 spec.listeners[0].hostname"}},
		{"a ListenerSet's namespace joins the Gateway's: istiod then merges its Istio Gateways onto the gateway it deploys",
			strings.Replace(istioGateway("team-a", gatewayPods, "HTTPS", simple), "api.example.com", "other.example.com", 1) + "---\n" + apiGateway("infra", "", "HTTPS") + "---\n" + listenerSet,
			[]string{}},
		{"a gateway istiod deploys whose listeners are all placeholders (HTTPS without tls) keeps no namespace apart",
			istioGateway("team-b", gatewayPods, "HTTPS", simple) + "---\n" + strings.Replace(apiGateway("infra", "", "HTTPS"), ", tls: {certificateRefs: [{name: api-tls}]}", "", 1),
			[]string{}},
		{"the Pods istiod deploys carry the Gateway's own labels when it has no infrastructure labels",
			istioGateway("infra", "team: edge", "HTTPS", simple) + "---\n" + strings.Replace(apiGateway("infra", "", "HTTPS"), "namespace: infra}", "namespace: infra, labels: {team: edge}}", 1),
			[]string{"Gateway infra/shop error MC3003 spec.servers[0].hosts[0]", "Gateway infra/api error MC3003 spec.listeners[0].hostname"}},
		{"infrastructure labels replace the Gateway's own, without those of the Gateway API's prefix",
			istioGateway("infra", "gateway.networking.k8s.io/team: edge", "HTTPS", simple) + "---\n" + strings.Replace(apiGateway("infra", "", "HTTPS"), "  gatewayClassName: istio\n", "  gatewayClassName: istio\n  infrastructure: {labels: {gateway.networking.k8s.io/team: edge}}\n", 1),
			[]string{}},
		{"a dotted address other than the Service's full name matches no Service",
			istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple) + "---\n" + apiGateway("infra", "{type: Hostname, value: istio-ingressgateway.infra.svc}", "HTTPS"),
			[]string{}},
		{"an Istio Gateway without a selector is merged onto every gateway of its namespace, both sides told",
			strings.Replace(istioGateway("infra", "", "HTTPS", simple), "  selector: {}\n", "", 1) + "---\n" + apiGateway("infra", "", "HTTPS"),
			[]string{"Gateway infra/shop error MC3003 spec.servers[0].hosts[0]", "Gateway infra/api error MC3003 spec.listeners[0].hostname"}},
	}
	for _, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			opts := certs.DefaultOptions()
			opts.PolicyOnlyForKnownNamespaces = true
			res, err := PlanObjects(t.Context(), objectsFromYAML(t, common+tc.input), opts, "default")
			require.NoError(t, err)
			got := errorsAnd(res, "MC2025")
			assert.Equal(t, tc.want, got, "%s", strings.Join(messages(res), "\n"))
		})
	}
}

// TestIstioGatewayOnAGatewayIstiodDeploysGetsItsCredentialThere: the Pods of
// the gateway istiod deploys for a Gateway API Gateway run in that
// Gateway's namespace, where istiod then reads the credentials of an Istio
// Gateway of the same namespace merged onto it, whether or not the input
// holds those Pods.
func TestIstioGatewayOnAGatewayIstiodDeploysGetsItsCredentialThere(t *testing.T) {
	const input = `
apiVersion: v1
kind: Pod
metadata: {name: ingress, namespace: istio-system, labels: {istio: ingressgateway}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: infra, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: api}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE}
`
	res, err := PlanObjects(t.Context(), objectsFromYAML(t, input), certs.DefaultOptions(), "default")
	require.NoError(t, err)
	require.Len(t, res.Certificates, 1, "%s", strings.Join(messages(res), "\n"))
	assert.Equal(t, "infra", res.Certificates[0].Namespace)
	for _, f := range res.Findings {
		assert.NotEqual(t, finding.CodeSelectorMatchesNoWorkload, f.Code, "the selector picks the gateway istiod deploys: %s", f.Message)
	}
}

// TestIstioGatewayOnAGatewayIstiodDeploysIsWarnedWhatItLacks: istiod merges
// an Istio Gateway of the namespace onto the gateway it deploys for a
// Gateway API Gateway, but that gateway's Service exposes only the
// listeners' ports and 15021 (extractServicePorts), and its ServiceAccount
// gets no right to list Secrets, without which istiod serves it no
// credentialName Secret (sds.go's filterAuthorizedResources).
func TestIstioGatewayOnAGatewayIstiodDeploysIsWarnedWhatItLacks(t *testing.T) {
	const apiGateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: infra, annotations: {gateway.istio.io/service-account: edge}}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: api.example.com, tls: {certificateRefs: [{name: api-tls}]}}
---
`
	istioGateway := func(port, tls string) string {
		return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: legacy, namespace: infra}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: api}
  servers:
  - port: {number: %s, name: https, protocol: HTTPS}
    hosts: [www.example.com]
    tls: %s
`, port, tls)
	}
	tests := []struct {
		sentence string
		input    string
		want     []string
	}{
		{"a port no listener has is not on the Service, and a credentialName needs a right the gateway lacks",
			istioGateway("8443", "{mode: SIMPLE, credentialName: www-tls}"),
			[]string{"Gateway infra/legacy warning MC4011 spec.servers[0].port.number", "Gateway infra/legacy warning MC4012 spec.servers[0].tls.credentialName"}},
		{"a listener's port is on the Service",
			istioGateway("443", "{mode: SIMPLE, credentialName: www-tls}"),
			[]string{"Gateway infra/legacy warning MC4012 spec.servers[0].tls.credentialName"}},
		{"a passthrough server reads no Secret",
			istioGateway("443", "{mode: PASSTHROUGH}"),
			[]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			res, err := PlanObjects(t.Context(), objectsFromYAML(t, apiGateway+tc.input), certs.DefaultOptions(), "default")
			require.NoError(t, err)
			got := []string{}
			for _, f := range res.Findings {
				if f.Code == finding.CodePortNotOnService || f.Code == finding.CodeCredentialNeedsSecretAccess {
					got = append(got, fmt.Sprintf("%s %s/%s %s %s %s", f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Severity, f.Code, f.Field))
					if f.Code == finding.CodeCredentialNeedsSecretAccess {
						assert.Contains(t, f.Message, `ServiceAccount "edge"`)
					}
				}
			}
			assert.Equal(t, tc.want, got, "%s", strings.Join(messages(res), "\n"))
		})
	}
}
