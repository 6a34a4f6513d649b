package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
)

// The server's Lookup lists a Gateway's ListenerSets from its cache, so a
// ListenerSet admitted is judged against those merged before it, as istiod
// merges them; it holds no ReferenceGrants or Secrets and judges neither.
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

	t.Run("a newer ListenerSet's listener repeating an older one's port and hostname is conflicted; a cross-namespace certificateRef is not judged", func(t *testing.T) {
		team := apiObject(t, gatewayapi.KindListenerSet, `
metadata: {name: team, namespace: team-a, creationTimestamp: "2026-02-01T00:00:00Z"}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: tls}]}}
  - {name: other, port: 443, protocol: HTTPS, hostname: other.example.com, tls: {certificateRefs: [{name: tls, namespace: certs}]}}
`)
		var got []string
		for _, f := range planned(t, l, team) {
			if f.Code == finding.CodeListenerConflicted || f.Code == finding.CodeCredentialNotServed || f.Code == finding.CodeCredentialNotFound {
				got = append(got, string(f.Code)+" "+f.Field)
				assert.Contains(t, f.Message, "ListenerSet team-b/older")
			}
		}
		assert.Equal(t, []string{"MC2022 spec.listeners[0]"}, got)
	})
}
