package cluster

import (
	"cmp"
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/gatewayapi"
)

var _ gatewayapi.Attached = (*Lookup)(nil)

// ListenerSetsOf implements gatewayapi.Attached from the cache: the
// ListenerSets whose parentRef names the Gateway namespace/name, parsed.
// It goes through them all rather than keeping an index, parsing only the
// attached ones.
// ReferenceGrants are not cached, so the Lookup is no gatewayapi.Grants:
// the server does not judge cross-namespace certificateRefs.
func (l *Lookup) ListenerSetsOf(ctx context.Context, namespace, name string) []*gatewayapi.Object {
	indexer, kindName := l.gatewayAPI(gatewayapi.KindListenerSet)
	if indexer == nil {
		return nil
	}
	l.waitForSync(ctx)
	var out []*gatewayapi.Object
	for _, item := range indexer.List() {
		u, ok := item.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		// Only the attached ones are parsed: the parentRef is read first.
		parent, _, _ := unstructured.NestedString(u.Object, "spec", "parentRef", "name")
		parentNamespace, _, _ := unstructured.NestedString(u.Object, "spec", "parentRef", "namespace")
		if parent != name || cmp.Or(parentNamespace, u.GetNamespace()) != namespace {
			continue
		}
		obj, err := gatewayapi.Parse(u)
		if l.failed(kindName, err) {
			continue
		}
		if obj.ParentNamespace == namespace && obj.ParentName == name {
			out = append(out, obj)
		}
	}
	return out
}
