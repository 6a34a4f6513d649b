package cluster

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/offline"
)

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, cmapi.AddToScheme(s))
	return s
}

// fakeReader is a fake client holding objs, the input of Snapshot.
func fakeReader(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build()
}

// informers is a cache.Informers of client-go informers that never run:
// Setup adds its indexes to them as to the manager's, NewLookup reads their
// indexers, and add puts objects in those as a synced informer holds them.
// They report synced unless unsynced is set, as the manager's do once their
// first list is in.
type informers struct {
	cache.Informers
	t        *testing.T
	scheme   *runtime.Scheme
	byKind   map[schema.GroupVersionKind]toolscache.SharedIndexInformer
	unsynced atomic.Bool
	// unserved are API groups the API server does not serve (their CRDs
	// are not installed): GetInformer answers as the cache's REST mapper.
	unserved map[string]bool
}

func newInformers(t *testing.T) *informers {
	t.Helper()
	return &informers{t: t, scheme: testScheme(t), byKind: map[schema.GroupVersionKind]toolscache.SharedIndexInformer{}}
}

// informer is a client-go informer whose sync its informers decide.
type informer struct {
	toolscache.SharedIndexInformer
	of *informers
}

func (i informer) HasSynced() bool { return !i.of.unsynced.Load() }

func (f *informers) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	gvk, err := apiutil.GVKForObject(obj, f.scheme)
	if err != nil {
		return nil, err
	}
	if f.unserved[gvk.Group] {
		return nil, &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
	}
	inf, ok := f.byKind[gvk]
	if !ok {
		// The manager's informers index by namespace from the start.
		indexers := toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc}
		inf = informer{SharedIndexInformer: toolscache.NewSharedIndexInformer(nil, obj, 0, indexers), of: f}
		f.byKind[gvk] = inf
	}
	return inf, nil
}

// add puts objs into their informers' indexers as the cache holds them:
// Pods and Namespaces as their metadata, Istio Gateways compacted.
func (f *informers) add(objs ...client.Object) {
	f.t.Helper()
	for _, obj := range objs {
		switch o := obj.(type) {
		case *corev1.Pod:
			obj = asMetadata(o, podGVK)
		case *corev1.Namespace:
			obj = asMetadata(o, namespaceGVK)
		}
		informer, err := f.GetInformer(f.t.Context(), obj)
		require.NoError(f.t, err)
		var stored any = obj
		if u, ok := obj.(*unstructured.Unstructured); ok && certs.IsGateway(u.GroupVersionKind()) {
			stored, err = CompactGateway(u)
			require.NoError(f.t, err)
		}
		require.NoError(f.t, informer.(toolscache.SharedIndexInformer).GetIndexer().Add(stored))
	}
}

func asMetadata(obj metav1.Object, gvk schema.GroupVersionKind) *metav1.PartialObjectMetadata {
	m := meta.AsPartialObjectMetadata(obj)
	m.SetGroupVersionKind(gvk)
	return m
}

// lookupOf is the server's Lookup (Setup, then NewLookup) once its
// informers have synced objs.
func lookupOf(t *testing.T, objs ...client.Object) *Lookup {
	t.Helper()
	return lookupWithLog(t, logr.Discard(), objs...)
}

func lookupWithLog(t *testing.T, log logr.Logger, objs ...client.Object) *Lookup {
	t.Helper()
	inf := newInformers(t)
	require.NoError(t, Setup(t.Context(), inf))
	l, err := NewLookup(t.Context(), inf, log)
	require.NoError(t, err)
	inf.add(objs...)
	return l
}

func issuer(ns, name string) *cmapi.Issuer {
	return &cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func certificate(ns, name, secret string) *cmapi.Certificate {
	return &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       cmapi.CertificateSpec{SecretName: secret, IssuerRef: cmmeta.IssuerReference{Name: "ca"}},
	}
}

func pod(ns, name string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}}
}

func namespace(name string, lbls map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
}

func gatewayFromYAML(t *testing.T, apiVersion, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
	u.SetAPIVersion(apiVersion)
	u.SetKind("Gateway")
	return u
}

func gateway(t *testing.T, ns, name, host, credential string) *unstructured.Unstructured {
	t.Helper()
	return gatewayFromYAML(t, "networking.istio.io/v1", `
metadata: {name: `+name+`, namespace: `+ns+`}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [`+host+`]
    tls: {mode: SIMPLE, credentialName: `+credential+`}
`)
}

var ingress = map[string]string{"istio": "ingressgateway"}

func gatewayNames(gws []*certs.Gateway) []string {
	var out []string
	for _, g := range gws {
		out = append(out, g.Namespace+"/"+g.Name)
	}
	return out
}

func certificateNames(crts []*cmapi.Certificate) []string {
	var out []string
	for _, c := range crts {
		out = append(out, c.Namespace+"/"+c.Name)
	}
	return out
}

func TestLookup(t *testing.T) {
	objects := func(t *testing.T) []client.Object {
		return []client.Object{
			issuer("istio-system", "ca"),
			issuer("team-a", "ca"),
			issuer("team-b", "other"),
			&cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "letsencrypt"}},
			certificate("istio-system", "web-b", "web-tls"),
			certificate("istio-system", "web-a", "web-tls"),
			certificate("team-a", "web", "web-tls"),
			certificate("istio-system", "api", "api-tls"),
			pod("istio-system", "ingress-1", ingress),
			pod("istio-system", "ingress-2", ingress),
			pod("edge", "ingress-1", ingress),
			pod("istio-system", "egress-1", map[string]string{"istio": "egressgateway"}),
			namespace("team-a", map[string]string{"meshcert.io/inject": "enabled"}),
			namespace("plain", nil),
			gateway(t, "team-a", "web", "team-a/web.example.com", "web-tls"),
			gateway(t, "team-b", "web", "WEB.example.com", "other-tls"),
			gateway(t, "team-b", "api", "api.example.com", "web-tls"),
		}
	}
	tests := []struct {
		name string
		ask  func(l *Lookup) any
		want any
	}{
		{"an Issuer in its namespace is found", func(l *Lookup) any {
			iss, ok := l.Issuer(t.Context(), "team-a", "ca")
			return ok && iss.Namespace == "team-a" && iss.Name == "ca"
		}, true},
		{"an Issuer in another namespace is not found", func(l *Lookup) any {
			_, ok := l.Issuer(t.Context(), "team-b", "ca")
			return ok
		}, false},
		{"IssuerNamespaces lists every namespace holding the name, sorted", func(l *Lookup) any {
			return l.IssuerNamespaces(t.Context(), "ca")
		}, []string{"istio-system", "team-a"}},
		{"IssuerNamespaces of an unknown name is empty", func(l *Lookup) any {
			return l.IssuerNamespaces(t.Context(), "missing")
		}, []string(nil)},
		{"a ClusterIssuer is found by name", func(l *Lookup) any {
			iss, ok := l.ClusterIssuer(t.Context(), "letsencrypt")
			return ok && iss.Name == "letsencrypt"
		}, true},
		{"an unknown ClusterIssuer is not found", func(l *Lookup) any {
			_, ok := l.ClusterIssuer(t.Context(), "ca")
			return ok
		}, false},
		{"a Certificate is found by namespace and name", func(l *Lookup) any {
			crt, ok := l.Certificate(t.Context(), "team-a", "web")
			return ok && crt.Spec.SecretName == "web-tls"
		}, true},
		{"a Certificate in another namespace is not found", func(l *Lookup) any {
			_, ok := l.Certificate(t.Context(), "team-b", "web")
			return ok
		}, false},
		{"CertificatesForSecret stays in its namespace and sorts by name", func(l *Lookup) any {
			return certificateNames(l.CertificatesForSecret(t.Context(), "istio-system", "web-tls"))
		}, []string{"istio-system/web-a", "istio-system/web-b"}},
		{"CertificatesForSecret of an unwritten Secret is empty", func(l *Lookup) any {
			return certificateNames(l.CertificatesForSecret(t.Context(), "team-b", "web-tls"))
		}, []string(nil)},
		{"SecretExists never knows, since Secrets are not cached", func(l *Lookup) any {
			exists, known := l.SecretExists(t.Context(), "istio-system", "web-tls")
			return []bool{exists, known}
		}, []bool{false, false}},
		{"WorkloadNamespaces gives the sorted unique namespaces of matching pods", func(l *Lookup) any {
			return l.WorkloadNamespaces(t.Context(), ingress)
		}, []string{"edge", "istio-system"}},
		{"WorkloadNamespaces of a selector matching no pod is empty", func(l *Lookup) any {
			return l.WorkloadNamespaces(t.Context(), map[string]string{"istio": "none"})
		}, []string(nil)},
		{"KnowsWorkloads when gateway Pods are cached", func(l *Lookup) any {
			return l.KnowsWorkloads(t.Context())
		}, true},
		{"Namespace of a labelled namespace has its labels", func(l *Lookup) any {
			ns, ok := l.Namespace(t.Context(), "team-a")
			return []any{ns.Labels, ok}
		}, []any{map[string]string{"meshcert.io/inject": "enabled"}, true}},
		{"Namespace of a namespace without labels is known", func(l *Lookup) any {
			ns, ok := l.Namespace(t.Context(), "plain")
			return []any{len(ns.Labels), ok}
		}, []any{0, true}},
		{"Namespace of an unknown namespace is not known", func(l *Lookup) any {
			_, ok := l.Namespace(t.Context(), "missing")
			return ok
		}, false},
		{"GatewaysClaiming a host finds Gateways across namespaces by lower-case DNS name", func(l *Lookup) any {
			return gatewayNames(l.GatewaysClaiming(t.Context(), certs.HostKey(443, "", "web.example.com")))
		}, []string{"team-a/web", "team-b/web"}},
		{"GatewaysClaiming a host on another port finds nothing", func(l *Lookup) any {
			return gatewayNames(l.GatewaysClaiming(t.Context(), certs.HostKey(8443, "", "web.example.com")))
		}, []string(nil)},
		{"GatewaysClaiming a host on another bind address finds nothing", func(l *Lookup) any {
			return gatewayNames(l.GatewaysClaiming(t.Context(), certs.HostKey(443, "10.0.0.1", "web.example.com")))
		}, []string(nil)},
		{"GatewaysClaiming a credential finds every Gateway using the credential", func(l *Lookup) any {
			return gatewayNames(l.GatewaysClaiming(t.Context(), certs.CredentialKey("web-tls")))
		}, []string{"team-a/web", "team-b/api"}},
		{"Gateways come back parsed", func(l *Lookup) any {
			gws := l.GatewaysClaiming(t.Context(), certs.CredentialKey("other-tls"))
			if len(gws) != 1 || len(gws[0].Servers) != 1 {
				return nil
			}
			return gws[0].Servers[0].TLS.CredentialName
		}, "other-tls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.ask(lookupOf(t, objects(t)...)), "from the informers")
			snapshot, err := Snapshot(t.Context(), fakeReader(t, objects(t)...), DefaultConfig(), logr.Discard())
			require.NoError(t, err)
			assert.Equal(t, tc.want, tc.ask(snapshot), "from a Snapshot")
		})
	}
}

// TestLookupAgreesWithIndex checks that the cache-backed Lookup gives the
// planner the same answers as the CLI's in-memory offline.Index.
func TestLookupAgreesWithIndex(t *testing.T) {
	objs := []client.Object{
		issuer("istio-system", "ca"),
		certificate("istio-system", "web", "web-tls"),
		pod("istio-system", "ingress-1", ingress),
		namespace("team-a", map[string]string{"meshcert.io/inject": "enabled"}),
		gateway(t, "team-b", "other", "web.example.com", "other-tls"),
	}
	index := offline.NewIndex()
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		require.NoError(t, err)
		u := &unstructured.Unstructured{Object: m}
		gvk, err := apiutil.GVKForObject(o, testScheme(t))
		require.NoError(t, err)
		u.SetGroupVersionKind(gvk)
		require.NoError(t, index.Add(u))
	}
	lookup := lookupOf(t, objs...)

	gw := certs.ParseGateway(gatewayFromYAML(t, "networking.istio.io/v1beta1", `
metadata:
  name: web
  namespace: team-a
  annotations: {cert-manager.io/issuer: ca}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE}
`))
	opts := certs.DefaultOptions()
	fromIndex := certs.PlanGateway(t.Context(), gw, index, opts)
	fromCache := certs.PlanGateway(t.Context(), gw, lookup, opts)
	require.NotEmpty(t, fromIndex.Injections, "the example must inject")
	require.NotEmpty(t, fromIndex.Findings, "the example must have findings (the host conflict)")
	assert.Equal(t, fromIndex.Injections, fromCache.Injections)
	assert.Equal(t, fromIndex.Certificates, fromCache.Certificates)
	assert.Equal(t, fromIndex.CredentialNamespaces, fromCache.CredentialNamespaces)
	// Secrets are unknown to the cache, the Index knows there are none; no
	// finding of this example depends on Secrets. The host conflict is
	// found through the Gateway informer's index.
	assert.Equal(t, fromIndex.Findings, fromCache.Findings)
	assert.Len(t, lookup.GatewaysClaiming(t.Context(), certs.GatewayClaims(certs.ParseGateway(objs[4].(*unstructured.Unstructured)))[0]), 1)
}

func TestLookupWaitsForTheInformersToSync(t *testing.T) {
	t.Run("a read before the informers synced answers from the synced cache, not a partial one", func(t *testing.T) {
		inf := newInformers(t)
		inf.unsynced.Store(true)
		require.NoError(t, Setup(t.Context(), inf))
		l, err := NewLookup(t.Context(), inf, logr.Discard())
		require.NoError(t, err)
		found := make(chan bool)
		go func() {
			_, ok := l.Issuer(t.Context(), "ns", "ca")
			found <- ok
		}()
		select {
		case <-found:
			t.Fatal("the read answered before the informers synced")
		case <-time.After(100 * time.Millisecond):
			// Time for a read that does not wait to answer wrongly.
		}
		// The first list arrives, then the informers report synced: only
		// then may the read answer.
		inf.add(issuer("ns", "ca"))
		inf.unsynced.Store(false)
		assert.True(t, <-found, "the Issuer listed before the informers synced is found")
	})
	t.Run("a read whose deadline passes before the informers sync returns at its deadline, and logs nothing", func(t *testing.T) {
		var logged []string
		log := funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{Verbosity: 1})
		inf := newInformers(t)
		inf.unsynced.Store(true)
		require.NoError(t, Setup(t.Context(), inf))
		l, err := NewLookup(t.Context(), inf, log)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, ok := l.Issuer(ctx, "ns", "ca")
		assert.False(t, ok)
		require.Error(t, ctx.Err(), "the read waited for its deadline")
		_, known := l.IngressClasses(ctx)
		assert.False(t, known, "IngressClasses listed before the informers synced are not known to be all")
		assert.Empty(t, logged, "an informer that has not synced has nothing to say yet; nothing failed")
	})
}

func TestLookupAnswersNotFoundWhenAnIndexIsMissing(t *testing.T) {
	// Informers NewLookup finds without the indexes Setup adds.
	inf := newInformers(t)
	var logged []string
	log := funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{Verbosity: 1})
	l, err := NewLookup(t.Context(), inf, log)
	require.NoError(t, err)
	crt := certificate("ns", "web", "web")
	crt.Labels = map[string]string{certs.LabelManagedBy: certs.ManagedByValue}
	crt.Annotations = map[string]string{certs.AnnotationGateway: "ns/web"}
	inf.add(issuer("other", "ca"), crt, gateway(t, "ns", "web", "web.example.com", "web"))

	assert.Empty(t, l.IssuerNamespaces(t.Context(), "ca"))
	assert.Empty(t, l.IssuerNamespaces(t.Context(), "ca"))
	assert.Empty(t, l.CertificatesForSecret(t.Context(), "ns", "web"))
	assert.Empty(t, l.CertificatesOfGateway(t.Context(), types.NamespacedName{Namespace: "ns", Name: "web"}))
	assert.Empty(t, l.GatewaysClaiming(t.Context(), certs.HostKey(443, "", "web.example.com")))
	assert.Empty(t, l.GatewaysClaiming(t.Context(), certs.CredentialKey("web")))
	_, ok := l.Certificate(t.Context(), "ns", "web")
	assert.True(t, ok, "what needs no index is still answered")

	// One line per kind, however often it failed.
	require.Len(t, logged, 3, strings.Join(logged, "\n"))
	for _, line := range logged {
		assert.Contains(t, line, "cache lookup failed")
		assert.Contains(t, line, "does not exist")
	}
}

func TestLookupKnowsNoWorkloadsWithoutGatewayPods(t *testing.T) {
	assert.False(t, lookupOf(t, namespace("istio-system", nil)).KnowsWorkloads(t.Context()))
	assert.False(t, lookupOf(t).KnowsWorkloads(t.Context()), "a cache that has synced nothing knows nothing")
}

func TestLookupDoesNotLogNotFound(t *testing.T) {
	var logged []string
	log := funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{Verbosity: 1})
	l := lookupWithLog(t, log)
	_, ok := l.Issuer(t.Context(), "ns", "ca")
	assert.False(t, ok)
	assert.Empty(t, logged)
}

func TestLookupAnswersWhateverTheContext(t *testing.T) {
	// Every answer is in memory: no read waits, so none needs the
	// caller's context to end it.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	l := lookupOf(t, issuer("ns", "ca"))
	_, ok := l.Issuer(ctx, "ns", "ca")
	assert.True(t, ok)
}

func TestCacheOptions(t *testing.T) {
	// podLabel returns the label selector of the Pod metadata entry.
	podLabel := func(t *testing.T, opts cache.Options) labels.Selector {
		t.Helper()
		for obj, by := range opts.ByObject {
			if meta, ok := obj.(*metav1.PartialObjectMetadata); ok && meta.Kind == "Pod" {
				return by.Label
			}
		}
		t.Fatal("no Pod metadata in the cache options")
		return nil
	}
	t.Run("the default caches pod metadata with the istio label, labelled ConfigMaps only and Gateways compacted", func(t *testing.T) {
		opts := CacheOptions(DefaultConfig())
		assert.True(t, opts.ReaderFailOnMissingInformer, "the cache must never start informers on demand (Secrets)")
		assert.NotNil(t, opts.DefaultTransform)
		require.Len(t, opts.ByObject, 3)
		for obj, by := range opts.ByObject {
			switch o := obj.(type) {
			case *unstructured.Unstructured:
				require.True(t, certs.IsGateway(o.GroupVersionKind()), "only Istio Gateways have a transform of their own, not %s", o.GroupVersionKind())
				assert.Nil(t, by.Label, "every Gateway is cached")
				held, err := by.Transform(gateway(t, "team-a", "web", "web.example.com", "web-tls"))
				require.NoError(t, err)
				assert.IsType(t, &CachedGateway{}, held)
			case *metav1.PartialObjectMetadata:
				assert.Equal(t, "Pod", o.Kind, "pods are cached as metadata")
				assert.Equal(t, "istio", by.Label.String())
				assert.True(t, by.Label.Matches(labels.Set{"istio": "ingressgateway"}))
				assert.False(t, by.Label.Matches(labels.Set{"app": "web"}))
			case *corev1.ConfigMap:
				assert.True(t, by.Label.Matches(labels.Set{certs.LabelTrustBundle: "true"}))
				assert.False(t, by.Label.Matches(labels.Set{"app": "web"}), "only trust bundles are cached")
			default:
				t.Errorf("unexpected cache entry %T", obj)
			}
		}
	})
	t.Run("a configured selector is used", func(t *testing.T) {
		sel, err := labels.Parse("gateway=true")
		require.NoError(t, err)
		assert.Equal(t, "gateway=true", podLabel(t, CacheOptions(Config{GatewayPodSelector: sel})).String())
	})
	t.Run("a zero Config uses the default selector", func(t *testing.T) {
		assert.Equal(t, "istio", podLabel(t, CacheOptions(Config{})).String())
	})
}

// recordingInformers records what Setup asks the cache for.
type recordingInformers struct {
	cache.Informers
	indexed  []string
	informed []string
	err      error
}

func (r *recordingInformers) IndexField(_ context.Context, obj client.Object, field string, _ client.IndexerFunc) error {
	r.indexed = append(r.indexed, kindOf(obj)+" "+field)
	return r.err
}

func (r *recordingInformers) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	r.informed = append(r.informed, kindOf(obj))
	return &recordingInformer{r: r, kind: kindOf(obj)}, r.err
}

// recordingInformer records the indexes added to it.
type recordingInformer struct {
	cache.Informer
	r    *recordingInformers
	kind string
}

func (i *recordingInformer) AddIndexers(indexers toolscache.Indexers) error {
	for _, name := range slices.Sorted(maps.Keys(indexers)) {
		i.r.indexed = append(i.r.indexed, i.kind+" "+name+" on the informer")
	}
	return i.r.err
}

// failingIndexers hands out informers that refuse every index.
type failingIndexers struct{ *recordingInformers }

func (f *failingIndexers) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	return failingIndexer{}, nil
}

type failingIndexer struct{ cache.Informer }

func (failingIndexer) AddIndexers(toolscache.Indexers) error { return errors.New("boom") }

func kindOf(obj client.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	switch obj.(type) {
	case *cmapi.Issuer:
		return "Issuer"
	case *cmapi.ClusterIssuer:
		return "ClusterIssuer"
	case *cmapi.Certificate:
		return "Certificate"
	case *networkingv1.IngressClass:
		return "IngressClass"
	default:
		return "?"
	}
}

func TestSetup(t *testing.T) {
	t.Run("every read kind gets an informer and the lookups their indexes on it; never Secrets", func(t *testing.T) {
		r := &recordingInformers{}
		require.NoError(t, Setup(context.Background(), r))
		assert.Equal(t, []string{
			"Gateway meshcert.io/claims on the informer", "Issuer metadata.name on the informer",
			"Certificate meshcert.io/gateway on the informer", "Certificate spec.secretName on the informer",
		}, r.indexed)
		assert.Equal(t, []string{"Gateway", "Issuer", "ClusterIssuer", "Certificate", "Namespace", "Pod", "ConfigMap", "IngressClass", "Gateway", "ListenerSet", "ReferenceGrant"}, r.informed,
			"Istio's Gateways, ..., then the Gateway API's Gateways, ListenerSets and ReferenceGrants")
	})
	t.Run("a failing informer is returned", func(t *testing.T) {
		r := &recordingInformers{err: errors.New("boom")}
		err := Setup(context.Background(), r)
		require.ErrorContains(t, err, "failed to set up the Gateway informer")
		assert.ErrorContains(t, err, "boom")
	})
	t.Run("a failing index is returned", func(t *testing.T) {
		r := &recordingInformers{}
		informers := &failingIndexers{recordingInformers: r}
		err := Setup(context.Background(), informers)
		require.ErrorContains(t, err, "failed to index Gateway objects by meshcert.io/claims")
		assert.ErrorContains(t, err, "boom")
	})
}

func TestGatewayClaims(t *testing.T) {
	gw := gateway(t, "team-a", "web", "team-a/Web.Example.com", "web-tls")
	assert.ElementsMatch(t, []string{
		certs.HostKey(443, "", "web.example.com"),
		certs.CredentialKey("web-tls"),
	}, GatewayClaims(gw))
	assert.Nil(t, GatewayClaims(&cmapi.Certificate{}), "only unstructured Gateways are indexed")
}

func TestCertificateLookupsThroughTheInformerIndexer(t *testing.T) {
	managed := certificate("istio-system", "web-tls", "web-tls")
	managed.Labels = map[string]string{certs.LabelManagedBy: certs.ManagedByValue}
	managed.Annotations = map[string]string{certs.AnnotationGateway: "team-a/web"}
	unmanaged := certificate("istio-system", "copy", "copy")
	unmanaged.Annotations = map[string]string{certs.AnnotationGateway: "team-a/web"}
	l := lookupOf(t, certificate("team-a", "a", "shared"), certificate("team-b", "b", "shared"), managed, unmanaged)

	tests := []struct {
		name   string
		lookup func(l *Lookup) []string
		want   []string
	}{
		{
			name: "a secret name is looked up within its namespace",
			lookup: func(l *Lookup) []string {
				return certificateNames(l.CertificatesForSecret(t.Context(), "team-a", "shared"))
			},
			want: []string{"team-a/a"},
		},
		{
			name: "a secret name no Certificate uses finds none",
			lookup: func(l *Lookup) []string {
				return certificateNames(l.CertificatesForSecret(t.Context(), "team-c", "shared"))
			},
		},
		{
			name: "a Certificate is found by its namespace and name only",
			lookup: func(l *Lookup) []string {
				var out []string
				for _, key := range []types.NamespacedName{{Namespace: "team-b", Name: "b"}, {Namespace: "team-a", Name: "b"}} {
					if crt, ok := l.Certificate(t.Context(), key.Namespace, key.Name); ok {
						out = append(out, crt.Namespace+"/"+crt.Name)
					}
				}
				return out
			},
			want: []string{"team-b/b"},
		},
		{
			name: "a Gateway's Certificates are the ones meshcert made for it, in any namespace",
			lookup: func(l *Lookup) []string {
				return certificateNames(l.CertificatesOfGateway(t.Context(), types.NamespacedName{Namespace: "team-a", Name: "web"}))
			},
			want: []string{"istio-system/web-tls"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.lookup(l))
		})
	}
}

func TestWorkloadLookupsThroughTheInformerIndexer(t *testing.T) {
	ingress := map[string]string{"istio": "ingressgateway"}
	l := lookupOf(t,
		pod("istio-system", "ingress-1", map[string]string{"istio": "ingressgateway", "app": "x"}),
		pod("istio-system", "ingress-2", ingress),
		pod("edge", "ingress-3", ingress),
		pod("edge", "egress", map[string]string{"istio": "egressgateway"}),
	)

	tests := []struct {
		name     string
		selector map[string]string
		want     []string
	}{
		{name: "a selector finds the namespaces of the Pods with all its labels, once each", selector: ingress, want: []string{"edge", "istio-system"}},
		{name: "a label value must match", selector: map[string]string{"istio": "egressgateway"}, want: []string{"edge"}},
		{name: "every label must match", selector: map[string]string{"istio": "ingressgateway", "app": "x"}, want: []string{"istio-system"}},
		{name: "a selector no Pod matches finds none", selector: map[string]string{"istio": "other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, l.WorkloadNamespaces(t.Context(), tt.selector))
			var namespaces []string
			for _, w := range l.Workloads(t.Context(), tt.selector) {
				namespaces = append(namespaces, w.Namespace)
			}
			slices.Sort(namespaces)
			assert.Equal(t, tt.want, slices.Compact(namespaces), "Workloads are the same Pods")
		})
	}
	t.Run("workloads are known when any gateway Pod is cached", func(t *testing.T) {
		assert.True(t, l.KnowsWorkloads(t.Context()))
		assert.False(t, lookupOf(t).KnowsWorkloads(t.Context()))
	})
}

func TestNewLookup(t *testing.T) {
	t.Run("an informer without an indexer is an error", func(t *testing.T) {
		_, err := NewLookup(t.Context(), &recordingInformers{}, logr.Discard())
		require.ErrorContains(t, err, "has no indexer")
	})
	t.Run("a failing informer is returned", func(t *testing.T) {
		_, err := NewLookup(t.Context(), &recordingInformers{err: errors.New("boom")}, logr.Discard())
		require.ErrorContains(t, err, "failed to get the Gateway informer")
		assert.ErrorContains(t, err, "boom")
	})
}

func TestSnapshot(t *testing.T) {
	const lastApplied = corev1.LastAppliedConfigAnnotation
	roots := func(name string, lbls map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: name, Labels: lbls}}
	}
	applied := issuer("team-a", "ca")
	applied.Annotations = map[string]string{lastApplied: "{}", "team": "a"}
	applied.ManagedFields = []metav1.ManagedFieldsEntry{{
		Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: cmapi.SchemeGroupVersion.String(),
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:annotations":{"f:team":{}}}}`),
	}}
	reader := fake.NewClientBuilder().WithScheme(testScheme(t)).WithReturnManagedFields().WithObjects(
		roots("bundle", map[string]string{certs.LabelTrustBundle: "true"}),
		roots("other", nil),
		pod("istio-system", "ingress", ingress),
		pod("team-a", "web", map[string]string{"app": "web"}),
		applied,
	).Build()
	listed := &cmapi.IssuerList{}
	require.NoError(t, reader.List(t.Context(), listed))
	require.Len(t, listed.Items, 1)
	require.NotEmpty(t, listed.Items[0].ManagedFields, "the reader returns managed fields, for Snapshot to strip")

	l, err := Snapshot(t.Context(), reader, DefaultConfig(), logr.Discard())
	require.NoError(t, err)
	_, ok := l.TrustBundle(t.Context(), "istio-system", "bundle")
	assert.True(t, ok, "a trust bundle is held")
	_, ok = l.TrustBundle(t.Context(), "istio-system", "other")
	assert.False(t, ok, "only trust bundles are held, as the cache holds only them")
	assert.Equal(t, []string{"istio-system"}, l.WorkloadNamespaces(t.Context(), nil),
		"only the Pods the gateway pod selector selects are held")
	iss, ok := l.Issuer(t.Context(), "team-a", "ca")
	require.True(t, ok)
	assert.Equal(t, map[string]string{"team": "a"}, iss.Annotations, "stripped as the cache strips")
	assert.Empty(t, iss.ManagedFields)

	sel, err := labels.Parse("app=web")
	require.NoError(t, err)
	l, err = Snapshot(t.Context(), reader, Config{GatewayPodSelector: sel}, logr.Discard())
	require.NoError(t, err)
	assert.Equal(t, []string{"team-a"}, l.WorkloadNamespaces(t.Context(), nil), "the configured selector selects")

	_, err = Snapshot(t.Context(), readerFunc(func(context.Context) error { return errors.New("boom") }), DefaultConfig(), logr.Discard())
	require.ErrorContains(t, err, "failed to list Gateway objects")
	assert.ErrorContains(t, err, "boom")
}

type readerFunc func(ctx context.Context) error

func (f readerFunc) Get(ctx context.Context, _ client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return f(ctx)
}

func (f readerFunc) List(ctx context.Context, _ client.ObjectList, _ ...client.ListOption) error {
	return f(ctx)
}

func TestStripForCache(t *testing.T) {
	const lastApplied = corev1.LastAppliedConfigAnnotation
	managedFields := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate}}
	tests := []struct {
		name            string
		obj             client.Object
		wantAnnotations map[string]string
	}{
		{
			name: "a Gateway applied with kubectl keeps its annotations but not the copy of itself",
			obj: func() client.Object {
				gw := gateway(t, "team-a", "web", "team-a/web.example.com", "web-tls")
				gw.SetAnnotations(map[string]string{lastApplied: `{"big":"copy"}`, "cert-manager.io/cluster-issuer": "ca"})
				gw.SetManagedFields(managedFields)
				return gw
			}(),
			wantAnnotations: map[string]string{"cert-manager.io/cluster-issuer": "ca"},
		},
		{
			name: "a typed Certificate loses the copy and its managed fields",
			obj: &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{
				Name: "web-tls", Annotations: map[string]string{lastApplied: "{}", certs.AnnotationGateway: "team-a/web"},
				ManagedFields: managedFields,
			}},
			wantAnnotations: map[string]string{certs.AnnotationGateway: "team-a/web"},
		},
		{
			name: "an object without annotations stays without",
			obj:  &cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Name: "ca", ManagedFields: managedFields}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := StripForCache(tt.obj)
			require.NoError(t, err)
			obj, ok := out.(client.Object)
			require.True(t, ok)
			assert.Empty(t, obj.GetManagedFields())
			if tt.wantAnnotations == nil {
				assert.Empty(t, obj.GetAnnotations())
			} else {
				assert.Equal(t, tt.wantAnnotations, obj.GetAnnotations())
			}
		})
	}
	opts := CacheOptions(DefaultConfig())
	require.NotNil(t, opts.DefaultTransform)
	out, err := opts.DefaultTransform(&cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{lastApplied: "{}"}}})
	require.NoError(t, err)
	assert.Empty(t, out.(client.Object).GetAnnotations(), "the cache uses it")
}
