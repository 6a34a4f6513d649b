package certs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

func TestIsGatewayTakesTheServedVersionsOnly(t *testing.T) {
	for version, want := range map[string]bool{"v1": true, "v1beta1": true, "v1alpha3": true, "v1alpha1": false, "v2": false, "": false} {
		t.Run("networking.istio.io/"+version, func(t *testing.T) {
			assert.Equal(t, want, certs.IsGateway(schema.GroupVersionKind{Group: "networking.istio.io", Version: version, Kind: "Gateway"}))
		})
	}
	assert.False(t, certs.IsGateway(schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}),
		"a Gateway API Gateway is not an Istio Gateway")
}

func TestHostKeyIsPinned(t *testing.T) {
	long := strings.Repeat("a", 50) + ".example.com"
	assert.Equal(t, "h\x00443\x00\x00"+long, certs.HostKey(443, "", long), "no bind, a host longer than the key's spare room")
	assert.Equal(t, "h\x008443\x0010.0.0.1\x00a.io", certs.HostKey(8443, "10.0.0.1", "a.io"))
	assert.Equal(t, "c\x00web-tls", certs.CredentialKey("web-tls"))
}

func TestParseGatewayReadsPorts(t *testing.T) {
	gw := certs.ParseGateway(buildGateway(t, addServer(map[string]any{
		"port": map[string]any{"number": "8443", "name": "alt", "protocol": "HTTPS"}, "hosts": anyList("a.example.com"),
	})))
	require.Len(t, gw.Servers, 2)
	assert.Equal(t, certs.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, gw.Servers[0].Port)
	assert.Equal(t, certs.Port{Number: 8443, Name: "alt", Protocol: "HTTPS"}, gw.Servers[1].Port, "a quoted port number is read, so the other checks still run")
	require.Len(t, gw.Findings, 1, "and reported: the CRD's schema has an integer, and the API server rejects a string")
	assert.Equal(t, finding.CodeAPIServerRejects, gw.Findings[0].Code)
	assert.Equal(t, "spec.servers[1].port.number", gw.Findings[0].Field)
}

func TestMutatedReportsAGatewayThatChangedShape(t *testing.T) {
	obj := buildGateway(t)
	plan := certs.PlanGateway(t.Context(), certs.ParseGateway(obj), indexOf(t, cluster), cliOptions())
	require.NotEmpty(t, plan.Injections)
	require.NoError(t, unstructured.SetNestedSlice(obj.Object, []any{}, "spec", "servers"))
	_, err := plan.Mutated()
	require.EqualError(t, err, "failed to inject spec.servers[0].tls.credentialName into Gateway team-a/web: spec.servers[0] not found")
}

// TestCertificatesWithoutDNSNames shows what goes into a Certificate when a
// server's hosts are IP addresses, or cannot be certified at all but the
// annotations name a subject: cert-manager accepts a Certificate with any
// one of commonName, dnsNames, ipAddresses or emailAddresses.
func TestCertificatesWithoutDNSNames(t *testing.T) {
	plan := func(t *testing.T, mutations ...mutation) *certs.GatewayPlan {
		t.Helper()
		p := certs.PlanGateway(t.Context(), certs.ParseGateway(buildGateway(t, mutations...)), indexOf(t, cluster), cliOptions())
		require.Len(t, p.Certificates, 1)
		return p
	}
	t.Run("IP hosts go to ipAddresses, sorted", func(t *testing.T) {
		crt := plan(t, withHosts(0, "10.0.0.2", "10.0.0.1")).Certificates[0]
		assert.Empty(t, crt.Spec.DNSNames)
		assert.Equal(t, []string{"10.0.0.1", "10.0.0.2"}, crt.Spec.IPAddresses)
	})
	t.Run("a host Istio rejects goes into no certificate", func(t *testing.T) {
		// Istio takes "2001:db8::a" for a short name and "1.2.3.4/32" for
		// host "32" in namespace "1.2.3.4", and rejects both (MC2017).
		p := plan(t, withHosts(0, "2001:DB8::A", "1.2.3.4/32", "a.123", "web.example.com"))
		assert.Equal(t, []string{"web.example.com"}, p.Certificates[0].Spec.DNSNames)
		assert.Empty(t, p.Certificates[0].Spec.IPAddresses)
		assert.Equal(t, []string{"error MC2017 spec.servers[0].hosts[0]", "error MC2017 spec.servers[0].hosts[1]", "error MC2017 spec.servers[0].hosts[2]"}, summary(p.Findings))
	})
	t.Run("a common name alone", func(t *testing.T) {
		crt := plan(t, withHosts(0, "*"), withAnnotation("cert-manager.io/common-name", "web.example.com")).Certificates[0]
		assert.Empty(t, crt.Spec.DNSNames)
		assert.Equal(t, "web.example.com", crt.Spec.CommonName)
	})
	t.Run("an email address alone", func(t *testing.T) {
		crt := plan(t, withHosts(0, "*"), withAnnotation("cert-manager.io/email-sans", "tls@example.com")).Certificates[0]
		assert.Equal(t, []string{"tls@example.com"}, crt.Spec.EmailAddresses)
	})
}

// TestIssuerMessagesExplainTheCredentialNamespace: an Issuer is looked up
// where the Certificate lives, which for a Gateway is the workload's
// namespace, and the message says so.
func TestIssuerMessagesExplainTheCredentialNamespace(t *testing.T) {
	p := certs.PlanGateway(t.Context(), certs.ParseGateway(buildGateway(t,
		withoutAnnotation("cert-manager.io/cluster-issuer"), withAnnotation("cert-manager.io/issuer", "nowhere"))),
		indexOf(t, cluster), cliOptions())
	require.Len(t, p.Findings, 1)
	assert.Equal(t, `Issuer "nowhere" not found in "istio-system", the credential namespace where meshcert creates this Gateway's Certificate; create it there or use cert-manager.io/cluster-issuer`,
		p.Findings[0].Message)

	// The same Gateway with its credentials in its own namespace: a plain
	// not-found message.
	p = certs.PlanGateway(t.Context(), certs.ParseGateway(buildGateway(t,
		withoutAnnotation("cert-manager.io/cluster-issuer"), withAnnotation("cert-manager.io/issuer", "nowhere"),
		withAnnotation("meshcert.io/credential-namespace", "team-a"))),
		indexOf(t, cluster), cliOptions())
	require.Len(t, p.Findings, 2, "the Issuer, and the annotation naming another namespace than the workload's")
	// Sorted by field: the issuer annotation, then the namespace annotation.
	assert.Equal(t, `Issuer "nowhere" not found in namespace "team-a"; an issuerRef can only name an issuer in the same cluster and, for kind Issuer, the same namespace: create it there or use a ClusterIssuer`,
		p.Findings[0].Message)
	assert.Equal(t, finding.CodeCredentialNamespaceMismatch, p.Findings[1].Code)
	assert.Equal(t, `the gateway workloads this Gateway selects run in "istio-system", where Istio reads the credentials, not in "team-a": remove the annotation or make it name their namespace`,
		p.Findings[1].Message)
}

func TestGatewayClaimsArePinned(t *testing.T) {
	gw := certs.ParseGateway(buildGateway(t, withHosts(0, "team-a/Web.example.com"), withCredential(0, "kubernetes://web-tls"),
		addServer(newServer(80, "http", "HTTP", []string{"web.example.com"}, nil)),
		addServer(newServer(8443, "files", "HTTPS", []string{"files.example.com"},
			map[string]any{"mode": "SIMPLE", "serverCertificate": "/etc/cert.pem", "privateKey": "/etc/key.pem"}))))
	assert.Equal(t, []string{
		"c\x00files:/etc/cert.pem\x00/etc/key.pem",
		"c\x00web-tls",
		"h\x00443\x00\x00web.example.com",
		"h\x0080\x00\x00web.example.com",
		"h\x008443\x00\x00files.example.com",
	}, certs.GatewayClaims(gw),
		"every host of every server by port and bind (lower case, no namespace part), each Secret without its scheme, and a file pair")
}

func TestConflictMessagesNameFiveGatewaysAndCountTheRest(t *testing.T) {
	var others strings.Builder
	for i := range 7 {
		fmt.Fprintf(&others, `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other-%d, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: other-%d}
`, i, i)
	}
	p := certs.PlanGateway(t.Context(), certs.ParseGateway(buildGateway(t, withHosts(0, "web.example.com"))),
		indexOf(t, cluster+others.String()), cliOptions())
	require.Len(t, p.Findings, 1)
	assert.Equal(t, finding.CodeHostConflict, p.Findings[0].Code)
	assert.Equal(t, `host "web.example.com" on port 443 is also served with tls settings by Gateway team-a/other-0 (credential "other-0"), Gateway team-a/other-1 (credential "other-1"), Gateway team-a/other-2 (credential "other-2"), Gateway team-a/other-3 (credential "other-3"), Gateway team-a/other-4 (credential "other-4") and 2 more; istiod keeps one server for it and skips the others: serve each host from one server per port, or bind them to different addresses`,
		p.Findings[0].Message)
}

func TestHostConflictMessagesSayWhyIstiodCannotServeBoth(t *testing.T) {
	webCred, otherCred := certs.CredentialName("team-a", "web", "https"), certs.CredentialName("team-a", "web", "https-b")
	plan := func(tls map[string]any, bind string) string {
		t.Helper()
		mutations := []mutation{withHosts(0, "web.example.com"), withCredential(0, webCred),
			addServer(newServer(443, "https-b", "HTTPS", []string{"web.example.com"}, tls))}
		if bind != "" {
			mutations = append(mutations, withBind(0, bind), withBind(1, bind))
		}
		p := certs.PlanGateway(t.Context(), certs.ParseGateway(buildGateway(t, mutations...)), indexOf(t, cluster), cliOptions())
		require.Len(t, p.Findings, 1, "%v", p.Findings)
		assert.Equal(t, finding.CodeHostConflict, p.Findings[0].Code)
		return p.Findings[0].Message
	}
	assert.Equal(t, `host "web.example.com" on port 443 is also served by server spec.servers[0] with credential "`+webCred+`", while this server uses "`+otherCred+`"; the gateway can serve only one: use one credential or different hosts`,
		plan(map[string]any{"mode": "SIMPLE", "credentialName": otherCred}, ""), "different credentials")
	assert.Equal(t, `host "web.example.com" on port 443 (bind 10.0.0.1) is also served with tls settings by server spec.servers[0]; istiod keeps one of the two servers and skips the other: serve each host once per port, or bind them to different addresses`,
		plan(map[string]any{"mode": "SIMPLE", "credentialName": webCred}, "10.0.0.1"), "the same credential, on one bind address")
	assert.Contains(t, plan(map[string]any{"mode": "PASSTHROUGH"}, ""), "is also served with tls settings by server spec.servers[0]; istiod keeps one",
		"a passthrough server has no credential to compare")
}

func TestConflictMessagesNameUpToFiveGatewaysInFull(t *testing.T) {
	var others strings.Builder
	for i := range 5 {
		fmt.Fprintf(&others, "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: other-%d, namespace: team-a}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [web.example.com]\n", i)
	}
	p := certs.PlanGateway(t.Context(), certs.ParseGateway(buildGateway(t, withHosts(0, "api.example.com"),
		addServer(newServer(80, "http", "HTTP", []string{"web.example.com"}, nil)))),
		indexOf(t, cluster+others.String()), cliOptions())
	require.Len(t, p.Findings, 1)
	assert.Equal(t, finding.CodeHostSharedAcrossGateways, p.Findings[0].Code)
	assert.Contains(t, p.Findings[0].Message, "Gateway team-a/other-0, Gateway team-a/other-1, Gateway team-a/other-2, Gateway team-a/other-3, Gateway team-a/other-4 on the same gateway workload")
	assert.NotContains(t, p.Findings[0].Message, "more")
}
