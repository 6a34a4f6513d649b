package cluster

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshcert/meshcert/certs"
)

// CachedGateway is how the cache holds an Istio Gateway: the metadata the
// controller and its Events need, and the planner's parsed view, without the
// object itself. The informer lists and watches unstructured Gateways and
// its transform (CompactGateway) keeps only this, so the maps of every
// server's fields, the bulk of an unstructured Gateway, are not kept
// between reads, and no read parses a Gateway again.
//
// Parsed has no Object (certs.Gateway.Object is nil): nothing read from the
// cache is mutated or written back. Like every object of the cache it is
// shared and must not be modified.
type CachedGateway struct {
	metav1.TypeMeta
	// ObjectMeta holds the name, namespace, UID, resourceVersion,
	// generation, timestamps, labels and annotations (the annotations map
	// is Parsed.Annotations).
	metav1.ObjectMeta
	Parsed *certs.Gateway
}

var _ runtime.Object = (*CachedGateway)(nil)

// DeepCopyObject implements runtime.Object. The parsed view is shared:
// it is immutable once cached.
func (g *CachedGateway) DeepCopyObject() runtime.Object {
	if g == nil {
		return nil
	}
	out := &CachedGateway{TypeMeta: g.TypeMeta, Parsed: g.Parsed}
	g.DeepCopyInto(&out.ObjectMeta)
	return out
}

// CompactGateway is the cache's transform for Istio Gateways: StripForCache,
// then the object is parsed once (certs.ParseGateway) and kept as a
// CachedGateway. Anything that is not an unstructured Gateway (a tombstone,
// an object already compacted) passes through.
func CompactGateway(in any) (any, error) {
	stripped, err := StripForCache(in)
	if err != nil {
		return nil, err
	}
	u, ok := stripped.(*unstructured.Unstructured)
	if !ok {
		return stripped, nil
	}
	return compactGateway(u), nil
}

func compactGateway(u *unstructured.Unstructured) *CachedGateway {
	parsed := certs.ParseGateway(u)
	parsed.Object = nil
	g := &CachedGateway{
		TypeMeta: metav1.TypeMeta{APIVersion: certs.GatewayGVK.GroupVersion().String(), Kind: certs.GatewayGVK.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:              u.GetName(),
			Namespace:         u.GetNamespace(),
			UID:               u.GetUID(),
			ResourceVersion:   u.GetResourceVersion(),
			Generation:        u.GetGeneration(),
			CreationTimestamp: u.GetCreationTimestamp(),
			DeletionTimestamp: u.GetDeletionTimestamp(),
			Labels:            u.GetLabels(),
			Annotations:       parsed.Annotations,
		},
		Parsed: parsed,
	}
	return g
}

// cachedGatewayOf is the CachedGateway the cache holds for obj, whichever
// form a caller passes: compacted, or unstructured as a test or Snapshot
// reads it before the transform.
func cachedGatewayOf(obj any) (*CachedGateway, error) {
	switch o := obj.(type) {
	case *CachedGateway:
		return o, nil
	case *unstructured.Unstructured:
		return compactGateway(o), nil
	}
	return nil, fmt.Errorf("failed to read a Gateway from the cache: it holds a %T", obj)
}
