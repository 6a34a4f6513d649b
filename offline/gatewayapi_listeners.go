package offline

import (
	"context"
	"maps"
	"slices"

	"github.com/meshcert/meshcert/gatewayapi"
)

// What the index knows for the checks of Gateway API listeners as istiod
// judges them: the ReferenceGrants and the ListenerSets of each Gateway.

var (
	_ gatewayapi.Grants   = (*Index)(nil)
	_ gatewayapi.Attached = (*Index)(nil)
)

// addReferenceGrant records a ReferenceGrant, replacing one of the same
// namespace and name.
func (x *Index) addReferenceGrant(grant *gatewayapi.ReferenceGrant) {
	if x.referenceGrants[grant.Namespace] == nil {
		x.referenceGrants[grant.Namespace] = map[string]*gatewayapi.ReferenceGrant{}
	}
	x.referenceGrants[grant.Namespace][grant.Name] = grant
}

// ReferenceGrants implements gatewayapi.Grants: the input is taken to hold
// every ReferenceGrant there is.
func (x *Index) ReferenceGrants(_ context.Context, namespace string) ([]*gatewayapi.ReferenceGrant, bool) {
	return slices.Collect(maps.Values(x.referenceGrants[namespace])), true
}

// ListenerSetsOf implements gatewayapi.Attached from the ListenerSets of
// the input.
func (x *Index) ListenerSetsOf(_ context.Context, namespace, name string) []*gatewayapi.Object {
	var out []*gatewayapi.Object
	for _, ls := range x.listenerSets {
		if ls.ParentNamespace == namespace && ls.ParentName == name {
			out = append(out, ls)
		}
	}
	return out
}
