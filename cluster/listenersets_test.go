package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
)

// The server's Lookup lists a Gateway's ListenerSets from its cache, so a
// ListenerSet admitted is judged against those merged before it, as istiod
// merges them, and a cross-namespace certificateRef against the
// ReferenceGrants it caches; it holds no Secrets.
func TestLookupListenerSetsOf(t *testing.T) {
	older := apiObject(t, gatewayapi.KindListenerSet, `
metadata: {name: older, namespace: team-b, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners: [{name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: tls}]}}]
`)
	elsewhere := apiObject(t, gatewayapi.KindListenerSet, `
metadata: {name: elsewhere, namespace: team-b}
spec:
  parentRef: {name: other, namespace: infra}
  listeners: [{name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: tls}]}}]
`)
	sameNamespace := apiObject(t, gatewayapi.KindListenerSet, `
metadata: {name: local, namespace: infra}
spec:
  parentRef: {name: shared}
  listeners: [{name: web, port: 8443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: tls}]}}]
`)
	l := lookupOf(t, sharedGateway(t), older, elsewhere, sameNamespace, namespace("team-a", nil), namespace("team-b", nil))

	t.Run("a Gateway's ListenerSets are those whose parentRef names it, its namespace the ListenerSet's by default", func(t *testing.T) {
		var names []string
		for _, ls := range l.ListenerSetsOf(t.Context(), "infra", "shared") {
			names = append(names, ls.Namespace+"/"+ls.Name)
		}
		assert.ElementsMatch(t, []string{"team-b/older", "infra/local"}, names)
	})

	team := apiObject(t, gatewayapi.KindListenerSet, `
metadata: {name: team, namespace: team-a, creationTimestamp: "2026-02-01T00:00:00Z"}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: tls}]}}
  - {name: other, port: 443, protocol: HTTPS, hostname: other.example.com, tls: {certificateRefs: [{name: tls, namespace: certs}]}}
`)
	codes := func(l *Lookup) (conflicts, refs []string) {
		for _, f := range planned(t, l, team) {
			if f.Code == finding.CodeListenerConflicted {
				conflicts = append(conflicts, f.Field)
				assert.Contains(t, f.Message, "ListenerSet team-b/older")
			}
			if f.Code == finding.CodeCredentialNotServed || f.Code == finding.CodeCredentialNotFound {
				refs = append(refs, string(f.Code)+" "+f.Field)
			}
		}
		return conflicts, refs
	}

	t.Run("a newer ListenerSet's listener repeating an older one's port and hostname is conflicted", func(t *testing.T) {
		conflicts, _ := codes(l)
		assert.Equal(t, []string{"spec.listeners[0]"}, conflicts)
	})

	t.Run("a cross-namespace certificateRef is judged against the cached ReferenceGrants", func(t *testing.T) {
		_, refs := codes(l)
		assert.Equal(t, []string{"MC4008 spec.listeners[1].tls.certificateRefs[0].namespace"}, refs, "no grant in namespace certs")
		grant := &unstructured.Unstructured{}
		require.NoError(t, yaml.Unmarshal([]byte(`
metadata: {name: team-a, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: ListenerSet, namespace: team-a}]
  to: [{group: "", kind: Secret, name: tls}]
`), &grant.Object))
		grant.SetGroupVersionKind(NewReferenceGrant().GroupVersionKind())
		granted := lookupOf(t, sharedGateway(t), older, elsewhere, sameNamespace, namespace("team-a", nil), namespace("team-b", nil), grant)
		_, refs = codes(granted)
		assert.Empty(t, refs, "the grant lets the ListenerSet read it")
	})
}
