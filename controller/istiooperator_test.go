package controller

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
)

var mesh = types.NamespacedName{Namespace: "istio-system", Name: "mesh"}

func meshOperator(annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	u.SetGroupVersionKind(istiooperator.GVK)
	u.SetNamespace(mesh.Namespace)
	u.SetName(mesh.Name)
	u.SetAnnotations(annotations)
	return u
}

var meshRoot = &cmapi.ClusterIssuer{
	ObjectMeta: metav1.ObjectMeta{Name: "mesh-root"},
	Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: "mesh-root"}}},
}

func (h *harness) reconcileOperator(r *IstioOperatorReconciler) {
	h.t.Helper()
	_, err := r.Reconcile(h.t.Context(), reconcile.Request{NamespacedName: mesh})
	require.NoError(h.t, err)
}

func (h *harness) operatorReconciler() *IstioOperatorReconciler {
	opts := certs.DefaultOptions()
	opts.ComposeCACerts = true // as meshcert serve runs it
	return &IstioOperatorReconciler{Client: h.client, APIReader: h.client, Lookup: h.lookup(), Options: opts, Recorder: h.recorder}
}

func TestMeshCALifecycle(t *testing.T) {
	annotated := meshOperator(map[string]string{"cert-manager.io/cluster-issuer": "mesh-root"})
	h := newHarness(t, annotated, meshRoot)
	r := h.operatorReconciler()

	h.reconcileOperator(r)
	crt, ok := h.certificate("cacerts")
	require.True(t, ok, "the mesh CA Certificate is created")
	assert.True(t, crt.Spec.IsCA)
	assert.Equal(t, "cacerts-issued", crt.Spec.SecretName)
	assert.True(t, istiooperator.OwnsCertificate(crt, mesh.Namespace, mesh.Name))
	assert.Contains(t, h.events(), "Normal CreateCertificate Created Certificate istio-system/cacerts for the intermediate meshcert puts in istiod's cacerts, Secret \"cacerts-issued\"")

	h.writes = nil
	h.reconcileOperator(r)
	assert.Empty(t, h.writes, "nothing changed, nothing written")

	// A typo keeps the working CA Certificate.
	annotated.SetAnnotations(map[string]string{"cert-manager.io/cluster-issuer": "mesh-root", "cert-manager.io/duration": "soon"})
	require.NoError(t, h.client.Update(t.Context(), annotated))
	h.reconcileOperator(r)
	_, ok = h.certificate("cacerts")
	assert.True(t, ok, "an annotation error must not delete istiod's CA Certificate")
	assert.NotEmpty(t, h.events(), "the error is reported as an Event")

	// Without the issuer annotation the Certificate goes; the Secret would stay.
	annotated.SetAnnotations(nil)
	require.NoError(t, h.client.Update(t.Context(), annotated))
	h.reconcileOperator(r)
	_, ok = h.certificate("cacerts")
	assert.False(t, ok, "meshcert deletes the mesh CA Certificate it no longer wants")
}

func TestMeshCAPrunedWithItsIstioOperator(t *testing.T) {
	h := newHarness(t, meshOperator(map[string]string{"cert-manager.io/cluster-issuer": "mesh-root"}), meshRoot)
	r := h.operatorReconciler()
	h.reconcileOperator(r)
	_, ok := h.certificate("cacerts")
	require.True(t, ok)
	require.NoError(t, h.client.Delete(t.Context(), meshOperator(nil)))
	h.reconcileOperator(r)
	_, ok = h.certificate("cacerts")
	assert.False(t, ok)
}

func TestMeshCAKeptWhileOnlyTheCacheMissesItsIstioOperator(t *testing.T) {
	h := newHarness(t, meshOperator(map[string]string{"cert-manager.io/cluster-issuer": "mesh-root"}), meshRoot)
	r := h.operatorReconciler()
	h.reconcileOperator(r)
	_, ok := h.certificate("cacerts")
	require.True(t, ok)
	// The cache does not hold the IstioOperator (its first list lagged the
	// API server), which still has it.
	r.Client = interceptor.NewClient(h.client.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*unstructured.Unstructured); ok {
				return apierrors.NewNotFound(schema.GroupResource{Group: "install.istio.io", Resource: "istiooperators"}, key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	result, err := r.Reconcile(t.Context(), reconcile.Request{NamespacedName: mesh})
	require.NoError(t, err)
	assert.Positive(t, result.RequeueAfter)
	_, ok = h.certificate("cacerts")
	assert.True(t, ok, "the mesh CA stays while the API server has its IstioOperator")
}

func TestMeshCALeavesOthersAlone(t *testing.T) {
	annotated := meshOperator(map[string]string{"cert-manager.io/cluster-issuer": "mesh-root"})
	t.Run("a hand-made cacerts Secret is never overwritten", func(t *testing.T) {
		handMade := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cacerts", Namespace: "istio-system"}}
		h := newHarness(t, annotated.DeepCopy(), meshRoot, handMade)
		// The cache-backed lookup never sees Secrets; the API reader does.
		h.reconcileOperator(h.operatorReconciler())
		_, ok := h.certificate("cacerts")
		assert.False(t, ok)
		evs := h.events()
		require.Len(t, evs, 1)
		assert.Contains(t, evs[0], "Warning CACertsNotOwned")
		said := istiooperator.CACertsObstacles(istiooperator.IstioOperatorKind, mesh, istiooperator.CACertsFound{Namespace: "istio-system", Secret: handMade})
		require.Len(t, said, 1)
		assert.True(t, strings.HasSuffix(evs[0], " "+said[0]), "the Event says what the planner says: %s", evs[0])
	})
	t.Run("a cacerts Secret cert-manager wrote for Certificate cacerts is taken over", func(t *testing.T) {
		issued := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cacerts", Namespace: "istio-system",
			Annotations: map[string]string{cmapi.CertificateNameKey: "cacerts"}}}
		h := newHarness(t, annotated.DeepCopy(), meshRoot, issued)
		h.reconcileOperator(h.operatorReconciler())
		_, ok := h.certificate("cacerts")
		assert.True(t, ok)
	})
	t.Run("without permission to read the Secret, no mesh CA is made", func(t *testing.T) {
		h := newHarness(t, annotated.DeepCopy(), meshRoot)
		r := h.operatorReconciler()
		r.APIReader = interceptor.NewClient(h.client.(client.WithWatch), interceptor.Funcs{
			Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "cacerts", nil)
			},
		})
		h.reconcileOperator(r)
		_, ok := h.certificate("cacerts")
		assert.False(t, ok)
		assert.Contains(t, h.events()[0], "may not read Secret istio-system/cacerts")
	})
	t.Run("a Certificate cacerts that is not meshcert's is left alone", func(t *testing.T) {
		theirs := &cmapi.Certificate{
			ObjectMeta: metav1.ObjectMeta{Name: "cacerts", Namespace: "istio-system"},
			Spec:       cmapi.CertificateSpec{SecretName: "cacerts", IsCA: true, CommonName: "theirs"},
		}
		h := newHarness(t, annotated.DeepCopy(), meshRoot, theirs)
		h.reconcileOperator(h.operatorReconciler())
		crt, ok := h.certificate("cacerts")
		require.True(t, ok)
		assert.Equal(t, "theirs", crt.Spec.CommonName)
		assert.Empty(t, h.writes)
	})
}

func TestIstioOperatorStoredWithoutPeerRoots(t *testing.T) {
	rootPEM, err := os.ReadFile("../testdata/pki/root-b.pem")
	require.NoError(t, err)
	bundle := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "roots", Namespace: "istio-system", Labels: map[string]string{certs.LabelTrustBundle: "true"}},
		Data:       map[string]string{"ca.crt": string(rootPEM)},
	}
	h := newHarness(t, meshOperator(map[string]string{istiooperator.AnnotationPeerRoots: "roots"}), bundle)
	h.reconcileOperator(h.operatorReconciler())
	evs := h.events()
	require.Len(t, evs, 1)
	assert.Contains(t, evs[0], "Warning WebhookBypassed")
	assert.Empty(t, h.writes, "the controller never writes the IstioOperator")
}

func TestIstioOperatorReconciler(t *testing.T) {
	io := func(name string, spec map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetGroupVersionKind(istiooperator.GVK)
		u.SetNamespace("istio-system")
		u.SetName(name)
		return u
	}
	bad := io("bad", map[string]any{"values": map[string]any{"global": map[string]any{"pilotCertProvider": "cert-manager"}}})
	good := io("good", map[string]any{"values": map[string]any{"global": map[string]any{"pilotCertProvider": "istiod"}}})
	h := newHarness(t, bad, good)
	r := &IstioOperatorReconciler{Client: h.client, APIReader: h.client, Lookup: h.lookup(), Options: certs.DefaultOptions(), Recorder: h.recorder}

	_, err := r.Reconcile(t.Context(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "istio-system", Name: "bad"}})
	require.NoError(t, err)
	evs := h.events()
	require.Len(t, evs, 1)
	assert.Contains(t, evs[0], "Warning BadConfig")
	assert.Contains(t, evs[0], `MC6003 spec.values.global.pilotCertProvider: pilot certificate provider "cert-manager"`)

	_, err = r.Reconcile(t.Context(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "istio-system", Name: "good"}})
	require.NoError(t, err)
	assert.Empty(t, h.events(), "a valid IstioOperator gets no Event")

	_, err = r.Reconcile(t.Context(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "istio-system", Name: "gone"}})
	require.NoError(t, err, "a deleted IstioOperator is nothing to do")

	failing := interceptor.NewClient(h.client.(client.WithWatch), interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return errors.New("cache not synced")
		},
	})
	r.Client = failing
	_, err = r.Reconcile(t.Context(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "istio-system", Name: "bad"}})
	require.ErrorContains(t, err, "failed to get IstioOperator istio-system/bad: cache not synced")
}

// When istiod moves (spec.components.pilot.namespace), its cacerts
// Certificate moves with it and the one left in the old namespace goes.
func TestMeshCAFollowsIstiod(t *testing.T) {
	annotated := meshOperator(map[string]string{"cert-manager.io/cluster-issuer": "mesh-root"})
	h := newHarness(t, annotated, meshRoot)
	r := h.operatorReconciler()
	h.reconcileOperator(r)
	_, ok := h.certificate("cacerts")
	require.True(t, ok)

	require.NoError(t, unstructured.SetNestedField(annotated.Object, "istiod-2", "spec", "components", "pilot", "namespace"))
	require.NoError(t, h.client.Update(t.Context(), annotated))
	h.reconcileOperator(r)
	moved := &cmapi.Certificate{}
	require.NoError(t, h.client.Get(t.Context(), types.NamespacedName{Namespace: "istiod-2", Name: "cacerts"}, moved), "the Certificate is in istiod's new namespace")
	_, ok = h.certificate("cacerts")
	assert.False(t, ok, "the one in the old namespace is pruned")
}
