package webhook

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshcert/meshcert/certs"
)

// TestListenerSetCannotSlipPastItsPolicyThroughItsGateway: cert-manager's
// listenerset controller requeues a Gateway's ListenerSets whenever the
// Gateway changes and issues with the issuer they then inherit, whatever
// allowedListeners says (certificate-shim/listenerset/controller.go). A
// ListenerSet admitted while its Gateway named no issuer gets nothing
// issued, so nothing is said; the Gateway's update that adds an issuer is
// what would make the shim issue a host outside the ListenerSet's policy,
// and is denied, naming the ListenerSet.
func TestListenerSetCannotSlipPastItsPolicyThroughItsGateway(t *testing.T) {
	const namespaces = `
apiVersion: v1
kind: Namespace
metadata: {name: team-a, annotations: {meshcert.io/allowed-hosts: "*.team-a.example.com", meshcert.io/allowed-issuers: ClusterIssuer/team-a-ca}}
---
apiVersion: v1
kind: Namespace
metadata: {name: infra, annotations: {meshcert.io/allowed-hosts: "*", meshcert.io/allowed-issuers: "*"}}
`
	const listenerSet = `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: evil, namespace: team-a}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners:
  - {name: bank, port: 443, protocol: HTTPS, hostname: www.bank.example.com, tls: {certificateRefs: [{name: bank-tls}]}}
`
	gateway := func(annotations string) string {
		return `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra, annotations: {` + annotations + `}}
spec:
  gatewayClassName: istio
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - {name: http, port: 80, protocol: HTTP}
`
	}
	cfg := Config{Options: certs.DefaultOptions()}
	ls := objects(t, listenerSet)[0]

	withoutIssuer := objects(t, namespaces+"---"+gateway(""))
	resp := NewGatewayAPIValidator(index(t, withoutIssuer...), cfg, nil).Handle(t.Context(), request(t, ls))
	assert.True(t, resp.Allowed, "nothing is issued for it yet: %v", resp.Result)

	lookup := index(t, append(objects(t, namespaces+"---"+gateway("")), ls)...)
	updated := objects(t, gateway("cert-manager.io/cluster-issuer: prod-ca"))[0]
	resp = NewGatewayAPIValidator(lookup, cfg, nil).Handle(t.Context(), request(t, updated, withOldObject(t, gateway(""))))
	assert.False(t, resp.Allowed, "the Gateway's issuer would make the shim issue www.bank.example.com into team-a")
	assert.Contains(t, resp.Result.Message, "ListenerSet team-a/evil is attached to this Gateway")
	assert.Contains(t, resp.Result.Message, `"www.bank.example.com" is outside the hosts Namespace team-a may claim`)
	assert.Contains(t, resp.Result.Message, "ClusterIssuer/prod-ca is not an issuer Namespace team-a may use")

	resp = NewGatewayAPIValidator(lookup, cfg, nil).Handle(t.Context(), request(t, objects(t, gateway(""))[0]))
	assert.True(t, resp.Allowed, "without an issuer the Gateway gives its ListenerSets nothing: %v", resp.Result)
}
