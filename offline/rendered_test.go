package offline

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

// TestRenderedIstiodInstalls checks installs rendered by `helm template` from
// Istio's istiod chart (testdata/rendered, SOURCES), what Helm, istioctl
// and the Sail Operator apply. The expectations are Istio's: istiod builds
// a trust bundle from meshConfig.caCertificates only with
// ISTIO_MULTIROOT_MESH, proxies receive it only with PROXY_CONFIG_XDS_AGENT
// (pilot/pkg/features, pkg/istio-agent); istiod refuses a mesh config with
// an invalid trust domain and exits with PILOT_CERT_PROVIDER=kubernetes.
func TestRenderedIstiodInstalls(t *testing.T) {
	for _, tc := range []struct {
		sentence, file string
		want           []string
	}{
		{"a default install has nothing to report", "istiod-default.yaml", []string{}},
		{"roots in caCertificates without the multi-root switches are ignored by istiod and never reach the proxies",
			"istiod-roots-without-switches.yaml", []string{
				"ConfigMap istio-system/istio: error MC6008 data[mesh].defaultConfig.proxyMetadata.PROXY_CONFIG_XDS_AGENT",
				"Deployment istio-system/istiod: error MC6008 spec.template.spec.containers[0].env",
			}},
		{"roots with both switches are used", "istiod-roots-with-switches.yaml", []string{}},
		{"a revision's ConfigMap and Deployment are checked under their revision's names",
			"istiod-canary-bad-trust-domain.yaml", []string{
				"ConfigMap istio-system/istio-canary: error MC6001 data[mesh].trustDomain",
				"Deployment istio-system/istiod-canary: error MC6003 spec.template.spec.containers[0].env[7].value",
			}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "testdata", "rendered", tc.file))
			require.NoError(t, err)
			objs := objectsFromYAML(t, string(data))
			require.Greater(t, len(objs), 10, "a whole rendered install")
			res, err := PlanObjects(t.Context(), objs, certs.DefaultOptions(), "istio-system")
			require.NoError(t, err)
			got := []string{}
			for _, f := range res.Findings {
				got = append(got, fmt.Sprintf("%s %s/%s: %s %s %s", f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Severity, f.Code, f.Field))
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestClusterScopedSailObjectsHaveNoNamespace: the API server drops the
// namespace of a cluster-scoped object (k8s.io/apiserver
// pkg/registry/rest/meta.go), so two Sail Istios of one name are one object
// whatever metadata.namespace says: the later copy supersedes the first.
func TestClusterScopedSailObjectsHaveNoNamespace(t *testing.T) {
	istio := func(namespace string) string {
		return fmt.Sprintf(`apiVersion: sailoperator.io/v1
kind: Istio
metadata: {name: default%s, annotations: {cert-manager.io/cluster-issuer: ca}}
spec: {namespace: istio-system}
`, namespace)
	}
	objs := objectsFromYAML(t, istio("")+"---\n"+istio(", namespace: foo")+`---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
`)
	res, err := PlanObjects(t.Context(), objs, certs.DefaultOptions(), "default")
	require.NoError(t, err)
	assert.Len(t, res.Certificates, 1, "one Istio, one cacerts")
	codes := []string{}
	for _, f := range res.Findings {
		codes = append(codes, fmt.Sprintf("%d %s", f.Index, f.Code))
	}
	assert.Equal(t, []string{"1 MC7001"}, codes, "the later copy is reported as a repeat of the first")
}
