package istiooperator_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/istiooperator"
	"github.com/meshcert/meshcert/offline"
)

// FuzzPlanIstioOperator plans arbitrary IstioOperators and Sail Istios and
// IstioRevisions (annotations and spec from the input, every kind) against trust bundles, issuers and a cacerts Secret:
// it runs on user input in the webhooks, so it must never panic, must give
// the same plan twice, and its injection must be idempotent: planning the
// mutated object changes nothing more.
func FuzzPlanIstioOperator(f *testing.F) {
	f.Add([]byte(`metadata: {annotations: {meshcert.io/peer-roots: "roots, b/other:x.pem"}}
spec: {meshConfig: {caCertificates: [{pem: x}, {spiffeBundleUrl: https://a}]}}`))
	f.Add([]byte(`metadata: {annotations: {cert-manager.io/cluster-issuer: mesh-root, cert-manager.io/duration: 1h}}
spec: {values: {global: {istioNamespace: mesh, multiCluster: {clusterName: a}}}}`))
	f.Add([]byte(`metadata: {annotations: {meshcert.io/injected-peer-roots: "ab,cd", cert-manager.io/issuer: x}}
spec: {namespace: other, values: {pilot: {env: {ISTIO_MULTIROOT_MESH: "false"}}}}`))
	f.Add([]byte(`metadata: {annotations: {meshcert.io/peer-roots: roots}}
spec: {values: {pilot: 3}, meshConfig: {defaultConfig: {proxyMetadata: []}}}`))
	f.Add([]byte(`spec: 7`))
	f.Add([]byte(`metadata: {annotations: {meshcert.io/peer-roots: roots, cert-manager.io/cluster-issuer: mesh-root}}
spec: {namespace: mesh, profile: remote, values: {meshConfig: {caCertificates: [{pem: x}]}, pilot: {env: {ISTIO_MULTIROOT_MESH: "true"}}, global: {istioNamespace: mesh}}}`))

	objs := objects(f, trustBundle("istio-system", "roots", pki(f, "root-a.pem")+pki(f, "root-b.pem")),
		trustBundle("b", "other", pki(f, "expired.pem")), caIssuer, acmeIssuer)
	index := offline.NewIndex()
	for _, obj := range objs {
		require.NoError(f, index.Add(obj))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil || doc == nil {
			return // not YAML: nothing the API server would pass on
		}
		for _, kind := range istiooperator.Kinds {
			copied := runtime.DeepCopyJSON(doc)
			copied["apiVersion"] = kind.GVK.GroupVersion().String()
			copied["kind"] = kind.GVK.Kind
			// Metadata of any shape, as the webhook's decoder could hand
			// it over: the planner must cope without help.
			planTwiceAndReinject(t, &unstructured.Unstructured{Object: copied}, index)
		}
	})
}

func planTwiceAndReinject(t *testing.T, obj *unstructured.Unstructured, index *offline.Index) {
	first := istiooperator.PlanIstioOperator(t.Context(), obj, index, options())
	second := istiooperator.PlanIstioOperator(t.Context(), obj, index, options())
	require.Equal(t, first.Findings, second.Findings)
	require.Equal(t, first.Certificate, second.Certificate)
	for _, f := range first.Findings {
		require.NotEmpty(t, f.Code)
		require.NotEmpty(t, f.Message)
	}
	if mutated := first.Mutated(); mutated != nil {
		again := istiooperator.PlanIstioOperator(t.Context(), mutated, index, options())
		require.Nil(t, again.Mutated(), "injecting twice must be injecting once")
	}
}
