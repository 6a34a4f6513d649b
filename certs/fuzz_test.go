package certs_test

import (
	"reflect"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
)

func FuzzCredentialName(f *testing.F) {
	f.Add("team-a", "web", "https")
	f.Add("a-b", "c", "443")
	f.Add("", "", "")
	f.Add("ns", strings.Repeat("Gw.", 100), "Ünïcode server")
	f.Fuzz(func(t *testing.T, namespace, gateway, server string) {
		got := certs.CredentialName(namespace, gateway, server)
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
			t.Fatalf("CredentialName(%q, %q, %q) = %q is not a DNS-1123 subdomain: %v", namespace, gateway, server, got, errs)
		}
		if got != certs.CredentialName(namespace, gateway, server) {
			t.Fatalf("CredentialName is not deterministic")
		}
		// Moving one character between the parts must change the name.
		if gateway != "" {
			other := certs.CredentialName(namespace+gateway[:1], gateway[1:], server)
			if other == got {
				t.Fatalf("CredentialName(%q, %q, %q) collides with a shifted triple", namespace, gateway, server)
			}
		}
	})
}

// fuzzAnnotations turns "key=value" lines into annotations.
func fuzzAnnotations(s string) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok {
			out[k] = v
		}
	}
	return out
}

func FuzzPlanGateway(f *testing.F) {
	f.Add([]byte(`selector: {istio: ingressgateway}
servers:
- port: {number: 443, name: https, protocol: HTTPS}
  hosts: [team-a/web.example.com, "*"]
  tls: {mode: SIMPLE}`), "cert-manager.io/cluster-issuer=ca", "team-a", "web")
	f.Add([]byte(`selector: {istio: edge}
servers:
- port: {number: 443, name: https}
  hosts: [a.example.com]
  tls: {mode: MUTUAL, credentialName: shared}
- port: {number: 443, name: https}
  hosts: [b.example.com, 10.0.0.1]
  tls: {mode: OPTIONAL_MUTUAL}
- port: {number: 8443}
  hosts: [c.example.com]
  tls: {mode: PASSTHROUGH, credentialName: x}`), "cert-manager.io/issuer=mesh-ca\ncert-manager.io/alt-names=z.example.com,*.example.com", "team-a", "edge")
	f.Add([]byte(`servers: {port: 1}`), "cert-manager.io/issuer=", "", "")
	f.Add([]byte(`selector: {istio: ingressgateway}
servers:
- hosts: ["ns/x.example.com"]
  tls: {mode: SIMPLE, credentialNames: [a, b, c]}`), "meshcert.io/credential-namespace=team-a\ncert-manager.io/cluster-issuer=letsencrypt\ncert-manager.io/duration=1h", "ns", "g")
	// An ACME issuer's HTTP-01 solver with a redirecting port-80 server.
	f.Add([]byte(`selector: {istio: ingressgateway}
servers:
- port: {number: 443, name: https, protocol: HTTPS}
  hosts: [web.example.com, "*.example.com"]
  tls: {mode: SIMPLE}
- port: {number: 80, name: http, protocol: HTTP}
  hosts: [web.example.com]
  tls: {httpsRedirect: true}`), "cert-manager.io/cluster-issuer=letsencrypt\nacme.cert-manager.io/http01-ingress-class=nginx", "team-b", "web")

	// team-a carries a policy, so Gateways planned there are held to it.
	index := indexOf(f, cluster+policyNamespace(withinPolicy))
	opts := cliOptions()
	opts.DefaultIssuer = cmmeta.IssuerReference{Name: "ca", Kind: cmapi.ClusterIssuerKind, Group: certs.CertManagerGroup}

	f.Fuzz(func(t *testing.T, specYAML []byte, annotationLines, namespace, name string) {
		spec := map[string]any{}
		if err := yaml.Unmarshal(specYAML, &spec); err != nil {
			return
		}
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1",
			"kind":       "Gateway",
			"spec":       spec,
		}}
		obj.SetNamespace(namespace)
		obj.SetName(name)
		annotations := fuzzAnnotations(annotationLines)
		obj.SetAnnotations(annotations)
		input := obj.DeepCopy()

		plan := certs.PlanGateway(t.Context(), certs.ParseGateway(obj), index, opts)
		mutated, err := plan.Mutated()
		if err != nil {
			t.Fatalf("Mutated: %v", err)
		}
		if !reflect.DeepEqual(input.Object, obj.Object) {
			t.Fatalf("planning modified its input")
		}
		again := certs.PlanGateway(t.Context(), certs.ParseGateway(obj), index, opts)
		againMutated, err := again.Mutated()
		if err != nil {
			t.Fatalf("Mutated: %v", err)
		}
		if !reflect.DeepEqual(plan.Findings, again.Findings) || !reflect.DeepEqual(plan.Certificates, again.Certificates) ||
			!reflect.DeepEqual(mutated.Object, againMutated.Object) {
			t.Fatalf("planning is not deterministic")
		}

		// Injecting twice equals injecting once.
		second := certs.PlanGateway(t.Context(), certs.ParseGateway(mutated), index, opts)
		secondMutated, err := second.Mutated()
		if err != nil {
			t.Fatalf("Mutated: %v", err)
		}
		if len(second.Injections) != 0 {
			t.Fatalf("a second injection injected %+v", second.Injections)
		}
		if !reflect.DeepEqual(mutated.Object, secondMutated.Object) {
			t.Fatalf("a second injection changed the object")
		}
		if !reflect.DeepEqual(plan.Certificates, second.Certificates) {
			t.Fatalf("the injected Gateway plans other Certificates")
		}
		for _, inj := range plan.Injections {
			if errs := validation.IsDNS1123Subdomain(inj.CredentialName); len(errs) > 0 {
				t.Fatalf("injected %q is not a Secret name: %v", inj.CredentialName, errs)
			}
		}

		// Every dnsName comes from a server host or the alt-names annotation.
		allowed := map[string]bool{}
		for _, srv := range plan.Gateway.Servers {
			for _, h := range srv.Hosts {
				allowed[strings.ToLower(certs.DNSNameOf(h))] = true
			}
		}
		for n := range strings.SplitSeq(annotations[cmapi.AltNamesAnnotationKey], ",") {
			allowed[strings.ToLower(strings.TrimSpace(n))] = true
		}
		for _, crt := range plan.Certificates {
			for _, n := range crt.Spec.DNSNames {
				if !allowed[n] {
					t.Fatalf("Certificate %s/%s has dnsName %q that no host or alt-name gave", crt.Namespace, crt.Name, n)
				}
			}
			if errs := validation.IsDNS1123Subdomain(crt.Name); len(errs) > 0 {
				t.Fatalf("Certificate name %q is invalid: %v", crt.Name, errs)
			}
		}
		for _, fd := range plan.Findings {
			if fd.Message == "" || fd.Code == "" {
				t.Fatalf("finding without code or message: %+v", fd)
			}
		}

		// team-a's policy allows names under example.com from
		// ClusterIssuer ca: nothing else is ever planned there.
		if plan.OutsidePolicy && len(plan.Certificates) > 0 {
			t.Fatalf("a Gateway outside its policy got Certificates")
		}
		if namespace == "team-a" {
			for _, crt := range plan.Certificates {
				if crt.Spec.IssuerRef.Name != "ca" || crt.Spec.IssuerRef.Kind != cmapi.ClusterIssuerKind {
					t.Fatalf("team-a got a Certificate from %+v", crt.Spec.IssuerRef)
				}
				for _, n := range crt.Spec.DNSNames {
					if !strings.HasSuffix(n, ".example.com") {
						t.Fatalf("team-a got a Certificate for %q", n)
					}
				}
			}
		}
	})
}
