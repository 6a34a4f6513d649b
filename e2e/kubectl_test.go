package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/e2e/framework"
)

// TestKubectlKeepsTheLastOfRepeatedKeys shows, with the real kubectl and
// API server, what `meshcert check` says of a key written twice (MC7005):
// kubectl applies the manifest without a word and stores the last value,
// in YAML and in JSON. Istio's own mesh config decoder does the same
// (TestMeshConfigAgreesWithIstiod), so it is a warning, not an error.
func TestKubectlKeepsTheLastOfRepeatedKeys(t *testing.T) {
	_, meshcert := fidelityTools(t)
	cp := framework.Start(t, framework.WithoutCertManager(), framework.WithoutControllerManager())
	dir := t.TempDir()
	files := map[string]string{
		"yaml-repeat": `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: yaml-repeat
  namespace: default
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [first.example.com]
    hosts: [last.example.com]
`,
		"json-repeat": `{"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
 "metadata": {"name": "json-repeat", "namespace": "default"},
 "spec": {"selector": {"istio": "ingressgateway"},
  "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"},
   "hosts": ["first.example.com"],
   "hosts": ["last.example.com"]}]}}
`,
	}
	for name, body := range files {
		t.Run(name, func(t *testing.T) {
			ext := ".yaml"
			if name == "json-repeat" {
				ext = ".json"
			}
			path := filepath.Join(dir, name+ext)
			require.NoError(t, os.WriteFile(path, []byte(body), 0o600))

			out, err := cp.Kubectl(t.Context(), "apply", "-f", path).CombinedOutput()
			require.NoError(t, err, "kubectl refuses it: %s", out)
			assert.NotContains(t, string(out), "Warning", "kubectl says nothing of the repeat")
			stored, err := cp.Kubectl(t.Context(), "get", "gateways.networking.istio.io", "-n", "default", name, "-o", "jsonpath={.spec.servers[0].hosts}").Output()
			require.NoError(t, err)
			assert.JSONEq(t, `["last.example.com"]`, string(stored), "kubectl keeps the last value")

			check := exec.CommandContext(t.Context(), meshcert, "check", "-o", "json", "-f", path)
			report, err := check.Output()
			require.NoError(t, err, "a repeated key is a warning; check must pass: %s", report)
			var parsed struct {
				Findings []struct {
					meshcertFinding
					Line int `json:"line"`
				} `json:"findings"`
			}
			require.NoError(t, json.Unmarshal(report, &parsed))
			var got []string
			for _, f := range parsed.Findings {
				if f.Code == "MC7005" {
					got = append(got, f.Severity+" "+f.Field)
					assert.Equal(t, map[string]int{"yaml-repeat": 11, "json-repeat": 6}[name], f.Line, "the finding points at the value kept")
				}
			}
			assert.Equal(t, []string{"warning spec.servers[0].hosts"}, got)
		})
	}
}
