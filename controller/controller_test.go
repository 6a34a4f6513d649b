package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/internal/quiet"
)

const background = `
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
---
apiVersion: v1
kind: Pod
metadata: {name: ingress, namespace: istio-system, labels: {istio: ingressgateway}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/ca}
`

// webTLS and adminTLS are the names meshcert derives for the servers: the
// only ones it writes in istio-system, a namespace other than the Gateway's.
var (
	webTLS   = certs.CredentialName("team-a", "web", "https")
	adminTLS = certs.CredentialName("team-a", "web", "admin")
)

var gatewayYAML = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
  namespace: team-a
  uid: gw-uid
  annotations:
    cert-manager.io/cluster-issuer: ca
    cert-manager.io/duration: 2160h
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: ` + webTLS + `}
  - port: {number: 8443, name: admin, protocol: HTTPS}
    hosts: [admin.example.com]
    tls: {mode: SIMPLE, credentialName: ` + adminTLS + `}
`

func decode(t *testing.T, stream string) []client.Object {
	t.Helper()
	var out []client.Object
	for doc := range strings.SplitSeq(stream, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
		out = append(out, u)
	}
	return out
}

// harness is a Reconciler over a fake API server that counts writes.
type harness struct {
	t        *testing.T
	client   client.Client
	recorder *events.FakeRecorder
	writes   []string
	// deletes holds the options of each delete the fake received, by
	// namespace/name.
	deletes map[string]client.DeleteOptions
	// createErr, if set, may fail a create before it reaches the fake.
	createErr func(client.Object) error
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	scheme := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, cmapi.AddToScheme(scheme))
	require.NoError(t, istionetworking.AddToScheme(scheme))
	h := &harness{t: t, recorder: events.NewFakeRecorder(100), deletes: map[string]client.DeleteOptions{}}
	count := func(verb string, obj client.Object) {
		h.writes = append(h.writes, verb+" "+obj.GetNamespace()+"/"+obj.GetName())
	}
	// Managed fields are returned, as the API server returns them to
	// meshcert's API reader: updates convert meshcert's ownership first.
	builder := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithReturnManagedFields()
	for _, ix := range cluster.Indexes() {
		builder = builder.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	h.client = builder.
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				if h.createErr != nil {
					if err := h.createErr(obj); err != nil {
						return err
					}
				}
				count("create", obj)
				if obj.GetUID() == "" {
					// The API server gives every object a UID; the fake does not.
					obj.SetUID(types.UID("uid-" + obj.GetNamespace() + "-" + obj.GetName()))
				}
				return c.Create(ctx, obj, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				count("update", obj)
				return c.Update(ctx, obj, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				count("patch", obj)
				return c.Patch(ctx, obj, patch, opts...)
			},
			Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
				u, _ := obj.(interface{ GetName() string })
				name := ""
				if u != nil {
					name = u.GetName()
				}
				h.writes = append(h.writes, "apply "+name)
				return c.Apply(ctx, obj, opts...)
			},
			Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				count("delete", obj)
				o := client.DeleteOptions{}
				o.ApplyOptions(opts)
				h.deletes[obj.GetNamespace()+"/"+obj.GetName()] = o
				return c.Delete(ctx, obj, opts...)
			},
		}).Build()
	return h
}

// lookup is the server's cache-backed Lookup over the fake API server,
// which stands in for the informer cache.
func (h *harness) lookup() Lookup {
	return cluster.NewLookup(h.client, logr.Discard())
}

func (h *harness) reconciler() *Reconciler {
	return &Reconciler{Client: h.client, APIReader: h.client, Lookup: h.lookup(), Options: certs.DefaultOptions(), Recorder: h.recorder}
}

func (h *harness) reconcile(name types.NamespacedName) {
	h.t.Helper()
	_, err := h.reconciler().Reconcile(h.t.Context(), ctrl.Request{NamespacedName: name})
	require.NoError(h.t, err)
}

func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// certificate reads a Certificate from istio-system, where the test
// Gateway's workload runs.
func (h *harness) certificate(name string) (*cmapi.Certificate, bool) {
	crt := &cmapi.Certificate{}
	err := h.client.Get(h.t.Context(), types.NamespacedName{Namespace: "istio-system", Name: name}, crt)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	require.NoError(h.t, err)
	return crt, true
}

func (h *harness) updateGateway(mutate func(u *unstructured.Unstructured)) {
	h.t.Helper()
	gw := &unstructured.Unstructured{}
	gw.SetGroupVersionKind(certs.GatewayGVK)
	require.NoError(h.t, h.client.Get(h.t.Context(), web, gw))
	mutate(gw)
	require.NoError(h.t, h.client.Update(h.t.Context(), gw))
	h.writes = nil
}

var web = types.NamespacedName{Namespace: "team-a", Name: "web"}

func TestReconcileCreatesCertificatesInTheWorkloadNamespace(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)

	assert.ElementsMatch(t, []string{"create istio-system/" + webTLS, "create istio-system/" + adminTLS}, h.writes)
	crt, ok := h.certificate(webTLS)
	require.True(t, ok)
	assert.Equal(t, []string{"web.example.com"}, crt.Spec.DNSNames)
	assert.Equal(t, "ca", crt.Spec.IssuerRef.Name)
	assert.Equal(t, "2160h0m0s", crt.Spec.Duration.Duration.String())
	assert.Equal(t, "team-a/web", crt.Annotations[certs.AnnotationGateway])
	assert.Empty(t, crt.OwnerReferences, "no owner reference across namespaces")
	evs := h.events()
	require.Len(t, evs, 2)
	assert.Contains(t, evs[0], "Normal CreateCertificate")

	h.writes = nil
	h.reconcile(web)
	assert.Empty(t, h.writes, "a second reconcile with nothing changed makes no write")
	assert.Empty(t, h.events())
}

func TestReconcileUpdatesEverySpecFieldItOwns(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)
	h.events()

	h.updateGateway(func(u *unstructured.Unstructured) {
		servers, _, _ := unstructured.NestedSlice(u.Object, "spec", "servers")
		servers[0].(map[string]any)["hosts"] = []any{"web.example.com", "www.example.com"}
		require.NoError(t, unstructured.SetNestedSlice(u.Object, servers, "spec", "servers"))
		ann := u.GetAnnotations()
		delete(ann, "cert-manager.io/duration")
		ann["cert-manager.io/private-key-algorithm"] = "ECDSA"
		u.SetAnnotations(ann)
	})
	h.reconcile(web)

	assert.ElementsMatch(t, []string{"patch istio-system/" + webTLS, "apply " + webTLS, "patch istio-system/" + adminTLS, "apply " + adminTLS}, h.writes)
	crt, _ := h.certificate(webTLS)
	assert.Equal(t, []string{"web.example.com", "www.example.com"}, crt.Spec.DNSNames)
	assert.Nil(t, crt.Spec.Duration, "a field meshcert no longer sets is removed")
	require.NotNil(t, crt.Spec.PrivateKey)
	assert.Equal(t, cmapi.ECDSAKeyAlgorithm, crt.Spec.PrivateKey.Algorithm)
	assert.Contains(t, strings.Join(h.events(), "\n"), "Normal UpdateCertificate")
}

func TestReconcileDeletesWhatIsNoLongerNeededAndNeverSecrets(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: adminTLS, Namespace: "istio-system"}}
	h := newHarness(t, append(decode(t, background+"\n---\n"+gatewayYAML), secret)...)
	h.reconcile(web)
	h.events()

	h.updateGateway(func(u *unstructured.Unstructured) {
		servers, _, _ := unstructured.NestedSlice(u.Object, "spec", "servers")
		require.NoError(t, unstructured.SetNestedSlice(u.Object, servers[:1], "spec", "servers"))
	})
	h.reconcile(web)
	assert.Equal(t, []string{"delete istio-system/" + adminTLS}, h.writes)
	_, ok := h.certificate(adminTLS)
	assert.False(t, ok)
	assert.Contains(t, strings.Join(h.events(), "\n"), "Normal DeleteCertificate")
	require.NoError(t, h.client.Get(h.t.Context(), client.ObjectKeyFromObject(secret), &corev1.Secret{}), "Secrets are never deleted")

	// The Gateway goes: its Certificate in another namespace goes too.
	gw := &unstructured.Unstructured{}
	gw.SetGroupVersionKind(certs.GatewayGVK)
	gw.SetNamespace(web.Namespace)
	gw.SetName(web.Name)
	require.NoError(t, h.client.Delete(h.t.Context(), gw))
	h.writes = nil
	h.reconcile(web)
	assert.Equal(t, []string{"delete istio-system/" + webTLS}, h.writes)
}

func TestReconcileLeavesCertificatesItDoesNotOwnAlone(t *testing.T) {
	theirs := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: webTLS, Namespace: "istio-system", Labels: map[string]string{"team": "platform"}},
		Spec:       cmapi.CertificateSpec{SecretName: webTLS, DNSNames: []string{"other.example.com"}},
	}
	// Someone else's Certificate even labelled like meshcert's but for
	// another Gateway is not pruned either.
	lookalike := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "istio-system",
			Labels:      map[string]string{certs.LabelManagedBy: certs.ManagedByValue, certs.LabelGatewayNamespace: "team-a", certs.LabelGatewayName: "web"},
			Annotations: map[string]string{certs.AnnotationGateway: "team-a/other"}},
		Spec: cmapi.CertificateSpec{SecretName: "old"},
	}
	h := newHarness(t, append(decode(t, background+"\n---\n"+gatewayYAML), theirs, lookalike)...)
	h.reconcile(web)

	assert.Equal(t, []string{"create istio-system/" + adminTLS}, h.writes)
	crt, _ := h.certificate(webTLS)
	assert.Equal(t, []string{"other.example.com"}, crt.Spec.DNSNames)
	assert.Equal(t, theirs.Labels, crt.Labels)
	_, ok := h.certificate("old")
	assert.True(t, ok)
}

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

func TestReconcileWhenTheWebhookWasBypassed(t *testing.T) {
	bypassed := strings.ReplaceAll(gatewayYAML, ", credentialName: "+webTLS, "")
	h := newHarness(t, decode(t, background+"\n---\n"+bypassed)...)
	h.reconcile(web)

	name := certs.CredentialName("team-a", "web", "https")
	assert.ElementsMatch(t, []string{"create istio-system/" + name, "create istio-system/" + adminTLS}, h.writes,
		"the Certificate is created under the name the webhook would inject")
	evs := strings.Join(h.events(), "\n")
	assert.Contains(t, evs, "Warning WebhookBypassed")
	assert.Contains(t, evs, "spec.servers[0].tls.credentialName: "+name)

	gw := &unstructured.Unstructured{}
	gw.SetGroupVersionKind(certs.GatewayGVK)
	require.NoError(t, h.client.Get(h.t.Context(), web, gw))
	_, found, _ := unstructured.NestedString(gw.Object, "spec", "servers", "0", "tls", "credentialName")
	assert.False(t, found, "the controller never writes Gateways")
}

func TestReconcileKeepsCertificatesOfAManagedGatewayWithErrors(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)
	h.events()
	h.updateGateway(func(u *unstructured.Unstructured) {
		ann := u.GetAnnotations()
		ann["cert-manager.io/duration"] = "ninety days"
		u.SetAnnotations(ann)
	})
	h.reconcile(web)
	assert.Empty(t, h.writes, "a bad annotation deletes nothing")
	assert.Contains(t, strings.Join(h.events(), "\n"), "Warning BadConfig")

	h.updateGateway(func(u *unstructured.Unstructured) { u.SetAnnotations(nil) })
	h.reconcile(web)
	assert.ElementsMatch(t, []string{"delete istio-system/" + webTLS, "delete istio-system/" + adminTLS}, h.writes,
		"an unmanaged Gateway keeps no meshcert Certificates")
}

// setPolicy sets team-a's allowed-hosts annotation, as a cluster admin would.
func (h *harness) setPolicy(allowedHosts string) {
	h.t.Helper()
	ns := &corev1.Namespace{}
	require.NoError(h.t, h.client.Get(h.t.Context(), client.ObjectKey{Name: "team-a"}, ns))
	ns.Annotations[certs.AnnotationAllowedHosts] = allowedHosts
	require.NoError(h.t, h.client.Update(h.t.Context(), ns))
	h.writes = nil
}

func TestReconcileWithdrawsCertificatesThePolicyNoLongerAllows(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: webTLS, Namespace: "istio-system"}}
	h := newHarness(t, append(decode(t, background+"\n---\n"+gatewayYAML), secret)...)
	h.reconcile(web)
	h.events()

	h.setPolicy("web.example.com")
	h.reconcile(web)
	assert.ElementsMatch(t, []string{"delete istio-system/" + webTLS, "delete istio-system/" + adminTLS}, h.writes,
		"a Gateway outside its policy keeps no Certificate, not even for the host still allowed")
	evs := strings.Join(h.events(), "\n")
	assert.Contains(t, evs, "Warning OutsidePolicy")
	assert.Contains(t, evs, `MC8003 spec.servers[1].hosts[0]: "admin.example.com" is outside the hosts Namespace team-a may claim`)
	require.NoError(t, h.client.Get(h.t.Context(), client.ObjectKeyFromObject(secret), &corev1.Secret{}),
		"the Secret stays: it serves until it expires, and is adopted again if the policy comes back")

	h.setPolicy("*.example.com")
	h.reconcile(web)
	assert.ElementsMatch(t, []string{"create istio-system/" + webTLS, "create istio-system/" + adminTLS}, h.writes)
}

func TestReconcileMakesNothingForANamespaceWithoutPolicy(t *testing.T) {
	unpoliced := strings.Replace(background, "  annotations: {meshcert.io/allowed-hosts: \"*.example.com\", meshcert.io/allowed-issuers: ClusterIssuer/ca}\n", "", 1)
	require.NotEqual(t, background, unpoliced)
	h := newHarness(t, decode(t, unpoliced+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)
	assert.Empty(t, h.writes, "the secure default: no policy, no Certificate")
	evs := strings.Join(h.events(), "\n")
	assert.Contains(t, evs, "Warning OutsidePolicy")
	assert.Contains(t, evs, "MC8004")
}

func TestReconcilePutsBackAnEditedCertificate(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)
	crt, _ := h.certificate(webTLS)
	crt.Spec.DNSNames = []string{"evil.example.com"}
	require.NoError(t, h.client.Update(h.t.Context(), crt))
	h.writes = nil
	h.reconcile(web)
	assert.Equal(t, []string{"patch istio-system/" + webTLS, "apply " + webTLS}, h.writes)
	crt, _ = h.certificate(webTLS)
	assert.Equal(t, []string{"web.example.com"}, crt.Spec.DNSNames)
}

func TestReconcileRemovesTheOverrideOfARemovedShimAnnotation(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	const shimKey, overrideKey = "acme.cert-manager.io/http01-ingress-class", "acme.cert-manager.io/http01-override-ingress-class"
	h.updateGateway(func(u *unstructured.Unstructured) {
		ann := u.GetAnnotations()
		ann[shimKey] = "istio"
		u.SetAnnotations(ann)
	})
	h.reconcile(web)
	crt, _ := h.certificate(webTLS)
	require.Equal(t, "istio", crt.Annotations[overrideKey])

	h.updateGateway(func(u *unstructured.Unstructured) {
		ann := u.GetAnnotations()
		delete(ann, shimKey)
		u.SetAnnotations(ann)
	})
	h.writes = nil
	h.reconcile(web)
	assert.ElementsMatch(t, []string{"patch istio-system/" + webTLS, "apply " + webTLS, "patch istio-system/" + adminTLS, "apply " + adminTLS}, h.writes, "the Certificates are applied again although everything meshcert wants is on them")
	crt, _ = h.certificate(webTLS)
	assert.NotContains(t, crt.Annotations, overrideKey)

	h.writes = nil
	h.reconcile(web)
	assert.Empty(t, h.writes, "nothing left to change, nothing written")
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
	r := &Reconciler{Client: cache, APIReader: h.client, Lookup: cluster.NewLookup(cache, logr.Discard()), Options: certs.DefaultOptions(), Recorder: h.recorder}
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

func TestReconcilePutsBackARemovedOwnerReference(t *testing.T) {
	// A gateway deployed in team-a itself: its Certificates live next to
	// the Gateway, which owns them, so they go with it.
	const teamAGateway = `
apiVersion: v1
kind: Pod
metadata: {name: gateway, namespace: team-a, labels: {istio: team-a-gateway}}
`
	own := strings.Replace(gatewayYAML, "selector: {istio: ingressgateway}", "selector: {istio: team-a-gateway}", 1)
	require.NotEqual(t, gatewayYAML, own)
	h := newHarness(t, decode(t, background+"\n---\n"+teamAGateway+"\n---\n"+own)...)
	h.reconcile(web)
	require.ElementsMatch(t, []string{"create team-a/" + webTLS, "create team-a/" + adminTLS}, h.writes)
	key := types.NamespacedName{Namespace: "team-a", Name: webTLS}
	crt := &cmapi.Certificate{}
	require.NoError(t, h.client.Get(t.Context(), key, crt))
	want := []metav1.OwnerReference{{APIVersion: "networking.istio.io/v1", Kind: "Gateway", Name: "web", UID: "gw-uid", Controller: new(true)}}
	require.Equal(t, want, crt.OwnerReferences)

	crt.OwnerReferences = nil
	require.NoError(t, h.client.Update(t.Context(), crt, client.FieldOwner("kubectl-edit")))
	require.NoError(t, h.client.Get(t.Context(), key, crt))
	require.Empty(t, crt.OwnerReferences)
	h.writes = nil
	h.events()

	h.reconcile(web)
	assert.Equal(t, []string{"patch team-a/" + webTLS, "apply " + webTLS}, h.writes, "only the Certificate that lost it is written")
	require.NoError(t, h.client.Get(t.Context(), key, crt))
	assert.Equal(t, want, crt.OwnerReferences, "the owner reference is back, so the Certificate goes with its Gateway")
	assert.Contains(t, strings.Join(h.events(), "\n"), "Normal UpdateCertificate")

	h.writes = nil
	h.reconcile(web)
	assert.Empty(t, h.writes, "nothing left to change, nothing written")
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
		r := &Reconciler{Client: cache, APIReader: h.client, Lookup: cluster.NewLookup(cache, logr.Discard()), Options: certs.DefaultOptions(), Recorder: h.recorder}
		_, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: web})
		require.Error(t, err, "the delete fails its precondition; the reconcile is retried against a fresh cache")
		assert.True(t, apierrors.IsConflict(err), "%v", err)
		got, ok := h.certificate(adminTLS)
		require.True(t, ok, "not deleted")
		assert.Equal(t, "platform", got.Labels["team"])
	})
}

func TestReconcileAppliesAShimAnnotationAddedToAManagedGateway(t *testing.T) {
	noDuration := strings.Replace(gatewayYAML, "    cert-manager.io/duration: 2160h\n", "", 1)
	require.NotEqual(t, gatewayYAML, noDuration)
	for _, tc := range []struct {
		name       string
		key, value string
		check      func(t *testing.T, spec cmapi.CertificateSpec)
	}{
		{"a duration sets spec.duration", "cert-manager.io/duration", "720h", func(t *testing.T, spec cmapi.CertificateSpec) {
			require.NotNil(t, spec.Duration)
			assert.Equal(t, 720*time.Hour, spec.Duration.Duration)
		}},
		{"usages set spec.usages", "cert-manager.io/usages", "server auth,digital signature", func(t *testing.T, spec cmapi.CertificateSpec) {
			assert.Equal(t, []cmapi.KeyUsage{cmapi.UsageServerAuth, cmapi.UsageDigitalSignature}, spec.Usages)
		}},
		{"a revision history limit sets spec.revisionHistoryLimit", "cert-manager.io/revision-history-limit", "3", func(t *testing.T, spec cmapi.CertificateSpec) {
			require.NotNil(t, spec.RevisionHistoryLimit)
			assert.Equal(t, int32(3), *spec.RevisionHistoryLimit)
		}},
		{"a renew-before sets spec.renewBefore", "cert-manager.io/renew-before", "360h", func(t *testing.T, spec cmapi.CertificateSpec) {
			require.NotNil(t, spec.RenewBefore)
			assert.Equal(t, 360*time.Hour, spec.RenewBefore.Duration)
		}},
		{"a rotation policy sets spec.privateKey.rotationPolicy", "cert-manager.io/private-key-rotation-policy", "Always", func(t *testing.T, spec cmapi.CertificateSpec) {
			require.NotNil(t, spec.PrivateKey)
			assert.Equal(t, cmapi.RotationPolicyAlways, spec.PrivateKey.RotationPolicy)
		}},
		{"subject organizations set spec.subject.organizations", "cert-manager.io/subject-organizations", "Example Inc", func(t *testing.T, spec cmapi.CertificateSpec) {
			require.NotNil(t, spec.Subject)
			assert.Equal(t, []string{"Example Inc"}, spec.Subject.Organizations)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, decode(t, background+"\n---\n"+noDuration)...)
			h.reconcile(web)
			require.ElementsMatch(t, []string{"create istio-system/" + webTLS, "create istio-system/" + adminTLS}, h.writes)
			h.events()

			h.updateGateway(func(u *unstructured.Unstructured) {
				ann := u.GetAnnotations()
				ann[tc.key] = tc.value
				u.SetAnnotations(ann)
			})
			h.reconcile(web)
			assert.ElementsMatch(t, []string{"patch istio-system/" + webTLS, "apply " + webTLS, "patch istio-system/" + adminTLS, "apply " + adminTLS}, h.writes)
			for _, name := range []string{webTLS, adminTLS} {
				crt, ok := h.certificate(name)
				require.True(t, ok)
				tc.check(t, crt.Spec)
			}
			assert.Contains(t, strings.Join(h.events(), "\n"), "Normal UpdateCertificate")

			h.writes = nil
			h.reconcile(web)
			assert.Empty(t, h.writes, "nothing left to change, nothing written")
		})
	}
}
