package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/internal/quiet"
)

func TestReconcileWhenTheCacheHasNotSeenACertificateYet(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	// The API server has web-tls (a reconcile made it a moment before, or
	// someone else did) while the cache, the fake here, has not seen it.
	h.createErr = func(obj client.Object) error {
		if obj.GetName() == webTLS {
			return apierrors.NewAlreadyExists(schema.GroupResource{Group: certs.CertManagerGroup, Resource: "certificates"}, webTLS)
		}
		return nil
	}
	result, err := h.reconciler().Reconcile(t.Context(), ctrl.Request{NamespacedName: web})
	require.NoError(t, err, "a cache behind the API server is not a failure")
	assert.Equal(t, requeueSoon, result.RequeueAfter, "the Gateway is planned again once the cache has caught up")
	assert.Equal(t, []string{"create istio-system/" + adminTLS}, h.writes, "the other Certificate is still made")
	evs := strings.Join(h.events(), "\n")
	assert.NotContains(t, evs, "Certificate istio-system/"+webTLS, "no Event for a write that did not happen")
	assert.Contains(t, evs, "Created Certificate istio-system/"+adminTLS)

	t.Run("any other failure is an error", func(t *testing.T) {
		h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
		h.createErr = func(client.Object) error { return apierrors.NewServiceUnavailable("etcd is down") }
		_, err := h.reconciler().Reconcile(t.Context(), ctrl.Request{NamespacedName: web})
		require.ErrorContains(t, err, "etcd is down")
	})
}

func TestReconcileHoldsWritesBackWhileGatewaysAreAdmitted(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	admissions := quiet.New(time.Hour, time.Hour)
	admissions.Admitted()
	r := &Reconciler{Client: h.client, Lookup: h.lookup(), Options: certs.DefaultOptions(), Recorder: h.recorder, Admissions: admissions}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: web})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the reconcile must wait for admissions to pause")
	assert.Empty(t, h.writes, "nothing is written while Gateways are being admitted")

	// Once admissions pause (a gate whose burst is over), the same
	// reconcile writes.
	r.Admissions = quiet.New(time.Millisecond, time.Hour)
	r.Admissions.Admitted()
	_, err = r.Reconcile(t.Context(), ctrl.Request{NamespacedName: web})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"create istio-system/" + webTLS, "create istio-system/" + adminTLS}, h.writes)
}

// lagging is the reconciler's view of the fake API server through an
// informer cache that is behind it: for each key of certificates, the cache
// holds the Certificate given, or has not seen it yet (nil). Reads of other
// objects and every write go through to the API server.
func (h *harness) lagging(certificates map[types.NamespacedName]*cmapi.Certificate) client.Client {
	h.t.Helper()
	withWatch, ok := h.client.(client.WithWatch)
	require.True(h.t, ok)
	return interceptor.NewClient(withWatch, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			crt, isCertificate := obj.(*cmapi.Certificate)
			cached, lags := certificates[key]
			switch {
			case !isCertificate || !lags:
				return c.Get(ctx, key, obj, opts...)
			case cached == nil:
				return apierrors.NewNotFound(schema.GroupResource{Group: certs.CertManagerGroup, Resource: "certificates"}, key.Name)
			}
			cached.DeepCopyInto(crt)
			return nil
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			l, ok := list.(*cmapi.CertificateList)
			if !ok {
				return nil
			}
			var items []cmapi.Certificate
			for _, crt := range l.Items {
				cached, lags := certificates[client.ObjectKeyFromObject(&crt)]
				switch {
				case !lags:
					items = append(items, crt)
				case cached != nil:
					items = append(items, *cached.DeepCopy())
				}
			}
			l.Items = items
			return nil
		},
	})
}

// liveJSON is the object as the API server holds it, every byte of it:
// spec, labels, annotations, resourceVersion and managed fields.
func (h *harness) liveJSON(gvk schema.GroupVersionKind, key types.NamespacedName) string {
	h.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	require.NoError(h.t, h.client.Get(h.t.Context(), key, u))
	b, err := u.MarshalJSON()
	require.NoError(h.t, err)
	return string(b)
}

func managers(obj metav1.Object) []string {
	var out []string
	for _, f := range obj.GetManagedFields() {
		out = append(out, f.Manager)
	}
	return out
}

func TestReconcileNeverForcesOverACertificateItDidNotCreateThatTheCacheHasNotSeen(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	// Another team creates web-tls a moment before meshcert's first
	// reconcile, which reads a cache that has not seen it yet.
	key := types.NamespacedName{Namespace: "istio-system", Name: webTLS}
	theirs := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{
			Name: key.Name, Namespace: key.Namespace,
			Labels:      map[string]string{"team": "platform"},
			Annotations: map[string]string{"platform.example.com/owner": "platform-team"},
		},
		Spec: cmapi.CertificateSpec{
			SecretName: webTLS, DNSNames: []string{"other.example.com"},
			IssuerRef: cmmeta.IssuerReference{Name: "platform-ca", Kind: "ClusterIssuer"},
		},
	}
	require.NoError(t, h.client.Create(t.Context(), theirs, client.FieldOwner("platform-team")))
	require.Equal(t, []string{"platform-team"}, managers(theirs))
	before := h.liveJSON(cmapi.SchemeGroupVersion.WithKind(cmapi.CertificateKind), key)
	h.writes = nil

	cache := h.lagging(map[types.NamespacedName]*cmapi.Certificate{key: nil})
	r := &Reconciler{Client: cache, APIReader: h.client, Lookup: h.lookupOf(cache), Options: certs.DefaultOptions(), Recorder: h.recorder}
	result, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: web})
	require.NoError(t, err)
	assert.Equal(t, requeueSoon, result.RequeueAfter, "planned again once the cache has it")
	assert.ElementsMatch(t, []string{"create istio-system/" + webTLS, "create istio-system/" + adminTLS}, h.writes,
		"the create that found it taken is all meshcert tried: no apply, patch or update after it")
	assert.Equal(t, before, h.liveJSON(cmapi.SchemeGroupVersion.WithKind(cmapi.CertificateKind), key),
		"their Certificate is byte-identical: spec, labels, annotations, managed fields")
	assert.NotContains(t, strings.Join(h.events(), "\n"), "Certificate istio-system/"+webTLS)

	// Once the cache has it, the planner sees someone else's and leaves
	// it alone too.
	h.writes = nil
	h.reconcile(web)
	assert.Empty(t, h.writes)
	crt, _ := h.certificate(webTLS)
	assert.Equal(t, []string{"platform-team"}, managers(crt))
	assert.Equal(t, before, h.liveJSON(cmapi.SchemeGroupVersion.WithKind(cmapi.CertificateKind), key))
}

func TestReconcileDeletesOnlyTheCertificateItInspected(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)
	inspected, ok := h.certificate(adminTLS)
	require.True(t, ok)
	require.NotEmpty(t, inspected.UID)
	require.NotEmpty(t, inspected.ResourceVersion)
	dropAdmin := func(u *unstructured.Unstructured) {
		servers, _, _ := unstructured.NestedSlice(u.Object, "spec", "servers")
		require.NoError(t, unstructured.SetNestedSlice(u.Object, servers[:1], "spec", "servers"))
	}

	t.Run("the delete carries the UID and resourceVersion the controller read", func(t *testing.T) {
		h.updateGateway(dropAdmin)
		h.reconcile(web)
		require.Equal(t, []string{"delete istio-system/" + adminTLS}, h.writes)
		opts := h.deletes["istio-system/"+adminTLS]
		require.NotNil(t, opts.Preconditions, "a delete without preconditions may delete what the controller never inspected")
		require.NotNil(t, opts.Preconditions.UID)
		require.NotNil(t, opts.Preconditions.ResourceVersion)
		assert.Equal(t, inspected.UID, *opts.Preconditions.UID)
		assert.Equal(t, inspected.ResourceVersion, *opts.Preconditions.ResourceVersion)
	})

	t.Run("a Certificate changed since the cache read it is not deleted", func(t *testing.T) {
		h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
		h.reconcile(web)
		cached, _ := h.certificate(adminTLS)
		// Someone edits it; the cache still holds the version before.
		live := cached.DeepCopy()
		live.Labels["team"] = "platform"
		require.NoError(t, h.client.Update(t.Context(), live))
		require.NotEqual(t, cached.ResourceVersion, live.ResourceVersion)
		h.updateGateway(dropAdmin)

		cache := h.lagging(map[types.NamespacedName]*cmapi.Certificate{client.ObjectKeyFromObject(cached): cached})
		r := &Reconciler{Client: cache, APIReader: h.client, Lookup: h.lookupOf(cache), Options: certs.DefaultOptions(), Recorder: h.recorder}
		_, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: web})
		require.Error(t, err, "the delete fails its precondition; the reconcile is retried against a fresh cache")
		assert.True(t, apierrors.IsConflict(err), "%v", err)
		got, ok := h.certificate(adminTLS)
		require.True(t, ok, "not deleted")
		assert.Equal(t, "platform", got.Labels["team"])
	})
}
