package istiooperator_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The expectations below are what istioctl's renderer (`istio-oracle
// render`, operator/pkg/render.GenerateManifest at the pinned Istio
// version) produced for the same IstioOperators; e2e's
// TestIstioOperatorRenderAgrees checks the corpus the same way.

func TestIstiodNamespaceAsIstioctlRenders(t *testing.T) {
	for _, tc := range []struct {
		sentence, metaNamespace, spec, want string
		warns                               bool
	}{
		{sentence: "with nothing set, istiod lands in istio-system whatever the IstioOperator's own namespace",
			metaNamespace: "foo", spec: "  {}", want: "istio-system"},
		{sentence: "values.global.istioNamespace moves istiod",
			metaNamespace: "foo", spec: "  values: {global: {istioNamespace: mesh-a}}", want: "mesh-a"},
		{sentence: "components.pilot.namespace wins over values.global.istioNamespace",
			metaNamespace: "foo", spec: "  values: {global: {istioNamespace: mesh-a}}\n  components: {pilot: {namespace: mesh-p}}", want: "mesh-p"},
		{sentence: "an empty values.global.istioNamespace leaves the IstioOperator's metadata.namespace",
			metaNamespace: "foo", spec: `  values: {global: {istioNamespace: ""}}`, want: "foo"},
		{sentence: "spec.namespace is read by nothing: istiod stays in istio-system, and meshcert warns",
			metaNamespace: "foo", spec: "  namespace: bar", want: "istio-system", warns: true},
		{sentence: "spec.namespace next to values.global.istioNamespace: the values win, and meshcert warns",
			metaNamespace: "foo", spec: "  namespace: bar\n  values: {global: {istioNamespace: mesh-a}}", want: "mesh-a", warns: true},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			doc := strings.Replace(operator(`    cert-manager.io/cluster-issuer: mesh-root`, tc.spec), "namespace: istio-system", "namespace: "+tc.metaNamespace, 1)
			_, plan := planFirst(t, options(), doc, caIssuer)
			assert.Equal(t, tc.want, plan.IstiodNamespace)
			require.NotNil(t, plan.Certificate)
			assert.Equal(t, tc.want, plan.Certificate.Namespace)
			if tc.warns {
				assert.Contains(t, codes(plan.Findings), "warning MC6009 spec.namespace")
			} else {
				assert.NotContains(t, codes(plan.Findings), "warning MC6009 spec.namespace")
			}
		})
	}
}

func TestMultiRootSwitchAsIstioctlRenders(t *testing.T) {
	bundle := `apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: istio-system, labels: {meshcert.io/trust-bundle: "true"}}
data:
  ca.crt: |
    ` + strings.ReplaceAll(strings.TrimSpace(pki(t, "root-a.pem")), "\n", "\n    ") + "\n"
	for _, tc := range []struct {
		sentence, spec string
		// wantInjected: istiod would run with ISTIO_MULTIROOT_MESH read as
		// true by strconv.ParseBool, so meshcert injects.
		wantInjected bool
	}{
		{sentence: `values.pilot.env "True" renders as "True", which ParseBool reads as true`,
			spec: `  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: "True"}}}`, wantInjected: true},
		{sentence: `values.pilot.env "1" is true`,
			spec: `  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: "1"}}}`, wantInjected: true},
		{sentence: `values.pilot.env "t" is true`,
			spec: `  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: "t"}}}`, wantInjected: true},
		{sentence: `values.pilot.env 1, a number, renders as "1": true`,
			spec: `  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: 1}}}`, wantInjected: true},
		{sentence: `values.pilot.env "yes" is not a boolean to ParseBool: istiod runs with false`,
			spec: `  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: "yes"}}}`},
		{sentence: `a k8s.env entry "true" is patched over values.pilot.env "false": istiod runs with true`,
			spec: "  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: \"false\"}}}\n  components: {pilot: {k8s: {env: [{name: ISTIO_MULTIROOT_MESH, value: \"true\"}]}}}", wantInjected: true},
		{sentence: `a k8s.env entry "false" is patched over values.pilot.env "true": istiod runs with false`,
			spec: "  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: \"true\"}}}\n  components: {pilot: {k8s: {env: [{name: ISTIO_MULTIROOT_MESH, value: \"false\"}]}}}"},
		{sentence: `a k8s.env entry "false" alone: meshcert's values.pilot.env "true" would be overridden`,
			spec: "  components: {pilot: {k8s: {env: [{name: ISTIO_MULTIROOT_MESH, value: \"false\"}]}}}"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			_, plan := planFirst(t, options(), operator(`    meshcert.io/peer-roots: a`, tc.spec), bundle)
			assert.Equal(t, tc.wantInjected, plan.Mutated() != nil, "%v", codes(plan.Findings))
			if tc.wantInjected {
				assert.NotContains(t, strings.Join(codes(plan.Findings), ","), "MC6008")
				list, _, _ := unstructured.NestedSlice(plan.Mutated().Object, "spec", "meshConfig", "caCertificates")
				assert.Len(t, list, 1)
			} else {
				assert.Contains(t, strings.Join(codes(plan.Findings), ","), "error MC6008")
			}
		})
	}
}

func TestPilotCertProviderInValuesPilotEnv(t *testing.T) {
	// istioctl renders values.pilot.env after values.global.pilotCertProvider,
	// and a components.pilot.k8s.env entry replaces only the first of the
	// two: the oracle shows istiod reading values.pilot.env's value.
	_, plan := planFirst(t, options(), operator(`    example.com/x: "y"`, `  values: {pilot: {env: {PILOT_CERT_PROVIDER: kubernetes}}}`))
	assert.Equal(t, []string{"error MC6003 spec.values.pilot.env.PILOT_CERT_PROVIDER"}, codes(plan.Findings))
}
