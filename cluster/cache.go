// Package cluster is meshcert's view of the cluster for the in-cluster
// server: which objects the manager's informer cache holds, the field indexes
// over them, and a certs.Lookup that answers the planner from that cache, so
// an admission request makes no API call.
package cluster

import (
	"context"
	"fmt"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
)

// DefaultGatewayPodSelector selects the Pods whose metadata the cache holds
// as gateway workloads: Istio's gateway Pods carry an "istio" label
// (istio: ingressgateway for the default ingress gateway).
const DefaultGatewayPodSelector = "istio"

// Field index names. Namespaced objects are indexed per namespace and
// across all namespaces; List with no namespace to look across namespaces.
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

// watched lists every object the cache holds; each gets an informer.
func watched() []client.Object {
	return []client.Object{
		NewGateway(),
		&cmapi.Issuer{},
		&cmapi.ClusterIssuer{},
		&cmapi.Certificate{},
		NewNamespaceMetadata(),
		NewPodMetadata(),
		newTrustBundle(),
		&networkingv1.IngressClass{},
	}
}

// CacheOptions returns the manager's cache options: Istio Gateways
// (unstructured, v1), cert-manager Issuers, ClusterIssuers and Certificates,
// and the metadata of Namespaces and of the gateway Pods cfg selects. The
// cache refuses to read anything else rather than start an informer on
// demand, so no Secret is ever cached; what meshcert never reads is dropped
// to save memory (StripForCache). The manager fills in scheme, mapper and
// HTTP client.
func CacheOptions(cfg Config) cache.Options {
	return cache.Options{
		ReaderFailOnMissingInformer: true,
		DefaultTransform:            StripForCache,
		ByObject: map[client.Object]cache.ByObject{
			NewPodMetadata(): {Label: cfg.podSelector()},
			// Only trust bundles: caching every ConfigMap would cost memory
			// in proportion to the cluster and read far more than needed.
			newTrustBundle(): {Label: trustBundleSelector},
		},
	}
}

var stripManagedFields = cache.TransformStripManagedFields()

// StripForCache is the cache's transform: it drops from every object what
// meshcert never reads, managedFields and kubectl's
// last-applied-configuration annotation, a second copy of every object
// applied with kubectl apply. The cache is read-only to meshcert, so
// nothing is written back without them.
func StripForCache(in any) (any, error) {
	out, err := stripManagedFields(in)
	if err != nil {
		return nil, err
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

// Setup registers every field index and an informer for every kind the
// Lookup and the controller read, so the cache (with
// ReaderFailOnMissingInformer) can serve them. It is the one place both are
// registered; call it before the manager starts.
func Setup(ctx context.Context, c cache.Informers) error {
	for _, ix := range Indexes() {
		if err := setupIndex(ctx, c, ix); err != nil {
			return err
		}
	}
	for _, obj := range watched() {
		if _, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("failed to set up the informer for %T %s: %w", obj, obj.GetObjectKind().GroupVersionKind().Kind, err)
		}
	}
	return nil
}

// Index is one field index the cache keeps.
type Index struct {
	Object  client.Object
	Field   string
	Extract client.IndexerFunc
	// OnInformer indexes are added to the informer itself (Setup) and read
	// from its indexer (Lookup.UseInformerIndexes), one key per value:
	// controller-runtime's field indexes key every value twice (by
	// namespace and for all namespaces) and answer through a List that
	// builds a new list per call, which on the admission path cost a fifth
	// of the CPU for large Gateways. A FieldIndexer (a fake client in
	// tests) gets them as field indexes all the same.
	OnInformer bool
	// Namespaced indexes are looked up within one namespace: on the
	// informer each value is keyed "namespace/value" (NamespacedIndexKey).
	Namespaced bool
}

// NamespacedIndexKey is how a Namespaced index on an informer keys value in
// namespace.
func NamespacedIndexKey(namespace, value string) string {
	return namespace + "/" + value
}

// Indexes lists every field index the Lookup and the controller list by.
// SetupIndexes registers them with the manager; tests register the same
// list with a fake client.
func Indexes() []Index {
	return []Index{
		{Object: &cmapi.Certificate{}, Field: IndexCertificateSecretName, Extract: CertificateSecretName, OnInformer: true, Namespaced: true},
		{Object: &cmapi.Issuer{}, Field: IndexIssuerName, Extract: ObjectName},
		{Object: NewGateway(), Field: IndexGatewayClaims, Extract: GatewayClaims, OnInformer: true},
		{Object: &cmapi.Certificate{}, Field: IndexCertificateGateway, Extract: CertificateGateway, OnInformer: true},
	}
}

// setupIndex registers ix with the cache: on the informer or as a field
// index.
func setupIndex(ctx context.Context, c cache.Informers, ix Index) error {
	if !ix.OnInformer {
		if err := c.IndexField(ctx, ix.Object, ix.Field, ix.Extract); err != nil {
			return fmt.Errorf("failed to index %T by %s: %w", ix.Object, ix.Field, err)
		}
		return nil
	}
	informer, err := c.GetInformer(ctx, ix.Object, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("failed to set up the informer for %T to index it by %s: %w", ix.Object, ix.Field, err)
	}
	err = informer.AddIndexers(toolscache.Indexers{ix.Field: informerIndexFunc(ix.Extract, ix.Namespaced)})
	if err != nil {
		return fmt.Errorf("failed to index %T by %s: %w", ix.Object, ix.Field, err)
	}
	return nil
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

// SetupIndexes registers Indexes with indexer as field indexes, for a
// reader without informers (a fake client).
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	for _, ix := range Indexes() {
		if err := indexer.IndexField(ctx, ix.Object, ix.Field, ix.Extract); err != nil {
			return fmt.Errorf("failed to index %T by %s: %w", ix.Object, ix.Field, err)
		}
	}
	return nil
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
// Certificates meshcert created are indexed.
func CertificateGateway(obj client.Object) []string {
	if obj.GetLabels()[certs.LabelManagedBy] != certs.ManagedByValue {
		return nil
	}
	if ref := obj.GetAnnotations()[certs.AnnotationGateway]; ref != "" {
		return []string{ref}
	}
	return nil
}

// GatewayClaims is the IndexGatewayClaims index function: the host and
// credential keys the planner looks other Gateways up by.
func GatewayClaims(obj client.Object) []string {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	gw := certs.ParseGateway(u)
	return certs.GatewayClaims(gw)
}
