package cluster

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/gatewayapi"
)

var _ gatewayapi.Attached = (*Lookup)(nil)

// ListenerSetsOf implements gatewayapi.Attached from the cache: the
// ListenerSets whose parentRef names the Gateway namespace/name, parsed.
// ListenerSets are few, so it reads them all rather than keeping an index.
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
