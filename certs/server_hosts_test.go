package certs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// istioHostVerdicts are Istio's own verdicts on Gateway server hosts (59 of them), taken
// from its ValidateGateway through e2e/oracles/istio (`istio-oracle validate`
// on one Gateway per host), not from meshcert: the edges of label length,
// domain length, wildcards, numeric top-level domains, IP addresses and
// namespace parts. The e2e differential tests compare the two on every run;
// this table keeps the rules pinned where unit tests and mutation testing
// see them.
var istioHostVerdicts = []struct {
	host         string
	istioAccepts bool
}{
	{"web.example.com", true},
	{"Web.Example.COM", true},
	{"web.example.com.", true},
	{"web", false},
	{"*", true},
	{"*.example.com", true},
	{"*foo.example.com", false},
	{"*-foo.example.com", false},
	{"foo*.example.com", false},
	{"foo.*.example.com", false},
	{"web.example.123", false},
	{"web.example.+1", false},
	{"web.example.-1", false},
	{"web.example.1a", true},
	{"web.example.90", false},
	{"web.example.09", false},
	{"zone.example.com", true},
	{"ZED.Example.com", true},
	{"z.y", true},
	{"Z.Y", true},
	{"123.example.com", true},
	{"10.0.0.1", true},
	{"::1", false},
	{"[::1]", false},
	{"fe80::1%eth0", false},
	{"1.2.3", false},
	{strings.Repeat("a", 63) + ".example.com", true},
	{strings.Repeat("a", 64) + ".example.com", false},
	{"*-" + strings.Repeat("a", 61) + ".example.com", false},
	{"*-" + strings.Repeat("a", 62) + ".example.com", false},
	{strings.Repeat("a", 63) + "." + strings.Repeat("a", 63) + "." + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63), true},
	{strings.Repeat("a", 63) + "." + strings.Repeat("a", 63) + "." + strings.Repeat("a", 63) + "." + strings.Repeat("a", 63), true},
	{strings.Repeat("a", 63) + "." + strings.Repeat("a", 63) + "." + strings.Repeat("a", 63) + "." + strings.Repeat("b", 61) + ".c", true},
	{"-web.example.com", false},
	{"web-.example.com", false},
	{"web..example.com", false},
	{"web_1.example.com", false},
	{"a.b", true},
	{"team-a/web.example.com", true},
	{"./web.example.com", true},
	{"*/web.example.com", true},
	{"*/*", true},
	{"ns/*", true},
	{"/web.example.com", false},
	{"ns/", false},
	{"Team-A/web.example.com", true},
	{"team_a/web.example.com", false},
	{strings.Repeat("a", 63) + "/web.example.com", true},
	{strings.Repeat("a", 64) + "/web.example.com", false},
	{"-ns/web.example.com", false},
	{"ns-/web.example.com", false},
	{"ns/web", false},
	{"ns/10.0.0.1", true},
	{"*.", true},
	{"*.*.example.com", false},
	{".example.com", false},
	{"web.example..", false},
	{"web.example.com..", false},
	{strings.Repeat("a", 63) + "." + strings.Repeat("a", 63) + "." + strings.Repeat("a", 63) + "." + strings.Repeat("b", 61) + ".cd", false}, // 256 characters
}

func TestIstioHostRulesMatchIstiosVerdicts(t *testing.T) {
	for _, tc := range istioHostVerdicts {
		problem := istioHostProblem(tc.host, false)
		assert.Equal(t, tc.istioAccepts, problem == "", "host %q (%d characters): meshcert says %q", tc.host, len(tc.host), problem)
	}
}

// TestTheTildeNamespaceIsOnlyForConvertedGateways: Istio's
// ValidateNamespaceSlashWildcardHostname takes the namespace part "~" only
// from a Gateway with Gateway API semantics (one istiod converted from a
// Gateway API Gateway, for which no route matched).
func TestTheTildeNamespaceIsOnlyForConvertedGateways(t *testing.T) {
	tests := []struct {
		name             string
		host             string
		gatewaySemantics bool
		istioAccepts     bool
	}{
		{name: "~ is accepted from a converted Gateway", host: "~/web.example.com", gatewaySemantics: true, istioAccepts: true},
		{name: "~ is rejected from a Gateway users write", host: "~/web.example.com"},
		{name: "~ as a prefix of a namespace is rejected even from a converted Gateway", host: "~team-a/web.example.com", gatewaySemantics: true},
		{name: "an ordinary namespace is accepted from a converted Gateway", host: "team-a/web.example.com", gatewaySemantics: true, istioAccepts: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			problem := istioHostProblem(tc.host, tc.gatewaySemantics)
			assert.Equal(t, tc.istioAccepts, problem == "", "meshcert says %q", problem)
		})
	}
}
