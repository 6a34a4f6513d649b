package gatewayapi

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
)

// KindReferenceGrant is the Gateway API kind that lets objects of one
// namespace reference objects of another.
const KindReferenceGrant = "ReferenceGrant"

// IsReferenceGrant reports whether gvk is a ReferenceGrant of a version the
// API server serves (v1 and v1beta1, one schema; istiod reads v1beta1).
func IsReferenceGrant(gvk schema.GroupVersionKind) bool {
	return gvk.Group == Group && gvk.Kind == KindReferenceGrant && (gvk.Version == "v1" || gvk.Version == "v1beta1")
}

// ReferenceGrant is a ReferenceGrant: it lives in the namespace of the
// objects it lets others reference.
type ReferenceGrant struct {
	Namespace, Name string
	Spec            gwapi.ReferenceGrantSpec
}

// ParseReferenceGrant reads a ReferenceGrant of either served version.
func ParseReferenceGrant(obj *unstructured.Unstructured) (*ReferenceGrant, error) {
	var grant gwapi.ReferenceGrant
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &grant); err != nil {
		return nil, fmt.Errorf("failed to read ReferenceGrant %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return &ReferenceGrant{Namespace: obj.GetNamespace(), Name: obj.GetName(), Spec: grant.Spec}, nil
}

// AllowsSecret reports whether g lets an object of kind fromKind (a
// Gateway API kind: KindGateway, KindListenerSet) in fromNamespace
// reference Secret name of g's namespace, as istiod reads ReferenceGrants
// (gatewaycommon.ReferenceGrantsCollection and SecretAllowed): a from entry
// of exactly that group, kind and namespace, and a to entry of group ""
// and kind Secret, without a name or with this one.
func (g *ReferenceGrant) AllowsSecret(fromKind, fromNamespace, name string) bool {
	from := false
	for _, f := range g.Spec.From {
		if string(f.Group) == Group && string(f.Kind) == fromKind && string(f.Namespace) == fromNamespace {
			from = true
			break
		}
	}
	if !from {
		return false
	}
	for _, t := range g.Spec.To {
		if t.Group == "" && t.Kind == "Secret" && (t.Name == nil || string(*t.Name) == name) {
			return true
		}
	}
	return false
}

// Grants is what a certs.Lookup knows of ReferenceGrants; a lookup
// without it knows none, and cross-namespace references are then not
// judged. The CLI's offline.Index holds those of its input; the server
// does not cache them.
type Grants interface {
	// ReferenceGrants returns the ReferenceGrants of namespace, and
	// whether the lookup knows ReferenceGrants at all, so that none means
	// there is none.
	ReferenceGrants(ctx context.Context, namespace string) ([]*ReferenceGrant, bool)
}

// secretGranted reports whether a ReferenceGrant of the Secret's namespace
// lets obj reference Secret namespace/name, and whether lookup knows.
func secretGranted(ctx context.Context, lookup any, obj *Object, namespace, name string) (allowed, known bool) {
	grants, ok := lookup.(Grants)
	if !ok {
		return false, false
	}
	list, known := grants.ReferenceGrants(ctx, namespace)
	if !known {
		return false, false
	}
	for _, g := range list {
		if g.AllowsSecret(obj.Kind, obj.Namespace, name) {
			return true, true
		}
	}
	return false, true
}
