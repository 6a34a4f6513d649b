package gatewayapi

import (
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/finding"
)

func parse(t *testing.T, manifest string) *Object {
	t.Helper()
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(manifest), &obj.Object))
	o, err := Parse(obj)
	require.NoError(t, err)
	return o
}

func codes(fs finding.Findings) []finding.Code {
	var out []finding.Code
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

// The expected values come from cert-manager v1.21.2's gateway-shim
// (pkg/controller/certificate-shim sync.go and helper.go).
func TestPlanShimGateway(t *testing.T) {
	tests := []struct {
		name     string
		gateway  string
		opts     func(*ShimOptions)
		want     []*cmapi.Certificate
		findings []finding.Code
		acts     bool
	}{
		{
			name: "listeners sharing a Secret give one Certificate, hosts in listener order with repeats dropped and IP addresses apart",
			gateway: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: team-a
  uid: u1
  labels: {app: web, applyset.kubernetes.io/part-of: set}
  annotations: {cert-manager.io/cluster-issuer: le}
spec:
  gatewayClassName: istio
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: s1}]}}
  - {name: b, port: 443, protocol: TLS, hostname: "*.example.com", tls: {mode: Terminate, certificateRefs: [{name: s1, kind: Secret, group: ""}]}}
  - {name: c, port: 8443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: s1}]}}
  - {name: d, port: 9443, protocol: HTTPS, hostname: 1.2.3.4, tls: {certificateRefs: [{name: s1, namespace: team-a}]}}
`,
			acts: true,
			want: []*cmapi.Certificate{certificate("team-a", "s1", "Gateway", "gw", "u1", map[string]string{"app": "web"},
				map[string]string{"acme.cert-manager.io/http01-parentrefkind": "Gateway", "acme.cert-manager.io/http01-parentrefname": "gw"},
				cmapi.CertificateSpec{
					DNSNames: []string{"a.example.com", "*.example.com"}, IPAddresses: []string{"1.2.3.4"}, SecretName: "s1",
					IssuerRef: cmmeta.IssuerReference{Name: "le", Kind: "ClusterIssuer", Group: "cert-manager.io"},
					Usages:    cmapi.DefaultKeyUsages(),
				})},
		},
		{
			name: "a listener with two certificateRefs gives two Certificates with its hostname",
			gateway: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns, uid: u1, annotations: {cert-manager.io/issuer: ca}}
spec:
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: rsa}, {name: ecdsa}]}}
`,
			acts: true,
			want: []*cmapi.Certificate{
				certificate("ns", "rsa", "Gateway", "gw", "u1", nil, parentRef("Gateway", "gw"), spec("rsa", "a.example.com", "ca", "Issuer")),
				certificate("ns", "ecdsa", "Gateway", "gw", "u1", nil, parentRef("Gateway", "gw"), spec("ecdsa", "a.example.com", "ca", "Issuer")),
			},
		},
		{
			name: "HTTP, lower-case https, Passthrough and ignored listeners are left alone without a word",
			gateway: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: ns
  uid: u1
  annotations: {cert-manager.io/issuer: ca, cert-manager.io/ignore-tls-listeners: " legacy ,other"}
spec:
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: a.example.com}
  - {name: lower, port: 443, protocol: https, hostname: a.example.com, tls: {certificateRefs: [{name: lower}]}}
  - {name: pass, port: 443, protocol: TLS, hostname: b.example.com, tls: {mode: Passthrough}}
  - {name: legacy, port: 8443, protocol: HTTPS, tls: {certificateRefs: [{name: legacy}]}}
  - {name: ok, port: 443, protocol: HTTPS, hostname: c.example.com, tls: {certificateRefs: [{name: ok}]}}
`,
			acts: true,
			want: []*cmapi.Certificate{certificate("ns", "ok", "Gateway", "gw", "u1", nil, parentRef("Gateway", "gw"), spec("ok", "c.example.com", "ca", "Issuer"))},
		},
		{
			name: "an extra protocol the controller was given counts as TLS",
			gateway: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns, uid: u1, annotations: {cert-manager.io/issuer: ca}}
spec:
  listeners:
  - {name: q, port: 443, protocol: example.com/QUIC, hostname: q.example.com, tls: {certificateRefs: [{name: q}]}}
`,
			opts: func(o *ShimOptions) { o.ExtraProtocols = []string{"example.com/QUIC"} },
			acts: true,
			want: []*cmapi.Certificate{certificate("ns", "q", "Gateway", "gw", "u1", nil, parentRef("Gateway", "gw"), spec("q", "q.example.com", "ca", "Issuer"))},
		},
		{
			name: "a listener without a hostname, or with a Secret in another namespace, is skipped with MC2020 while the others still get theirs",
			gateway: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns, uid: u1, annotations: {cert-manager.io/issuer: ca}}
spec:
  listeners:
  - {name: nohost, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: nohost}]}}
  - {name: cross, port: 443, protocol: HTTPS, hostname: x.example.com, tls: {certificateRefs: [{name: mine}, {name: theirs, namespace: other}]}}
  - {name: notls, port: 443, protocol: HTTPS, hostname: y.example.com}
  - {name: norefs, port: 443, protocol: HTTPS, hostname: y.example.com, tls: {}}
  - {name: cm, port: 443, protocol: HTTPS, hostname: z.example.com, tls: {certificateRefs: [{name: cm, kind: ConfigMap}]}}
  - {name: ok, port: 443, protocol: HTTPS, hostname: ok.example.com, tls: {certificateRefs: [{name: ok}]}}
`,
			acts:     true,
			findings: []finding.Code{finding.CodeListenerSkippedByShim, finding.CodeListenerSkippedByShim, finding.CodeListenerSkippedByShim, finding.CodeListenerSkippedByShim, finding.CodeListenerSkippedByShim},
			want:     []*cmapi.Certificate{certificate("ns", "ok", "Gateway", "gw", "u1", nil, parentRef("Gateway", "gw"), spec("ok", "ok.example.com", "ca", "Issuer"))},
		},
		{
			name: "without the issuer or cluster-issuer key the shim does nothing, even with issuer-kind",
			gateway: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns, uid: u1, annotations: {cert-manager.io/issuer-kind: ClusterIssuer}}
spec:
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`,
		},
		{
			name: "an empty issuer annotation still triggers the shim, which then refuses it (MC1001) and writes nothing",
			gateway: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns, uid: u1, annotations: {cert-manager.io/issuer: ""}}
spec:
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`,
			acts:     true,
			findings: []finding.Code{finding.CodeInvalidIssuerAnnotation},
		},
		{
			name: "a duration Go cannot parse fails the shim's whole sync (MC1002), so no Certificate is written",
			gateway: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns, uid: u1, annotations: {cert-manager.io/issuer: ca, cert-manager.io/duration: 90d}}
spec:
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`,
			acts:     true,
			findings: []finding.Code{finding.CodeInvalidCertificateAnnotation},
		},
		{
			name: "alt-names are appended as written after the listener hosts, repeats kept, and spec annotations are applied",
			gateway: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: ns
  uid: u1
  annotations:
    cert-manager.io/issuer: ca
    cert-manager.io/alt-names: a.example.com,b.example.com
    cert-manager.io/duration: 2160h
    cert-manager.io/private-key-algorithm: ECDSA
    cert-manager.io/private-key-size: "384"
    acme.cert-manager.io/http01-edit-in-place: "true"
spec:
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`,
			acts: true,
			want: []*cmapi.Certificate{func() *cmapi.Certificate {
				s := spec("a", "a.example.com", "ca", "Issuer")
				s.DNSNames = append(s.DNSNames, "a.example.com", "b.example.com")
				s.Duration = duration("2160h")
				s.PrivateKey = &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 384}
				ann := parentRef("Gateway", "gw")
				ann["acme.cert-manager.io/http01-override-ingress-name"] = "gw"
				ann["cert-manager.io/issue-temporary-certificate"] = "true"
				return certificate("ns", "a", "Gateway", "gw", "u1", nil, ann, s)
			}()},
		},
		{
			name: "a Gateway being deleted in the foreground is left alone",
			gateway: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns, uid: u1, finalizers: [foregroundDeletion], annotations: {cert-manager.io/issuer: ca}}
spec:
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultShimOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			plan := PlanShim(parse(t, tt.gateway), nil, opts)
			assert.Equal(t, tt.acts, plan.Acts)
			assert.Equal(t, tt.findings, codes(plan.Findings), "findings: %v", plan.Findings)
			assert.Equal(t, tt.want, plan.Certificates)
		})
	}
}

func TestPlanShimListenerSet(t *testing.T) {
	gateway := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: shared
  namespace: infra
  uid: g1
  annotations: {cert-manager.io/issuer: ca-gw, cert-manager.io/issuer-kind: ClusterIssuer, cert-manager.io/duration: 1h}
spec:
  listeners:
  - {name: http, port: 80, protocol: HTTP}
`
	tests := []struct {
		name            string
		listenerSet     string
		parent          bool
		parentFinalizer bool
		want            []*cmapi.Certificate
	}{
		{
			name: "a parent Gateway with only the foregroundDeletion finalizer still lends its issuer",
			listenerSet: `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a, uid: l1}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`,
			parentFinalizer: true,
			want: []*cmapi.Certificate{certificate("team-a", "a", "ListenerSet", "team", "l1", nil, parentRef("ListenerSet", "team"),
				spec("a", "a.example.com", "ca-gw", "ClusterIssuer"))},
		},
		{
			name: "a ListenerSet without an issuer of its own takes its Gateway's, and only the issuer annotations",
			listenerSet: `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a, uid: l1}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`,
			parent: true,
			want: []*cmapi.Certificate{certificate("team-a", "a", "ListenerSet", "team", "l1", nil, parentRef("ListenerSet", "team"),
				spec("a", "a.example.com", "ca-gw", "ClusterIssuer"))},
		},
		{
			name: "a ListenerSet's own issuer wins, but the Gateway's issuer-kind is copied over it",
			listenerSet: `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a, uid: l1, annotations: {cert-manager.io/issuer: own, cert-manager.io/issuer-kind: Issuer}}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`,
			parent: true,
			want: []*cmapi.Certificate{certificate("team-a", "a", "ListenerSet", "team", "l1", nil, parentRef("ListenerSet", "team"),
				spec("a", "a.example.com", "own", "ClusterIssuer"))},
		},
		{
			name: "the parentref fallback points the HTTP-01 solver at the parent Gateway, in the parent's namespace",
			listenerSet: `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a, uid: l1, annotations: {acme.cert-manager.io/http01-parentreffallback: "TRUE"}}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`,
			parent: true,
			want: []*cmapi.Certificate{certificate("team-a", "a", "ListenerSet", "team", "l1", nil, map[string]string{
				"acme.cert-manager.io/http01-parentrefkind":      "Gateway",
				"acme.cert-manager.io/http01-parentrefname":      "shared",
				"acme.cert-manager.io/http01-parentrefnamespace": "infra",
			}, spec("a", "a.example.com", "ca-gw", "ClusterIssuer"))},
		},
		{
			name: "a ListenerSet whose parent Gateway is unknown gets nothing, whatever it names",
			listenerSet: `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a, uid: l1, annotations: {cert-manager.io/issuer: own}}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var parent *Object
			if tt.parent {
				parent = parse(t, gateway)
			}
			if tt.parentFinalizer {
				// The listenerset controller checks the parent's
				// deletionTimestamp only, not the finalizer.
				parent = parse(t, strings.Replace(gateway, "uid: g1", "uid: g1\n  finalizers: [foregroundDeletion]", 1))
			}
			plan := PlanShim(parse(t, tt.listenerSet), parent, DefaultShimOptions())
			assert.Empty(t, plan.Findings)
			assert.Equal(t, tt.want, plan.Certificates)
		})
	}
}
