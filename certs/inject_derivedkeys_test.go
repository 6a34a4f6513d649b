package certs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// TestMC8006SuggestsTheNameMeshcertInjects: where several servers share a
// server key, MC8006's "remove this credentialName so meshcert injects X"
// names what meshcert then injects, the key with the server's position.
func TestMC8006SuggestsTheNameMeshcertInjects(t *testing.T) {
	const stream = `
apiVersion: v1
kind: Namespace
metadata: {name: team-a, annotations: {meshcert.io/allowed-hosts: "*", meshcert.io/allowed-issuers: "*"}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
`
	gateway := func(credential string) *certs.Gateway {
		tls := map[string]any{"mode": "SIMPLE"}
		if credential != "" {
			tls["credentialName"] = credential
		}
		return certs.ParseGateway(buildGateway(t, withName("web"), withNamespace("team-a"),
			withHosts(0, "a.example.com"),
			addServer(map[string]any{
				"port":  map[string]any{"number": int64(8443), "name": "https", "protocol": "HTTPS"},
				"hosts": anyList("b.example.com"),
				"tls":   tls,
			})))
	}
	want := certs.CredentialName("team-a", "web", "https-2")

	plan := certs.PlanGateway(t.Context(), gateway("fixed"), indexOf(t, stream), cliOptions())
	var suggestions []string
	for _, f := range plan.Findings {
		if f.Code == finding.CodeSecretOutsideNamePart {
			suggestions = append(suggestions, f.Message)
		}
	}
	require.Len(t, suggestions, 1, "findings: %v", summary(plan.Findings))
	assert.Contains(t, suggestions[0], `meshcert injects "`+want+`"`)

	injected := certs.PlanGateway(t.Context(), gateway(""), indexOf(t, stream), cliOptions())
	require.Len(t, injected.Injections, 2)
	assert.Equal(t, want, injected.Injections[1].CredentialName, "what the suggestion named is what is injected")
}
