package e2e

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoRuns runs `make demo`'s program as the README's quick start does,
// against examples/, so a change that breaks the first command a newcomer
// types fails here. It asserts what the demo shows: the Istio Gateway's
// injected credentialName and issued certificate, and beside it the Gateway
// API Gateway's Certificate as meshcert predicts it and as cert-manager's
// gateway-shim creates and issues it.
func TestDemoRuns(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/demo")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	// `make demo ACME=1`, which shows all of `make demo` and more.
	cmd := exec.CommandContext(t.Context(), bin, "--examples", filepath.Join(repoRoot, "examples"), "--dir", t.TempDir(), "--acme")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "the demo failed:\n%s", out)
	for _, want := range []string{
		"spec.servers[0].tls.credentialName: team-a-shop-shop-https-",
		"DNS names: shop.example.com, www.shop.example.com",
		"denied the request",
		"(MC8004)",
		// The Gateway API Gateway beside it: meshcert's prediction, the
		// shim's Certificate equal to it, issued, and a denial at admission.
		"# cert-manager's gateway-shim creates this Certificate for Gateway team-a/api;",
		"#   - api.example.com",
		"gateway.gateway.networking.k8s.io/api created",
		"its labels, annotations, owner and spec are the ones meshcert predicted",
		"DNS names: api.example.com",
		"(MC1002)",
		"DNS names: web.acme.test",
		"issuer: Pebble Intermediate CA",
	} {
		assert.Contains(t, string(out), want)
	}
	assert.NotContains(t, string(out), "panic")
}
