package certs_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// acmeIssuer is ClusterIssuer "acme" on server with the given solvers (a
// YAML flow sequence).
func acmeIssuer(server, solvers string) string {
	return `
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: acme}
spec:
  acme:
    server: ` + server + `
    privateKeySecretRef: {name: acme-account}
    solvers: ` + solvers + `
`
}

const (
	pebble      = "https://pebble.example:14000/dir"
	letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"
	http01      = `{http01: {ingress: {ingressClassName: istio}}}`
	dns01       = `{dns01: {rfc2136: {nameserver: "127.0.0.1:53"}}}`
)

// acmeCertificate is Certificate istio-system/web from ClusterIssuer acme
// with the given spec fields (YAML flow-map entries) and labels.
func acmeCertificate(spec, labels string) string {
	return `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: istio-system, labels: {` + labels + `}}
spec: {secretName: web-tls, issuerRef: {name: acme, kind: ClusterIssuer}, ` + spec + `}
`
}

func TestACMEIssuance(t *testing.T) {
	tests := []struct {
		name        string
		issuer      string
		certificate string
		want        []string
		wantMessage string
	}{
		{
			name:        "a solver without a selector takes every name",
			issuer:      acmeIssuer(pebble, "["+http01+"]"),
			certificate: acmeCertificate("dnsNames: [web.example.com, api.example.org]", ""),
		},
		{
			name:        "a name no selector matches has no solver",
			issuer:      acmeIssuer(pebble, `[{http01: {ingress: {class: istio}}, selector: {dnsZones: [example.org]}}]`),
			certificate: acmeCertificate("dnsNames: [web.example.org, web.example.com]", ""),
			want:        []string{"error MC5006 spec.dnsNames[1]"},
			wantMessage: `no solver of ACME ClusterIssuer "acme" would take "web.example.com": cert-manager picks, among the solvers of a type the ACME server offers for it (HTTP-01 or DNS-01)`,
		},
		{
			name:        "a dnsZones selector matches names below the zone",
			issuer:      acmeIssuer(pebble, `[{dns01: {rfc2136: {nameserver: "127.0.0.1:53"}}, selector: {dnsZones: [example.com]}}]`),
			certificate: acmeCertificate("dnsNames: [a.b.example.com, example.com]", ""),
		},
		{
			name:        "a dnsNames selector matches only the names it lists",
			issuer:      acmeIssuer(pebble, `[{http01: {ingress: {class: istio}}, selector: {dnsNames: [web.example.com]}}]`),
			certificate: acmeCertificate("dnsNames: [web.example.com, www.example.com]", ""),
			want:        []string{"error MC5006 spec.dnsNames[1]"},
		},
		{
			name:        "a wildcard with only an HTTP-01 solver cannot be validated",
			issuer:      acmeIssuer(pebble, "["+http01+"]"),
			certificate: acmeCertificate(`dnsNames: ["*.example.com", example.com]`, ""),
			want:        []string{"error MC5007 spec.dnsNames[0]"},
			wantMessage: `"*.example.com" is a wildcard, which an ACME server lets only DNS-01 validate, and the solvers of ACME ClusterIssuer "acme" that would take it are HTTP-01`,
		},
		{
			name:        "a wildcard goes to the DNS-01 solver even when an HTTP-01 one comes first",
			issuer:      acmeIssuer(pebble, "["+http01+", "+dns01+"]"),
			certificate: acmeCertificate(`dnsNames: ["*.example.com", example.com]`, ""),
		},
		{
			name:        "a wildcard no solver matches at all has no solver",
			issuer:      acmeIssuer(pebble, `[{dns01: {rfc2136: {nameserver: "127.0.0.1:53"}}, selector: {dnsZones: [example.org]}}]`),
			certificate: acmeCertificate(`dnsNames: ["*.example.com"]`, ""),
			want:        []string{"error MC5006 spec.dnsNames[0]"},
			wantMessage: "(DNS-01)",
		},
		{
			name:        "an IP address needs an HTTP-01 solver",
			issuer:      acmeIssuer(pebble, "["+dns01+"]"),
			certificate: acmeCertificate("ipAddresses: [192.0.2.10]", ""),
			want:        []string{"error MC5006 spec.ipAddresses[0]"},
			wantMessage: "(HTTP-01)",
		},
		{
			name:        "an IP address with an HTTP-01 solver is fine",
			issuer:      acmeIssuer(pebble, "["+http01+"]"),
			certificate: acmeCertificate("ipAddresses: [192.0.2.10]", ""),
		},
		{
			name:        "matchLabels are matched against the Certificate's labels",
			issuer:      acmeIssuer(pebble, `[{http01: {ingress: {class: istio}}, selector: {matchLabels: {meshcert.io/gateway-namespace: team-a}}}]`),
			certificate: acmeCertificate("dnsNames: [web.example.com]", "meshcert.io/gateway-namespace: team-a"),
		},
		{
			name:        "a Certificate without the labels a matchLabels selector wants has no solver",
			issuer:      acmeIssuer(pebble, `[{http01: {ingress: {class: istio}}, selector: {matchLabels: {meshcert.io/gateway-namespace: team-a}}}]`),
			certificate: acmeCertificate("dnsNames: [web.example.com]", "meshcert.io/gateway-namespace: team-b"),
			want:        []string{"error MC5006 spec.dnsNames[0]"},
		},
		{
			name:        "a common name that is not among the DNS names is refused by cert-manager's ACME issuer",
			issuer:      acmeIssuer(pebble, "["+http01+"]"),
			certificate: acmeCertificate("commonName: shop.example.com, dnsNames: [web.example.com]", ""),
			want:        []string{"error MC5008 spec.commonName"},
		},
		{
			name:        "a common name among the DNS names is fine",
			issuer:      acmeIssuer(pebble, "["+http01+"]"),
			certificate: acmeCertificate("commonName: web.example.com, dnsNames: [web.example.com]", ""),
		},
		{
			name:        "more than 100 names from Let's Encrypt is refused",
			issuer:      acmeIssuer(letsEncrypt, "["+http01+"]"),
			certificate: acmeCertificate("dnsNames: ["+names(101)+"]", ""),
			want:        []string{"error MC5009 spec.issuerRef"},
			wantMessage: `the certificate for Secret "web-tls" holds 101 names and ClusterIssuer "acme" is Let's Encrypt, which issues at most 100 per certificate`,
		},
		{
			name:        "100 names from Let's Encrypt are fine",
			issuer:      acmeIssuer(letsEncrypt, "["+http01+"]"),
			certificate: acmeCertificate("dnsNames: ["+names(100)+"]", ""),
		},
		{
			name:        "Let's Encrypt staging has the same cap",
			issuer:      acmeIssuer("https://acme-staging-v02.api.letsencrypt.org/directory", "["+http01+"]"),
			certificate: acmeCertificate("dnsNames: ["+names(101)+"]", ""),
			want:        []string{"error MC5009 spec.issuerRef"},
		},
		{
			name:        "another ACME server has no such cap",
			issuer:      acmeIssuer(pebble, "["+http01+"]"),
			certificate: acmeCertificate("dnsNames: ["+names(101)+"]", ""),
		},
		{
			name:        "an issuer that is not ACME is not asked about solvers",
			issuer:      "\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: acme}\nspec: {ca: {secretName: ca}}\n",
			certificate: acmeCertificate(`commonName: other.example.com, dnsNames: ["*.example.com"]`, ""),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := objectFromYAML(t, tc.certificate)
			crt := &cmapi.Certificate{}
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, crt))
			got := acmeFindings(certs.CheckCertificate(t.Context(), crt, indexOf(t, tc.issuer), cliOptions()))
			if tc.want == nil {
				assert.Empty(t, got)
			} else {
				assert.Equal(t, tc.want, summary(got))
			}
			if tc.wantMessage != "" && len(got) > 0 {
				assert.Contains(t, got[0].Message, tc.wantMessage)
			}
		})
	}
}

// A Gateway's findings point at the host or annotation that asked for the
// name.
func TestACMEIssuanceOfGateways(t *testing.T) {
	issuer := acmeIssuer(letsEncrypt, "["+http01+"]")
	gw := certs.ParseGateway(buildGateway(t,
		withAnnotation("cert-manager.io/cluster-issuer", "acme"),
		withHosts(0, "web.example.com", "*.shop.example.com"),
		withAnnotation("cert-manager.io/alt-names", "*.api.example.com"),
		withAnnotation("cert-manager.io/common-name", "login.example.com"),
	))
	plan := certs.PlanGateway(t.Context(), gw, indexOf(t, cluster+"---"+issuer), cliOptions())
	assert.Equal(t, []string{
		"error MC5007 metadata.annotations[cert-manager.io/alt-names]",
		"error MC5008 metadata.annotations[cert-manager.io/common-name]",
		"error MC5007 spec.servers[0].hosts[1]",
	}, summary(acmeFindings(plan.Findings)))
}

func acmeFindings(fs finding.Findings) finding.Findings {
	var out finding.Findings
	acme := []finding.Code{finding.CodeNoACMESolver, finding.CodeACMEWildcardNeedsDNS01, finding.CodeACMECommonNameNotInNames, finding.CodeTooManyACMENames}
	for _, f := range fs {
		if slices.Contains(acme, f.Code) {
			out = append(out, f)
		}
	}
	return out
}

func names(n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("h%d.example.com", i)
	}
	return strings.Join(out, ", ")
}

// The shim's ACME annotations on a Gateway become the solver overrides on
// its Certificate that cert-manager's shim writes (setIssuerSpecificConfig).
func TestACMEShimAnnotationsAreCarried(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        map[string]string
		wantError   string
	}{
		{
			name:        "edit-in-place names the Gateway's Ingress and asks for a temporary certificate",
			annotations: map[string]string{"acme.cert-manager.io/http01-edit-in-place": "true"},
			want:        map[string]string{"acme.cert-manager.io/http01-override-ingress-name": "web", "cert-manager.io/issue-temporary-certificate": "true"},
		},
		{
			name:        "edit-in-place other than true does nothing, as in the shim",
			annotations: map[string]string{"acme.cert-manager.io/http01-edit-in-place": "false"},
		},
		{
			name:        "an ingress class overrides the solver's class",
			annotations: map[string]string{"acme.cert-manager.io/http01-ingress-class": "istio"},
			want:        map[string]string{"acme.cert-manager.io/http01-override-ingress-class": "istio"},
		},
		{
			name:        "an IngressClass name overrides the solver's ingressClassName",
			annotations: map[string]string{"acme.cert-manager.io/http01-ingress-ingressclassname": "istio"},
			want:        map[string]string{"acme.cert-manager.io/http01-override-ingress-ingressclassname": "istio"},
		},
		{
			name:        "an empty class overrides nothing",
			annotations: map[string]string{"acme.cert-manager.io/http01-ingress-class": ""},
		},
		{
			name: "two overrides fail cert-manager's order, so they are an error and no Certificate is made",
			annotations: map[string]string{
				"acme.cert-manager.io/http01-ingress-class":            "istio",
				"acme.cert-manager.io/http01-ingress-ingressclassname": "istio",
			},
			wantError: "error MC1002 metadata.annotations[acme.cert-manager.io/http01-ingress-ingressclassname]",
		},
		{
			name:        "an IngressClass name that is no object name is an error",
			annotations: map[string]string{"acme.cert-manager.io/http01-ingress-ingressclassname": "Istio Gateway"},
			wantError:   "error MC1002 metadata.annotations[acme.cert-manager.io/http01-ingress-ingressclassname]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mutations := []mutation{withHosts(0, "web.example.com")}
			for k, v := range tc.annotations {
				mutations = append(mutations, withAnnotation(k, v))
			}
			plan := certs.PlanGateway(t.Context(), certs.ParseGateway(buildGateway(t, mutations...)), indexOf(t, cluster), cliOptions())
			if tc.wantError != "" {
				assert.Contains(t, summary(plan.Findings), tc.wantError)
				assert.Empty(t, plan.Certificates)
				return
			}
			require.Len(t, plan.Certificates, 1, "%v", plan.Findings)
			got := map[string]string{}
			for k, v := range plan.Certificates[0].Annotations {
				if k != certs.AnnotationGateway {
					got[k] = v
				}
			}
			if tc.want == nil {
				assert.Empty(t, got)
			} else {
				assert.Equal(t, tc.want, got)
			}
		})
	}
}

// istioIngressClass is the IngressClass Istio serves (its controller name).
const istioIngressClass = `
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: istio}
spec: {controller: istio.io/ingress-controller}
`

// redirectGatewayYAML is a Gateway on the workload istio=<workload> that
// redirects web.example.com from port 80 to HTTPS.
func redirectGatewayYAML(workload string) string {
	return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: http-redirect, namespace: istio-system}
spec:
  selector: {istio: ` + workload + `}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [web.example.com]
    tls: {httpsRedirect: true}
`
}

// TestACMEHTTP01ThroughIstio: an HTTP-01 solver is only useful when Istio
// serves the Ingress cert-manager creates for it, on the workload that
// serves the host, without a redirect answering first. Expectations follow
// Istio's Ingress rules (STRICT mode, class "istio", IngressClass controller
// istio.io/ingress-controller), cert-manager's solver Ingress (class as the
// kubernetes.io/ingress.class annotation, ingressClassName as the field, at
// most one of name, class and ingressClassName), and Istio's gateway routes
// (an httpsRedirect server sets require_tls on the exact host).
func TestACMEHTTP01ThroughIstio(t *testing.T) {
	redirect80 := addServer(map[string]any{
		"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
		"hosts": anyList("web.example.com"),
		"tls":   map[string]any{"httpsRedirect": true},
	})
	tests := []struct {
		name    string
		solvers string
		extra   string
		mutate  []mutation
		strict  bool
		want    []string
	}{
		{
			name:    "an IngressClass with Istio's controller is served",
			solvers: `[{http01: {ingress: {ingressClassName: istio}}}]`,
			extra:   istioIngressClass,
		},
		{
			name:    "the class annotation istio is served",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
		},
		{
			name:    "the class annotation nginx is not served by Istio",
			solvers: `[{http01: {ingress: {class: nginx}}}]`,
			want:    []string{"warning MC5010 spec.servers[0].hosts[0]"},
		},
		{
			name:    "an IngressClass of another controller is not served by Istio",
			solvers: `[{http01: {ingress: {ingressClassName: nginx}}}]`,
			extra:   istioIngressClass + "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx}\nspec: {controller: k8s.io/ingress-nginx}\n",
			want:    []string{"warning MC5010 spec.servers[0].hosts[0]"},
		},
		{
			name:    "an IngressClass that does not exist is not served by Istio in STRICT mode",
			solvers: `[{http01: {ingress: {ingressClassName: missing}}}]`,
			extra:   istioIngressClass,
			want:    []string{"warning MC5010 spec.servers[0].hosts[0]"},
		},
		{
			name:    "an IngressClass meshcert was not given cannot be told, a warning",
			solvers: `[{http01: {ingress: {ingressClassName: istio}}}]`,
			want:    []string{"warning MC5011 spec.servers[0].hosts[0]"},
		},
		{
			name:    "an IngressClass meshcert was not given cannot be told, an error under strict",
			solvers: `[{http01: {ingress: {ingressClassName: istio}}}]`,
			strict:  true,
			want:    []string{"error MC5011 spec.servers[0].hosts[0]"},
		},
		{
			name:    "no class takes the default IngressClass, served when it is Istio's",
			solvers: `[{http01: {ingress: {}}}]`,
			extra:   "\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: istio, annotations: {ingressclass.kubernetes.io/is-default-class: \"true\"}}\nspec: {controller: istio.io/ingress-controller}\n",
		},
		{
			name:    "no class and no default IngressClass is not served by Istio in STRICT mode",
			solvers: `[{http01: {ingress: {}}}]`,
			extra:   istioIngressClass,
			want:    []string{"warning MC5010 spec.servers[0].hosts[0]"},
		},
		{
			name:    "class and ingressClassName together are refused by cert-manager",
			solvers: `[{http01: {ingress: {class: istio, ingressClassName: istio}}}]`,
			extra:   istioIngressClass,
			want:    []string{"error MC5012 spec.servers[0].hosts[0]"},
		},
		{
			name:    "a gatewayHTTPRoute solver without parentRefs attaches to nothing",
			solvers: `[{http01: {gatewayHTTPRoute: {}}}]`,
			want:    []string{"error MC5012 spec.servers[0].hosts[0]"},
		},
		{
			name:    "a gatewayHTTPRoute solver attached to a port other than 80 is never reached",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: web, port: 8080}]}}}]`,
			want:    []string{"error MC5012 spec.servers[0].hosts[0]"},
		},
		{
			name:    "a gatewayHTTPRoute solver attached to port 80 of a Gateway API Gateway listening there in the Certificate's namespace is fine",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: web, port: 80}]}}}]`,
			extra:   routeGateway("istio-system", "web", `[{name: http, port: 80, protocol: HTTP}]`, ""),
		},
		{
			name:    "a gatewayHTTPRoute solver attached to port 80 of a Gateway API Gateway that is not known is a warning",
			solvers: `[{http01: {gatewayHTTPRoute: {parentRefs: [{name: web, port: 80}]}}}]`,
			want:    []string{"warning MC5017 spec.servers[0].hosts[0]"},
		},
		{
			name:    "a port-80 server redirecting the host to HTTPS swallows the challenge",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			mutate:  []mutation{redirect80},
			want:    []string{"error MC5013 spec.servers[1].hosts[0]"},
		},
		{
			name:    "a redirect on another Gateway of the same workload swallows the challenge too",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			extra:   redirectGatewayYAML("ingressgateway"),
			want:    []string{"error MC5013 spec.servers[0].hosts[0]"},
		},
		{
			name:    "a redirect on a Gateway of another workload does not concern Istio's ingress gateway",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			extra:   redirectGatewayYAML("edge"),
		},
		{
			name:    "a redirect of a namespace-qualified host swallows the challenge only with a VirtualService, a warning",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			mutate: []mutation{addServer(map[string]any{
				"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
				"hosts": anyList("team-a/web.example.com"),
				"tls":   map[string]any{"httpsRedirect": true},
			})},
			want: []string{"warning MC5016 spec.servers[1].hosts[0]"},
		},
		{
			name:    "a redirect of */host swallows the challenge, as istiod strips that namespace part before keying the redirect",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			mutate: []mutation{addServer(map[string]any{
				"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
				"hosts": anyList("*/web.example.com"),
				"tls":   map[string]any{"httpsRedirect": true},
			})},
			want: []string{"error MC5013 spec.servers[1].hosts[0]"},
		},
		{
			name:    "a redirect of the catch-all host swallows an IP address's challenge, whose solver Ingress has no host and lands in Istio's * virtual host",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			mutate: []mutation{withHosts(0, "192.0.2.10"), addServer(map[string]any{
				"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
				"hosts": anyList("*"),
				"tls":   map[string]any{"httpsRedirect": true},
			})},
			want: []string{"error MC5013 spec.servers[1].hosts[0]"},
		},
		{
			name:    "a redirect of a name leaves an IP address's challenge alone",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			mutate: []mutation{withHosts(0, "192.0.2.10"), addServer(map[string]any{
				"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
				"hosts": anyList("*.example.com", "web.example.com"),
				"tls":   map[string]any{"httpsRedirect": true},
			})},
		},
		{
			name:    "a Gateway without a selector applies to Istio's ingress gateway too",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			mutate: []mutation{func(t testing.TB, gw map[string]any) {
				delete(object(t, gw, "spec"), "selector")
			}, redirect80},
			want: []string{"error MC5013 spec.servers[1].hosts[0]"},
		},
		{
			name:    "several default IngressClasses leave the class to the API server",
			solvers: `[{http01: {ingress: {}}}]`,
			extra:   "\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: istio, annotations: {ingressclass.kubernetes.io/is-default-class: \"true\"}}\nspec: {controller: istio.io/ingress-controller}\n---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx, annotations: {ingressclass.kubernetes.io/is-default-class: \"true\"}}\nspec: {controller: k8s.io/ingress-nginx}\n",
			want:    []string{"warning MC5010 spec.servers[0].hosts[0]"},
		},
		{
			name:    "a redirect of a wildcard host swallows an exact host's challenge only with a VirtualService, a warning",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			mutate: []mutation{addServer(map[string]any{
				"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
				"hosts": anyList("*.example.com"),
				"tls":   map[string]any{"httpsRedirect": true},
			})},
			want: []string{"warning MC5016 spec.servers[1].hosts[0]"},
		},
		{
			name:    "a redirect of another domain's wildcard does not concern the name",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			mutate: []mutation{addServer(map[string]any{
				"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
				"hosts": anyList("*.example.org", "other.example.com"),
				"tls":   map[string]any{"httpsRedirect": true},
			})},
		},
		{
			name:    "a redirect does not concern a DNS-01 solver",
			solvers: `[` + dns01 + `]`,
			mutate:  []mutation{redirect80},
		},
		{
			name:    "a Gateway on another workload than Istio's ingress gateway does not get the challenge",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			mutate:  []mutation{withSelector("istio", "edge")},
			want:    []string{"warning MC5014 spec.servers[0].hosts[0]"},
		},
		{
			name:    "a Gateway selecting another label of Istio's ingress gateway Pod gets the challenge, as istiod merges Gateways per proxy",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			extra:   "\napiVersion: v1\nkind: Pod\nmetadata: {name: ingress-1, namespace: istio-system, labels: {istio: ingressgateway, app: istio-ingressgateway}}\n",
			mutate:  []mutation{withSelector("app", "istio-ingressgateway")},
		},
		{
			name:    "a Gateway whose selector no ingress gateway Pod carries does not get the challenge",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			extra:   "\napiVersion: v1\nkind: Pod\nmetadata: {name: ingress-1, namespace: istio-system, labels: {istio: ingressgateway}}\n",
			mutate:  []mutation{withSelector("app", "istio-ingressgateway")},
			want:    []string{"warning MC5014 spec.servers[0].hosts[0]"},
		},
		{
			name:    "the Gateway's ingress-class annotation overrides the solver's class, as on the Order",
			solvers: `[{http01: {ingress: {class: istio}}}]`,
			mutate:  []mutation{withAnnotation("acme.cert-manager.io/http01-ingress-class", "nginx")},
			want:    []string{"warning MC5010 spec.servers[0].hosts[0]"},
		},
		{
			name:    "a solver that fails is reported once, not per name",
			solvers: `[{http01: {ingress: {class: nginx}}}]`,
			mutate:  []mutation{withHosts(0, "web.example.com", "shop.example.com")},
			// At the first name in order, shop.example.com.
			want: []string{"warning MC5010 spec.servers[0].hosts[1]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mutations := append([]mutation{
				withAnnotation("cert-manager.io/cluster-issuer", "acme"),
				withHosts(0, "web.example.com"),
			}, tc.mutate...)
			gw := certs.ParseGateway(buildGateway(t, mutations...))
			stream := acmeIssuer(pebble, tc.solvers)
			if tc.extra != "" {
				stream += "---" + tc.extra
			}
			opts := cliOptions()
			opts.Strict = tc.strict
			plan := certs.PlanGateway(t.Context(), gw, indexOf(t, stream), opts)
			got := http01Findings(plan.Findings)
			if tc.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tc.want, summary(got))
		})
	}
}

func http01Findings(fs finding.Findings) finding.Findings {
	var out finding.Findings
	codes := []finding.Code{
		finding.CodeACMESolverNotServedByIstio, finding.CodeACMESolverClassUnknown, finding.CodeInvalidACMESolver,
		finding.CodeACMEChallengeRedirected, finding.CodeACMEChallengeOnOtherWorkload, finding.CodeACMEChallengeMayBeRedirected,
		finding.CodeACMESolverParentNotFound,
	}
	for _, f := range fs {
		if slices.Contains(codes, f.Code) {
			out = append(out, f)
		}
	}
	return out
}

// A Certificate written by hand can carry several HTTP-01 overrides, which
// cert-manager refuses on the Order.
func TestACMECertificateWithSeveralOverrides(t *testing.T) {
	obj := objectFromYAML(t, `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web
  namespace: istio-system
  annotations: {acme.cert-manager.io/http01-override-ingress-class: istio, acme.cert-manager.io/http01-override-ingress-name: web}
spec: {secretName: web-tls, issuerRef: {name: acme, kind: ClusterIssuer}, dnsNames: [web.example.com]}
`)
	crt := &cmapi.Certificate{}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, crt))
	got := http01Findings(certs.CheckCertificate(t.Context(), crt, indexOf(t, acmeIssuer(pebble, "["+http01+"]")+"---"+istioIngressClass), cliOptions()))
	assert.Equal(t, []string{"error MC5012 spec.dnsNames[0]"}, summary(got))
}
