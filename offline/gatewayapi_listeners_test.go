package offline

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

// listenerCodes are the findings about what istiod marks on Gateway API
// listeners (gatewayapi/listeners.go).
var listenerCodes = []string{"MC2004", "MC2011", "MC2013", "MC2022", "MC2023", "MC2024", "MC4001", "MC4008", "MC4010"}

// secretYAML is a Secret of namespace/name holding testdata/pki's root-a
// certificate with keyFile as its key.
func secretYAML(t *testing.T, namespace, name, keyFile string) string {
	t.Helper()
	indent := func(file string) string {
		data, err := os.ReadFile("../testdata/pki/" + file)
		require.NoError(t, err)
		return "    " + strings.ReplaceAll(strings.TrimSpace(string(data)), "\n", "\n    ")
	}
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n%s\n  tls.key: |\n%s\n",
		name, namespace, indent("root-a.pem"), indent(keyFile))
}

// expiredSecretYAML is a Secret of namespace/name holding a certificate
// and its key that expired in 2021.
func expiredSecretYAML(t *testing.T, namespace, name string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "a.example.com"},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	indent := func(block *pem.Block) string {
		return "    " + strings.ReplaceAll(strings.TrimSpace(string(pem.EncodeToMemory(block))), "\n", "\n    ")
	}
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n%s\n  tls.key: |\n%s\n",
		name, namespace, indent(&pem.Block{Type: "CERTIFICATE", Bytes: der}), indent(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
}

// placeholder is a Secret without data: it exists, its contents are not
// in the input.
func placeholder(namespace, name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\n", name, namespace)
}

// The rules are istiod's (pilot/pkg/config/kube/gateway of the pinned
// istio.io/istio); TestGatewayAPIConditionsAgreeWithIstiod compares them
// with the status the real istiod writes.
func TestIstiodListenerConditions(t *testing.T) {
	shared := `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra}
spec:
  gatewayClassName: istio
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - {name: shop, port: 443, protocol: HTTPS, hostname: shop.example.com, tls: {certificateRefs: [{name: shop-tls}]}}
  - {name: http, port: 80, protocol: HTTP}
---
` + placeholder("infra", "shop-tls")
	listenerSet := func(namespace, name, created, listeners string) string {
		return fmt.Sprintf("\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: ListenerSet\nmetadata: {name: %s, namespace: %s, creationTimestamp: %q}\nspec:\n  parentRef: {name: shared, namespace: infra}\n  listeners:\n%s\n---\n%s",
			name, namespace, created, listeners, placeholder(namespace, "tls"))
	}
	gateway := func(class, listeners string) string {
		return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: web, namespace: team-a}\nspec:\n  gatewayClassName: " + class + "\n  listeners:\n" + listeners + "\n---\n" + placeholder("team-a", "tls")
	}
	tests := []struct {
		sentence string
		input    string
		strict   bool
		want     []string
		// message is a part of the first finding's message.
		message string
	}{
		{sentence: "a Gateway of another class is left to its controller",
			input: gateway("example", `  - {name: http, port: 80, protocol: HTTP, hostname: a.example.com}
  - {name: https, port: 80, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: nope}]}}`),
			want: []string{}},
		{sentence: "HTTPS after HTTP on one port and hostname is conflicted, the first listener kept",
			input: gateway("istio", `  - {name: http, port: 80, protocol: HTTP, hostname: a.example.com}
  - {name: https, port: 80, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: tls}]}}`),
			want:    []string{"0 error MC2022 spec.listeners[1]"},
			message: `listener "https" conflicts with listener "http" of this Gateway, which istiod keeps because it comes first in spec.listeners: HTTPS and HTTP cannot share port 80 for one hostname (a.example.com); istiod marks this listener Conflicted=True (ProtocolConflict) and Accepted=False (ProtocolConflict)`},
		{sentence: "listeners of one port coexist when their hostnames differ, whatever their protocols, and TCP with nothing",
			input: gateway("istio", `  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: tls}]}}
  - {name: b, port: 443, protocol: TLS, hostname: b.example.com, tls: {mode: Passthrough}}
  - {name: any, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: tls}]}}
  - {name: wildcard, port: 443, protocol: HTTPS, hostname: "*.example.com", tls: {certificateRefs: [{name: tls}]}}
  - {name: tcp, port: 443, protocol: TCP}`),
			want:    []string{"0 error MC2022 spec.listeners[4]"},
			message: `TCP and HTTPS cannot share port 443`},
		{sentence: "a ListenerSet's listener repeating a Gateway listener's port and hostname is conflicted, as is one without a hostname",
			input: shared + listenerSet("team-a", "shop", "2026-01-01T00:00:00Z", `  - {name: shop, port: 443, protocol: HTTPS, hostname: shop.example.com, tls: {certificateRefs: [{name: tls}]}}
  - {name: http, port: 80, protocol: HTTP}
  - {name: blog, port: 443, protocol: HTTPS, hostname: blog.example.com, tls: {certificateRefs: [{name: tls}]}}`),
			want:    []string{"2 error MC2022 spec.listeners[0]", "2 error MC2022 spec.listeners[1]"},
			message: `listener "shop" conflicts with listener "shop" of Gateway infra/shared, which istiod keeps because a Gateway's own listeners come before its ListenerSets': both are HTTPS on port 443 for hostname "shop.example.com"; istiod marks this listener Conflicted=True (HostnameConflict)`},
		{sentence: "of two ListenerSets the older keeps a hostname, by creationTimestamp before name",
			input: shared + listenerSet("team-a", "a-newer", "2026-02-01T00:00:00Z", `  - {name: blog, port: 443, protocol: HTTPS, hostname: blog.example.com, tls: {certificateRefs: [{name: tls}]}}`) +
				listenerSet("team-b", "z-older", "2026-01-01T00:00:00Z", `  - {name: blog, port: 443, protocol: HTTPS, hostname: blog.example.com, tls: {certificateRefs: [{name: tls}]}}`),
			want:    []string{"2 error MC2022 spec.listeners[0]"},
			message: `conflicts with listener "blog" of ListenerSet team-b/z-older, which istiod keeps because istiod merges the ListenerSets of Gateway infra/shared oldest first`},
		{sentence: "a ListenerSet the Gateway does not admit is reported once, and neither its listeners nor others' against them are judged",
			input: strings.Replace(shared, "{namespaces: {from: All}}", "{namespaces: {from: Same}}", 1) +
				listenerSet("team-a", "shop", "2026-01-01T00:00:00Z", `  - {name: shop, port: 443, protocol: HTTPS, hostname: shop.example.com, tls: {certificateRefs: [{name: nope}]}}`) +
				listenerSet("infra", "mine", "2026-02-01T00:00:00Z", `  - {name: blog, port: 443, protocol: HTTPS, hostname: shop.example.com, tls: {certificateRefs: [{name: tls}]}}`),
			want:    []string{"2 error MC2024 spec.parentRef", "4 error MC2022 spec.listeners[0]"},
			message: `Gateway infra/shared admits ListenerSets only from its own namespace "infra" (from Same) by its spec.allowedListeners (none when unset), and not this one of namespace "team-a": istiod serves none of its listeners and marks the ListenerSet Accepted=False (NotAllowed)`},
		{sentence: "a namespace the input does not hold is taken as admitted by a selector",
			input: strings.Replace(shared, "{namespaces: {from: All}}", "{namespaces: {from: Selector, selector: {matchLabels: {shared: \"true\"}}}}", 1) +
				listenerSet("team-a", "shop", "2026-01-01T00:00:00Z", `  - {name: blog, port: 443, protocol: HTTPS, hostname: blog.example.com, tls: {certificateRefs: [{name: tls}]}}`),
			want: []string{}},
		{sentence: "a namespace the input holds without the selector's labels is not admitted",
			input: strings.Replace(shared, "{namespaces: {from: All}}", "{namespaces: {from: Selector, selector: {matchLabels: {shared: \"true\"}}}}", 1) +
				listenerSet("team-a", "shop", "2026-01-01T00:00:00Z", `  - {name: blog, port: 443, protocol: HTTPS, hostname: blog.example.com, tls: {certificateRefs: [{name: tls}]}}`) +
				"\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n",
			want: []string{"2 error MC2024 spec.parentRef"}},
		{sentence: "a protocol istiod does not serve is not accepted, with a hint for one in lower case",
			input: gateway("istio", `  - {name: lower, port: 8443, protocol: https}
  - {name: udp, port: 53, protocol: UDP}
  - {name: hbone, port: 15008, protocol: HBONE}`),
			want:    []string{"0 error MC2013 spec.listeners[0].protocol", "0 error MC2013 spec.listeners[1].protocol", "0 error MC2013 spec.listeners[2].protocol"},
			message: `listener "lower" has protocol "https", which istiod does not serve on a Gateway of class istio: it marks the listener Accepted=False (UnsupportedProtocol) and serves nothing on it; write "HTTPS" (protocols are case-sensitive)`},
		{sentence: "an HTTPS listener without tls is refused on a ListenerSet and accepted on a Gateway",
			input: shared + listenerSet("team-a", "shop", "2026-01-01T00:00:00Z", `  - {name: notls, port: 8443, protocol: HTTPS, hostname: notls.example.com}`) +
				"\n---\n" + gateway("istio", `  - {name: notls, port: 8443, protocol: HTTPS, hostname: notls.example.com}`),
			want: []string{"2 error MC2011 spec.listeners[0].tls"}},
		{sentence: "route kinds the protocol does not carry, of another group or listed twice make the listener unresolved, a warning",
			input: gateway("istio", `  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {kinds: [{kind: HTTPRoute}, {kind: TLSRoute}, {group: example.com, kind: GRPCRoute}, {kind: HTTPRoute}]}}
  - {name: terminate, port: 8443, protocol: TLS, hostname: t.example.com, tls: {mode: Terminate, certificateRefs: [{name: tls}]}, allowedRoutes: {kinds: [{kind: TCPRoute}, {kind: TLSRoute}]}}
  - {name: passthrough, port: 9443, protocol: TLS, hostname: p.example.com, tls: {mode: Passthrough}, allowedRoutes: {kinds: [{kind: TCPRoute}]}}`),
			want: []string{"0 warning MC2023 spec.listeners[0].allowedRoutes.kinds[1]", "0 warning MC2023 spec.listeners[0].allowedRoutes.kinds[2]",
				"0 warning MC2023 spec.listeners[0].allowedRoutes.kinds[3]", "0 warning MC2023 spec.listeners[2].allowedRoutes.kinds[0]"},
			message: `it admits TLSRoute, which istiod does not attach to a listener of protocol HTTP (it attaches HTTPRoute and GRPCRoute there); istiod marks the listener ResolvedRefs=False (InvalidRouteKinds)`},
		{sentence: "a route kind without a name, which only a file can hold, is said to be one",
			input:   gateway("istio", `  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {kinds: [{kind: ""}]}}`),
			want:    []string{"0 warning MC2023 spec.listeners[0].allowedRoutes.kinds[0]"},
			message: `it admits a kind "", which istiod does not attach`},
		{sentence: "a certificateRef that is not a core Secret is refused, whatever exists",
			input: gateway("istio", `  - {name: cm, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{kind: ConfigMap, name: tls}]}}
  - {name: core, port: 443, protocol: HTTPS, hostname: b.example.com, tls: {certificateRefs: [{group: core, kind: Secret, name: tls}]}}`),
			want:    []string{"0 error MC4008 spec.listeners[0].tls.certificateRefs[0].kind", "0 error MC4008 spec.listeners[1].tls.certificateRefs[0].group"},
			message: `listener "cm": certificateRefs[0] is a "ConfigMap", and istiod serves only a Secret of the core group (group "", kind Secret): name one; istiod marks the listener ResolvedRefs=False (InvalidCertificateRef) and serves nothing on it`},
		{sentence: "a Secret nothing provides is lenient, an error under --strict",
			input:  gateway("istio", `  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: nope}]}}`),
			strict: true,
			want:   []string{"0 error MC4001 spec.listeners[0].tls.certificateRefs[0].name"}},
		{sentence: "a Secret a Certificate of the input writes, or the gateway-shim's Certificate, is taken to be there",
			input: strings.Replace(gateway("istio", `  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: written}]}}
  - {name: b, port: 443, protocol: HTTPS, hostname: b.example.com, tls: {certificateRefs: [{name: shim}]}}`), "namespace: team-a}", "namespace: team-a, annotations: {cert-manager.io/cluster-issuer: ca, cert-manager.io/ignore-tls-listeners: a}}", 1) + `
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: written, namespace: team-a}
spec: {secretName: written, dnsNames: [a.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}`,
			want: []string{}},
		{sentence: "a Secret whose certificate and key do not match is refused; an empty one stands for contents kept out of the files",
			input: gateway("istio", `  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: mismatch}]}}
  - {name: b, port: 443, protocol: HTTPS, hostname: b.example.com, tls: {certificateRefs: [{name: good}]}}
  - {name: c, port: 443, protocol: HTTPS, hostname: c.example.com, tls: {certificateRefs: [{name: tls}]}}`) +
				"\n---\n" + secretYAML(t, "team-a", "mismatch", "pathlen0-ca.key") + "\n---\n" + secretYAML(t, "team-a", "good", "root-a.key"),
			want:    []string{"0 error MC4010 spec.listeners[0].tls.certificateRefs[0].name"},
			message: `istiod cannot serve Secret team-a/mismatch: its certificate and key do not load as a pair`},
		{sentence: "an expired certificate is an error istiod does not share: it serves the listener, so the condition is not named",
			input: gateway("istio", `  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: expired}]}}`) +
				"\n---\n" + expiredSecretYAML(t, "team-a", "expired"),
			want:    []string{"0 error MC4010 spec.listeners[0].tls.certificateRefs[0].name"},
			message: `listener "a": Secret team-a/expired holds a certificate that is valid only from 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z: istiod serves it all the same, and clients refuse the handshake; renew it`},
		{sentence: "a Secret of another namespace needs a ReferenceGrant for the referencing kind, namespace and Secret",
			input: shared + listenerSet("team-a", "shop", "2026-01-01T00:00:00Z", `  - {name: granted, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: shared-tls, namespace: certs}]}}`) +
				"\n---\n" + gateway("istio", `  - {name: granted, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: shared-tls, namespace: certs}]}}
  - {name: other, port: 443, protocol: HTTPS, hostname: b.example.com, tls: {certificateRefs: [{name: other-tls, namespace: certs}]}}`) + `
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gateways, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: team-a}]
  to: [{group: "", kind: Secret, name: shared-tls}]
---
` + placeholder("certs", "shared-tls") + "\n---\n" + placeholder("certs", "other-tls"),
			want:    []string{"2 error MC4008 spec.listeners[0].tls.certificateRefs[0].namespace", "4 error MC4008 spec.listeners[1].tls.certificateRefs[0].namespace"},
			message: `listener "granted": Secret certs/shared-tls is in another namespace, and no ReferenceGrant of namespace "certs" lets a ListenerSet of namespace "team-a" reference it: add one (from group gateway.networking.k8s.io, kind ListenerSet, namespace team-a; to group "", kind Secret), or move the Secret to "team-a"; istiod marks the listener ResolvedRefs=False (RefNotPermitted) and Accepted=False (NoValidCACertificate)`},
		{sentence: "with one good reference of two istiod serves the listener, so the bad one is a warning",
			input:   gateway("istio", `  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: tls}, {kind: ConfigMap, name: tls}]}}`),
			want:    []string{"0 warning MC4008 spec.listeners[0].tls.certificateRefs[1].kind"},
			message: `istiod leaves this reference out and serves the listener with the other certificate alone`},
		{sentence: "the first bad reference decides the reason: a missing Secret before one not permitted keeps the listener accepted",
			input: gateway("istio", `  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: nope}, {name: tls, namespace: certs}]}}`) +
				"\n---\n" + placeholder("certs", "tls"),
			want:    []string{"0 warning MC4001 spec.listeners[0].tls.certificateRefs[0].name", "0 error MC4008 spec.listeners[0].tls.certificateRefs[1].namespace"},
			message: `istiod marks the listener ResolvedRefs=False (InvalidCertificateRef) and serves nothing on it`},
		{sentence: "more than two certificateRefs are refused before any is looked at",
			input: gateway("istio", `  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: tls}, {name: tls}, {name: nope}]}}`),
			want:  []string{"0 error MC2004 spec.listeners[0].tls.certificateRefs"}},
		{sentence: "the mesh's own certificate (ISTIO_MUTUAL, ISTIO_SIMPLE) reads no certificateRefs, nor does Passthrough",
			input: gateway("istio", `  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {options: {gateway.istio.io/tls-terminate-mode: ISTIO_MUTUAL}, certificateRefs: [{name: nope}]}}
  - {name: b, port: 443, protocol: HTTPS, hostname: b.example.com, tls: {options: {gateway.istio.io/tls-terminate-mode: ISTIO_SIMPLE}}}
  - {name: c, port: 443, protocol: TLS, hostname: c.example.com, tls: {mode: Passthrough, certificateRefs: [{name: nope}]}}`),
			want: []string{}},
		{sentence: "a conflicted listener's references and protocol are not judged, its route kinds are",
			input: gateway("istio", `  - {name: tcp, port: 9000, protocol: TCP}
  - {name: tls, port: 9000, protocol: TLS, hostname: x.example.com, tls: {mode: Terminate, certificateRefs: [{name: nope}]}, allowedRoutes: {kinds: [{kind: HTTPRoute}]}}`),
			want: []string{"0 error MC2022 spec.listeners[1]", "0 warning MC2023 spec.listeners[1].allowedRoutes.kinds[0]"}},
	}
	for _, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			opts := certs.DefaultOptions()
			opts.Strict = tc.strict
			opts.NamespacePolicy = certs.PolicyOptional
			res, err := PlanObjects(t.Context(), objectsFromYAML(t, tc.input), opts, "default")
			require.NoError(t, err)
			got := []string{}
			var first string
			for _, f := range res.Findings {
				if !slices.Contains(listenerCodes, string(f.Code)) {
					continue
				}
				got = append(got, fmt.Sprintf("%d %s %s %s", f.Index, f.Severity, f.Code, f.Field))
				if first == "" {
					first = f.Message
				}
			}
			assert.Equal(t, tc.want, got)
			if tc.message != "" {
				assert.Contains(t, first, tc.message)
			}
		})
	}
}
