package certs_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

// mutualGateway has a MUTUAL, an OPTIONAL_MUTUAL and a SIMPLE server, and
// asks for the client CA in ConfigMap peer-roots.
const mutualGateway = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: team-a
  annotations:
    cert-manager.io/cluster-issuer: ca
    meshcert.io/client-ca: peer-roots
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [mtls.example.com]
    tls: {mode: MUTUAL}
  - port: {number: 8443, name: https-optional, protocol: HTTPS}
    hosts: [optional.example.com]
    tls: {mode: OPTIONAL_MUTUAL}
  - port: {number: 9443, name: https-simple, protocol: HTTPS}
    hosts: [simple.example.com]
    tls: {mode: SIMPLE}
`

func pkiFile(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "pki", name))
	require.NoError(t, err)
	return string(data)
}

func clientCABundle(key, pemData string, labelled bool) string {
	labels := "\n  labels: {meshcert.io/trust-bundle: \"true\"}"
	if !labelled {
		labels = ""
	}
	return fmt.Sprintf(`
apiVersion: v1
kind: ConfigMap
metadata:
  name: peer-roots
  namespace: istio-system%s
data:
  %s: |
    %s
`, labels, key, strings.ReplaceAll(strings.TrimSpace(pemData), "\n", "\n    "))
}

func TestClientCAInjection(t *testing.T) {
	root := pkiFile(t, "root-b.pem")
	opts := cliOptions()
	opts.Now = func() time.Time { return time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name    string
		gateway string
		cluster string
		want    []string
		message string
	}{
		{
			name:    "MUTUAL and OPTIONAL_MUTUAL servers get the ConfigMap in the credential namespace as their client CA",
			gateway: mutualGateway,
			cluster: cluster + "\n---\n" + clientCABundle("ca.crt", root, true),
			want:    []string{},
		},
		{
			name:    "Istio's cacert key is read too",
			gateway: mutualGateway,
			cluster: cluster + "\n---\n" + clientCABundle("cacert", root, true),
			want:    []string{},
		},
		{
			name:    "a ConfigMap not there yet is a warning, and the reference is injected anyway",
			gateway: mutualGateway,
			cluster: cluster,
			want:    []string{"warning MC6006 metadata.annotations[meshcert.io/client-ca]"},
			message: "ConfigMap istio-system/peer-roots not found",
		},
		{
			name:    "a leaf is no client CA",
			gateway: mutualGateway,
			cluster: cluster + "\n---\n" + clientCABundle("ca.crt", pkiFile(t, "leaf.pem"), true),
			want:    []string{"error MC6007 metadata.annotations[meshcert.io/client-ca]"},
			message: "not a CA certificate",
		},
		{
			name:    "an unlabelled ConfigMap is refused, as the server could not see it",
			gateway: mutualGateway,
			cluster: cluster + "\n---\n" + clientCABundle("ca.crt", root, false),
			want:    []string{"error MC6007 metadata.annotations[meshcert.io/client-ca]"},
			message: "not labelled",
		},
		{
			name:    "a ConfigMap without Istio's keys is refused",
			gateway: mutualGateway,
			cluster: cluster + "\n---\n" + clientCABundle("root.pem", root, true),
			want:    []string{"error MC6007 metadata.annotations[meshcert.io/client-ca]"},
			message: `has no key "ca.crt"`,
		},
		{
			name:    "CAs under binaryData are refused, as istiod reads a client CA only from data",
			gateway: mutualGateway,
			cluster: cluster + "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: peer-roots, namespace: istio-system, labels: {meshcert.io/trust-bundle: \"true\"}}\nbinaryData: {ca.crt: " +
				base64.StdEncoding.EncodeToString([]byte(root)) + "}\n",
			want:    []string{"error MC6007 metadata.annotations[meshcert.io/client-ca]"},
			message: "binaryData",
		},
		{
			name:    "a name that is no ConfigMap name is malformed",
			gateway: strings.Replace(mutualGateway, "meshcert.io/client-ca: peer-roots", "meshcert.io/client-ca: Peer_Roots", 1),
			cluster: cluster,
			want:    []string{"error MC1003 metadata.annotations[meshcert.io/client-ca]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := objectFromYAML(t, tt.gateway)
			plan := certs.PlanGateway(t.Context(), certs.ParseGateway(gw), indexOf(t, tt.cluster), opts)
			assert.Equal(t, tt.want, summary(plan.Findings))
			only := certs.PlanInjections(t.Context(), certs.ParseGateway(gw), indexOf(t, tt.cluster), opts)
			assert.Equal(t, plan.Injections, only.Injections, "the mutating webhook's plan injects the same")
			if tt.message != "" {
				require.NotEmpty(t, plan.Findings)
				assert.Contains(t, plan.Findings[0].Message, tt.message)
			}
			var caFields []string
			for _, inj := range plan.Injections {
				if inj.CACertCredentialName != "" {
					caFields = append(caFields, inj.Field()+"="+inj.Value())
				}
			}
			if strings.Contains(tt.gateway, "Peer_Roots") {
				assert.Empty(t, caFields)
				return
			}
			assert.Equal(t, []string{
				"spec.servers[0].tls.caCertCredentialName=configmap://istio-system/peer-roots",
				"spec.servers[1].tls.caCertCredentialName=configmap://istio-system/peer-roots",
			}, caFields, "the SIMPLE server verifies no clients")
		})
	}
}

func TestClientCAInjectionKeepsTheirsAndIsIdempotent(t *testing.T) {
	theirs := strings.Replace(mutualGateway, "    tls: {mode: MUTUAL}", "    tls: {mode: MUTUAL, caCertCredentialName: their-ca}", 1)
	index := indexOf(t, cluster+"\n---\n"+clientCABundle("ca.crt", pkiFile(t, "root-b.pem"), true))
	first := certs.PlanGateway(t.Context(), certs.ParseGateway(objectFromYAML(t, theirs)), index, cliOptions())
	mutated, err := first.Mutated()
	require.NoError(t, err)
	servers := mutated.Object["spec"].(map[string]any)["servers"].([]any)
	assert.Equal(t, "their-ca", servers[0].(map[string]any)["tls"].(map[string]any)["caCertCredentialName"], "a client CA someone set is kept")
	assert.Equal(t, "configmap://istio-system/peer-roots", servers[1].(map[string]any)["tls"].(map[string]any)["caCertCredentialName"])

	second := certs.PlanGateway(t.Context(), certs.ParseGateway(mutated), index, cliOptions())
	assert.Empty(t, second.Injections, "injecting twice is injecting once")
}

func TestClientCAInOneCredentialNamespaceOnly(t *testing.T) {
	secondGateway := `
apiVersion: v1
kind: Pod
metadata:
  name: istio-ingressgateway-2
  namespace: gateways-b
  labels: {istio: ingressgateway}
`
	plan := certs.PlanGateway(t.Context(), certs.ParseGateway(objectFromYAML(t, mutualGateway)), indexOf(t, cluster+"\n---\n"+secondGateway), cliOptions())
	assert.Contains(t, summary(plan.Findings), "error MC1003 metadata.annotations[meshcert.io/client-ca]")
	for _, inj := range plan.Injections {
		assert.Empty(t, inj.CACertCredentialName)
	}
}

func TestClientCAInjectionNamesTheServersPlace(t *testing.T) {
	// A server that does not parse is not planned; the injections still
	// name the servers where they are in spec.servers.
	gw := objectFromYAML(t, strings.Replace(mutualGateway, "  servers:\n", "  servers:\n  - not a server\n", 1))
	plan := certs.PlanGateway(t.Context(), certs.ParseGateway(gw), indexOf(t, cluster+"\n---\n"+clientCABundle("ca.crt", pkiFile(t, "root-b.pem"), true)), cliOptions())
	var caFields []string
	for _, inj := range plan.Injections {
		if inj.CACertCredentialName != "" {
			caFields = append(caFields, inj.Field())
		}
	}
	assert.Equal(t, []string{"spec.servers[1].tls.caCertCredentialName", "spec.servers[2].tls.caCertCredentialName"}, caFields)
	_, err := plan.Patch()
	require.NoError(t, err, "the patch adds to the servers that are there")
}
