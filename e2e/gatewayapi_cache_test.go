package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
)

// gatewayAPICacheObjects are the objects the webhook must see from its
// cache: a shared Gateway whose port-80 listener admits HTTPRoutes and
// ListenerSets from every namespace, naming a ClusterIssuer that is not
// applied; one with HTTPS alone; and one that sets only an issuer kind,
// which a ListenerSet takes from it. The namespaces' policies allow what
// the objects name, so only what is tested here is denied.
const gatewayAPICacheObjects = `
apiVersion: v1
kind: Namespace
metadata: {name: infra, annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: "*"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a, annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: "*"}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra, annotations: {cert-manager.io/cluster-issuer: not-applied}}
spec:
  gatewayClassName: istio
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: secure, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: secure-tls}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: kinded, namespace: infra, annotations: {cert-manager.io/issuer-kind: Bogus}}
spec:
  gatewayClassName: istio
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - {name: http, port: 80, protocol: HTTP}
`

// listenerSetYAML is ListenerSet team-a/team attached to Gateway
// infra/parent, with the given annotations (YAML flow-map entries).
func listenerSetYAML(parent, annotations string) string {
	return `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a, annotations: {` + annotations + `}}
spec:
  parentRef: {name: ` + parent + `, namespace: infra}
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
`
}

// routeIssuerYAML is an ACME ClusterIssuer whose gatewayHTTPRoute solver
// attaches to Gateway infra/gateway, and a Certificate of team-a from it.
func routeIssuerYAML(name, gateway string) (issuer, certificate string) {
	return `
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ` + name + `}
spec:
  acme:
    server: https://acme.invalid/directory
    privateKeySecretRef: {name: ` + name + `-account}
    solvers:
    - http01: {gatewayHTTPRoute: {parentRefs: [{name: ` + gateway + `, namespace: infra}]}}
`, `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: ` + name + `, namespace: team-a}
spec:
  secretName: ` + name + `-tls
  dnsNames: [web.example.com]
  issuerRef: {name: ` + name + `, kind: ClusterIssuer}
`
}

// dryRun applies manifests with --dry-run=server until check accepts
// kubectl's stderr and error: meshcert's cache catches up with what was
// just applied within moments.
func dryRun(t *testing.T, cp *framework.ControlPlane, what, manifests string, check func(stderr string, err error) error) {
	t.Helper()
	eventually(t, what, func(context.Context) error {
		_, stderr, err := kubectlRun(t, cp, manifests, "apply", "--dry-run=server", "-f", "-")
		return check(stderr, err)
	})
}

// TestWebhookSeesGatewayAPIFromItsCache runs meshcert serve, as the user
// the declared RBAC binds, on a plane that gets the Gateway API CRDs after
// meshcert started: until it restarts, a ListenerSet is told meshcert
// cannot see its Gateway. Restarted, its cache holds Gateway API Gateways
// and ListenerSets, so the validating webhook checks a ListenerSet with
// what its parent Gateway adds, and a gatewayHTTPRoute solver against the
// listeners its route would attach to.
func TestWebhookSeesGatewayAPIFromItsCache(t *testing.T) {
	cp := framework.Start(t, framework.WithoutControllerManager(), framework.WithoutCertManager())
	logStart(t, cp)
	m := startMeshcert(t, cp, framework.MeshcertConfig{})
	require.NoError(t, cp.InstallGatewayAPI(t.Context()))
	applyYAML(t, cp, gatewayAPICacheObjects)

	t.Run("CRDs installed after meshcert started are not seen until it restarts, and MC2021 says so", func(t *testing.T) {
		dryRun(t, cp, "MC2021 saying meshcert cannot see Gateways", listenerSetYAML("shared", ""), func(stderr string, err error) error {
			if err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			if !strings.Contains(stderr, "Warning: MC2021 spec.parentRef: meshcert knows no Gateway API Gateways") {
				return fmt.Errorf("no MC2021 about meshcert's cache: %s", stderr)
			}
			return nil
		})
	})
	require.NoError(t, m.Restart(t.Context()))

	t.Run("a ListenerSet whose Gateway does not exist is warned about (MC2021): the webhook knows the Gateways", func(t *testing.T) {
		dryRun(t, cp, "MC2021 for a missing parent", listenerSetYAML("missing", ""), func(stderr string, err error) error {
			if err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			if !strings.Contains(stderr, "Warning: MC2021 spec.parentRef: Gateway infra/missing is not known") {
				return fmt.Errorf("no MC2021 warning about the missing Gateway: %s", stderr)
			}
			return nil
		})
	})
	t.Run("a ListenerSet takes its issuer from its Gateway in the cache: no MC2021, and the Gateway's ClusterIssuer is the one looked for", func(t *testing.T) {
		dryRun(t, cp, "the parent found", listenerSetYAML("shared", ""), func(stderr string, err error) error {
			if err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			// The ListenerSet has no annotation of its own: a warning on
			// cert-manager.io/cluster-issuer is about its Gateway's.
			if strings.Contains(stderr, "MC2021") || !strings.Contains(stderr, "Warning: MC5002 cert-manager.io/cluster-issuer:") {
				return fmt.Errorf("the parent's ClusterIssuer is not looked for: %s", stderr)
			}
			return nil
		})
	})
	t.Run("a bad annotation a ListenerSet takes from its Gateway is denied", func(t *testing.T) {
		dryRun(t, cp, "the inherited issuer kind refused", listenerSetYAML("kinded", "cert-manager.io/issuer: ca"), func(stderr string, err error) error {
			if err == nil {
				return errors.New("admitted: the parent's issuer-kind is not seen yet")
			}
			if !strings.Contains(stderr, "MC5001") || !strings.Contains(stderr, `kind "Bogus"`) {
				return fmt.Errorf("not the inherited kind: %s", stderr)
			}
			return nil
		})
	})
	t.Run("a gatewayHTTPRoute solver whose parentRef names a Gateway without a port-80 listener is reported", func(t *testing.T) {
		issuer, certificate := routeIssuerYAML("le-secure", "secure")
		applyYAML(t, cp, issuer)
		dryRun(t, cp, "the solver refused", certificate, func(stderr string, err error) error {
			if err == nil {
				return errors.New("admitted")
			}
			if !strings.Contains(stderr, "MC5012") || !strings.Contains(stderr, `listener "https" is HTTPS on port 443`) {
				return fmt.Errorf("not the missing port-80 listener: %s", stderr)
			}
			return nil
		})
	})
	t.Run("a gatewayHTTPRoute solver whose parentRef reaches a port-80 HTTP listener that admits the route passes", func(t *testing.T) {
		issuer, certificate := routeIssuerYAML("le-shared", "shared")
		applyYAML(t, cp, issuer)
		dryRun(t, cp, "the solver admitted", certificate, func(stderr string, err error) error {
			if err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			assert.NotContains(t, stderr, "MC5012")
			assert.NotContains(t, stderr, "MC5017")
			return nil
		})
	})
	t.Run("a listener hostname outside its namespace's policy is denied on that hostname, before the shim can issue it", func(t *testing.T) {
		gateway := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bank, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: login.bank.example.org, tls: {certificateRefs: [{name: bank-tls}]}}
`
		dryRun(t, cp, "the host outside the policy denied", gateway, func(stderr string, err error) error {
			if err == nil {
				return errors.New("admitted: the shim would issue login.bank.example.org for team-a")
			}
			if !strings.Contains(stderr, "spec.listeners[0].hostname") || !strings.Contains(stderr, `"login.bank.example.org" is outside the hosts Namespace team-a may claim`) || !strings.Contains(stderr, "MC8003") {
				return fmt.Errorf("not the policy's denial: %s", stderr)
			}
			return nil
		})
	})

	t.Run("a listener naming the Secret meshcert manages for another namespace's Istio Gateway is denied (MC8001)", func(t *testing.T) {
		applyYAML(t, cp, `
apiVersion: v1
kind: Namespace
metadata: {name: team-b, annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: "*"}}
---
# No controller-manager makes it on this plane.
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: infra}
---
apiVersion: v1
kind: Pod
metadata: {name: ingress, namespace: infra, labels: {istio: ingressgateway}}
spec:
  containers: [{name: istio-proxy, image: docker.io/istio/proxyv2:1.28.0}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: team-b, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE}
`)
		credential := certs.CredentialName("team-b", "shop", "https")
		eventually(t, "meshcert's Certificate for team-b/shop in infra", func(context.Context) error {
			out, stderr, err := kubectlRun(t, cp, "", "get", "certificates", "-n", "infra", "-o", "jsonpath={.items[*].spec.secretName}")
			if err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			if !strings.Contains(out, credential) {
				return fmt.Errorf("no Certificate writes %s yet: %q", credential, out)
			}
			return nil
		})
		gateway := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: api.example.com, tls: {certificateRefs: [{name: ` + credential + `}]}}
`
		dryRun(t, cp, "the listener taking team-b's key denied", gateway, func(stderr string, err error) error {
			if err == nil {
				return errors.New("admitted: the listener would serve team-b's private key")
			}
			if !strings.Contains(stderr, "spec.listeners[0].tls.certificateRefs[0]") || !strings.Contains(stderr, "team-b/shop") || !strings.Contains(stderr, "MC8001") {
				return fmt.Errorf("not the hijack denial: %s", stderr)
			}
			return nil
		})
	})
}
