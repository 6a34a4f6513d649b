package framework

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCRDSourcesParse checks that every CRD source is where the framework
// looks for it and parses, without starting anything.
func TestCRDSourcesParse(t *testing.T) {
	for _, tc := range []struct {
		source crdSource
		want   []string
	}{
		{certManagerCRDs, []string{"certificates.cert-manager.io", "clusterissuers.cert-manager.io", "challenges.acme.cert-manager.io"}},
		{istioCRDs, []string{"gateways.networking.istio.io", "virtualservices.networking.istio.io", "telemetries.telemetry.istio.io"}},
		{gatewayAPICRDs, []string{"gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io"}},
	} {
		t.Run(tc.source.module, func(t *testing.T) {
			crds, err := tc.source.load(t.Context())
			require.NoError(t, err)
			names := map[string]bool{}
			for _, crd := range crds {
				names[crd.Name] = true
			}
			for _, name := range tc.want {
				require.True(t, names[name], "%s missing from %s@%s", name, tc.source.module, tc.source.version)
			}
		})
	}

	operator, err := parseCRDs(istioOperatorCRD)
	require.NoError(t, err)
	require.Len(t, operator, 1)
	require.Equal(t, "istiooperators.install.istio.io", operator[0].Name)
	require.Equal(t, "v1alpha1", operator[0].Spec.Versions[0].Name)
}
