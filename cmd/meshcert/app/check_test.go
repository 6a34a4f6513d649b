package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const seedDir = "../../../testdata/seed"

func TestCheckSeedManifests(t *testing.T) {
	// Each seed file is checked on its own, as the repository of the
	// cluster it belongs to would be, with --strict as CI runs it.
	tests := []struct {
		name      string
		file      string
		wantCodes []string
		wantExit  int
		wantText  string
	}{
		{
			name:      "the Certificate pointing at another cluster's ClusterIssuer is explained",
			file:      "certificate-cluster-a.yaml",
			wantCodes: []string{"MC4004", "MC5002"},
			wantExit:  exitFindings,
			wantText:  "an issuerRef can only name an issuer in the same cluster",
		},
		{
			name:     "the valid ACME ClusterIssuer passes with no finding",
			file:     "clusterissuer-cluster-b.yaml",
			wantExit: exitOK,
		},
		{
			name:      "meshConfig keys that do not exist are errors with their path",
			file:      "istiooperator-ca.yaml",
			wantCodes: []string{"MC6001", "MC6001"},
			wantExit:  exitFindings,
			wantText:  "spec.meshConfig.caCertificates[0].certs",
		},
		{
			name:      "PILOT_CERT_PROVIDER on a gateway is an error",
			file:      "istiooperator-gateway.yaml",
			wantCodes: []string{"MC6002"},
			wantExit:  exitFindings,
			wantText:  "spec.components.ingressGateways[0].k8s.env[0]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, "", "check", "--strict", "-o", "json", "-f", filepath.Join(seedDir, tc.file))
			require.Equal(t, tc.wantExit, code, "stderr: %s", stderr)
			var out jsonOutput
			require.NoError(t, json.Unmarshal([]byte(stdout), &out))
			codes := []string{}
			for _, f := range out.Findings {
				codes = append(codes, f.Code)
				assert.Equal(t, filepath.Join(seedDir, tc.file), f.File)
				assert.Positive(t, f.Line)
			}
			assert.ElementsMatch(t, tc.wantCodes, codes)
			if tc.wantText != "" {
				assert.Contains(t, stdout, tc.wantText)
			}
		})
	}
}

func TestCheckSeedWithoutStrictWarnsAboutTheMissingIssuer(t *testing.T) {
	stdout, _, code := run(t, "", "check", "-f", filepath.Join(seedDir, "certificate-cluster-a.yaml"))
	assert.Equal(t, exitOK, code, "a missing issuer may only mean it is applied later")
	assert.Contains(t, stdout, "warning MC5002")
	assert.Contains(t, stdout, "certificate-cluster-a.yaml:10: ")
}

// jsonOutput mirrors the documented -o json shape.
type jsonOutput struct {
	Findings []struct {
		Severity string `json:"severity"`
		Code     string `json:"code"`
		Object   struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Namespace  string `json:"namespace"`
			Name       string `json:"name"`
		} `json:"object"`
		Field   string `json:"field"`
		Message string `json:"message"`
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
	} `json:"findings"`
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o750))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

const goodGateway = `apiVersion: networking.istio.io/v1
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
    hosts: [web.example.com]
    tls: {mode: SIMPLE}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
`

func TestCheckExitCodesAndFormats(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good/gateway.yaml", goodGateway)
	missingIssuer := writeFile(t, dir, "missing.yaml", strings.Replace(goodGateway, "name: ca}", "name: other}", 1))
	broken := writeFile(t, dir, "broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n")
	istioMutual := writeFile(t, dir, "bad.yaml", strings.Replace(goodGateway, "mode: SIMPLE", "mode: ISTIO_MUTUAL, credentialName: x", 1))

	tests := []struct {
		name       string
		stdin      string
		args       []string
		wantExit   int
		wantStdout string
		wantStderr string
	}{
		{name: "a clean input exits 0 and prints nothing", args: []string{"check", "-f", good}, wantExit: exitOK},
		{name: "a directory is read recursively", args: []string{"check", "-f", dir + "/good"}, wantExit: exitOK},
		{name: "stdin is read with -", stdin: goodGateway, args: []string{"check", "-f", "-"}, wantExit: exitOK},
		{name: "an error finding exits 1 with file and line", args: []string{"check", "-f", istioMutual}, wantExit: exitFindings, wantStdout: istioMutual + ":13: error MC2002 Gateway team-a/web: spec.servers[0].tls.credentialName:"},
		{name: "a missing issuer is a warning and exits 0", args: []string{"check", "-f", missingIssuer}, wantExit: exitOK, wantStdout: "warning MC5002"},
		{name: "a missing issuer is an error with --strict", args: []string{"check", "--strict", "-f", missingIssuer}, wantExit: exitFindings, wantStdout: "error MC5002"},
		{name: "unparsable YAML exits 2 naming file and line", args: []string{"check", "-f", broken}, wantExit: exitInput, wantStderr: broken + ":4"},
		{name: "a missing file exits 2 naming it", args: []string{"check", "-f", filepath.Join(dir, "nope.yaml")}, wantExit: exitInput, wantStderr: "nope.yaml"},
		{name: "no input exits 2 and says what to pass", args: []string{"check"}, wantExit: exitInput, wantStderr: "pass -f"},
		{name: "an unknown output format exits 2", args: []string{"check", "-o", "xml", "-f", good}, wantExit: exitInput, wantStderr: "unknown output format"},
		{name: "JSON output has an empty findings list when clean", args: []string{"check", "-o", "json", "-f", good}, wantExit: exitOK, wantStdout: `"findings": []`},
		{name: "inject exits 1 on error findings and prints them to stderr", args: []string{"inject", "-f", istioMutual}, wantExit: exitFindings, wantStderr: "error MC2002"},
		{name: "inject exits 2 on unreadable input", args: []string{"inject", "-f", broken}, wantExit: exitInput, wantStderr: broken + ":4"},
		{name: "version prints the version", args: []string{"version"}, wantExit: exitOK, wantStdout: "meshcert dev"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tc.stdin, tc.args...)
			assert.Equal(t, tc.wantExit, code, "stdout: %s\nstderr: %s", stdout, stderr)
			if tc.wantStdout == "" && tc.wantExit == exitOK && tc.args[0] == "check" {
				assert.Empty(t, stdout)
			} else {
				assert.Contains(t, stdout, tc.wantStdout)
			}
			assert.Contains(t, stderr, tc.wantStderr)
		})
	}
}

func TestCheckJSONShape(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "gw.yaml", strings.Replace(goodGateway, "name: ca}", "name: other}", 1))
	stdout, _, code := run(t, "", "check", "-o", "json", "-f", path)
	require.Equal(t, exitOK, code)
	var out jsonOutput
	require.NoError(t, json.Unmarshal([]byte(stdout), &out))
	require.Len(t, out.Findings, 1)
	f := out.Findings[0]
	assert.Equal(t, "warning", f.Severity)
	assert.Equal(t, "MC5002", f.Code)
	assert.Equal(t, "networking.istio.io/v1", f.Object.APIVersion)
	assert.Equal(t, "Gateway", f.Object.Kind)
	assert.Equal(t, "team-a", f.Object.Namespace)
	assert.Equal(t, "web", f.Object.Name)
	assert.Equal(t, "metadata.annotations[cert-manager.io/cluster-issuer]", f.Field)
	assert.Equal(t, path, f.File)
	assert.Equal(t, 7, f.Line)
	assert.Equal(t, 5, f.Column, "the annotation's key is indented by four spaces")
	assert.Contains(t, f.Message, `ClusterIssuer "ca" not found`)
}

func TestExamplesPassStrictCheck(t *testing.T) {
	stdout, stderr, code := run(t, "", "check", "--strict", "-f", "../../../examples")
	assert.Equal(t, exitOK, code, "stdout: %s\nstderr: %s", stdout, stderr)
	assert.Empty(t, stdout, "the examples are the happy path: no finding at all")
}
