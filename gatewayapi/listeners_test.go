package gatewayapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"sigs.k8s.io/yaml"
)

// ReferenceGrants as istiod reads them (gatewaycommon.ReferenceGrantsCollection
// and SecretAllowed).
func TestReferenceGrantAllowsSecret(t *testing.T) {
	grant := func(spec string) *ReferenceGrant {
		g := &ReferenceGrant{Namespace: "certs", Name: "g"}
		if err := yaml.Unmarshal([]byte(spec), &g.Spec); err != nil {
			t.Fatal(err)
		}
		return g
	}
	tests := []struct {
		sentence            string
		spec                string
		kind, namespace, to string
		want                bool
	}{
		{"a grant naming the Secret lets that kind of that namespace read it",
			`{from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}], to: [{group: "", kind: Secret, name: web}]}`, KindGateway, "infra", "web", true},
		{"a grant naming another Secret does not",
			`{from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}], to: [{group: "", kind: Secret, name: other}]}`, KindGateway, "infra", "web", false},
		{"a grant without a name lets it read every Secret of the namespace",
			`{from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}], to: [{group: "", kind: Secret}]}`, KindGateway, "infra", "web", true},
		{"a grant for Gateways is not one for ListenerSets",
			`{from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}], to: [{group: "", kind: Secret}]}`, KindListenerSet, "infra", "web", false},
		{"a grant for another namespace does not count",
			`{from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: team-a}], to: [{group: "", kind: Secret}]}`, KindGateway, "infra", "web", false},
		{"a grant to Secrets of the group core is none istiod reads",
			`{from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}], to: [{group: core, kind: Secret}]}`, KindGateway, "infra", "web", false},
		{"a grant from another group is none istiod reads",
			`{from: [{group: example.com, kind: Gateway, namespace: infra}], to: [{group: "", kind: Secret}]}`, KindGateway, "infra", "web", false},
		{"any of several from and to entries will do",
			`{from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra}, {group: gateway.networking.k8s.io, kind: ListenerSet, namespace: infra}], to: [{group: "", kind: ConfigMap}, {group: "", kind: Secret, name: web}]}`, KindListenerSet, "infra", "web", true},
	}
	for _, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			assert.Equal(t, tc.want, grant(tc.spec).AllowsSecret(tc.kind, tc.namespace, tc.to))
		})
	}
}

// Listener conflicts as gatewaycommon.listenersDistinct and
// listenerConflictReason judge a pair on one port.
func TestListenerConflictPairs(t *testing.T) {
	listener := func(protocol, hostname string) merged {
		return merged{l: Listener{Protocol: protocol, Hostname: hostname, HasHostname: hostname != ""}, port: 443}
	}
	tests := []struct {
		sentence string
		a, b     merged
		reason   string
	}{
		{"HTTPS listeners of different hostnames coexist", listener("HTTPS", "a.example.com"), listener("HTTPS", "b.example.com"), ""},
		{"HTTPS and TLS listeners of different hostnames coexist", listener("HTTPS", "a.example.com"), listener("TLS", "b.example.com"), ""},
		{"a wildcard hostname is another hostname", listener("HTTPS", "*.example.com"), listener("HTTPS", "a.example.com"), ""},
		{"two listeners without a hostname conflict on the hostname", listener("HTTP", ""), listener("HTTP", ""), "HostnameConflict"},
		{"HTTP and HTTPS for one hostname conflict on the protocol", listener("HTTPS", "a.example.com"), listener("HTTP", "a.example.com"), "ProtocolConflict"},
		{"TCP conflicts with HTTP whatever the hostname", listener("TCP", ""), listener("HTTP", "a.example.com"), "ProtocolConflict"},
		{"two TCP listeners conflict on the protocol", listener("TCP", ""), listener("TCP", ""), "ProtocolConflict"},
		{"TCP and UDP conflict", listener("UDP", ""), listener("TCP", ""), "ProtocolConflict"},
		{"other protocols coexist when they differ", listener("example.com/foo", ""), listener("HTTP", ""), ""},
		{"other protocols conflict when they are the same", listener("example.com/foo", ""), listener("example.com/foo", ""), "HostnameConflict"},
	}
	for _, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			if tc.reason == "" {
				assert.True(t, distinct(tc.a, tc.b))
				return
			}
			assert.False(t, distinct(tc.a, tc.b))
			assert.Equal(t, tc.reason, string(conflictReason(tc.a, tc.b)))
		})
	}
	other := listener("HTTP", "")
	other.port = 80
	assert.True(t, distinct(listener("HTTP", ""), other), "listeners of different ports coexist")
}
