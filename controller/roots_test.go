package controller

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
)

// TestRootsNotServedAreReported: a Sail Istio whose caCertificates hold a
// root (as meshcert injected it) while istiod's mesh ConfigMap does not is
// reported on the Istio and looked at again; once the ConfigMap holds it,
// nothing is said.
func TestRootsNotServedAreReported(t *testing.T) {
	root, err := os.ReadFile("../testdata/pki/root-b.pem")
	require.NoError(t, err)
	istio := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"namespace": "istio-system",
			"values": map[string]any{
				"meshConfig": map[string]any{
					"caCertificates": []any{map[string]any{"pem": string(root)}},
					"defaultConfig":  map[string]any{"proxyMetadata": map[string]any{"PROXY_CONFIG_XDS_AGENT": "true"}},
				},
				"pilot": map[string]any{"env": map[string]any{"ISTIO_MULTIROOT_MESH": "true"}},
			},
		},
	}}
	istio.SetGroupVersionKind(istiooperator.SailIstioKind.GVK)
	istio.SetName("default")
	meshCM := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "istio", Namespace: "istio-system"},
		Data:       map[string]string{"mesh": "trustDomain: cluster.local\n"},
	}
	h := newHarness(t, istio, meshCM)
	r := &IstioOperatorReconciler{Kind: istiooperator.SailIstioKind, Client: h.client, APIReader: h.client, Lookup: h.lookup(), Options: certs.DefaultOptions(), Recorder: h.recorder}
	req := reconcile.Request{NamespacedName: types.NamespacedName{Name: "default"}}

	res, err := r.Reconcile(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, rootsRecheck, res.RequeueAfter, "looked at again while a root is missing")
	events := strings.Join(h.events(), "\n")
	assert.Contains(t, events, "Warning RootsNotServed istiod's mesh ConfigMap istio-system/istio does not hold 1 of the roots in spec.values.meshConfig.caCertificates")

	meshCM.Data["mesh"] = "trustDomain: cluster.local\ncaCertificates:\n- pem: |\n    " + strings.ReplaceAll(strings.TrimSpace(string(root)), "\n", "\n    ") + "\n"
	require.NoError(t, h.client.Update(t.Context(), meshCM))
	res, err = r.Reconcile(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, rootsResync, res.RequeueAfter, "looked at again later: an upgrade may drop the roots")
	assert.Empty(t, h.events(), "istiod runs with every root")

	require.NoError(t, h.client.Delete(t.Context(), meshCM))
	res, err = r.Reconcile(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, rootsResync, res.RequeueAfter, "no ConfigMap: istiod is not installed here yet, or runs elsewhere")
	assert.Empty(t, h.events())

	unstructured.RemoveNestedField(istio.Object, "spec", "values", "meshConfig", "caCertificates")
	require.NoError(t, h.client.Update(t.Context(), istio))
	res, err = r.Reconcile(t.Context(), req)
	require.NoError(t, err)
	assert.Zero(t, res.RequeueAfter, "an object without roots has nothing to look for")
}
