package cluster

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/gatewayapi"
)

// Lookup implements certs.Lookup over the indexers of the informers Setup
// starts, so every answer comes from memory, without a List or a copy.
// Objects it returns are shared with the cache and must not be modified.
//
// Reads wait until every informer has synced (waitForSync). An index read that fails (an informer Setup did not index) is
// logged once per kind at V(1) and answered as "not found": the planner
// keeps working and reports what it cannot find.
type Lookup struct {
	log    logr.Logger
	logged sync.Map // kind → struct{}
	// hasSynced are the informers' HasSynced, nil when every indexer is
	// whole from the start (Snapshot); synced is set once they all are.
	hasSynced []toolscache.InformerSynced
	synced    atomic.Bool
	// One indexer per kind the cache holds (watched); nil for an optional
	// kind the API server did not serve.
	gateways, issuers, clusterIssuers, certificates, namespaces, pods, trustBundles, ingressClasses toolscache.Indexer
	apiGateways, listenerSets, referenceGrants                                                      toolscache.Indexer
}

var (
	_ certs.Lookup            = (*Lookup)(nil)
	_ certs.RouteParents      = (*Lookup)(nil)
	_ gatewayapi.Parents      = (*Lookup)(nil)
	_ gatewayapi.Grants       = (*Lookup)(nil)
	_ gatewayapi.AllGateways  = (*Lookup)(nil)
	_ certs.WorkloadListeners = (*Lookup)(nil)
)

// NewLookup returns a Lookup reading the indexers of the informers Setup
// started in informers (the manager's cache), and logging to log what it
// cannot answer. Call it after Setup.
func NewLookup(ctx context.Context, informers cache.Informers, log logr.Logger) (*Lookup, error) {
	l := &Lookup{log: log}
	for _, k := range l.watched() {
		informer, err := informers.GetInformer(ctx, k.object, cache.BlockUntilSynced(false))
		if k.optional && meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("failed to get the %s informer: %w", k.name, err)
		}
		indexed, ok := informer.(toolscache.SharedIndexInformer)
		if !ok {
			return nil, fmt.Errorf("failed to read the %s informer's indexes: a %T has no indexer", k.name, informer)
		}
		*k.indexer = indexed.GetIndexer()
		l.hasSynced = append(l.hasSynced, indexed.HasSynced)
	}
	return l, nil
}

// Snapshot returns a Lookup over what reader holds now of every kind the
// cache holds, selected and stripped as the cache selects and strips them
// (CacheOptions(cfg)), in indexers with the indexes Setup adds: what the
// server's Lookup answers once its informers have synced those objects.
// It is for tests and tools whose objects are behind a client.Reader (a
// fake client); the server reads its informers (NewLookup).
func Snapshot(ctx context.Context, reader client.Reader, cfg Config, log logr.Logger) (*Lookup, error) {
	l := &Lookup{log: log}
	for _, k := range l.watched() {
		// The manager's informers index every kind by namespace too.
		indexes := toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc}
		maps.Copy(indexes, k.indexes)
		indexer := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, indexes)
		list := k.list()
		var opts []client.ListOption
		if k.selector != nil {
			opts = append(opts, client.MatchingLabelsSelector{Selector: k.selector(cfg)})
		}
		if err := reader.List(ctx, list, opts...); err != nil {
			if k.optional && meta.IsNoMatchError(err) {
				continue
			}
			return nil, fmt.Errorf("failed to list %s objects: %w", k.name, err)
		}
		transform := k.transform
		if transform == nil {
			transform = StripForCache
		}
		err := meta.EachListItem(list, func(obj runtime.Object) error {
			stored, err := transform(obj)
			if err != nil {
				return err
			}
			return indexer.Add(stored)
		})
		if err != nil {
			return nil, fmt.Errorf("failed to index %s objects: %w", k.name, err)
		}
		*k.indexer = indexer
	}
	return l, nil
}

// waitForSync waits, within ctx, until every informer has synced, so no
// answer is made from a partial list: "not found" must mean not in the
// cluster. Until the caches have synced (at startup), a request waits for
// them or for its deadline, as controller-runtime's cache reader waits; an
// API server that calls before then sees meshcert as slow, never as
// wrong. Once synced, this is one atomic load. It reports whether the
// informers have synced.
func (l *Lookup) waitForSync(ctx context.Context) bool {
	if l.synced.Load() {
		return true
	}
	if toolscache.WaitForCacheSync(ctx.Done(), l.hasSynced...) {
		l.synced.Store(true)
		return true
	}
	return false
}

// failed logs the first error for each kind and reports whether err was one.
func (l *Lookup) failed(kind string, err error) bool {
	if err == nil {
		return false
	}
	if _, seen := l.logged.LoadOrStore(kind, struct{}{}); !seen {
		l.log.V(1).Info("cache lookup failed; answering not found", "kind", kind, "error", err.Error())
	}
	return true
}

// get is the object indexer holds as namespace/name ("" for a
// cluster-scoped kind), if it is a T.
func get[T runtime.Object](l *Lookup, indexer toolscache.Indexer, kind, namespace, name string) (T, bool) {
	obj, exists, err := indexer.GetByKey(toolscache.NewObjectName(namespace, name).String())
	t, ok := obj.(T)
	if l.failed(kind, err) || !exists || !ok {
		var none T
		return none, false
	}
	return t, true
}

// byIndex is the objects of type T indexer's index holds under key.
func byIndex[T runtime.Object](l *Lookup, indexer toolscache.Indexer, kind, index, key string) []T {
	objs, err := indexer.ByIndex(index, key)
	if l.failed(kind, err) || len(objs) == 0 {
		return nil
	}
	out := make([]T, 0, len(objs))
	for _, obj := range objs {
		if t, ok := obj.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// all is every object of type T indexer holds.
func all[T runtime.Object](indexer toolscache.Indexer) []T {
	objs := indexer.List()
	out := make([]T, 0, len(objs))
	for _, obj := range objs {
		if t, ok := obj.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// Issuer implements certs.Lookup.
func (l *Lookup) Issuer(ctx context.Context, namespace, name string) (*cmapi.Issuer, bool) {
	l.waitForSync(ctx)
	return get[*cmapi.Issuer](l, l.issuers, cmapi.IssuerKind, namespace, name)
}

// IssuerNamespaces implements certs.Lookup.
func (l *Lookup) IssuerNamespaces(ctx context.Context, name string) []string {
	l.waitForSync(ctx)
	return namespacesOf(byIndex[*cmapi.Issuer](l, l.issuers, cmapi.IssuerKind, IndexIssuerName, name))
}

// namespacesOf returns the sorted, distinct namespaces of objs.
func namespacesOf[T metav1.Object](objs []T) []string {
	var out []string
	for _, obj := range objs {
		out = append(out, obj.GetNamespace())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ClusterIssuer implements certs.Lookup.
func (l *Lookup) ClusterIssuer(ctx context.Context, name string) (*cmapi.ClusterIssuer, bool) {
	l.waitForSync(ctx)
	return get[*cmapi.ClusterIssuer](l, l.clusterIssuers, cmapi.ClusterIssuerKind, "", name)
}

// Certificate implements certs.Lookup.
func (l *Lookup) Certificate(ctx context.Context, namespace, name string) (*cmapi.Certificate, bool) {
	l.waitForSync(ctx)
	return get[*cmapi.Certificate](l, l.certificates, cmapi.CertificateKind, namespace, name)
}

// CertificatesForSecret implements certs.Lookup.
func (l *Lookup) CertificatesForSecret(ctx context.Context, namespace, secretName string) []*cmapi.Certificate {
	l.waitForSync(ctx)
	return l.certificatesByIndex(IndexCertificateSecretName, NamespacedIndexKey(namespace, secretName))
}

// CertificatesOfGateway returns the Certificates meshcert made for the
// Gateway namespace/name, in any namespace, sorted by name; like every
// answer of a Lookup, they must not be modified.
func (l *Lookup) CertificatesOfGateway(ctx context.Context, gateway types.NamespacedName) []*cmapi.Certificate {
	l.waitForSync(ctx)
	return l.certificatesByIndex(IndexCertificateGateway, gateway.String())
}

// certificatesByIndex reads the Certificate informer's index, sorted.
func (l *Lookup) certificatesByIndex(index, key string) []*cmapi.Certificate {
	out := byIndex[*cmapi.Certificate](l, l.certificates, cmapi.CertificateKind, index, key)
	slices.SortFunc(out, func(a, b *cmapi.Certificate) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// SecretExists implements certs.Lookup. Secrets are never cached, so the
// answer is always unknown.
func (l *Lookup) SecretExists(context.Context, string, string) (exists, known bool) {
	return false, false
}

// Secret implements certs.Lookup. Secrets are never cached, so the answer
// is always unknown.
func (l *Lookup) Secret(context.Context, string, string) (*corev1.Secret, bool) {
	return nil, false
}

// TrustBundle implements certs.Lookup from the cache, which holds only
// ConfigMaps labelled certs.LabelTrustBundle.
func (l *Lookup) TrustBundle(ctx context.Context, namespace, name string) (*corev1.ConfigMap, bool) {
	l.waitForSync(ctx)
	return get[*corev1.ConfigMap](l, l.trustBundles, "ConfigMap", namespace, name)
}

// WorkloadNamespaces implements certs.Lookup from the cached gateway Pods'
// metadata.
func (l *Lookup) WorkloadNamespaces(ctx context.Context, selector map[string]string) []string {
	l.waitForSync(ctx)
	return namespacesOf(l.matchingPods(selector))
}

// Workloads implements certs.Lookup from the cached gateway Pods' metadata.
func (l *Lookup) Workloads(ctx context.Context, selector map[string]string) []certs.Workload {
	l.waitForSync(ctx)
	var out []certs.Workload
	for _, pod := range l.matchingPods(selector) {
		out = append(out, certs.Workload{Namespace: pod.Namespace, Name: pod.Name, Labels: pod.Labels})
	}
	return out
}

// matchingPods are the cached gateway Pods whose labels selector matches,
// as client.MatchingLabels selects. The cache holds only gateway Pods, a
// handful, so matching each costs less than an index would.
func (l *Lookup) matchingPods(selector map[string]string) []*metav1.PartialObjectMetadata {
	sel := labels.SelectorFromValidatedSet(selector)
	pods := all[*metav1.PartialObjectMetadata](l.pods)
	return slices.DeleteFunc(pods, func(pod *metav1.PartialObjectMetadata) bool { return !sel.Matches(labels.Set(pod.Labels)) })
}

// Services implements certs.Lookup. The server does not cache Services, so
// the answer is always unknown.
func (l *Lookup) Services(context.Context, string) ([]*corev1.Service, bool) {
	return nil, false
}

// KnowsWorkloads implements certs.Lookup: whether any gateway Pod is cached.
func (l *Lookup) KnowsWorkloads(ctx context.Context) bool {
	l.waitForSync(ctx)
	return len(l.pods.ListKeys()) > 0
}

// IngressClasses implements certs.Lookup from the cache, which holds every
// IngressClass (a handful per cluster).
func (l *Lookup) IngressClasses(ctx context.Context) ([]*networkingv1.IngressClass, bool) {
	// Unsynced, the list may miss the class a solver names: not known.
	synced := l.waitForSync(ctx)
	return all[*networkingv1.IngressClass](l.ingressClasses), synced
}

// Namespace implements certs.Lookup.
func (l *Lookup) Namespace(ctx context.Context, name string) (*metav1.ObjectMeta, bool) {
	l.waitForSync(ctx)
	ns, ok := get[*metav1.PartialObjectMetadata](l, l.namespaces, namespaceGVK.Kind, "", name)
	if !ok {
		return nil, false
	}
	return &ns.ObjectMeta, true
}

// GatewaysClaiming implements certs.Lookup with the Gateways as the cache
// parsed them, shared: the planner only reads them.
func (l *Lookup) GatewaysClaiming(ctx context.Context, key string) []*certs.Gateway {
	l.waitForSync(ctx)
	objs, err := l.gateways.ByIndex(IndexGatewayClaims, key)
	if l.failed(certs.GatewayGVK.Kind, err) || len(objs) == 0 {
		return nil
	}
	out := make([]*certs.Gateway, 0, len(objs))
	for _, obj := range objs {
		if g, ok := l.cachedGateway(obj); ok {
			out = append(out, g.Parsed)
		}
	}
	slices.SortFunc(out, func(a, b *certs.Gateway) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// Gateway is the cached Istio Gateway namespace/name; like every answer of
// a Lookup, it must not be modified.
func (l *Lookup) Gateway(ctx context.Context, namespace, name string) (*CachedGateway, bool) {
	l.waitForSync(ctx)
	obj, exists, err := l.gateways.GetByKey(toolscache.NewObjectName(namespace, name).String())
	if l.failed(certs.GatewayGVK.Kind, err) || !exists {
		return nil, false
	}
	return l.cachedGateway(obj)
}

// Gateways are the cached Istio Gateways of namespace, or of every
// namespace when it is "", in no particular order.
func (l *Lookup) Gateways(ctx context.Context, namespace string) []*CachedGateway {
	l.waitForSync(ctx)
	if namespace == "" {
		return l.cachedGateways(l.gateways.List())
	}
	objs, err := l.gateways.ByIndex(toolscache.NamespaceIndex, namespace)
	if l.failed(certs.GatewayGVK.Kind, err) {
		return nil
	}
	return l.cachedGateways(objs)
}

// cachedGateways reads objs as the cache's transform leaves them
// (cachedGateway).
func (l *Lookup) cachedGateways(objs []any) []*CachedGateway {
	out := make([]*CachedGateway, 0, len(objs))
	for _, obj := range objs {
		if g, ok := l.cachedGateway(obj); ok {
			out = append(out, g)
		}
	}
	return out
}

// cachedGateway reads obj as the cache's transform leaves it. An
// unstructured Gateway (a cache without the transform) is parsed here
// rather than taken for absent, which would have the controller prune its
// Certificates; anything else is logged once.
func (l *Lookup) cachedGateway(obj any) (*CachedGateway, bool) {
	g, err := cachedGatewayOf(obj)
	if l.failed(certs.GatewayGVK.Kind, err) {
		return nil, false
	}
	return g, true
}

// KnowsGatewayAPI implements gatewayapi.Parents: whether the API server
// served the Gateway API kind (its CRD was installed) when Setup ran, so
// that its objects are cached.
func (l *Lookup) KnowsGatewayAPI(ctx context.Context, kind string) bool {
	indexer, _ := l.gatewayAPI(kind)
	return indexer != nil && l.waitForSync(ctx)
}

// APIGateway implements gatewayapi.Parents from the cache.
func (l *Lookup) APIGateway(ctx context.Context, namespace, name string) (*gatewayapi.Object, bool) {
	return l.gatewayAPIObject(ctx, gatewayapi.KindGateway, namespace, name)
}

// ListenerSet implements gatewayapi.Parents from the cache.
func (l *Lookup) ListenerSet(ctx context.Context, namespace, name string) (*gatewayapi.Object, bool) {
	return l.gatewayAPIObject(ctx, gatewayapi.KindListenerSet, namespace, name)
}

// APIGateways implements gatewayapi.AllGateways from the cache.
func (l *Lookup) APIGateways(ctx context.Context) []*gatewayapi.Object {
	indexer, kindName := l.gatewayAPI(gatewayapi.KindGateway)
	if indexer == nil {
		return nil
	}
	l.waitForSync(ctx)
	var out []*gatewayapi.Object
	for _, u := range all[*unstructured.Unstructured](indexer) {
		obj, err := gatewayapi.Parse(u)
		if l.failed(kindName, err) {
			continue
		}
		out = append(out, obj)
	}
	return out
}

// ReferenceGrants implements gatewayapi.Grants from the cache, which holds
// them when their CRD was installed when meshcert started.
func (l *Lookup) ReferenceGrants(ctx context.Context, namespace string) ([]*gatewayapi.ReferenceGrant, bool) {
	if l.referenceGrants == nil {
		return nil, false
	}
	l.waitForSync(ctx)
	var out []*gatewayapi.ReferenceGrant
	for _, u := range all[*unstructured.Unstructured](l.referenceGrants) {
		if u.GetNamespace() != namespace {
			continue
		}
		grant, err := gatewayapi.ParseReferenceGrant(u)
		if l.failed(gatewayAPIKindName(gatewayapi.KindReferenceGrant), err) {
			continue
		}
		out = append(out, grant)
	}
	return out, true
}

// ListenersBeside implements certs.WorkloadListeners from the cache.
func (l *Lookup) ListenersBeside(ctx context.Context, gw *certs.Gateway) certs.Beside {
	return gatewayapi.ListenersBeside(ctx, l, gw)
}

// RouteParent implements certs.RouteParents from the cache.
func (l *Lookup) RouteParent(ctx context.Context, kind, namespace, name string) (*certs.RouteParent, bool) {
	return gatewayapi.RouteParent(ctx, l, kind, namespace, name)
}

// gatewayAPI is the indexer of a Gateway API kind (nil when it is not
// cached) and its name for logs.
func (l *Lookup) gatewayAPI(kind string) (toolscache.Indexer, string) {
	switch kind {
	case gatewayapi.KindGateway:
		return l.apiGateways, gatewayAPIKindName(kind)
	case gatewayapi.KindListenerSet:
		return l.listenerSets, gatewayAPIKindName(kind)
	}
	return nil, kind
}

// gatewayAPIObject is the cached Gateway API object of kind
// namespace/name, parsed. One that does not parse (the API server's schema
// forbids it) is logged once per kind and not found.
func (l *Lookup) gatewayAPIObject(ctx context.Context, kind, namespace, name string) (*gatewayapi.Object, bool) {
	indexer, kindName := l.gatewayAPI(kind)
	if indexer == nil {
		return nil, false
	}
	l.waitForSync(ctx)
	u, ok := get[*unstructured.Unstructured](l, indexer, kindName, namespace, name)
	if !ok {
		return nil, false
	}
	obj, err := gatewayapi.Parse(u)
	if l.failed(kindName, err) {
		return nil, false
	}
	return obj, true
}
