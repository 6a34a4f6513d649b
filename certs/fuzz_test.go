package certs_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

	// IP addresses in team-a, whose policy allows two of them: in hosts,
	// in ip-sans, spelled otherwise than the policy, and one it does not
	// allow.
	f.Add([]byte(`selector: {istio: ingressgateway}
servers:
- port: {number: 443, name: https, protocol: HTTPS}
  hosts: [web.example.com, 10.0.0.1]
  tls: {mode: SIMPLE}`), "cert-manager.io/cluster-issuer=ca\ncert-manager.io/ip-sans=2001:DB8:0::a", "team-a", "web")
	f.Add([]byte(`selector: {istio: ingressgateway}
servers:
- port: {number: 443, name: https, protocol: HTTPS}
  hosts: [web.example.com, "team-a/10.0.0.2"]
  tls: {mode: SIMPLE}`), "cert-manager.io/cluster-issuer=ca", "team-a", "web")
	f.Add([]byte(`selector: {istio: ingressgateway}
servers:
- port: {number: 443, name: https, protocol: HTTPS}
  hosts: [web.example.com]
  tls: {mode: SIMPLE}`), "cert-manager.io/cluster-issuer=ca\ncert-manager.io/ip-sans=10.0.0.1, ::ffff:10.0.0.1,10.0.0.9", "team-a", "web")
	f.Add([]byte(`selector: {istio: ingressgateway}
servers:
- port: {number: 443, name: https, protocol: HTTPS}
  hosts: [web.example.com]
  tls: {mode: SIMPLE}`), "cert-manager.io/cluster-issuer=ca\ncert-manager.io/common-name=10.0.0.7", "team-a", "web")
	f.Add([]byte(`selector: {istio: ingressgateway}
servers:
- port: {number: 443, name: https, protocol: HTTPS}
  hosts: ["2001:db8::a", "2001:db8::b"]
  tls: {mode: SIMPLE}`), "", "team-a", "ips")

	// team-a and team-auto carry a policy, so Gateways planned there are
	// held to it.
	index := indexOf(f, cluster+policyNamespace(fuzzPolicy))
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
		// The mutating webhook's plan injects what the whole plan does.
		if only := certs.PlanInjections(t.Context(), certs.ParseGateway(obj), index, opts); only.Managed != plan.Managed ||
			!reflect.DeepEqual(only.Injections, plan.Injections) || len(only.Findings) > 0 || len(only.Certificates) > 0 {
			t.Fatalf("PlanInjections gave managed=%v %v, PlanGateway managed=%v %v", only.Managed, only.Injections, plan.Managed, plan.Injections)
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
		// The injected Gateway built from the parsed one is the mutated
		// object parsed.
		if injected, ok := plan.InjectedGateway(); ok {
			parsed := certs.ParseGateway(mutated)
			parsed.Object = nil
			if !reflect.DeepEqual(parsed, injected) {
				t.Fatalf("InjectedGateway gave\n%+v\nParseGateway of Mutated\n%+v", injected, parsed)
			}
		} else if len(plan.Injections) > 0 && len(plan.Gateway.Findings) == 0 {
			t.Fatalf("InjectedGateway refused a well-formed Gateway's injections %+v", plan.Injections)
		}
		for _, inj := range plan.Injections {
			if errs := validation.IsDNS1123Subdomain(inj.CredentialName); len(errs) > 0 {
				t.Fatalf("injected %q is not a Secret name: %v", inj.CredentialName, errs)
			}
		}

		// Every dnsName comes from a server host or the alt-names
		// annotation; every IP address from a server host or the ip-sans
		// annotation, in canonical form.
		allowed := map[string]bool{}
		givenIPs := map[netip.Addr]bool{}
		for _, srv := range plan.Gateway.Servers {
			for _, h := range srv.Hosts {
				allowed[strings.ToLower(certs.DNSNameOf(h))] = true
				if addr, err := netip.ParseAddr(strings.TrimSuffix(certs.DNSNameOf(h), ".")); err == nil {
					givenIPs[addr] = true
				}
			}
		}
		for n := range strings.SplitSeq(annotations[cmapi.AltNamesAnnotationKey], ",") {
			allowed[strings.ToLower(strings.TrimSpace(n))] = true
		}
		for ip := range strings.SplitSeq(annotations[cmapi.IPSANAnnotationKey], ",") {
			if addr, err := netip.ParseAddr(strings.TrimSpace(ip)); err == nil {
				givenIPs[addr] = true
			}
		}
		for _, crt := range plan.Certificates {
			for _, n := range crt.Spec.DNSNames {
				if !allowed[n] {
					t.Fatalf("Certificate %s/%s has dnsName %q that no host or alt-name gave", crt.Namespace, crt.Name, n)
				}
			}
			for _, ip := range crt.Spec.IPAddresses {
				addr, err := netip.ParseAddr(ip)
				if err != nil || addr.String() != ip || addr.Zone() != "" {
					t.Fatalf("Certificate %s/%s has ipAddress %q, not a canonical IP address without zone", crt.Namespace, crt.Name, ip)
				}
				if !givenIPs[addr] {
					t.Fatalf("Certificate %s/%s has ipAddress %q that no host or ip-sans gave", crt.Namespace, crt.Name, ip)
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
		// No Certificate planned in a namespace with a policy carries an
		// IP address, from hosts, ip-sans or a common name, that its
		// policy does not list. An IPv4-mapped IPv6 address is the IPv4
		// address in a certificate (crypto/x509 writes it in 4 bytes).
		if ips, policed := fuzzPolicyIPs[namespace]; policed {
			for _, crt := range plan.Certificates {
				for _, ip := range crt.Spec.IPAddresses {
					if addr, err := netip.ParseAddr(ip); err != nil || !ips[addr.Unmap()] {
						t.Fatalf("%s got a Certificate for IP address %q, which its policy does not allow", namespace, ip)
					}
				}
				if addr, err := netip.ParseAddr(crt.Spec.CommonName); err == nil && !ips[addr.Unmap()] {
					t.Fatalf("%s got a Certificate with common name %q, an IP address its policy does not allow", namespace, crt.Spec.CommonName)
				}
			}
		}
	})
}

// fuzzPolicy is team-a's policy in FuzzPlanGateway: names under
// example.com, two IP addresses, from ClusterIssuer ca.
const fuzzPolicy = `meshcert.io/allowed-hosts: "*.example.com, 10.0.0.1, 2001:db8::a", meshcert.io/allowed-issuers: ClusterIssuer/ca`

// fuzzPolicyIPs are the IP addresses the policies of FuzzPlanGateway's
// namespaces allow, written out rather than read from the policy; team-auto's
// "*.example.com" allows none.
var fuzzPolicyIPs = map[string]map[netip.Addr]bool{
	"team-a":    {netip.MustParseAddr("10.0.0.1"): true, netip.MustParseAddr("2001:db8::a"): true},
	"team-auto": {},
}

// The IP address invariant of FuzzPlanGateway is not vacuous: team-a's
// policy lets the addresses it lists through, in hosts and ip-sans, and
// stops the others.
func TestFuzzPlanGatewayPolicyLetsOnlyItsIPAddressesThrough(t *testing.T) {
	index := indexOf(t, cluster+policyNamespace(fuzzPolicy))
	gateway := func(hosts, ipSANs string) *certs.Gateway {
		obj := objectFromYAML(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
  namespace: team-a
  annotations: {cert-manager.io/cluster-issuer: ca, cert-manager.io/ip-sans: "`+ipSANs+`"}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [`+hosts+`]
    tls: {mode: SIMPLE}
`)
		return certs.ParseGateway(obj)
	}
	plan := certs.PlanGateway(t.Context(), gateway("web.example.com, 10.0.0.1", "2001:DB8:0::a"), index, cliOptions())
	require.False(t, plan.OutsidePolicy, "%v", plan.Findings)
	require.Len(t, plan.Certificates, 1)
	assert.Equal(t, []string{"10.0.0.1", "2001:db8::a"}, plan.Certificates[0].Spec.IPAddresses)

	for _, tc := range []struct{ name, hosts, ipSANs string }{
		{"a host address the policy does not list", "web.example.com, 10.0.0.2", ""},
		{"an ip-sans address the policy does not list", "web.example.com", "10.0.0.1,10.0.0.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := certs.PlanGateway(t.Context(), gateway(tc.hosts, tc.ipSANs), index, cliOptions())
			assert.True(t, plan.OutsidePolicy)
			assert.Empty(t, plan.Certificates)
		})
	}
}
