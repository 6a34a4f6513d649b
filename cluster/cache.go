// Package cluster is meshcert's view of the cluster for the in-cluster
// server: which objects the manager's informer cache holds, the indexes on
// those informers, and a certs.Lookup that answers the planner from the
// informers' indexers, so an admission request makes no API call.
package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/gatewayapi"
)

// DefaultGatewayPodSelector selects the Pods whose metadata the cache holds
// as gateway workloads: Istio's gateway Pods carry an "istio" label
// (istio: ingressgateway for the default ingress gateway).
const DefaultGatewayPodSelector = "istio"

// Index names, of indexes on the informers. A namespaced index (the Secret
// name) keys each value within its object's namespace (NamespacedIndexKey);
// the others key values across all namespaces.
const (
	// IndexCertificateSecretName indexes Certificates by spec.secretName.
	IndexCertificateSecretName = "spec.secretName"
	// IndexIssuerName indexes Issuers by name.
	IndexIssuerName = "metadata.name"
	// IndexGatewayClaims indexes Istio Gateways by the keys they claim
	// (certs.GatewayClaims).
	IndexGatewayClaims = "meshcert.io/claims"
	// IndexCertificateGateway indexes meshcert's Certificates by the
	// "namespace/name" of their Gateway, so the controller finds a Gateway's
	// Certificates in any namespace without scanning them all.
	IndexCertificateGateway = "meshcert.io/gateway"
)

// Config says what the cache holds beyond the fixed set of kinds.
type Config struct {
	// GatewayPodSelector selects the Pods whose metadata is cached to find
	// gateway workloads. Only matching Pods are cached, so a Gateway whose
	// spec.selector matches Pods outside it falls back to the default
	// credential namespace. Nil means DefaultGatewayPodSelector.
	GatewayPodSelector labels.Selector
}

// DefaultConfig returns the configuration the server starts from.
func DefaultConfig() Config {
	sel, err := labels.Parse(DefaultGatewayPodSelector)
	if err != nil {
		// A constant that does not parse is a programming error.
		panic(fmt.Sprintf("default gateway pod selector %q: %v", DefaultGatewayPodSelector, err))
	}
	return Config{GatewayPodSelector: sel}
}

func (c Config) podSelector() labels.Selector {
	if c.GatewayPodSelector == nil {
		return DefaultConfig().GatewayPodSelector
	}
	return c.GatewayPodSelector
}

// NewGateway returns an empty unstructured Istio Gateway of certs.GatewayGVK, the
// type the cache holds Gateways as.
func NewGateway() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(certs.GatewayGVK)
	return u
}

// NewGatewayList returns an empty list of certs.GatewayGVK Gateways.
func NewGatewayList() *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(certs.GatewayGVK.GroupVersion().WithKind(certs.GatewayGVK.Kind + "List"))
	return l
}

func newMetadata(gvk schema.GroupVersionKind) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	return m
}

func newMetadataList(gvk schema.GroupVersionKind) *metav1.PartialObjectMetadataList {
	l := &metav1.PartialObjectMetadataList{}
	l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	return l
}

var (
	podGVK       = corev1.SchemeGroupVersion.WithKind("Pod")
	namespaceGVK = corev1.SchemeGroupVersion.WithKind("Namespace")
)

// NewPodMetadata returns the type the cache holds gateway Pods as.
func NewPodMetadata() *metav1.PartialObjectMetadata { return newMetadata(podGVK) }

// NewNamespaceMetadata returns the type the cache holds Namespaces as.
func NewNamespaceMetadata() *metav1.PartialObjectMetadata { return newMetadata(namespaceGVK) }

// newTrustBundle returns the type the cache holds trust-bundle ConfigMaps as.
func newTrustBundle() *corev1.ConfigMap {
	return &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}}
}

// trustBundleSelector selects the ConfigMaps meshcert may read roots from.
var trustBundleSelector = func() labels.Selector {
	req, err := labels.NewRequirement(certs.LabelTrustBundle, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key; cannot fail
	}
	return labels.NewSelector().Add(*req)
}()

// NewGatewayAPIObject returns an empty unstructured Gateway API object of
// kind (gatewayapi.KindGateway or KindListenerSet), v1: the type the cache
// holds them as.
func NewGatewayAPIObject(kind string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: gatewayapi.Group, Version: "v1", Kind: kind})
	return u
}

func newGatewayAPIList(kind string) *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(schema.GroupVersionKind{Group: gatewayapi.Group, Version: "v1", Kind: kind + "List"})
	return l
}

// cachedKind is one kind the cache holds: an informer each, with the
// indexes Setup adds to it, and where a Lookup keeps the informer's indexer.
type cachedKind struct {
	name   string
	object client.Object
	list   func() client.ObjectList
	// selector, when set, is the only part of the kind the cache holds.
	selector func(Config) labels.Selector
	// transform, when set, replaces StripForCache as the kind's transform.
	transform toolscache.TransformFunc
	indexes   toolscache.Indexers
	indexer   *toolscache.Indexer
	// optional kinds are held only when the API server serves them when
	// Setup runs (their CRD is installed); otherwise their indexer stays
	// nil and the Lookup does not know them.
	optional bool
}

// watched lists every kind the cache holds, the one list Setup starts
// informers from, CacheOptions selects with, and NewLookup and Snapshot
// fill l from.
func (l *Lookup) watched() []cachedKind {
	return []cachedKind{
		{
			name: certs.GatewayGVK.Kind, object: NewGateway(), list: func() client.ObjectList { return NewGatewayList() },
			// Held as CachedGateway: two thirds of the cache's memory were
			// unstructured Gateways at 10,000 of them.
			transform: CompactGateway,
			indexes:   toolscache.Indexers{IndexGatewayClaims: informerIndexFunc(GatewayClaims, false)},
			indexer:   &l.gateways,
		},
		{
			name: cmapi.IssuerKind, object: &cmapi.Issuer{}, list: func() client.ObjectList { return &cmapi.IssuerList{} },
			indexes: toolscache.Indexers{IndexIssuerName: informerIndexFunc(ObjectName, false)},
			indexer: &l.issuers,
		},
		{
			name: cmapi.ClusterIssuerKind, object: &cmapi.ClusterIssuer{}, list: func() client.ObjectList { return &cmapi.ClusterIssuerList{} },
			indexer: &l.clusterIssuers,
		},
		{
			name: cmapi.CertificateKind, object: &cmapi.Certificate{}, list: func() client.ObjectList { return &cmapi.CertificateList{} },
			indexes: toolscache.Indexers{
				IndexCertificateSecretName: informerIndexFunc(CertificateSecretName, true),
				IndexCertificateGateway:    informerIndexFunc(CertificateGateway, false),
			},
			indexer: &l.certificates,
		},
		{
			name: namespaceGVK.Kind, object: NewNamespaceMetadata(), list: func() client.ObjectList { return newMetadataList(namespaceGVK) },
			indexer: &l.namespaces,
		},
		{
			name: podGVK.Kind, object: NewPodMetadata(), list: func() client.ObjectList { return newMetadataList(podGVK) },
			selector: Config.podSelector,
			indexer:  &l.pods,
		},
		{
			name: "ConfigMap", object: newTrustBundle(), list: func() client.ObjectList { return &corev1.ConfigMapList{} },
			// Only trust bundles: caching every ConfigMap would cost memory
			// in proportion to the cluster and read far more than needed.
			selector: func(Config) labels.Selector { return trustBundleSelector },
			indexer:  &l.trustBundles,
		},
		{
			name: "IngressClass", object: &networkingv1.IngressClass{}, list: func() client.ObjectList { return &networkingv1.IngressClassList{} },
			indexer: &l.ingressClasses,
		},
		{
			// A ListenerSet's parent, and the parents of a gatewayHTTPRoute
			// solver's HTTPRoute.
			name: gatewayAPIKindName(gatewayapi.KindGateway), object: NewGatewayAPIObject(gatewayapi.KindGateway),
			list:    func() client.ObjectList { return newGatewayAPIList(gatewayapi.KindGateway) },
			indexer: &l.apiGateways, optional: true,
		},
		{
			name: gatewayAPIKindName(gatewayapi.KindListenerSet), object: NewGatewayAPIObject(gatewayapi.KindListenerSet),
			list:    func() client.ObjectList { return newGatewayAPIList(gatewayapi.KindListenerSet) },
			indexer: &l.listenerSets, optional: true,
		},
		{
			// Whether a listener may read a Secret of another namespace.
			name: gatewayAPIKindName(gatewayapi.KindReferenceGrant), object: NewReferenceGrant(),
			list: func() client.ObjectList {
				l := &unstructured.UnstructuredList{}
				l.SetGroupVersionKind(schema.GroupVersionKind{Group: gatewayapi.Group, Version: referenceGrantVersion, Kind: gatewayapi.KindReferenceGrant + "List"})
				return l
			},
			indexer: &l.referenceGrants, optional: true,
		},
	}
}

// referenceGrantVersion is the version the cache reads ReferenceGrants at:
// the one istiod reads, served by every Gateway API release since v0.6
// (v1 only since v1.5).
const referenceGrantVersion = "v1beta1"

// NewReferenceGrant returns an empty unstructured ReferenceGrant, the type
// the cache holds them as.
func NewReferenceGrant() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: gatewayapi.Group, Version: referenceGrantVersion, Kind: gatewayapi.KindReferenceGrant})
	return u
}

// gatewayAPIKindName names a Gateway API kind apart from Istio's Gateway.
func gatewayAPIKindName(kind string) string { return kind + "." + gatewayapi.Group }

// CacheOptions returns the manager's cache options: Istio Gateways
// (read unstructured, v1, and held as CachedGateway), cert-manager Issuers, ClusterIssuers and Certificates,
// IngressClasses, trust-bundle ConfigMaps, the metadata of Namespaces
// and of the gateway Pods cfg selects, and, where their CRDs are installed,
// Gateway API Gateways and ListenerSets (unstructured, v1, without status). The cache refuses to read anything
// else rather than start an informer on demand, so no Secret is ever
// cached; what meshcert never reads is dropped to save memory
// (StripForCache). The manager fills in scheme, mapper and HTTP client.
func CacheOptions(cfg Config) cache.Options {
	byObject := map[client.Object]cache.ByObject{}
	for _, k := range new(Lookup).watched() {
		var by cache.ByObject
		if k.selector != nil {
			by.Label = k.selector(cfg)
		}
		if k.transform != nil {
			by.Transform = k.transform
		}
		if by.Label != nil || by.Transform != nil {
			byObject[k.object] = by
		}
	}
	return cache.Options{
		ReaderFailOnMissingInformer: true,
		DefaultTransform:            StripForCache,
		ByObject:                    byObject,
	}
}

var stripManagedFields = cache.TransformStripManagedFields()

// StripForCache is the cache's transform: it drops from every object what
// meshcert never reads, managedFields and kubectl's
// last-applied-configuration annotation, a second copy of every object
// applied with kubectl apply, and the status of Gateway API objects (the
// gateway controller's conditions for every listener and attached route
// count). The cache is read-only to meshcert, so nothing is written back
// without them.
func StripForCache(in any) (any, error) {
	out, err := stripManagedFields(in)
	if err != nil {
		return nil, err
	}
	if u, ok := out.(*unstructured.Unstructured); ok && u.GroupVersionKind().Group == gatewayapi.Group {
		delete(u.Object, "status")
	}
	if obj, ok := out.(metav1.Object); ok {
		if ann := obj.GetAnnotations(); ann != nil {
			if _, found := ann[corev1.LastAppliedConfigAnnotation]; found {
				delete(ann, corev1.LastAppliedConfigAnnotation)
				obj.SetAnnotations(ann)
			}
		}
	}
	return out, nil
}

// Setup starts an informer for every kind the Lookup and the controller
// read, with the indexes the Lookup reads, so the cache (with
// ReaderFailOnMissingInformer) can serve them. It is the one place both are
// registered; call it before the manager starts, and NewLookup after it.
//
// The indexes are on the informers themselves, one key per value, and the
// Lookup reads their indexers: controller-runtime's field indexes key every
// value twice (by namespace and for all namespaces) and answer through a
// List that builds a new list per call, which on the admission path cost a
// fifth of the CPU for large Gateways.
//
// An optional kind (Gateway API Gateways and ListenerSets) whose CRD the
// API server does not serve now gets no informer, and is logged: the
// Lookup then does not know it until meshcert restarts.
func Setup(ctx context.Context, c cache.Informers) error {
	for _, k := range new(Lookup).watched() {
		informer, err := c.GetInformer(ctx, k.object, cache.BlockUntilSynced(false))
		if k.optional && meta.IsNoMatchError(err) {
			gvk := k.object.GetObjectKind().GroupVersionKind()
			logf.FromContext(ctx).Info("CRD not installed; not watching its objects", "kind", gvk.Kind, "group", gvk.Group)
			continue
		}
		if err != nil {
			return fmt.Errorf("failed to set up the %s informer: %w", k.name, err)
		}
		if len(k.indexes) == 0 {
			continue
		}
		if err := informer.AddIndexers(k.indexes); err != nil {
			return fmt.Errorf("failed to index %s objects by %s: %w", k.name, strings.Join(slices.Sorted(maps.Keys(k.indexes)), ", "), err)
		}
	}
	return nil
}

// NamespacedIndexKey is how a namespaced index keys value in namespace.
func NamespacedIndexKey(namespace, value string) string {
	return namespace + "/" + value
}

// informerIndexFunc is extract as client-go's informers call it; namespaced
// values are keyed by the object's namespace too.
func informerIndexFunc(extract client.IndexerFunc, namespaced bool) toolscache.IndexFunc {
	return func(obj any) ([]string, error) {
		o, ok := obj.(client.Object)
		if !ok {
			return nil, nil
		}
		values := extract(o)
		if !namespaced {
			return values, nil
		}
		keys := make([]string, len(values))
		for i, v := range values {
			keys[i] = NamespacedIndexKey(o.GetNamespace(), v)
		}
		return keys, nil
	}
}

// CertificateSecretName is the IndexCertificateSecretName index function.
func CertificateSecretName(obj client.Object) []string {
	crt, ok := obj.(*cmapi.Certificate)
	if !ok || crt.Spec.SecretName == "" {
		return nil
	}
	return []string{crt.Spec.SecretName}
}

// ObjectName is the IndexIssuerName index function.
func ObjectName(obj client.Object) []string {
	return []string{obj.GetName()}
}

// CertificateGateway is the IndexCertificateGateway index function: only
// Certificates meshcert created for a Gateway are indexed.
func CertificateGateway(obj client.Object) []string {
	crt, ok := obj.(*cmapi.Certificate)
	if !ok || !certs.IsManagedCertificate(crt) {
		return nil
	}
	return []string{crt.Annotations[certs.AnnotationGateway]}
}

// GatewayClaims is the IndexGatewayClaims index function: the host and
// credential keys the planner looks other Gateways up by.
func GatewayClaims(obj client.Object) []string {
	gw, err := cachedGatewayOf(obj)
	if err != nil {
		return nil
	}
	return certs.GatewayClaims(gw.Parsed)
}
