package app

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// acmeRouteIssuer is an ACME ClusterIssuer whose only solver is a
// gatewayHTTPRoute without parentRefs: the Certificates cert-manager's
// gateway-shim writes name their Gateway (or ListenerSet) in the
// acme.cert-manager.io/http01-parentref* annotations, which give the
// solver's HTTPRoute its parent.
const acmeRouteIssuer = `
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: letsencrypt}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: letsencrypt-account}
    solvers:
    - http01: {gatewayHTTPRoute: {}}
`

// `meshcert check` follows a gatewayHTTPRoute solver's HTTPRoute to the
// Gateway API listeners of its input that would have to accept it.
func TestCheckGatewayHTTPRouteSolvers(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		wantExit   int
		wantStdout []string
	}{
		{
			name: "a Gateway the shim names as the route's parent, without a port-80 HTTP listener, fails the check on the listener's hostname",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: letsencrypt}}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
`,
			wantExit: exitFindings,
			wantStdout: []string{
				`error MC5012 Gateway team-a/web: spec.listeners[0].hostname:`,
				`to Gateway team-a/web (the Certificate's acme.cert-manager.io/http01-parentrefname annotation), where no listener accepts it on port 80: listener "https" is HTTPS on port 443`,
			},
		},
		{
			name: "with a port-80 HTTP listener, which admits routes of its own namespace, the check passes",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: letsencrypt}}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
  - {name: http, port: 80, protocol: HTTP}
`,
			wantExit: exitOK,
		},
		{
			name: "a ListenerSet's route attaches to the ListenerSet's own listeners, by default",
			input: sharedGatewayForRoutes + `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: letsencrypt}}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
`,
			wantExit:   exitFindings,
			wantStdout: []string{`error MC5012 ListenerSet team-a/team: spec.listeners[0].hostname:`, `to ListenerSet team-a/team (the Certificate's`},
		},
		{
			name: "with http01-parentreffallback the route attaches to the ListenerSet's Gateway, whose port-80 listener admits it",
			input: sharedGatewayForRoutes + `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata:
  name: team
  namespace: team-a
  annotations: {cert-manager.io/cluster-issuer: letsencrypt, acme.cert-manager.io/http01-parentreffallback: "true"}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
`,
			wantExit: exitOK,
		},
		{
			name: "a route parent that is not in the input may be applied later: a warning, an error under --strict",
			input: `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata:
  name: team
  namespace: team-a
  annotations: {cert-manager.io/cluster-issuer: letsencrypt, acme.cert-manager.io/http01-parentreffallback: "true"}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
`,
			wantExit:   exitOK,
			wantStdout: []string{`warning MC2021 ListenerSet team-a/team`, `warning MC5017 ListenerSet team-a/team: spec.listeners[0].hostname:`, `to Gateway infra/shared (the Certificate's acme.cert-manager.io/http01-parentrefname annotation), which does not exist`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, acmeRouteIssuer+"---"+tc.input, "check", "-f", "-")
			assert.Equal(t, tc.wantExit, code, "stdout: %s\nstderr: %s", stdout, stderr)
			if tc.wantStdout == nil {
				assert.NotContains(t, stdout, "MC5012")
				assert.NotContains(t, stdout, "MC5017")
			}
			for _, want := range tc.wantStdout {
				assert.Contains(t, stdout, want)
			}
			if strings.Contains(stdout, "MC5017") {
				_, _, strict := run(t, acmeRouteIssuer+"---"+tc.input, "check", "--strict", "-f", "-")
				assert.Equal(t, exitFindings, strict)
			}
		})
	}
}

// sharedGatewayForRoutes is a shared Gateway that admits ListenerSets and
// HTTPRoutes from every namespace on port 80.
const sharedGatewayForRoutes = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra}
spec:
  gatewayClassName: istio
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
---`
