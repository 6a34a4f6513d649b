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

// TestKubectlDecodesManifestsAsCheckSays shows, with the real kubectl and
// API server, what `meshcert check` says of how a manifest decodes. A key
// written twice (MC7005): kubectl applies the manifest without a word and
// stores the last value, in YAML and in JSON; Istio's own mesh config
// decoder does the same (TestMeshConfigAgreesWithIstiod), so it is a
// warning, not an error. Metadata of the wrong type (MC7004): refused.
func TestKubectlDecodesManifestsAsCheckSays(t *testing.T) {
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

	refused := map[string]string{
		"an annotation value written as a number": `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: unquoted
  namespace: default
  annotations: {cert-manager.io/cluster-issuer: ca, cert-manager.io/private-key-size: 4096}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [web.example.com]
`,
		"a label value written as a boolean": `apiVersion: v1
kind: ConfigMap
metadata: {name: unquoted, namespace: default, labels: {enabled: true}}
`,
		"a uid written as a number": `apiVersion: v1
kind: ConfigMap
metadata: {name: numbered, namespace: default, uid: 5}
`,
	}
	for name, manifest := range refused {
		t.Run(name+" is refused, and check says so", func(t *testing.T) {
			path := filepath.Join(dir, "refused.yaml")
			require.NoError(t, os.WriteFile(path, []byte(manifest), 0o600))
			out, err := cp.Kubectl(t.Context(), "apply", "-f", path).CombinedOutput()
			require.Error(t, err, "kubectl applied it: %s", out)
			assert.Contains(t, string(out), "cannot unmarshal")
			out, err = cp.Kubectl(t.Context(), "create", "--validate=false", "-f", path).CombinedOutput()
			require.Error(t, err, "the API server stored it: %s", out)

			report, err := exec.CommandContext(t.Context(), meshcert, "check", "-f", path).CombinedOutput()
			require.Error(t, err, "check passes what the API server refuses: %s", report)
			// MC7003 for kinds meshcert reads (a ConfigMap), MC7004 for others.
			assert.Regexp(t, `error MC700[34] \S+ \S+: metadata\.`, string(report))
		})
	}
}
