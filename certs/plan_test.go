package certs_test

import (
	"encoding/json"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
)

// cluster is the background most planner tests run against: a CA
// ClusterIssuer, an Issuer in istio-system, an ACME ClusterIssuer and the
// default ingress gateway Pod in istio-system.
const cluster = `
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: root}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: letsencrypt}
spec:
  acme:
    server: https://acme.example/directory
    privateKeySecretRef: {name: le}
    solvers: [{http01: {ingress: {ingressClassName: istio}}}]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: istio}
spec: {controller: istio.io/ingress-controller}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: mesh-ca, namespace: istio-system}
spec: {ca: {secretName: root}}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: team-ca, namespace: team-a}
spec: {ca: {secretName: root}}
---
apiVersion: v1
kind: Pod
metadata:
  name: istio-ingressgateway-1
  namespace: istio-system
  labels: {istio: ingressgateway}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge, namespace: edge-a}
spec:
  template:
    metadata:
      labels: {istio: edge}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: edge, namespace: edge-b}
spec:
  template:
    metadata:
      labels: {istio: edge}
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-auto
  labels: {meshcert.io/inject: enabled}
  annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/ca}
`

const simpleGateway = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
  namespace: team-a
  annotations:
    cert-manager.io/cluster-issuer: ca
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [team-a/web.example.com, "*/api.example.com"]
    tls: {mode: SIMPLE}
`

func TestPlanGateway(t *testing.T) {
	webCred := certs.CredentialName("team-a", "web", "https")
	mtlsCred := certs.CredentialName("team-a", "mtls", "https")
	tests := []struct {
		name string
		// extra objects on top of cluster
		extra string
		// mutate turns simpleGateway into this case's Gateway; nil is the
		// base as is.
		mutate []mutation
		opts   func(*certs.Options)
		// wantManaged, wantInjected (field → name), wantCerts (ns/name → dnsNames)
		wantManaged  bool
		wantInjected map[string]string
		wantCerts    map[string][]string
		wantFindings []string
	}{
		{
			name:         "an annotated SIMPLE server gets a credential and a Certificate in the workload namespace",
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
		},
		{
			name: "an opted-out Gateway is left alone and Istio's rule about a missing credential is reported",
			mutate: []mutation{
				withAnnotation("meshcert.io/inject", "false"),
				withHosts(0, "web.example.com"),
			},
			wantFindings: []string{"error MC2005 spec.servers[0].tls.credentialName"},
		},
		{
			name: "an unannotated Gateway in a labelled namespace is managed with the default issuer",
			mutate: []mutation{
				withAPIVersion("networking.istio.io/v1beta1"),
				withName("auto"),
				withNamespace("team-auto"),
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withHosts(0, "auto.example.com"),
			},
			opts: func(o *certs.Options) {
				o.DefaultIssuer = cmmeta.IssuerReference{Name: "ca", Kind: "ClusterIssuer", Group: "cert-manager.io"}
			},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": certs.CredentialName("team-auto", "auto", "https")},
			wantCerts:    map[string][]string{"istio-system/" + certs.CredentialName("team-auto", "auto", "https"): {"auto.example.com"}},
		},
		{
			name: "a labelled namespace without a default issuer is not managed",
			mutate: []mutation{
				withName("auto"),
				withNamespace("team-auto"),
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withHosts(0, "auto.example.com"),
				withCredential(0, "auto-tls"),
			},
			extra: `
apiVersion: v1
kind: Secret
metadata: {name: auto-tls, namespace: istio-system}
`,
		},
		{
			name: "an existing credentialName is kept and gets a Certificate of that name",
			mutate: []mutation{
				withAPIVersion("networking.istio.io/v1alpha3"),
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged: true,
			wantCerts:   map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
		},
		{
			name: "servers sharing a credential merge their hosts into one Certificate",
			mutate: []mutation{
				withHosts(0, "b.example.com", "a.example.com"),
				withCredential(0, webCred),
				addServer(newServer(8443, "https-alt", "HTTPS",
					[]string{"a.example.com", "ns/c.example.com"},
					map[string]any{"mode": "MUTUAL", "credentialName": webCred})),
			},
			wantManaged: true,
			wantCerts:   map[string][]string{"istio-system/" + webCred: {"a.example.com", "b.example.com", "c.example.com"}},
		},
		{
			name: "two unnamed servers on ports with the same name get distinct credentials",
			mutate: []mutation{
				withHosts(0, "a.example.com"),
				addServer(newServer(443, "https", "HTTPS", []string{"b.example.com"}, map[string]any{"mode": "SIMPLE"})),
			},
			wantManaged: true,
			wantInjected: map[string]string{
				"spec.servers[0].tls.credentialName": certs.CredentialName("team-a", "web", "https-1"),
				"spec.servers[1].tls.credentialName": certs.CredentialName("team-a", "web", "https-2"),
			},
			wantCerts: map[string][]string{
				"istio-system/" + certs.CredentialName("team-a", "web", "https-1"): {"a.example.com"},
				"istio-system/" + certs.CredentialName("team-a", "web", "https-2"): {"b.example.com"},
			},
			// Istio itself rejects the repeated port name.
			wantFindings: []string{"error MC2012 spec.servers[1].port.name"},
		},
		{
			name: "two servers of the same name on different ports get distinct credentials",
			mutate: []mutation{
				withHosts(0, "a.example.com"),
				withServerName(0, "edge"),
				addServer(newServer(8443, "https-alt", "HTTPS", []string{"b.example.com"}, map[string]any{"mode": "SIMPLE"})),
				withServerName(1, "edge"),
			},
			wantManaged: true,
			wantInjected: map[string]string{
				"spec.servers[0].tls.credentialName": certs.CredentialName("team-a", "web", "edge-1"),
				"spec.servers[1].tls.credentialName": certs.CredentialName("team-a", "web", "edge-2"),
			},
			wantCerts: map[string][]string{
				"istio-system/" + certs.CredentialName("team-a", "web", "edge-1"): {"a.example.com"},
				"istio-system/" + certs.CredentialName("team-a", "web", "edge-2"): {"b.example.com"},
			},
		},
		{
			name: "a bare star host is an error and stays out of the Certificate",
			mutate: []mutation{
				withServerName(0, "web"),
				withHosts(0, "*", "web.example.com"),
			},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": certs.CredentialName("team-a", "web", "web")},
			wantCerts:    map[string][]string{"istio-system/" + certs.CredentialName("team-a", "web", "web"): {"web.example.com"}},
			wantFindings: []string{"error MC3001 spec.servers[0].hosts[0]"},
		},
		{
			name: "the credential-namespace annotation wins over the selected workload",
			mutate: []mutation{
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withAnnotation("cert-manager.io/issuer", "team-ca"),
				withAnnotation("meshcert.io/credential-namespace", "team-a"),
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			},
			wantManaged: true,
			wantCerts:   map[string][]string{"team-a/web-tls": {"web.example.com"}},
			// The selected workloads run in istio-system: the annotation is
			// followed, and the contradiction said.
			wantFindings: []string{"warning MC4007 metadata.annotations[meshcert.io/credential-namespace]"},
		},
		{
			name: "the credential-namespace annotation contradicts nothing when no workload matches the selector",
			mutate: []mutation{
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withAnnotation("cert-manager.io/issuer", "team-ca"),
				withAnnotation("meshcert.io/credential-namespace", "team-a"),
				withSelector("istio", "nowhere"),
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"team-a/web-tls": {"web.example.com"}},
			wantFindings: []string{"warning MC4006 spec.selector"},
		},
		{
			name: "a selector matching workloads in two namespaces gives a Certificate in each",
			mutate: []mutation{
				withName("edge"),
				withSelector("istio", "edge"),
				withHosts(0, "edge.example.com"),
				withCredential(0, certs.CredentialName("team-a", "edge", "https")),
			},
			wantManaged: true,
			wantCerts: map[string][]string{
				"edge-a/" + certs.CredentialName("team-a", "edge", "https"): {"edge.example.com"},
				"edge-b/" + certs.CredentialName("team-a", "edge", "https"): {"edge.example.com"},
			},
		},
		{
			name: "with no matching workload the default credential namespace is used",
			mutate: []mutation{
				withSelector("istio", "nowhere"),
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			opts:         func(o *certs.Options) { o.DefaultCredentialNamespace = "gateways" },
			wantManaged:  true,
			wantCerts:    map[string][]string{"gateways/" + webCred: {"web.example.com"}},
			wantFindings: []string{"warning MC4006 spec.selector"},
		},
		{
			name: "an Issuer only in the Gateway's namespace is reported with what to use instead",
			mutate: []mutation{
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withAnnotation("cert-manager.io/issuer", "team-ca"),
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"warning MC5003 metadata.annotations[cert-manager.io/issuer]"},
		},
		{
			name: "an Issuer in the credential namespace is fine",
			mutate: []mutation{
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withAnnotation("cert-manager.io/issuer", "mesh-ca"),
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged: true,
			wantCerts:   map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
		},
		{
			name: "a missing ClusterIssuer is a warning by default",
			mutate: []mutation{
				withAnnotation("cert-manager.io/cluster-issuer", "nope"),
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"warning MC5002 metadata.annotations[cert-manager.io/cluster-issuer]"},
		},
		{
			name: "a missing ClusterIssuer is an error when strict",
			mutate: []mutation{
				withAnnotation("cert-manager.io/cluster-issuer", "nope"),
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			opts:         func(o *certs.Options) { o.Strict = true },
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"error MC5002 metadata.annotations[cert-manager.io/cluster-issuer]"},
		},
		{
			name: "issuer and cluster-issuer together are cert-manager's configuration error and give no Certificate",
			mutate: []mutation{
				withAnnotation("cert-manager.io/issuer", "mesh-ca"),
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			},
			wantManaged:  true,
			wantFindings: []string{"error MC1001 metadata.annotations[cert-manager.io/cluster-issuer]"},
		},
		{
			name: "an invalid spec annotation is an error on it and gives no Certificate",
			mutate: []mutation{
				withAnnotation("cert-manager.io/duration", "soon"),
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			},
			wantManaged:  true,
			wantFindings: []string{"error MC1002 metadata.annotations[cert-manager.io/duration]"},
		},
		{
			name: "ISTIO_MUTUAL with a credential is an error and PASSTHROUGH with one a warning",
			mutate: []mutation{
				withName("mixed"),
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withServers([]any{
					newServer(15443, "tls-mesh", "TLS", []string{"mesh.example.com"},
						map[string]any{"mode": "ISTIO_MUTUAL", "credentialName": "mesh"}),
					newServer(443, "tls", "TLS", []string{"pass.example.com"},
						map[string]any{"mode": "PASSTHROUGH", "credentialName": "pass"}),
					newServer(8443, "tls-auto", "TLS", []string{"auto.example.com"},
						map[string]any{"mode": "AUTO_PASSTHROUGH", "serverCertificate": "/etc/cert.pem", "privateKey": "/etc/key.pem"}),
				}),
			},
			wantFindings: []string{
				"error MC2002 spec.servers[0].tls.credentialName",
				"warning MC2003 spec.servers[1].tls",
				"warning MC2003 spec.servers[2].tls",
			},
		},
		{
			name: "a managed Gateway with only passthrough servers warns that there is nothing to certify",
			mutate: []mutation{
				withName("pass"),
				withServers([]any{
					newServer(443, "tls", "TLS", []string{"pass.example.com"}, map[string]any{"mode": "PASSTHROUGH"}),
					newServer(80, "http", "HTTP", []string{"pass.example.com"}, nil),
				}),
			},
			wantManaged:  true,
			wantFindings: []string{"warning MC2001 spec.servers"},
		},
		{
			name: "file-based certificates are left alone on a managed Gateway",
			mutate: []mutation{
				withName("files"),
				withHosts(0, "files.example.com"),
				withTLS(0, map[string]any{"serverCertificate": "/etc/istio/certs/tls.crt", "privateKey": "/etc/istio/certs/tls.key"}),
			},
			wantManaged:  true,
			wantFindings: []string{"info MC2006 spec.servers[0].tls.serverCertificate"},
		},
		{
			name: "credentialName together with files and three credentialNames are errors",
			mutate: []mutation{
				withName("both"),
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withHosts(0, "a.example.com"),
				withTLS(0, map[string]any{"credentialName": "a", "serverCertificate": "/c", "privateKey": "/k"}),
				addServer(newServer(8443, "https2", "HTTPS", []string{"b.example.com"},
					map[string]any{"mode": "SIMPLE", "credentialNames": anyList("rsa", "ec", "third")})),
			},
			extra: `
apiVersion: v1
kind: Secret
metadata: {name: rsa, namespace: istio-system}
---
apiVersion: v1
kind: Secret
metadata: {name: ec, namespace: istio-system}
---
apiVersion: v1
kind: Secret
metadata: {name: third, namespace: istio-system}
`,
			wantFindings: []string{
				"error MC2004 spec.servers[0].tls",
				"error MC7004 spec.servers[1].tls.credentialNames",
			},
		},
		{
			name: "an unknown TLS mode is an error",
			mutate: []mutation{
				withName("odd"),
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withHosts(0, "a.example.com"),
				withTLS(0, map[string]any{"mode": "STRICT"}),
			},
			wantFindings: []string{"error MC2007 spec.servers[0].tls.mode"},
		},
		{
			name: "a hand-written credential with nothing providing it is reported",
			mutate: []mutation{
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withHosts(0, "web.example.com"),
				withCredential(0, "missing-tls"),
			},
			wantFindings: []string{"warning MC4001 spec.servers[0].tls.credentialName"},
		},
		{
			name: "a user Certificate that does not cover a host is reported on that host",
			extra: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system}
spec:
  secretName: web-tls
  dnsNames: ["*.example.com"]
  issuerRef: {name: ca, kind: ClusterIssuer}
`,
			mutate: []mutation{
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withHosts(0, "web.example.com", "deep.web.example.com", "example.com"),
				withCredential(0, "web-tls"),
			},
			wantFindings: []string{
				"warning MC3002 spec.servers[0].hosts[1]",
				"warning MC3002 spec.servers[0].hosts[2]",
			},
		},
		{
			name: "an existing Certificate meshcert does not own is left untouched and reported",
			extra: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, namespace: istio-system}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: ca, kind: ClusterIssuer}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			},
			wantManaged:  true,
			wantFindings: []string{"warning MC4002 spec.servers[0].tls.credentialName"},
		},
		{
			name: "two servers claiming one host and port with different credentials conflict",
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				addServer(newServer(443, "https-b", "HTTPS", []string{"WEB.example.com"},
					map[string]any{"mode": "SIMPLE"})),
			},
			wantManaged: true,
			wantInjected: map[string]string{
				"spec.servers[0].tls.credentialName": webCred,
				"spec.servers[1].tls.credentialName": certs.CredentialName("team-a", "web", "https-b"),
			},
			wantCerts: map[string][]string{
				"istio-system/" + webCred: {"web.example.com"},
				"istio-system/" + certs.CredentialName("team-a", "web", "https-b"): {"web.example.com"},
			},
			wantFindings: []string{"error MC3003 spec.servers[1].hosts[0]"},
		},
		{
			name: "another Gateway on the same workload claiming the host with another credential conflicts",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: other-tls}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"error MC3003 spec.servers[0].hosts[0]"},
		},
		{
			name: "another Gateway on the same workload using the same credential is IST0138",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other, namespace: team-b}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [other.example.com]
    tls: {mode: SIMPLE, credentialName: shared-tls}
---
apiVersion: v1
kind: Secret
metadata: {name: shared-tls, namespace: istio-system}
`,
			mutate: []mutation{
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withHosts(0, "web.example.com"),
				withCredential(0, "shared-tls"),
			},
			wantFindings: []string{"warning MC4003 spec.servers[0].tls.credentialName"},
		},
		{
			name: "a Gateway whose selector is a superset of this one's, claiming the host with another credential, conflicts",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: canary, namespace: team-a}
spec:
  selector: {istio: ingressgateway, istio.io/rev: canary}
  servers:
  - port: {number: 443, name: p, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: other-tls}
---
apiVersion: v1
kind: Pod
metadata: {name: canary-1, namespace: istio-system, labels: {istio: ingressgateway, istio.io/rev: canary}}
`,
			mutate:       []mutation{withHosts(0, "web.example.com"), withCredential(0, webCred)},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"error MC3003 spec.servers[0].hosts[0]"},
		},
		{
			name: "a Gateway without a selector is on every workload and conflicts on a host",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: everywhere, namespace: team-a}
spec:
  selector: {}
  servers:
  - port: {number: 443, name: p, protocol: HTTPS}
    hosts: [WEB.example.com]
    tls: {mode: SIMPLE, credentialName: other-tls}
`,
			mutate:       []mutation{withHosts(0, "web.example.com"), withCredential(0, webCred)},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"error MC3003 spec.servers[0].hosts[0]"},
		},
		{
			name: "a Gateway whose selector neither contains nor is contained in this one's does not conflict",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: team-b}
spec:
  selector: {istio: edge}
  servers:
  - port: {number: 443, name: p, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: web-tls}
`,
			mutate:       []mutation{withHosts(0, "web.example.com"), withCredential(0, webCred)},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{},
		},
		{
			name: "the same host on the same port with another bind address is no conflict",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bound, namespace: team-b}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: p, protocol: HTTPS}
    hosts: [web.example.com]
    bind: 10.0.0.2
    tls: {mode: SIMPLE, credentialName: other-tls}
`,
			mutate:       []mutation{withHosts(0, "web.example.com"), withCredential(0, webCred), withBind(0, "10.0.0.1")},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{},
		},
		{
			name: "the same host on the same port and bind in another Gateway with the same credential conflicts, as istiod skips one server",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: twin, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: p, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: ` + webCred + `}
`,
			mutate:      []mutation{withHosts(0, "web.example.com"), withCredential(0, webCred)},
			wantManaged: true,
			// The credential is web's derived name, so it stays web's to
			// write however twin came by it.
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"error MC3003 spec.servers[0].hosts[0]", "warning MC4003 spec.servers[0].tls.credentialName"},
		},
		{
			name: "a plain HTTP host also served by another Gateway on the same workload is IST0145",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: plain, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: p, protocol: HTTP}
    hosts: [web.example.com]
`,
			mutate:       []mutation{withHosts(0, "web.example.com"), withCredential(0, webCred), addServer(newServer(80, "http", "HTTP", []string{"web.example.com"}, nil))},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"warning MC3004 spec.servers[1].hosts[0]"},
		},
		{
			name: "a passthrough server of another Gateway naming the same credential is IST0138",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: pass, namespace: team-b}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: p, protocol: TLS}
    hosts: [pass.example.com]
    tls: {mode: PASSTHROUGH, credentialName: ` + webCred + `}
`,
			mutate:      []mutation{withHosts(0, "web.example.com"), withCredential(0, webCred)},
			wantManaged: true,
			// istiod serves a passthrough server no credential, so meshcert
			// still writes the Secret.
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"warning MC4003 spec.servers[0].tls.credentialName"},
		},
		{
			name: "the same certificate files in another Gateway on the same workload are IST0138",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: files, namespace: team-b}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: p, protocol: HTTPS}
    hosts: [files.example.com]
    tls: {mode: SIMPLE, serverCertificate: /etc/c.pem, privateKey: /etc/k.pem}
`,
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withHosts(0, "web.example.com"), withTLS(0, map[string]any{"mode": "SIMPLE", "serverCertificate": "/etc/c.pem", "privateKey": "/etc/k.pem"})},
			wantFindings: []string{"warning MC4003 spec.servers[0].tls.serverCertificate"},
		},
		{
			name: "two servers of one Gateway repeating a host on one port with the same credential conflict, as istiod skips the second",
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
				addServer(newServer(443, "https-b", "HTTPS", []string{"web.example.com"}, map[string]any{"mode": "SIMPLE", "credentialName": webCred})),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"error MC3003 spec.servers[1].hosts[0]"},
		},
		{
			name: "plain HTTP servers of one Gateway repeating a host merge without a finding",
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
				addServer(newServer(80, "http", "HTTP", []string{"web.example.com"}, nil)),
				addServer(newServer(80, "http-b", "HTTP", []string{"web.example.com"}, nil)),
			},
			wantManaged: true,
			wantCerts:   map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
		},
		{
			name: "hosts and alt-names that differ only in case or a trailing dot are one certificate name, without the dot",
			mutate: []mutation{
				withHosts(0, "web.example.com", "WEB.Example.com.", "team-a/api.example.com."),
				withCredential(0, webCred),
				withAnnotation("cert-manager.io/alt-names", "Web.example.com.,extra.example.com."),
			},
			wantManaged: true,
			wantCerts:   map[string][]string{"istio-system/" + webCred: {"api.example.com", "extra.example.com", "web.example.com"}},
		},
		{
			name:        "a host repeated within one server is not a conflict",
			mutate:      []mutation{withHosts(0, "web.example.com", "WEB.example.com"), withCredential(0, webCred)},
			wantManaged: true,
			wantCerts:   map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
		},
		{
			name: "a MUTUAL server with an ACME issuer and no client CA Secret is warned about",
			mutate: []mutation{
				withName("mtls"),
				withAnnotation("cert-manager.io/cluster-issuer", "letsencrypt"),
				withHosts(0, "mtls.example.com"),
				withTLS(0, map[string]any{"mode": "MUTUAL", "credentialName": mtlsCred}),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + mtlsCred: {"mtls.example.com"}},
			wantFindings: []string{"warning MC5005 spec.servers[0].tls.mode"},
		},
		{
			name: "a MUTUAL server with an ACME issuer and a -cacert Secret is fine",
			extra: `
apiVersion: v1
kind: Secret
metadata: {name: ` + mtlsCred + `-cacert, namespace: istio-system}
`,
			mutate: []mutation{
				withName("mtls"),
				withAnnotation("cert-manager.io/cluster-issuer", "letsencrypt"),
				withHosts(0, "mtls.example.com"),
				withTLS(0, map[string]any{"mode": "MUTUAL", "credentialName": mtlsCred}),
			},
			wantManaged: true,
			wantCerts:   map[string][]string{"istio-system/" + mtlsCred: {"mtls.example.com"}},
		},
		{
			name: "servers that are not lists are reported as malformed, not a panic",
			mutate: []mutation{
				withName("bad"),
				withServers(map[string]any{"port": int64(443)}),
			},
			wantManaged:  true,
			wantFindings: []string{"error MC2008 spec.servers", "warning MC2001 spec.servers"},
		},
		{
			name: "an invalid inject annotation value is warned about and leaves the Gateway alone",
			mutate: []mutation{
				withAnnotation("meshcert.io/inject", "no"),
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			},
			extra: `
apiVersion: v1
kind: Secret
metadata: {name: web-tls, namespace: istio-system}
`,
			wantFindings: []string{"warning MC1003 metadata.annotations[meshcert.io/inject]"},
		},
		{
			name: "a Gateway of the same name in another namespace on the same workload holds the host first: a host hijack, and no certificate for it",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-b}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: other-tls}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{},
			wantFindings: []string{"error MC8002 spec.servers[0].hosts[0]"},
		},
		{
			name: "another Gateway in the same namespace on the same workload conflicts on a host",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: other-tls}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"error MC3003 spec.servers[0].hosts[0]"},
		},
		{
			name: "a Gateway of another namespace naming this Gateway's derived credential copied it, even when stored earlier: the name stays this Gateway's to write",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-b, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: ` + webCred + `}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"warning MC4003 spec.servers[0].tls.credentialName"},
		},
		{
			name: "another Gateway in the same namespace naming this Gateway's derived credential is IST0138, and the name stays this Gateway's to write",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: ` + webCred + `}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"warning MC4003 spec.servers[0].tls.credentialName"},
		},
		{
			name: "a managed Gateway stored before another Gateway named its credential keeps its Certificate: the incumbent is never blamed",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: thief, namespace: team-b, creationTimestamp: "2026-06-01T00:00:00Z"}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: ` + webCred + `}
`,
			mutate: []mutation{
				withCreationTimestamp("2026-01-01T00:00:00Z"),
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
			wantFindings: []string{"warning MC4003 spec.servers[0].tls.credentialName"},
		},
		{
			name: "a Gateway already stored (as the controller sees it) does not conflict with itself",
			extra: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: web-tls}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, webCred),
			},
			wantManaged: true,
			wantCerts:   map[string][]string{"istio-system/" + webCred: {"web.example.com"}},
		},
		{
			name: "its own meshcert Certificate, already there, is planned again without a finding",
			extra: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web-tls
  namespace: istio-system
  labels: {app.kubernetes.io/managed-by: meshcert}
  annotations: {meshcert.io/gateway: team-a/web}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com", "new.example.com"),
				withCredential(0, "web-tls"),
			},
			wantManaged: true,
			// The planned Certificate, not the stale one, provides the Secret:
			// no "host not covered" for the host just added.
			wantCerts: map[string][]string{"istio-system/web-tls": {"new.example.com", "web.example.com"}},
		},
		{
			name: "a hand-made Certificate of another name writing the same Secret is left alone",
			extra: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: hand-made, namespace: istio-system}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			},
			wantManaged:  true,
			wantFindings: []string{"warning MC4002 spec.servers[0].tls.credentialName"},
		},
		{
			name: "a Certificate with meshcert's annotation but not its label is not meshcert's",
			extra: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web-tls
  namespace: istio-system
  annotations: {meshcert.io/gateway: team-a/web}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			},
			wantManaged:  true,
			wantFindings: []string{"warning MC4002 spec.servers[0].tls.credentialName"},
		},
		{
			name: "meshcert's Certificate of another Gateway for the same Secret is a credential hijack: denied, not taken over",
			extra: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web-tls
  namespace: istio-system
  labels: {app.kubernetes.io/managed-by: meshcert}
  annotations: {meshcert.io/gateway: team-b/shop}
spec: {secretName: web-tls, dnsNames: [shop.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			mutate: []mutation{
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			},
			wantManaged: true,
			// That Certificate, which meshcert leaves alone, does not cover this host either.
			wantFindings: []string{"error MC8001 spec.servers[0].tls.credentialName", "warning MC3002 spec.servers[0].hosts[0]"},
		},
		{
			name: "an unmanaged Gateway reading the credential meshcert manages for another Gateway is a credential hijack",
			extra: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web-tls
  namespace: istio-system
  labels: {app.kubernetes.io/managed-by: meshcert}
  annotations: {meshcert.io/gateway: team-b/shop}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			mutate: []mutation{
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			},
			wantFindings: []string{"error MC8001 spec.servers[0].tls.credentialName"},
		},
		{
			name: "a server with credentialNames beside an injected one needs its Secrets to exist",
			mutate: []mutation{
				addServer(newServer(8443, "https-pair", "HTTPS", []string{"pair.example.com"},
					map[string]any{"mode": "SIMPLE", "credentialNames": []any{"pair-rsa", "pair-ecdsa"}})),
			},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
			wantFindings: []string{
				"warning MC4001 spec.servers[1].tls.credentialNames[0]",
				"warning MC4001 spec.servers[1].tls.credentialNames[1]",
			},
		},
		{
			name:         "exactly two credentialNames, an RSA and an ECDSA certificate, are allowed",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"credentialNames": []any{"web-rsa", "web-ecdsa"}})},
			extra:        "apiVersion: v1\nkind: Secret\nmetadata: {name: web-rsa, namespace: istio-system}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: web-ecdsa, namespace: istio-system}\n",
			wantFindings: []string{},
		},
		{
			name: "a Certificate with only a commonName covers no host: cert-manager does not copy it into the SANs and clients ignore it",
			extra: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, namespace: istio-system}
spec: {secretName: web-tls, commonName: web.example.com, issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withHosts(0, "web.example.com"), withCredential(0, "web-tls")},
			wantFindings: []string{"warning MC3002 spec.servers[0].hosts[0]"},
		},
		{
			name:         "a managed server with tlsCertificates gets no credential injected beside them, which would be a second certificate source",
			mutate:       []mutation{withTLS(0, map[string]any{"tlsCertificates": []any{map[string]any{"serverCertificate": "/etc/c/rsa.crt", "privateKey": "/etc/c/rsa.key"}}})},
			wantManaged:  true,
			wantFindings: []string{"info MC2006 spec.servers[0].tls.tlsCertificates"},
		},
		{
			name:         "tlsCertificates beside a credentialName are two certificate sources",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"credentialName": "web-tls", "tlsCertificates": []any{map[string]any{"serverCertificate": "/etc/c/rsa.crt", "privateKey": "/etc/c/rsa.key"}}})},
			extra:        "apiVersion: v1\nkind: Secret\nmetadata: {name: web-tls, namespace: istio-system}\n",
			wantFindings: []string{"error MC2004 spec.servers[0].tls"},
		},
		{
			name:         "a tlsCertificates entry without its key is rejected",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"tlsCertificates": []any{map[string]any{"serverCertificate": "/etc/c/rsa.crt"}}})},
			wantFindings: []string{"error MC2005 spec.servers[0].tls.tlsCertificates[0].privateKey"},
		},
		{
			name:         "MUTUAL with certificate files needs the caCertificates bundle",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"mode": "MUTUAL", "serverCertificate": "/etc/c/tls.crt", "privateKey": "/etc/c/tls.key"})},
			wantFindings: []string{"error MC2005 spec.servers[0].tls.caCertificates"},
		},
		{
			name:         "a serverCertificate without its privateKey beside a credentialName is no second source, as Istio counts",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"credentialName": "web-tls", "serverCertificate": "/etc/c/tls.crt"})},
			extra:        "apiVersion: v1\nkind: Secret\nmetadata: {name: web-tls, namespace: istio-system}\n",
			wantFindings: []string{},
		},
		{
			name:         "a caCrl file beside a credentialName of a terminating server passes Istio's validation, which returns before its CRL rules",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"mode": "MUTUAL", "credentialName": "web-tls", "caCrl": "/etc/c/ca.crl"})},
			extra:        "apiVersion: v1\nkind: Secret\nmetadata: {name: web-tls, namespace: istio-system}\n",
			wantFindings: []string{},
		},
		{
			name:         "a caCrl file beside a credentialName of a passthrough server is rejected: the CRL belongs in the Secret",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"mode": "PASSTHROUGH", "credentialName": "web-tls", "caCrl": "/etc/c/ca.crl"})},
			wantFindings: []string{"error MC2004 spec.servers[0].tls.caCrl", "warning MC2003 spec.servers[0].tls"},
		},
		{
			name:         "a caCrl file with SIMPLE is rejected, as SIMPLE verifies no client",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"serverCertificate": "/etc/c/tls.crt", "privateKey": "/etc/c/tls.key", "caCrl": "/etc/c/ca.crl"})},
			wantFindings: []string{"error MC2004 spec.servers[0].tls.caCrl"},
		},
		{
			name:         "ISTIO_MUTUAL with a CA bundle file is rejected",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"mode": "ISTIO_MUTUAL", "caCertificates": "/etc/c/ca.crt"})},
			wantFindings: []string{"error MC2002 spec.servers[0].tls.caCertificates"},
		},
		{
			name:         "builtin:// serves the workload's own certificate: no Secret to find or name",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withCredential(0, "builtin://")},
			wantFindings: []string{},
		},
		{
			name:         "a kubernetes:// credential of another namespace is refused by istiod whatever exists",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withCredential(0, "kubernetes://team-a/web-tls")},
			wantFindings: []string{"error MC4008 spec.servers[0].tls.credentialName"},
		},
		{
			name:         "a Gateway without servers is rejected by Istio's validation",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withServers([]any{})},
			wantFindings: []string{"error MC2008 spec.servers"},
		},
		{
			name:         "a Gateway named with dots is rejected by Istio's validation, which wants a DNS label",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withName("web.example.com"), withServers([]any{newServer(80, "http", "HTTP", []string{"web.example.com"}, nil)})},
			wantFindings: []string{"error MC2018 metadata.name"},
		},
		{
			name:         "ISTIO_MUTUAL without a credential is fine",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"mode": "ISTIO_MUTUAL"})},
			wantFindings: []string{},
		},
		{
			name:         "an OPTIONAL_MUTUAL server with an ACME issuer has no usable client CA",
			mutate:       []mutation{withAnnotation("cert-manager.io/cluster-issuer", "letsencrypt"), withTLS(0, map[string]any{"mode": "OPTIONAL_MUTUAL"})},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
			wantFindings: []string{"warning MC5005 spec.servers[0].tls.mode"},
		},
		{
			name:         "a caCertificates file does not give a MUTUAL server with a credentialName its client CA",
			mutate:       []mutation{withAnnotation("cert-manager.io/cluster-issuer", "letsencrypt"), withTLS(0, map[string]any{"mode": "MUTUAL", "caCertificates": "/etc/ca/ca.crt"})},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
			wantFindings: []string{"warning MC5005 spec.servers[0].tls.mode"},
		},
		{
			name:         "caCertCredentialName gives a MUTUAL server its client CA",
			mutate:       []mutation{withAnnotation("cert-manager.io/cluster-issuer", "letsencrypt"), withTLS(0, map[string]any{"mode": "MUTUAL", "caCertCredentialName": "client-ca-cacert"})},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
		},
		{
			name:         "a caCertCredentialName Secret whose name does not end in -cacert is served as a key pair, not as client CAs",
			mutate:       []mutation{withAnnotation("cert-manager.io/cluster-issuer", "letsencrypt"), withTLS(0, map[string]any{"mode": "OPTIONAL_MUTUAL", "caCertCredentialName": "kubernetes://client-ca"})},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
			wantFindings: []string{"error MC4008 spec.servers[0].tls.caCertCredentialName"},
		},
		{
			name:         "a configmap:// caCertCredentialName is read as client CAs",
			mutate:       []mutation{withAnnotation("cert-manager.io/cluster-issuer", "letsencrypt"), withTLS(0, map[string]any{"mode": "MUTUAL", "caCertCredentialName": "configmap://istio-system/client-ca"})},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
		},
		{
			name:         "a SIMPLE server with an ACME issuer needs no client CA",
			mutate:       []mutation{withAnnotation("cert-manager.io/cluster-issuer", "letsencrypt")},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
		},
		{
			name:         "an Issuer that exists in no namespace is not found, not elsewhere",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withAnnotation("cert-manager.io/issuer", "nowhere")},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
			wantFindings: []string{"warning MC5002 metadata.annotations[cert-manager.io/issuer]"},
		},
		{
			name:         "IP hosts alone give a Certificate with IP addresses only",
			mutate:       []mutation{withHosts(0, "10.0.0.1", "2001:DB8::A")},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {}},
			// Istio's validation takes a host without a dot for a short name,
			// so it rejects IPv6 hosts; the Certificate still holds them.
			wantFindings: []string{"error MC2017 spec.servers[0].hosts[1]"},
		},
		{
			name:         "a common name alone still gives a Certificate when no host can be certified",
			mutate:       []mutation{withHosts(0, "*"), withAnnotation("cert-manager.io/common-name", "web.example.com")},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {}},
			wantFindings: []string{"error MC3001 spec.servers[0].hosts[0]"},
		},
		{
			name:         "an email SAN alone still gives a Certificate when no host can be certified",
			mutate:       []mutation{withHosts(0, "*"), withAnnotation("cert-manager.io/email-sans", "tls@example.com")},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {}},
			wantFindings: []string{"error MC3001 spec.servers[0].hosts[0]"},
		},
		{
			name:         "a SIMPLE server on a plain HTTP port is rejected and gets no credential",
			mutate:       []mutation{withServers([]any{newServer(80, "http", "HTTP", []string{"web.example.com"}, map[string]any{"mode": "SIMPLE"})})},
			wantManaged:  true,
			wantFindings: []string{"error MC2010 spec.servers[0].tls"},
		},
		{
			name:         "httpsRedirect on a plain HTTP port is allowed",
			mutate:       []mutation{addServer(newServer(80, "http", "HTTP", []string{"web.example.com"}, map[string]any{"httpsRedirect": true}))},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
		},
		{
			name:   "certificate files on a plain HTTP port are rejected even in PASSTHROUGH mode",
			mutate: []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withServers([]any{newServer(80, "http", "HTTP", []string{"web.example.com"}, map[string]any{"httpsRedirect": true, "serverCertificate": "/etc/certs/tls.crt"})})},
			// Istio warns about certificates in PASSTHROUGH mode too.
			wantFindings: []string{"error MC2010 spec.servers[0].tls", "warning MC2003 spec.servers[0].tls"},
		},
		{
			name:         "any tls settings on a TCP port are rejected",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withServers([]any{newServer(5432, "postgres", "TCP", []string{"db.example.com"}, map[string]any{"mode": "PASSTHROUGH"})})},
			wantFindings: []string{"error MC2010 spec.servers[0].tls"},
		},
		{
			name:         "an HTTPS server without tls is rejected",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withServers([]any{newServer(443, "https", "HTTPS", []string{"web.example.com"}, nil)})},
			wantFindings: []string{"error MC2011 spec.servers[0].port.protocol"},
		},
		{
			name:         "a TLS server without tls is rejected",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withServers([]any{newServer(443, "tls", "TLS", []string{"web.example.com"}, nil)})},
			wantFindings: []string{"error MC2011 spec.servers[0].port.protocol"},
		},
		{
			name:         "protocols are read without case, as Istio reads them",
			mutate:       []mutation{addServer(newServer(80, "http", "http", []string{"web.example.com"}, map[string]any{"httpsRedirect": true})), server(0, func(s map[string]any) { s["port"].(map[string]any)["protocol"] = "https" })},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
		},
		{
			name:         "a protocol Istio does not know is rejected and gets no credential",
			mutate:       []mutation{server(0, func(s map[string]any) { s["port"].(map[string]any)["protocol"] = "SMTPS" })},
			wantManaged:  true,
			wantFindings: []string{"error MC2013 spec.servers[0].port"},
		},
		{
			name:         "a port without a name is rejected",
			mutate:       []mutation{server(0, func(s map[string]any) { delete(s["port"].(map[string]any), "name") })},
			wantManaged:  true,
			wantFindings: []string{"error MC2013 spec.servers[0].port"},
		},
		{
			name:         "port number 0 is rejected",
			mutate:       []mutation{server(0, func(s map[string]any) { s["port"].(map[string]any)["number"] = int64(0) })},
			wantManaged:  true,
			wantFindings: []string{"error MC2013 spec.servers[0].port"},
		},
		{
			name:         "a server without a port is rejected",
			mutate:       []mutation{server(0, func(s map[string]any) { delete(s, "port") })},
			wantManaged:  true,
			wantFindings: []string{"error MC2013 spec.servers[0].port"},
		},
		{
			name:        "a credential ending in -cacert is a client CA, not a server certificate",
			mutate:      []mutation{withCredential(0, "web-cacert")},
			wantManaged: true,
			// A Certificate would write a key pair istiod never serves.
			wantFindings: []string{"error MC2015 spec.servers[0].tls.credentialName"},
		},
		{
			name:         "a -cacert credential among credentialNames is reported at its index",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"credentialNames": []any{"web-rsa", "web-cacert"}})},
			extra:        "apiVersion: v1\nkind: Secret\nmetadata: {name: web-rsa, namespace: istio-system}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: web-cacert, namespace: istio-system}\n",
			wantFindings: []string{"error MC2015 spec.servers[0].tls.credentialNames[1]"},
		},
		{
			name:         "a bind that is no IP address is rejected",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withServers([]any{newServer(80, "http", "HTTP", []string{"web.example.com"}, nil)}), server(0, func(s map[string]any) { s["bind"] = "localhost" })},
			wantFindings: []string{"error MC2016 spec.servers[0].bind"},
		},
		{
			name:   "a unix socket bind with port number 0 is fine",
			mutate: []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withServers([]any{newServer(0, "http", "HTTP", []string{"web.example.com"}, nil)}), server(0, func(s map[string]any) { s["bind"] = "unix:///var/run/gw.sock" })},
		},
		{
			name:         "a unix socket bind with a port number is rejected",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withServers([]any{newServer(80, "http", "HTTP", []string{"web.example.com"}, nil)}), server(0, func(s map[string]any) { s["bind"] = "unix:///var/run/gw.sock" })},
			wantFindings: []string{"error MC2016 spec.servers[0].bind"},
		},
		{
			name:         "a unix socket bind with a relative path is rejected",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withServers([]any{newServer(0, "http", "HTTP", []string{"web.example.com"}, nil)}), server(0, func(s map[string]any) { s["bind"] = "unix://gw.sock" })},
			wantFindings: []string{"error MC2016 spec.servers[0].bind"},
		},
		{
			name:         "a mistyped tls field is an error with its path",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"credentialNmae": "web-tls"})},
			wantFindings: []string{"error MC2014 spec.servers[0].tls.credentialNmae", "error MC2005 spec.servers[0].tls.credentialName"},
		},
		{
			name: "an unknown field anywhere in the spec is an error",
			mutate: []mutation{
				withCredential(0, webCred),
				func(t testing.TB, gw map[string]any) {
					object(t, gw, "spec")["futureField"] = map[string]any{"x": true}
				},
				server(0, func(s map[string]any) { s["port"].(map[string]any)["portNmae"] = "x" }),
			},
			wantManaged:  true,
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
			wantFindings: []string{"error MC2014 spec.futureField", "error MC2014 spec.servers[0].port.portNmae"},
		},
		{
			name:         "a proto field name in snake case is unknown to the Gateway CRD's schema",
			mutate:       []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withTLS(0, map[string]any{"credential_name": "web-tls"})},
			wantFindings: []string{"error MC2014 spec.servers[0].tls.credential_name", "error MC2005 spec.servers[0].tls.credentialName"},
		},
		{
			name:         "fields meshcert does not use but Istio knows are fine",
			mutate:       []mutation{withTLS(0, map[string]any{"minProtocolVersion": "TLSV1_3", "cipherSuites": []any{"ECDHE-ECDSA-AES256-GCM-SHA384"}}), server(0, func(s map[string]any) { s["bind"] = "0.0.0.0" })},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
		},
		{
			name: "a Gateway without a selector uses the default credential namespace",
			mutate: []mutation{func(t testing.TB, gw map[string]any) {
				delete(object(t, gw, "spec"), "selector")
			}},
			wantManaged:  true,
			wantInjected: map[string]string{"spec.servers[0].tls.credentialName": webCred},
			wantCerts:    map[string][]string{"istio-system/" + webCred: {"api.example.com", "web.example.com"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			index := indexOf(t, cluster+"\n---\n"+tc.extra)
			opts := cliOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			gw := certs.ParseGateway(buildGateway(t, tc.mutate...))
			plan := certs.PlanGateway(t.Context(), gw, index, opts)

			assert.Equal(t, tc.wantManaged, plan.Managed, "managed")
			injected := map[string]string{}
			for _, inj := range plan.Injections {
				injected[inj.Field()] = inj.CredentialName
			}
			if tc.wantInjected == nil {
				tc.wantInjected = map[string]string{}
			}
			assert.Equal(t, tc.wantInjected, injected, "injections")
			certsByName := map[string][]string{}
			for _, crt := range plan.Certificates {
				certsByName[crt.Namespace+"/"+crt.Name] = crt.Spec.DNSNames
			}
			if tc.wantCerts == nil {
				tc.wantCerts = map[string][]string{}
			}
			assert.Equal(t, tc.wantCerts, certsByName, "certificates")
			if tc.wantFindings == nil {
				tc.wantFindings = []string{}
			}
			assert.ElementsMatch(t, tc.wantFindings, summary(plan.Findings), "findings: %+v", plan.Findings)
			for _, f := range plan.Findings {
				assert.NotEmpty(t, f.Message)
				assert.Equal(t, gw.Ref, f.Object)
			}
			if len(plan.Injections) == 0 {
				mutated, err := plan.Mutated()
				require.NoError(t, err)
				assert.Same(t, gw.Object, mutated, "nothing injected means the object is returned as is")
			}
		})
	}
}

func TestPlanGatewayCertificateShape(t *testing.T) {
	index := indexOf(t, cluster)
	gw := certs.ParseGateway(objectFromYAML(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
  namespace: istio-system
  uid: 1234-5678
  annotations:
    cert-manager.io/issuer: mesh-ca
    cert-manager.io/common-name: web.example.com
    cert-manager.io/alt-names: extra.example.com,web.example.com
    cert-manager.io/ip-sans: 10.0.0.1
    cert-manager.io/duration: 2160h
    cert-manager.io/renew-before: 360h
    cert-manager.io/private-key-algorithm: ECDSA
    cert-manager.io/private-key-size: "384"
    cert-manager.io/usages: server auth,digital signature
    cert-manager.io/subject-organizations: Example Inc
    cert-manager.io/secret-template: '{"labels": {"team": "a"}}'
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com, 192.168.1.1]
    tls: {mode: SIMPLE, credentialName: web-tls}
`))
	plan := certs.PlanGateway(t.Context(), gw, index, cliOptions())
	require.Empty(t, plan.Findings)
	require.Len(t, plan.Certificates, 1)
	crt := plan.Certificates[0]

	assert.Equal(t, "cert-manager.io/v1", crt.APIVersion)
	assert.Equal(t, "Certificate", crt.Kind)
	assert.Equal(t, "web-tls", crt.Name)
	assert.Equal(t, "istio-system", crt.Namespace)
	assert.Equal(t, map[string]string{
		"app.kubernetes.io/managed-by": "meshcert", "meshcert.io/gateway-namespace": "istio-system", "meshcert.io/gateway-name": "web",
	}, crt.Labels)
	assert.Equal(t, "istio-system/web", crt.Annotations["meshcert.io/gateway"])
	require.Len(t, crt.OwnerReferences, 1, "same namespace: owned by the Gateway")
	assert.Equal(t, "1234-5678", string(crt.OwnerReferences[0].UID))
	assert.Equal(t, "web-tls", crt.Spec.SecretName)
	assert.Equal(t, cmmeta.IssuerReference{Name: "mesh-ca", Kind: "Issuer", Group: "cert-manager.io"}, crt.Spec.IssuerRef)
	assert.Equal(t, []string{"extra.example.com", "web.example.com"}, crt.Spec.DNSNames)
	assert.Equal(t, []string{"10.0.0.1", "192.168.1.1"}, crt.Spec.IPAddresses, "host IPs and ip-sans, canonical, sorted, once each")
	assert.Equal(t, "web.example.com", crt.Spec.CommonName)
	assert.Equal(t, "2160h0m0s", crt.Spec.Duration.Duration.String())
	assert.Equal(t, "360h0m0s", crt.Spec.RenewBefore.Duration.String())
	assert.Equal(t, &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 384}, crt.Spec.PrivateKey)
	assert.Equal(t, []cmapi.KeyUsage{cmapi.UsageServerAuth, cmapi.UsageDigitalSignature}, crt.Spec.Usages)
	assert.Equal(t, []string{"Example Inc"}, crt.Spec.Subject.Organizations)
	assert.Equal(t, map[string]string{"team": "a"}, crt.Spec.SecretTemplate.Labels)
}

func TestPlanGatewayCrossNamespaceHasNoOwnerReference(t *testing.T) {
	obj := objectFromYAML(t, simpleGateway)
	obj.SetUID("abc")
	plan := certs.PlanGateway(t.Context(), certs.ParseGateway(obj), indexOf(t, cluster), cliOptions())
	require.Len(t, plan.Certificates, 1)
	assert.Equal(t, "istio-system", plan.Certificates[0].Namespace)
	assert.Empty(t, plan.Certificates[0].OwnerReferences, "owner references cannot cross namespaces")
	assert.Equal(t, "team-a", plan.Certificates[0].Labels[certs.LabelGatewayNamespace])
}

func TestInjectionIsIdempotentAndKeepsUnknownFields(t *testing.T) {
	obj := objectFromYAML(t, simpleGateway)
	obj.Object["spec"].(map[string]any)["futureField"] = map[string]any{"keep": "me"}
	obj.Object["spec"].(map[string]any)["servers"].([]any)[0].(map[string]any)["tls"].(map[string]any)["minProtocolVersion"] = "TLSV1_3"
	index := indexOf(t, cluster)

	first := certs.PlanGateway(t.Context(), certs.ParseGateway(obj), index, cliOptions())
	require.Len(t, first.Injections, 1)
	firstMutated, err := first.Mutated()
	require.NoError(t, err)
	second := certs.PlanGateway(t.Context(), certs.ParseGateway(firstMutated), index, cliOptions())
	secondMutated, err := second.Mutated()
	require.NoError(t, err)
	assert.Empty(t, second.Injections, "a second injection changes nothing")
	assert.Equal(t, firstMutated.Object, secondMutated.Object)
	assert.Equal(t, first.Certificates, second.Certificates)

	assert.Equal(t, map[string]any{"keep": "me"}, firstMutated.Object["spec"].(map[string]any)["futureField"])
	tls := firstMutated.Object["spec"].(map[string]any)["servers"].([]any)[0].(map[string]any)["tls"].(map[string]any)
	assert.Equal(t, "TLSV1_3", tls["minProtocolVersion"])
	_, touched := obj.Object["spec"].(map[string]any)["servers"].([]any)[0].(map[string]any)["tls"].(map[string]any)["credentialName"]
	assert.False(t, touched, "the input object is not modified")
}

// TestCredentialNameIsPinned pins credential names the table above computes
// with certs.CredentialName, so a change to the derivation cannot pass
// unnoticed. The hashes were computed outside Go from the README's rule: the
// first 10 hex characters of sha256 over "<len>:<namespace><len>:<gateway>"
// followed by the server key, e.g.
//
//	printf '%s' '6:team-a3:webhttps' | sha256sum
func TestCredentialNameIsPinned(t *testing.T) {
	for _, tc := range []struct{ namespace, gateway, server, want string }{
		{"team-a", "web", "https", "team-a-web-https-757e43db3a"}, // also the README's example
		{"team-auto", "auto", "https", "team-auto-auto-https-6129ee09f8"},
		{"team-a", "web", "https-1", "team-a-web-https-1-eb689385a4"},
	} {
		assert.Equal(t, tc.want, certs.CredentialName(tc.namespace, tc.gateway, tc.server), "%s/%s server %s", tc.namespace, tc.gateway, tc.server)
	}
}

// TestInjectionTargetsAgree: an injection's dotted field, the JSON pointer
// of its patch operation and the field Mutated sets are one target, for a
// credentialName and a caCertCredentialName, several on one server.
func TestInjectionTargetsAgree(t *testing.T) {
	obj := objectFromYAML(t, mutualGateway)
	input := obj.DeepCopy()
	index := indexOf(t, cluster+"\n---\n"+clientCABundle("ca.crt", pkiFile(t, "root-b.pem"), true))
	plan := certs.PlanGateway(t.Context(), certs.ParseGateway(obj), index, cliOptions())
	patch, err := plan.Patch()
	require.NoError(t, err)
	mutated, err := plan.Mutated()
	require.NoError(t, err)

	type target struct{ field, op, pointer string }
	var got []target
	require.Len(t, patch, len(plan.Injections), "one operation per injection")
	for i, inj := range plan.Injections {
		got = append(got, target{inj.Field(), patch[i].Operation, patch[i].Path})
		assert.Equal(t, inj.Value(), patch[i].Value, "%s", inj.Field())
		servers, _, err := unstructured.NestedSlice(mutated.Object, "spec", "servers")
		require.NoError(t, err)
		value, _, err := unstructured.NestedString(servers[inj.Server].(map[string]any), "tls", inj.Key())
		require.NoError(t, err)
		assert.Equal(t, inj.Value(), value, "Mutated sets %s", inj.Field())
	}
	assert.Equal(t, []target{
		{"spec.servers[0].tls.credentialName", "add", "/spec/servers/0/tls/credentialName"},
		{"spec.servers[1].tls.credentialName", "add", "/spec/servers/1/tls/credentialName"},
		{"spec.servers[2].tls.credentialName", "add", "/spec/servers/2/tls/credentialName"},
		{"spec.servers[0].tls.caCertCredentialName", "add", "/spec/servers/0/tls/caCertCredentialName"},
		{"spec.servers[1].tls.caCertCredentialName", "add", "/spec/servers/1/tls/caCertCredentialName"},
	}, got)

	raw, err := json.Marshal(obj.Object)
	require.NoError(t, err)
	ops, err := json.Marshal(patch)
	require.NoError(t, err)
	decoded, err := jsonpatch.DecodePatch(ops)
	require.NoError(t, err)
	patched, err := decoded.Apply(raw)
	require.NoError(t, err)
	want, err := json.Marshal(mutated.Object)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(patched), "the patch applied to the input is Mutated")
	assert.Equal(t, input, obj, "neither changes the input")
}

// TestPatchAndMutatedReportAMissingTarget: a Gateway that changed shape
// after it was planned is reported, not patched blindly.
func TestPatchAndMutatedReportAMissingTarget(t *testing.T) {
	tests := []struct {
		name    string
		reshape mutation
		want    string
	}{
		{name: "a Gateway whose servers are gone", reshape: withServers([]any{}), want: "spec.servers[0] not found"},
		{name: "a Gateway whose servers are not a list", reshape: withServers("none"), want: "spec.servers[0] not found"},
		{name: "a Gateway whose server is not an object", reshape: withServers([]any{"https"}), want: "spec.servers[0] is not an object"},
		{
			name:    "a server whose tls is gone",
			reshape: server(0, func(s map[string]any) { delete(s, "tls") }),
			want:    "spec.servers[0].tls is not an object",
		},
		{
			name:    "a Gateway whose spec is not an object",
			reshape: func(_ testing.TB, gw map[string]any) { gw["spec"] = "none" },
			want:    "spec is not an object",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := buildGateway(t)
			plan := certs.PlanGateway(t.Context(), certs.ParseGateway(obj), indexOf(t, cluster), cliOptions())
			require.NotEmpty(t, plan.Injections)
			tc.reshape(t, obj.Object)
			want := "failed to inject spec.servers[0].tls.credentialName into Gateway team-a/web: " + tc.want
			patch, err := plan.Patch()
			require.EqualError(t, err, want)
			assert.Nil(t, patch)
			mutated, err := plan.Mutated()
			require.EqualError(t, err, want)
			assert.Nil(t, mutated)
		})
	}
}

func TestNothingInjectedIsNoPatch(t *testing.T) {
	obj := buildGateway(t, withAnnotation("meshcert.io/inject", "false"))
	plan := certs.PlanGateway(t.Context(), certs.ParseGateway(obj), indexOf(t, cluster), cliOptions())
	require.Empty(t, plan.Injections)
	patch, err := plan.Patch()
	require.NoError(t, err)
	assert.Empty(t, patch)
}
