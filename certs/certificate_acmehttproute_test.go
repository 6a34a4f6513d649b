package certs_test

import (
	"slices"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshcert/meshcert/certs"
)

// routeGateway is Gateway API Gateway namespace/name with the given
// listeners (a YAML flow sequence) and spec entries.
func routeGateway(namespace, name, listeners, spec string) string {
	return `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ` + name + `, namespace: ` + namespace + `}
spec: {gatewayClassName: istio, listeners: ` + listeners + spec + `}
`
}

// routeCertificate is Certificate team-a/web from ClusterIssuer acme with
// the given spec entries and annotations (YAML flow-map entries).
func routeCertificate(spec, annotations string) string {
	return `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: team-a, annotations: {` + annotations + `}}
spec: {secretName: web-tls, issuerRef: {name: acme, kind: ClusterIssuer}, ` + spec + `}
`
}

const (
	http80    = `{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}`
	https443  = `{name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: web-tls}]}}`
	webName   = `dnsNames: [web.example.com]`
	toEdge    = `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge, namespace: infra}]}}}]`
	teamALbls = "\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-a, labels: {team: a}}\n"
)

// The HTTPRoute cert-manager creates for a gatewayHTTPRoute solver
// (pkg/issuer/acme/http/httproute.go at the pinned v1.21.2: in the
// Challenge's namespace, the Certificate's; hostnames [the name], none for
// an IP address; parentRefs from the solver, with the Order's
// acme.cert-manager.io/http01-parentref* annotations applied by acmeorders'
// applyGatewayAPIAnnotationParentRefOverride) must attach to a listener
// that serves the ACME server's request on port 80. Whether a listener
// accepts it is the Gateway API's rule (apis/v1 ParentReference, Listener,
// AllowedRoutes, ListenerSet, v1.6.0).
func TestACMEGatewayHTTPRouteParents(t *testing.T) {
	tests := []struct {
		name        string
		solvers     string
		certificate string
		objects     string
		strict      bool
		want        []string
		wantMessage string
	}{
		{
			name:    "a Gateway with an HTTP listener on port 80 that admits routes from every namespace accepts the route",
			solvers: toEdge,
			objects: routeGateway("infra", "edge", "["+https443+", "+http80+"]", ""),
		},
		{
			name:        "a Gateway with only an HTTPS listener on 443 accepts no HTTP-01 route: the ACME server connects to port 80 in plain HTTP",
			solvers:     toEdge,
			objects:     routeGateway("infra", "edge", "["+https443+"]", ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `attaches its HTTPRoute in namespace "team-a" to Gateway infra/edge, where no listener accepts it on port 80: listener "https" is HTTPS on port 443`,
		},
		{
			name:        "an HTTP listener on another port than 80 is not where the ACME server connects (a Service mapping 80 to it is not seen)",
			solvers:     toEdge,
			objects:     routeGateway("infra", "edge", `[{name: http, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]`, ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `listener "http" is HTTP on port 8080`,
		},
		{
			name:        "a listener admits routes only from its own namespace by default (allowedRoutes.namespaces from Same)",
			solvers:     toEdge,
			objects:     routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP}]`, ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `listener "http" admits routes only from its own namespace "infra" (from Same) (allowedRoutes.namespaces), not from namespace "team-a"`,
		},
		{
			name:    "a parentRef without a namespace names a Gateway in the route's namespace, the Certificate's, where from Same admits it",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge}]}}}]`,
			objects: routeGateway("team-a", "edge", `[{name: http, port: 80, protocol: HTTP}]`, ""),
		},
		{
			name:        "a parentRef without a namespace does not find a Gateway of another namespace; one not known may be applied later, a warning",
			solvers:     `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge}]}}}]`,
			objects:     routeGateway("infra", "edge", "["+http80+"]", ""),
			want:        []string{"warning MC5017 spec.dnsNames[0]"},
			wantMessage: `attaches its HTTPRoute to Gateway team-a/edge, which does not exist`,
		},
		{
			name:    "a Gateway that is not known is an error under strict",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge}]}}}]`,
			strict:  true,
			want:    []string{"error MC5017 spec.dnsNames[0]"},
		},
		{
			name:    "from Selector admits a namespace whose labels match",
			solvers: toEdge,
			objects: routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: a}}}}}]`, "") + "---" + teamALbls,
		},
		{
			name:        "from Selector rejects a namespace whose labels do not match",
			solvers:     toEdge,
			objects:     routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: b}}}}}]`, "") + "---" + teamALbls,
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `admits routes only from namespaces labelled team=b (from Selector)`,
		},
		{
			name:    "from Selector on kubernetes.io/metadata.name matches the namespace's name, a label the API server sets on every namespace",
			solvers: toEdge,
			objects: routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {kubernetes.io/metadata.name: team-a}}}}}]`, "") + "---" + teamALbls,
		},
		{
			name:    "from Selector admits a namespace whose labels are not known: nothing says it is not labelled",
			solvers: toEdge,
			objects: routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: b}}}}}]`, ""),
		},
		{
			name:        "allowedRoutes.kinds without HTTPRoute admits no HTTPRoute",
			solvers:     toEdge,
			objects:     routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}, kinds: [{kind: GRPCRoute}]}}]`, ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `listener "http" admits no HTTPRoute (allowedRoutes.kinds)`,
		},
		{
			name:    "allowedRoutes.kinds listing HTTPRoute, its group defaulted, admits it",
			solvers: toEdge,
			objects: routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}, kinds: [{kind: GRPCRoute}, {kind: HTTPRoute}]}}]`, ""),
		},
		{
			name:        "a listener hostname other than the name does not accept the route for it, whose hostnames are the name alone",
			solvers:     toEdge,
			objects:     routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP, hostname: shop.example.com, allowedRoutes: {namespaces: {from: All}}}]`, ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `whose port-80 HTTP listeners that admit it serve only "shop.example.com", so the route is not accepted for "web.example.com"`,
		},
		{
			name:        "a wildcard listener hostname matches names of one or more labels under it",
			solvers:     toEdge,
			certificate: routeCertificate(`dnsNames: [web.example.com, a.b.example.com]`, ""),
			objects:     routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}]`, ""),
		},
		{
			name:    "a wildcard listener hostname does not match its own suffix",
			solvers: toEdge,
			objects: routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP, hostname: "*.web.example.com", allowedRoutes: {namespaces: {from: All}}}]`, ""),
			want:    []string{"error MC5012 spec.dnsNames[0]"},
		},
		{
			name:        "one of several listeners with a matching hostname is enough, and each name is judged on its own",
			solvers:     toEdge,
			certificate: routeCertificate(`dnsNames: [web.example.com, shop.example.com, api.example.com]`, ""),
			objects:     routeGateway("infra", "edge", `[{name: web, port: 80, protocol: HTTP, hostname: web.example.com, allowedRoutes: {namespaces: {from: All}}}, {name: shop, port: 80, protocol: HTTP, hostname: shop.example.com, allowedRoutes: {namespaces: {from: All}}}]`, ""),
			want:        []string{"error MC5012 spec.dnsNames[2]"},
		},
		{
			name:        "an IP address's route has no hostnames, so any listener hostname accepts it",
			solvers:     toEdge,
			certificate: routeCertificate(`ipAddresses: [192.0.2.10]`, ""),
			objects:     routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP, hostname: shop.example.com, allowedRoutes: {namespaces: {from: All}}}]`, ""),
		},
		{
			name:        "sectionName selects the listener: naming the HTTPS one fails, though an HTTP one on 80 exists",
			solvers:     `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge, namespace: infra, sectionName: https}]}}}]`,
			objects:     routeGateway("infra", "edge", "["+https443+", "+http80+"]", ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `listener "https" is HTTPS on port 443`,
		},
		{
			name:        "a sectionName that names no listener attaches to none",
			solvers:     `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge, namespace: infra, sectionName: acme}]}}}]`,
			objects:     routeGateway("infra", "edge", "["+http80+"]", ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `which has no listener named "acme" (sectionName)`,
		},
		{
			name:        "a sectionName whose listener is on another port than the parentRef's port selects nothing, and the port is named",
			solvers:     `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge, namespace: infra, sectionName: http, port: 80}]}}}]`,
			objects:     routeGateway("infra", "edge", `[{name: http, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]`, ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `whose listener "http" (sectionName) is on port 8080, not on port 80 (port)`,
		},
		{
			name:    "port 80 on the parentRef selects the port-80 listeners",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge, namespace: infra, port: 80}]}}}]`,
			objects: routeGateway("infra", "edge", "["+https443+", "+http80+"]", ""),
		},
		{
			name:    "a ListenerSet parentRef attaches to the ListenerSet's own listeners, where its Gateway admits it",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: team, kind: ListenerSet}]}}}]`,
			objects: routeGateway("infra", "edge", "["+https443+"]", ", allowedListeners: {namespaces: {from: All}}") +
				"---\napiVersion: gateway.networking.k8s.io/v1\nkind: ListenerSet\nmetadata: {name: team, namespace: team-a}\nspec:\n  parentRef: {name: edge, namespace: infra}\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n",
		},
		{
			name:    "a ListenerSet's listener on port 80 is what counts, not its Gateway's",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: team, kind: ListenerSet}]}}}]`,
			objects: routeGateway("infra", "edge", "["+http80+"]", ", allowedListeners: {namespaces: {from: All}}") +
				"---\napiVersion: gateway.networking.k8s.io/v1\nkind: ListenerSet\nmetadata: {name: team, namespace: team-a}\nspec:\n  parentRef: {name: edge, namespace: infra}\n  listeners: [" + https443 + "]\n",
			want: []string{"error MC5012 spec.dnsNames[0]"},
		},
		{
			name:    "a ListenerSet its Gateway does not admit (allowedListeners admits none by default) serves nothing",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: team, kind: ListenerSet}]}}}]`,
			objects: routeGateway("infra", "edge", "["+https443+"]", "") +
				"---\napiVersion: gateway.networking.k8s.io/v1\nkind: ListenerSet\nmetadata: {name: team, namespace: team-a}\nspec:\n  parentRef: {name: edge, namespace: infra}\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n",
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `which Gateway infra/edge does not admit (its spec.allowedListeners from no namespace (from None))`,
		},
		{
			name:    "a ListenerSet whose Gateway is not known serves nothing yet, a warning",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: team, kind: ListenerSet}]}}}]`,
			objects: "\napiVersion: gateway.networking.k8s.io/v1\nkind: ListenerSet\nmetadata: {name: team, namespace: team-a}\nspec:\n  parentRef: {name: edge, namespace: infra}\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n",
			want:    []string{"warning MC5017 spec.dnsNames[0]"},
		},
		{
			name:        "the Certificate's parentref annotations replace a solver parentRef of that namespace and name, as the shim's Certificates carry them",
			solvers:     `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge, namespace: team-a, sectionName: https}]}}}]`,
			certificate: routeCertificate(webName, `acme.cert-manager.io/http01-parentrefkind: Gateway, acme.cert-manager.io/http01-parentrefname: edge`),
			objects:     routeGateway("team-a", "edge", "["+https443+", "+http80+"]", ""),
		},
		{
			name:        "a solver parentRef without a namespace is not one the annotations replace: cert-manager compares the namespace as written",
			solvers:     `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge, sectionName: https}]}}}]`,
			certificate: routeCertificate(webName, `acme.cert-manager.io/http01-parentrefkind: Gateway, acme.cert-manager.io/http01-parentrefname: edge`),
			objects:     routeGateway("team-a", "edge", "["+https443+", "+http80+"]", ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
		},
		{
			name:        "a parentRef from the annotations is said to come from there",
			solvers:     `[{http01: {gatewayHTTPRoute: {}}}]`,
			certificate: routeCertificate(webName, `acme.cert-manager.io/http01-parentrefkind: Gateway, acme.cert-manager.io/http01-parentrefname: edge, acme.cert-manager.io/http01-parentrefnamespace: infra`),
			objects:     routeGateway("infra", "edge", "["+https443+"]", ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: `to Gateway infra/edge (the Certificate's acme.cert-manager.io/http01-parentrefname annotation), where`,
		},
		{
			name:        "only one of the parentref annotations fails cert-manager's order",
			solvers:     toEdge,
			certificate: routeCertificate(webName, `acme.cert-manager.io/http01-parentrefname: edge`),
			objects:     routeGateway("infra", "edge", "["+http80+"]", ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: "cannot specify only one of parentRefName, parentRefKind override annotations",
		},
		{
			name:    "a parentRef of another kind than Gateway and ListenerSet is not checked",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{group: "", kind: Service, name: web}]}}}]`,
		},
		{
			name:        "every parentRef must reach a listener, not just one of them",
			solvers:     `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge, namespace: infra}, {name: other, namespace: infra}]}}}]`,
			objects:     routeGateway("infra", "edge", "["+http80+"]", "") + "---" + routeGateway("infra", "other", "["+https443+"]", ""),
			want:        []string{"error MC5012 spec.dnsNames[0]"},
			wantMessage: "to Gateway infra/other,",
		},
		{
			name:        "what is wrong with the Gateway whatever the name is reported once, at the first name",
			solvers:     toEdge,
			certificate: routeCertificate(`dnsNames: [web.example.com, shop.example.com]`, ""),
			objects:     routeGateway("infra", "edge", "["+https443+"]", ""),
			want:        []string{"error MC5012 spec.dnsNames[1]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			certificate := tc.certificate
			if certificate == "" {
				certificate = routeCertificate(webName, "")
			}
			crt := &cmapi.Certificate{}
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(objectFromYAML(t, certificate).Object, crt))
			stream := acmeIssuer(pebble, tc.solvers)
			if tc.objects != "" {
				stream += "---" + tc.objects
			}
			opts := cliOptions()
			opts.Strict = tc.strict
			got := http01Findings(certs.CheckCertificate(t.Context(), crt, indexOf(t, stream), opts))
			if tc.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tc.want, summary(got))
			if tc.wantMessage != "" {
				require.NotEmpty(t, got)
				assert.Contains(t, got[0].Message, tc.wantMessage)
			}
		})
	}
}

// withoutRouteParents is a Lookup that knows no Gateway API objects, as the
// server's does without their CRDs: it hides the Index's RouteParent.
type withoutRouteParents struct{ certs.Lookup }

// A lookup that does not know Gateway API objects checks a
// gatewayHTTPRoute solver only for what it says itself, as before.
func TestACMEGatewayHTTPRouteParentsUnknown(t *testing.T) {
	crt := &cmapi.Certificate{}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(objectFromYAML(t, routeCertificate(webName, "")).Object, crt))
	index := indexOf(t, acmeIssuer(pebble, toEdge)+"---"+routeGateway("infra", "edge", "["+https443+"]", ""))
	require.NotEmpty(t, http01Findings(certs.CheckCertificate(t.Context(), crt, index, cliOptions())), "the Index knows the Gateway")
	_, knows := certs.Lookup(withoutRouteParents{index}).(certs.RouteParents)
	require.False(t, knows)
	assert.Empty(t, http01Findings(certs.CheckCertificate(t.Context(), crt, withoutRouteParents{index}, cliOptions())))

	index = indexOf(t, acmeIssuer(pebble, `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: edge, port: 8080}]}}}]`))
	assert.Equal(t, []string{"error MC5012 spec.dnsNames[0]"}, summary(http01Findings(certs.CheckCertificate(t.Context(), crt, withoutRouteParents{index}, cliOptions()))),
		"what the solver says itself is still checked")
}

// An Istio Gateway's Certificate lives in the credential namespace, and so
// does the solver's HTTPRoute.
func TestACMEGatewayHTTPRouteOfIstioGateway(t *testing.T) {
	gw := certs.ParseGateway(buildGateway(t, withAnnotation("cert-manager.io/cluster-issuer", "acme"), withHosts(0, "web.example.com")))
	stream := acmeIssuer(pebble, toEdge) + "---" + routeGateway("infra", "edge", `[{name: http, port: 80, protocol: HTTP}]`, "")
	plan := certs.PlanGateway(t.Context(), gw, indexOf(t, stream), cliOptions())
	got := http01Findings(plan.Findings)
	require.Equal(t, []string{"error MC5012 spec.servers[0].hosts[0]"}, summary(got))
	assert.Contains(t, got[0].Message, `not from namespace "istio-system"`)
	assert.True(t, slices.ContainsFunc(plan.Certificates, func(c *cmapi.Certificate) bool { return c.Namespace == "istio-system" }))
	assert.True(t, strings.HasPrefix(got[0].Message, "the gatewayHTTPRoute solver of ACME ClusterIssuer \"acme\""), got[0].Message)
}
