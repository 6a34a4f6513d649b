package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// renderVerdict is istioctl's rendering of one IstioOperator
// (e2e/oracles/istio/render.go).
type renderVerdict struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	RenderError     string            `json:"renderError"`
	Istiod          bool              `json:"istiod"`
	IstiodNamespace string            `json:"istiodNamespace"`
	Env             map[string]string `json:"env"`
	Mesh            struct {
		DefaultConfig struct {
			ProxyMetadata map[string]string `json:"proxyMetadata"`
		} `json:"defaultConfig"`
		CACertificates []json.RawMessage `json:"caCertificates"`
	} `json:"mesh"`
}

// renderInputs are the repository's files holding IstioOperators.
func renderInputs(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"testdata/seed", "examples", "cmd/meshcert/app/testdata/inject", "istiooperator/testdata", "testdata/upstream"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
				return nil
			}
			data, err := os.ReadFile(path)
			if err == nil && bytes.Contains(data, []byte("kind: IstioOperator")) {
				files = append(files, path)
			}
			return nil
		})
		require.NoError(t, err, "reading %s", dir)
	}
	return files
}

func yamlObjects(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(bytes.NewReader(data)), 4096)
	for {
		var m map[string]any
		err := d.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			return out // what Kubernetes cannot read is not compared
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

// TestIstioOperatorRenderAgrees renders meshcert's `inject` output for every
// IstioOperator of the repository's inputs with istioctl's renderer and
// checks meshcert's claims about istiod: the mesh CA Certificate is in the
// namespace istiod lands in, and where meshcert injected peer roots, istiod
// runs with ISTIO_MULTIROOT_MESH read as true by strconv.ParseBool and the
// proxies get PROXY_CONFIG_XDS_AGENT, and istiod's mesh config holds them.
func TestIstioOperatorRenderAgrees(t *testing.T) {
	tools, meshcert := fidelityTools(t)
	files := renderInputs(t)
	require.NotEmpty(t, files)
	operators, certificates, injected := 0, 0, 0
	for _, file := range files {
		rel, _ := filepath.Rel(repoRoot, file)
		t.Run(rel, func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			out := runJSONLines(t, data, meshcert, "inject", "-f", "-")
			verdicts := map[string]renderVerdict{}
			for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, out, tools.IstioOracle, "render")), []byte("\n")) {
				if len(line) == 0 {
					continue
				}
				var v renderVerdict
				require.NoError(t, json.Unmarshal(line, &v), "%s", line)
				verdicts[v.Name] = v
				operators++
			}
			for _, obj := range yamlObjects(t, out) {
				switch {
				case obj.GetKind() == "Certificate" && obj.GetName() == "cacerts":
					owner := obj.GetAnnotations()["meshcert.io/istiooperator"]
					_, name, _ := strings.Cut(owner, "/")
					v, ok := verdicts[name]
					if !ok || v.RenderError != "" || !v.Istiod {
						continue
					}
					certificates++
					assert.Equal(t, v.IstiodNamespace, obj.GetNamespace(),
						"meshcert issues istiod's CA for IstioOperator %s where istioctl does not put istiod", owner)
				case obj.GetKind() == "IstioOperator" && obj.GetAnnotations()["meshcert.io/injected-peer-roots"] != "":
					v, ok := verdicts[obj.GetName()]
					if !ok || v.RenderError != "" || !v.Istiod {
						continue
					}
					injected++
					multi, _ := strconv.ParseBool(v.Env["ISTIO_MULTIROOT_MESH"])
					assert.True(t, multi, "%s: istiod runs with ISTIO_MULTIROOT_MESH=%q", obj.GetName(), v.Env["ISTIO_MULTIROOT_MESH"])
					xds, _ := strconv.ParseBool(v.Mesh.DefaultConfig.ProxyMetadata["PROXY_CONFIG_XDS_AGENT"])
					assert.True(t, xds, "%s: proxies run with PROXY_CONFIG_XDS_AGENT=%q", obj.GetName(), v.Mesh.DefaultConfig.ProxyMetadata["PROXY_CONFIG_XDS_AGENT"])
					assert.NotEmpty(t, v.Mesh.CACertificates, "%s: istiod's mesh config has no caCertificates", obj.GetName())
				}
			}
		})
	}
	t.Logf("%d files, %d IstioOperators rendered, %d mesh CA Certificates and %d peer-root injections compared", len(files), operators, certificates, injected)
}

// TestIstioOperatorRenderCases renders IstioOperators written to reach the
// renderer's precedence rules and checks meshcert against them.
func TestIstioOperatorRenderCases(t *testing.T) {
	tools, meshcert := fidelityTools(t)
	const issuer = "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: mesh-root}\nspec: {ca: {secretName: mesh-root}}\n"
	for _, tc := range []struct{ sentence, spec string }{
		{"spec.namespace alone", "  namespace: mesh-system"},
		{"values.global.istioNamespace", "  values: {global: {istioNamespace: mesh-a}}"},
		{"components.pilot.namespace over values.global.istioNamespace", "  values: {global: {istioNamespace: mesh-a}}\n  components: {pilot: {namespace: mesh-p}}"},
		{"spec.namespace and values.global.istioNamespace", "  namespace: bar\n  values: {global: {istioNamespace: mesh-a}}"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			doc := "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: mesh, namespace: foo, annotations: {cert-manager.io/cluster-issuer: mesh-root}}\nspec:\n" + tc.spec + "\n---\n" + issuer
			out := runJSONLines(t, []byte(doc), meshcert, "inject", "-f", "-")
			var v renderVerdict
			require.NoError(t, json.Unmarshal(bytes.TrimSpace(runJSONLines(t, []byte(doc), tools.IstioOracle, "render")), &v))
			found := false
			for _, obj := range yamlObjects(t, out) {
				if obj.GetKind() == "Certificate" && obj.GetName() == "cacerts" {
					found = true
					assert.Equal(t, v.IstiodNamespace, obj.GetNamespace())
				}
			}
			assert.True(t, found, "meshcert planned no mesh CA:\n%s", out)
		})
	}
}

// TestIstiodInstalledAgreesWithIstioctl renders IstioOperators over every
// profile istioctl ships, with the pilot component and remote istiod set
// each way, and compares whether istioctl renders an istiod Deployment
// with meshcert's MC6012 (it makes no cacerts where none is installed).
func TestIstiodInstalledAgreesWithIstioctl(t *testing.T) {
	tools, meshcert := fidelityTools(t)
	var docs []string
	add := func(name, spec string) {
		docs = append(docs, "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: "+name+", namespace: istio-system, annotations: {cert-manager.io/cluster-issuer: mesh-ca}}\nspec:\n"+spec)
	}
	for _, profile := range []string{"", "ambient", "default", "demo", "empty", "minimal", "openshift-ambient", "openshift", "preview", "remote", "stable"} {
		for _, pilot := range []string{"", "true", "false"} {
			spec := "  hub: example.com\n"
			if profile != "" {
				spec += "  profile: " + profile + "\n"
			}
			if pilot != "" {
				spec += "  components: {pilot: {enabled: " + pilot + "}}\n"
			}
			add(strings.Trim("p-"+profile+"-"+pilot, "-"), spec)
		}
	}
	add("values-remote", "  values: {istiodRemote: {enabled: true}}\n")
	add("values-profile-remote", "  values: {profile: remote}\n")
	add("remote-turned-off", "  profile: remote\n  values: {istiodRemote: {enabled: false}}\n")
	add("remote-with-local-injector", "  profile: remote\n  values: {istiodRemote: {enabledLocalInjectorIstiod: true}}\n")
	add("external-istiod", "  values: {global: {externalIstiod: true}}\n")
	// istioctl merges the user's spec over the profile's, a null included;
	// the chart picks its profile from values.profile, else
	// values.global.profile, and reads istiodRemote with Helm's truth.
	add("values-global-profile-remote", "  values: {global: {profile: remote}}\n")
	add("remote-with-values-profile-ambient", "  profile: remote\n  values: {profile: ambient}\n")
	add("remote-with-values-profile-empty", "  profile: remote\n  values: {profile: \"\"}\n")
	add("empty-with-enabled-null", "  profile: empty\n  components: {pilot: {enabled: null}}\n")
	add("empty-with-pilot-null", "  profile: empty\n  components: {pilot: null}\n")
	add("empty-with-components-null", "  profile: empty\n  components: null\n")
	add("empty-with-pilot-settings-only", "  profile: empty\n  components: {pilot: {k8s: {replicaCount: 2}}}\n")
	add("istiod-remote-string-false", "  values: {istiodRemote: {enabled: \"false\"}}\n")
	add("remote-local-injector-string-false", "  profile: remote\n  values: {istiodRemote: {enabledLocalInjectorIstiod: \"false\"}}\n")
	input := []byte(strings.Join(docs, "---\n"))

	installed := map[string]bool{}
	for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, input, tools.IstioOracle, "render")), []byte("\n")) {
		var v renderVerdict
		require.NoError(t, json.Unmarshal(line, &v), "%s", line)
		require.Empty(t, v.RenderError, v.Name)
		installed[v.Name] = v.Istiod
	}
	require.Len(t, installed, len(docs))
	var report struct {
		Findings []meshcertFinding `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(runJSONLines(t, input, meshcert, "check", "-o", "json", "-f", "-"), &report))
	told := map[string]bool{}
	for _, f := range report.Findings {
		if f.Code == "MC6012" {
			told[f.Object.Name] = true
		}
	}
	none := 0
	for name, istiod := range installed {
		if !istiod {
			none++
		}
		assert.Equal(t, !istiod, told[name], "%s: istioctl renders istiod: %v; meshcert's MC6012: %v", name, istiod, told[name])
	}
	assert.Positive(t, none, "no case without istiod")
}
