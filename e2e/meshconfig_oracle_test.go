package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMeshConfigAgreesWithIstiod judges meshConfigs with istioctl's renderer
// and istiod's own mesh config loader (mesh.ApplyMeshConfigDefaults and its
// validation, the istio-oracle's istiooperator and render modes) and with
// `meshcert check`: istiod refuses the mesh config exactly where meshcert
// reports MC6001, and where the decoder silently drops one of two values,
// meshcert's MC6011 names the value istiod keeps.
func TestMeshConfigAgreesWithIstiod(t *testing.T) {
	tools, meshcert := fidelityTools(t)
	tests := []struct {
		name, meshConfig string
		// kept: for MC6011, the JSON path (dot-separated) Istio's loaded
		// mesh config holds, and dropped the one it does not; ignored: the
		// value written is read nowhere, so MC6011 says so.
		kept, dropped string
		ignored       bool
	}{
		{name: "a DNS trust domain", meshConfig: `{trustDomain: cluster.example.com}`},
		{name: "a trust domain with a trailing dot", meshConfig: `{trustDomain: "istio.io."}`},
		{name: "an underscore in the trust domain", meshConfig: `{trustDomain: bad_domain}`},
		{name: "upper case in the trust domain", meshConfig: `{trustDomain: Cluster.Local}`},
		{name: "an empty trust domain", meshConfig: `{trustDomain: ""}`},
		{name: "a null trust domain is the default", meshConfig: `{trustDomain: null}`},
		{name: "an empty label in the trust domain", meshConfig: `{trustDomain: "a..b"}`},
		{name: "two trailing dots", meshConfig: `{trustDomain: "a.b.."}`},
		{name: "a label of 64 characters", meshConfig: fmt.Sprintf(`{trustDomain: %s.example}`, strings.Repeat("a", 64))},
		{name: "a label of 63 characters", meshConfig: fmt.Sprintf(`{trustDomain: %s.example}`, strings.Repeat("a", 63))},
		{name: "a leading hyphen", meshConfig: `{trustDomain: -a.example}`},
		{name: "digits only", meshConfig: `{trustDomain: "123.456"}`},
		{name: "good aliases", meshConfig: `{trustDomainAliases: [old.example.com, cluster.local]}`},
		{name: "a bad alias among good ones", meshConfig: `{trustDomainAliases: [old.example.com, "also bad", x_y]}`},
		{name: "an empty alias", meshConfig: `{trustDomainAliases: [""]}`},
		{name: "a trust domain under its proto name too", meshConfig: `{trustDomain: json.example.com, trust_domain: proto.example.com}`,
			kept: "trustDomain=json.example.com", dropped: "trustDomain=proto.example.com"},
		{name: "a bad trust domain under the proto name that Istio ignores", meshConfig: `{trustDomain: good.example.com, trust_domain: bad_domain}`,
			kept: "trustDomain=good.example.com", dropped: "trustDomain=bad_domain"},
		{name: "two tracers", meshConfig: `{defaultConfig: {tracing: {zipkin: {address: "z:9411"}, datadog: {address: "d:8126"}}}}`,
			kept: "defaultConfig.tracing.datadog", dropped: "defaultConfig.tracing.zipkin"},
		{name: "two tracers written the other way round", meshConfig: `{defaultConfig: {tracing: {datadog: {address: "d:8126"}, zipkin: {address: "z:9411"}}}}`,
			kept: "defaultConfig.tracing.datadog", dropped: "defaultConfig.tracing.zipkin"},
		{name: "three tracers", meshConfig: `{defaultConfig: {tracing: {stackdriver: {}, lightstep: {address: "l:8080"}, zipkin: {address: "z:9411"}}}}`,
			kept: "defaultConfig.tracing.stackdriver", dropped: "defaultConfig.tracing.lightstep"},
		{name: "a pem beside a SPIFFE bundle URL", meshConfig: `{caCertificates: [{pem: "x", spiffeBundleUrl: "https://b.example.com/td"}]}`,
			kept: "caCertificates.0.spiffeBundleUrl", dropped: "caCertificates.0.pem"},
		// istioctl's chart writes some fields under their JSON names, and
		// istiod reads defaultConfig and defaultProviders only so: a value
		// under the proto name alone is never read.
		{name: "a bad trust domain under its proto name alone", meshConfig: `{trust_domain: bad_domain}`,
			kept: "trustDomain=cluster.local", dropped: "trustDomain=bad_domain", ignored: true},
		{name: "a root namespace under its proto name", meshConfig: `{root_namespace: elsewhere}`,
			kept: "rootNamespace=istio-system", dropped: "rootNamespace=elsewhere", ignored: true},
		{name: "default_config with two tracers", meshConfig: `{default_config: {tracing: {zipkin: {address: "z:9411"}, datadog: {address: "d:8126"}}}}`,
			kept: "defaultConfig.discoveryAddress", dropped: "defaultConfig.tracing.datadog", ignored: true},
		{name: "a proto name the chart does not write is read", meshConfig: `{enable_auto_mtls: false}`},
	}
	var docs []string
	for i, tt := range tests {
		docs = append(docs, fmt.Sprintf("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: case-%d, namespace: istio-system}\nspec:\n  meshConfig: %s\n", i, tt.meshConfig))
	}
	input := []byte(strings.Join(docs, "---\n"))

	verdicts := judgeOperators(t, tools.IstioOracle, input)
	meshes := map[string]map[string]any{}
	for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, input, tools.IstioOracle, "render")), []byte("\n")) {
		var v struct {
			Name      string         `json:"name"`
			Mesh      map[string]any `json:"mesh"`
			MeshError string         `json:"meshError"`
		}
		require.NoError(t, json.Unmarshal(line, &v), "%s", line)
		meshes[v.Name] = v.Mesh
	}
	var report struct {
		Findings []meshcertFinding `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(runJSONLines(t, input, meshcert, "check", "-o", "json", "-f", "-"), &report))
	findings := map[string][]meshcertFinding{}
	for _, f := range report.Findings {
		findings[f.Object.Name] = append(findings[f.Object.Name], f)
	}

	refused := 0
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("case-%d", i)
			v, ok := verdicts[name]
			require.True(t, ok, "no verdict from Istio")
			var mc6001, mc6011 []string
			for _, f := range findings[name] {
				switch f.Code {
				case "MC6001":
					mc6001 = append(mc6001, f.Field+": "+f.Message)
				case "MC6011":
					mc6011 = append(mc6011, f.Message)
				}
			}
			if len(v.Errors) > 0 {
				refused++
				assert.NotEmpty(t, mc6001, "istiod refuses it (%s), meshcert reports no MC6001", strings.Join(v.Errors, "; "))
			} else {
				assert.Empty(t, mc6001, "istiod loads it, meshcert reports MC6001")
			}
			if tt.kept == "" {
				assert.Empty(t, mc6011)
				return
			}
			mesh := meshes[name]
			require.NotNil(t, mesh, "istioctl rendered no mesh config")
			assert.True(t, holds(mesh, tt.kept), "istiod's mesh config lacks %s: %v", tt.kept, mesh)
			assert.False(t, holds(mesh, tt.dropped), "istiod's mesh config holds %s: %v", tt.dropped, mesh)
			require.Len(t, mc6011, 1)
			if tt.ignored {
				assert.Contains(t, mc6011[0], "Istio ignores the value written under it")
				return
			}
			keptKey, _, _ := strings.Cut(tt.kept, "=")
			keptKey = keptKey[strings.LastIndex(keptKey, ".")+1:]
			assert.True(t, strings.Contains(mc6011[0], fmt.Sprintf("Istio keeps %q", keptKey)) || strings.Contains(mc6011[0], fmt.Sprintf("Istio reads %q", keptKey)),
				"MC6011 does not name %q as what Istio keeps: %s", keptKey, mc6011[0])
		})
	}
	assert.Positive(t, refused, "no case istiod refuses")
}

// holds reports whether mesh has a value at a dot-separated path (list
// indexes as numbers), optionally equal to the string after "=".
func holds(mesh map[string]any, path string) bool {
	path, want, compare := strings.Cut(path, "=")
	var cur any = mesh
	for key := range strings.SplitSeq(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[key]
		case []any:
			var i int
			if _, err := fmt.Sscan(key, &i); err != nil || i >= len(c) {
				return false
			}
			cur = c[i]
		default:
			return false
		}
	}
	if cur == nil {
		return false
	}
	return !compare || cur == want
}
