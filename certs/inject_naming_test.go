package certs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestCredentialName(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name      string
		namespace string
		gateway   string
		server    string
		wantStart string
	}{
		{name: "a plain triple reads as namespace, gateway and server", namespace: "team-a", gateway: "web", server: "https", wantStart: "team-a-web-https-"},
		{name: "upper case and odd characters become dashes", namespace: "team-a", gateway: "Web.Gateway", server: "HTTPS_443", wantStart: "team-a-web-gateway-https-443-"},
		{name: "a port number works as a server key", namespace: "ns", gateway: "gw", server: "443", wantStart: "ns-gw-443-"},
		{name: "a very long name is cut and still ends in the hash", namespace: "ns", gateway: long, server: "https", wantStart: "ns-aaaa"},
		{name: "a name of only symbols still yields a valid name", namespace: "", gateway: "", server: "***", wantStart: "cred-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CredentialName(tc.namespace, tc.gateway, tc.server)
			assert.True(t, strings.HasPrefix(got, tc.wantStart), "got %q", got)
			assert.Empty(t, validation.IsDNS1123Subdomain(got))
			assert.Empty(t, validation.IsDNS1123Label(got[max(0, len(got)-credentialHashLen):]))
			assert.LessOrEqual(t, len(got), validation.DNS1123SubdomainMaxLength)
			assert.Equal(t, got, CredentialName(tc.namespace, tc.gateway, tc.server), "deterministic")
		})
	}
}

func TestCredentialNameIsDistinctWhereTheReadablePartIsNot(t *testing.T) {
	pairs := []struct {
		name string
		a, b [3]string
	}{
		{name: "dashes move between namespace and gateway", a: [3]string{"a-b", "c", "https"}, b: [3]string{"a", "b-c", "https"}},
		{name: "case differs only", a: [3]string{"ns", "Web", "https"}, b: [3]string{"ns", "web", "https"}},
		{name: "names differ after the cut", a: [3]string{"ns", strings.Repeat("x", 300) + "1", "https"}, b: [3]string{"ns", strings.Repeat("x", 300) + "2", "https"}},
	}
	for _, tc := range pairs {
		t.Run(tc.name, func(t *testing.T) {
			require.NotEqual(t, CredentialName(tc.a[0], tc.a[1], tc.a[2]), CredentialName(tc.b[0], tc.b[1], tc.b[2]))
		})
	}
}

func TestServerKey(t *testing.T) {
	tests := []struct {
		name   string
		server Server
		want   string
	}{
		{name: "the server name wins", server: Server{Name: "web", Port: Port{Name: "https", Number: 443}}, want: "web"},
		{name: "else the port name", server: Server{Port: Port{Name: "https", Number: 443}}, want: "https"},
		{name: "else the port number", server: Server{Port: Port{Number: 8443}}, want: "8443"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ServerKey(tc.server))
		})
	}
}

func TestLabelValue(t *testing.T) {
	tests := []struct {
		name  string
		value string
		same  bool
	}{
		{name: "a short name is kept", value: "web", same: true},
		{name: "a 63 character name is kept", value: strings.Repeat("a", 63), same: true},
		{name: "a longer name is hashed", value: strings.Repeat("a", 64)},
		{name: "a dotted long name is hashed", value: strings.Repeat("a.", 40) + "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := LabelValue(tc.value)
			assert.Empty(t, validation.IsValidLabelValue(got))
			if tc.same {
				assert.Equal(t, tc.value, got)
			} else {
				assert.NotEqual(t, tc.value, got)
				assert.NotEqual(t, LabelValue(tc.value+"x"), got)
			}
		})
	}
}

// TestLabelValueIsPinned pins LabelValue's output, computed outside Go: the
// value cut to 52 characters after every run of characters a label cannot
// hold became "-", then "-" and the first 10 hex digits of sha256(value).
func TestLabelValueIsPinned(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{name: "a long name keeps a readable prefix", value: strings.Repeat("a", 64), want: strings.Repeat("a", 52) + "-ffe054fe7a"},
		{name: "dots become dashes in the prefix", value: strings.Repeat("team.", 13), want: "team-team-team-team-team-team-team-team-team-team-te-c4b75ceca1"},
		{name: "a value with nothing readable is the hash alone", value: strings.Repeat("_", 64), want: "89ec7e9081"},
		{name: "z, 0 and 9 are kept", value: strings.Repeat("z09.", 17), want: "z09-z09-z09-z09-z09-z09-z09-z09-z09-z09-z09-z09-z09-ec1626930c"},
		{name: "a leading character a label cannot hold is dropped, not made a dash", value: "_" + strings.Repeat("a", 70), want: strings.Repeat("a", 52) + "-c117c405fb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, LabelValue(tc.value))
		})
	}
}
