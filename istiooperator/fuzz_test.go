package istiooperator

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// FuzzCheck feeds arbitrary YAML as the spec of every kind that installs
// istiod:
// the check runs on user input in the webhook, so it must never panic and
// must give the same answer every time.
func FuzzCheck(f *testing.F) {
	for _, doc := range []string{seedIstioOperatorCA, seedIstioOperatorGateway} {
		var obj map[string]any
		require.NoError(f, yaml.Unmarshal([]byte(doc), &obj))
		spec, err := yaml.Marshal(obj["spec"])
		require.NoError(f, err)
		f.Add(spec)
	}
	f.Add([]byte(`meshConfig: {defaultConfig: {drainDuration: 45s, proxyMetadata: {A: b}}, caCertificates: [{pem: x, trustDomains: [a]}]}`))
	f.Add([]byte(`values: {global: {pilotCertProvider: k8s.io/x}}`))
	f.Add([]byte(`components: {pilot: {k8s: {env: [{name: PILOT_CERT_PROVIDER, value: kubernetes}]}}}`))
	f.Add([]byte(`meshConfig: {extensionProviders: [{name: a, envoyExtAuthzGrpc: {service: s, port: 1}}], outboundTrafficPolicy: {mode: 1}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var spec map[string]any
		if err := yaml.Unmarshal(data, &spec); err != nil {
			t.Skip()
		}
		for _, kind := range Kinds {
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": kind.GVK.GroupVersion().String(),
				"kind":       kind.GVK.Kind,
				"spec":       spec,
			}}
			first := Check(obj)
			second := Check(obj)
			require.Equal(t, first, second)
			for _, finding := range first {
				require.NotEmpty(t, finding.Code)
				require.NotEmpty(t, finding.Field)
				require.NotEmpty(t, finding.Message)
			}
		}
	})
}
