package cluster

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
)

// Lookup implements certs.Lookup over a client.Reader, which in the server
// is the manager's informer cache (set up with CacheOptions and Setup), so
// every answer comes from memory. Objects it returns are shared with the
// cache and must not be modified.
//
// A read the cache cannot answer (not synced, kind not cached) is logged
// once per kind at V(1) and answered as "not found": the planner keeps
// working and reports what it cannot find.
type Lookup struct {
	reader client.Reader
	log    logr.Logger
	logged sync.Map // kind → struct{}
	// claims, certificates and pods, when set, are the Gateway, Certificate
	// and gateway Pod informers' indexers, which answer without a List or
	// a copy (see Index.OnInformer).
	claims, certificates, pods toolscache.Indexer
}

var _ certs.Lookup = (*Lookup)(nil)

// NewLookup returns a Lookup reading from reader and logging cache errors
// to log.
func NewLookup(reader client.Reader, log logr.Logger) *Lookup {
	return &Lookup{reader: reader, log: log}
}

// UseInformerIndexes makes the Lookup read the indexes Setup added to the
// informers (Index.OnInformer) directly. Call it after Setup.
func (l *Lookup) UseInformerIndexes(ctx context.Context, informers cache.Informers) error {
	claims, err := indexerOf(ctx, informers, NewGateway(), "Gateway")
	if err != nil {
		return err
	}
	certificates, err := indexerOf(ctx, informers, &cmapi.Certificate{}, cmapi.CertificateKind)
	if err != nil {
		return err
	}
	pods, err := indexerOf(ctx, informers, NewPodMetadata(), podGVK.Kind)
	if err != nil {
		return err
	}
	l.claims, l.certificates, l.pods = claims, certificates, pods
	return nil
}

// indexerOf returns the indexer of obj's informer.
func indexerOf(ctx context.Context, informers cache.Informers, obj client.Object, kind string) (toolscache.Indexer, error) {
	informer, err := informers.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, fmt.Errorf("failed to get the %s informer: %w", kind, err)
	}
	indexed, ok := informer.(toolscache.SharedIndexInformer)
	if !ok {
		return nil, fmt.Errorf("failed to read the %s informer's indexes: a %T has no indexer", kind, informer)
	}
	return indexed.GetIndexer(), nil
}

// failed logs the first error for each kind and reports whether err was one
// (a NotFound is an answer, not a failure).
func (l *Lookup) failed(kind string, err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsNotFound(err) {
		return true
	}
	if _, seen := l.logged.LoadOrStore(kind, struct{}{}); !seen {
		l.log.V(1).Info("cache lookup failed; answering not found", "kind", kind, "error", err.Error())
	}
	return true
}

var readOnly = client.UnsafeDisableDeepCopy

// Issuer implements certs.Lookup.
func (l *Lookup) Issuer(ctx context.Context, namespace, name string) (*cmapi.Issuer, bool) {
	iss := &cmapi.Issuer{}
	if l.failed(cmapi.IssuerKind, l.reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, iss, readOnly)) {
		return nil, false
	}
	return iss, true
}

// IssuerNamespaces implements certs.Lookup.
func (l *Lookup) IssuerNamespaces(ctx context.Context, name string) []string {
	list := &cmapi.IssuerList{}
	if l.failed(cmapi.IssuerKind, l.reader.List(ctx, list, client.MatchingFields{IndexIssuerName: name}, readOnly)) {
		return nil
	}
	return namespacesOf(list.Items, func(iss *cmapi.Issuer) string { return iss.Namespace })
}

// namespacesOf returns the sorted, distinct namespaces of items.
func namespacesOf[T any](items []T, namespace func(*T) string) []string {
	var out []string
	for i := range items {
		out = append(out, namespace(&items[i]))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ClusterIssuer implements certs.Lookup.
func (l *Lookup) ClusterIssuer(ctx context.Context, name string) (*cmapi.ClusterIssuer, bool) {
	iss := &cmapi.ClusterIssuer{}
	if l.failed(cmapi.ClusterIssuerKind, l.reader.Get(ctx, client.ObjectKey{Name: name}, iss, readOnly)) {
		return nil, false
	}
	return iss, true
}

// Certificate implements certs.Lookup.
func (l *Lookup) Certificate(ctx context.Context, namespace, name string) (*cmapi.Certificate, bool) {
	if l.certificates != nil {
		obj, exists, err := l.certificates.GetByKey(toolscache.NewObjectName(namespace, name).String())
		crt, ok := obj.(*cmapi.Certificate)
		if l.failed(cmapi.CertificateKind, err) || !exists || !ok {
			return nil, false
		}
		return crt, true
	}
	crt := &cmapi.Certificate{}
	if l.failed(cmapi.CertificateKind, l.reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, crt, readOnly)) {
		return nil, false
	}
	return crt, true
}

// CertificatesForSecret implements certs.Lookup.
func (l *Lookup) CertificatesForSecret(ctx context.Context, namespace, secretName string) []*cmapi.Certificate {
	if l.certificates != nil {
		return l.certificatesByIndex(IndexCertificateSecretName, NamespacedIndexKey(namespace, secretName))
	}
	list := &cmapi.CertificateList{}
	err := l.reader.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{IndexCertificateSecretName: secretName}, readOnly)
	return l.sortedCertificates(list, err)
}

// CertificatesOfGateway returns the Certificates meshcert made for the
// Gateway namespace/name, in any namespace, sorted by name; like every
// answer of a Lookup, they must not be modified.
func (l *Lookup) CertificatesOfGateway(ctx context.Context, gateway types.NamespacedName) []*cmapi.Certificate {
	if l.certificates != nil {
		return l.certificatesByIndex(IndexCertificateGateway, gateway.String())
	}
	list := &cmapi.CertificateList{}
	err := l.reader.List(ctx, list, client.MatchingFields{IndexCertificateGateway: gateway.String()}, readOnly)
	return l.sortedCertificates(list, err)
}

// certificatesByIndex reads the Certificate informer's index.
func (l *Lookup) certificatesByIndex(index, key string) []*cmapi.Certificate {
	objs, err := l.certificates.ByIndex(index, key)
	if l.failed(cmapi.CertificateKind, err) || len(objs) == 0 {
		return nil
	}
	out := make([]*cmapi.Certificate, 0, len(objs))
	for _, obj := range objs {
		if crt, ok := obj.(*cmapi.Certificate); ok {
			out = append(out, crt)
		}
	}
	sortCertificates(out)
	return out
}

// sortedCertificates is what a List answered, sorted.
func (l *Lookup) sortedCertificates(list *cmapi.CertificateList, err error) []*cmapi.Certificate {
	if l.failed(cmapi.CertificateKind, err) || len(list.Items) == 0 {
		return nil
	}
	out := make([]*cmapi.Certificate, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	sortCertificates(out)
	return out
}

func sortCertificates(crts []*cmapi.Certificate) {
	slices.SortFunc(crts, func(a, b *cmapi.Certificate) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
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
	cm := &corev1.ConfigMap{}
	if l.failed("ConfigMap", l.reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cm, readOnly)) {
		return nil, false
	}
	return cm, true
}

// WorkloadNamespaces implements certs.Lookup from the cached gateway Pods'
// metadata.
func (l *Lookup) WorkloadNamespaces(ctx context.Context, selector map[string]string) []string {
	if l.pods != nil {
		// The cache holds only gateway Pods, a handful: matching them here
		// is cheaper than a List, which copies each one.
		// As client.MatchingLabels selects.
		sel := labels.SelectorFromValidatedSet(selector)
		var out []string
		for _, obj := range l.pods.List() {
			if pod, ok := obj.(*metav1.PartialObjectMetadata); ok && sel.Matches(labels.Set(pod.Labels)) {
				out = append(out, pod.Namespace)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	list := newMetadataList(podGVK)
	if l.failed(podGVK.Kind, l.reader.List(ctx, list, client.MatchingLabels(selector), readOnly)) {
		return nil
	}
	return namespacesOf(list.Items, func(pod *metav1.PartialObjectMetadata) string { return pod.Namespace })
}

// Workloads implements certs.Lookup from the cached gateway Pods' metadata.
func (l *Lookup) Workloads(ctx context.Context, selector map[string]string) []certs.Workload {
	sel := labels.SelectorFromValidatedSet(selector)
	var out []certs.Workload
	add := func(pod *metav1.PartialObjectMetadata) {
		if sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, certs.Workload{Namespace: pod.Namespace, Name: pod.Name, Labels: pod.Labels})
		}
	}
	if l.pods != nil {
		for _, obj := range l.pods.List() {
			if pod, ok := obj.(*metav1.PartialObjectMetadata); ok {
				add(pod)
			}
		}
		return out
	}
	list := newMetadataList(podGVK)
	if l.failed(podGVK.Kind, l.reader.List(ctx, list, client.MatchingLabels(selector), readOnly)) {
		return nil
	}
	for i := range list.Items {
		add(&list.Items[i])
	}
	return out
}

// Services implements certs.Lookup. The server does not cache Services, so
// the answer is always unknown.
func (l *Lookup) Services(context.Context, string) ([]*corev1.Service, bool) {
	return nil, false
}

// KnowsWorkloads implements certs.Lookup: whether any gateway Pod is cached.
func (l *Lookup) KnowsWorkloads(ctx context.Context) bool {
	if l.pods != nil {
		return len(l.pods.ListKeys()) > 0
	}
	list := newMetadataList(podGVK)
	return !l.failed(podGVK.Kind, l.reader.List(ctx, list, readOnly)) && len(list.Items) > 0
}

// IngressClasses implements certs.Lookup from the cache, which holds every
// IngressClass (a handful per cluster).
func (l *Lookup) IngressClasses(ctx context.Context) ([]*networkingv1.IngressClass, bool) {
	list := &networkingv1.IngressClassList{}
	if l.failed("IngressClass", l.reader.List(ctx, list, readOnly)) {
		return nil, false
	}
	out := make([]*networkingv1.IngressClass, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, true
}

// Namespace implements certs.Lookup.
func (l *Lookup) Namespace(ctx context.Context, name string) (*metav1.ObjectMeta, bool) {
	ns := NewNamespaceMetadata()
	if l.failed(namespaceGVK.Kind, l.reader.Get(ctx, client.ObjectKey{Name: name}, ns, readOnly)) {
		return nil, false
	}
	return &ns.ObjectMeta, true
}

// GatewaysClaiming implements certs.Lookup.
func (l *Lookup) GatewaysClaiming(ctx context.Context, key string) []*certs.Gateway {
	var out []*certs.Gateway
	if l.claims != nil {
		objs, err := l.claims.ByIndex(IndexGatewayClaims, key)
		if l.failed(certs.GatewayGVK.Kind, err) || len(objs) == 0 {
			return nil
		}
		out = make([]*certs.Gateway, 0, len(objs))
		for _, obj := range objs {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				out = append(out, certs.ParseGateway(u))
			}
		}
	} else {
		list := NewGatewayList()
		if l.failed(certs.GatewayGVK.Kind, l.reader.List(ctx, list, client.MatchingFields{IndexGatewayClaims: key}, readOnly)) || len(list.Items) == 0 {
			return nil
		}
		out = make([]*certs.Gateway, len(list.Items))
		for i := range list.Items {
			out[i] = certs.ParseGateway(&list.Items[i])
		}
	}
	slices.SortFunc(out, func(a, b *certs.Gateway) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}
