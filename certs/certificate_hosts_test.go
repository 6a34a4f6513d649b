package certs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestCovers(t *testing.T) {
	tests := []struct {
		name string
		san  string
		host string
		want bool
	}{
		{name: "an exact name covers itself", san: "web.example.com", host: "web.example.com", want: true},
		{name: "names compare without case", san: "Web.Example.com", host: "web.example.COM", want: true},
		{name: "a wildcard covers one label", san: "*.example.com", host: "web.example.com", want: true},
		{name: "a wildcard does not cover two labels", san: "*.example.com", host: "a.web.example.com"},
		{name: "a wildcard does not cover the apex", san: "*.example.com", host: "example.com"},
		{name: "a wildcard host needs the same wildcard", san: "*.example.com", host: "*.example.com", want: true},
		{name: "a name does not cover a wildcard host", san: "web.example.com", host: "*.example.com"},
		{name: "a trailing dot is ignored", san: "web.example.com.", host: "web.example.com", want: true},
		{name: "different names do not match", san: "a.example.com", host: "b.example.com"},
		{name: "a wildcard does not cover an empty leftmost label", san: "*.example.com", host: ".example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Covers(tc.san, tc.host))
		})
	}
}

func TestHostProblem(t *testing.T) {
	tests := []struct {
		name string
		host string
		ok   bool
	}{
		{name: "a DNS name is fine", host: "web.example.com", ok: true},
		{name: "a wildcard DNS name is fine", host: "*.example.com", ok: true},
		{name: "an IP address is fine", host: "10.0.0.1", ok: true},
		{name: "a single label is a valid SAN", host: "localhost", ok: true},
		{name: "upper case is fine", host: "Web.Example.com", ok: true},
		{name: "a bare star is not", host: "*"},
		{name: "an empty host is not", host: ""},
		{name: "a wildcard in the middle is not", host: "web.*.example.com"},
		{name: "a partial wildcard label is not", host: "w*.example.com"},
		{name: "underscores are not", host: "my_host.example.com"},
		{name: "an IPv6 address is fine", host: "2001:db8::a", ok: true},
		{name: "an IPv6 address with a zone is not", host: "fe80::1%eth0"},
		{name: "a label of 63 characters is fine", host: strings.Repeat("a", 63) + ".example.com", ok: true},
		{name: "a label of 64 characters is not", host: strings.Repeat("a", 64) + ".example.com"},
		{name: "a name of 253 characters is fine", host: strings.Repeat("a.", 126) + "a", ok: true},
		{name: "a name of 255 characters is not", host: strings.Repeat("a.", 127) + "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.ok, hostProblem(tc.host) == "", "problem: %q", hostProblem(tc.host))
		})
	}
}

func TestIsIP(t *testing.T) {
	tests := []struct {
		name string
		host string
		want bool
	}{
		{name: "an IPv4 address", host: "10.0.0.1", want: true},
		{name: "IPv6 loopback", host: "::1", want: true},
		{name: "IPv6 with lower-case hex letters a to f", host: "fd00:abcd::ef", want: true},
		{name: "IPv6 with upper-case hex letters A to F", host: "2001:DB8::ABCF", want: true},
		{name: "IPv4 in IPv6", host: "::ffff:10.0.0.1", want: true},
		{name: "IPv6 with a numeric zone is not a certificate IP", host: "fe80::1%1"},
		{name: "IPv6 with a named zone is not a certificate IP", host: "fe80::1%eth0"},
		{name: "a DNS name of hex letters is no IP", host: "cafe.be"},
		{name: "a DNS name is no IP", host: "web.example.com"},
		{name: "an incomplete address is no IP", host: "10.0.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, isIP(tc.host))
		})
	}
}

func TestDNSValidatorsAtTheirLimits(t *testing.T) {
	assert.True(t, isDNS1123Subdomain(strings.Repeat("a.", 126)+"a"), "253 characters")
	assert.False(t, isDNS1123Subdomain(strings.Repeat("a.", 126)+"ab"), "254 characters")
	assert.True(t, isDNSName(strings.Repeat("a", 63)+".com"), "a 63-character label")
	assert.False(t, isDNSName(strings.Repeat("a", 64)+".com"), "a 64-character label")
}

func TestDNSNameOf(t *testing.T) {
	assert.Equal(t, "web.example.com", DNSNameOf("/web.example.com"), "an empty namespace part is still a namespace part")
	assert.Equal(t, "web.example.com", DNSNameOf("team-a/web.example.com"))
	assert.Equal(t, "web.example.com", DNSNameOf("*/web.example.com"))
	assert.Equal(t, "*.example.com", DNSNameOf("./*.example.com"))
	assert.Equal(t, "web.example.com", DNSNameOf("web.example.com"))
}

func FuzzDNSValidators(f *testing.F) {
	for _, s := range []string{"a", "a.b", "-a", "a-", "a..b", "A.b", "a_b", strings.Repeat("a", 64) + ".com", "xn--bcher-kva.example", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The fast validators must agree with apimachinery's.
		if got, want := isDNS1123Subdomain(s), len(validation.IsDNS1123Subdomain(s)) == 0; got != want {
			t.Fatalf("isDNS1123Subdomain(%q) = %v, apimachinery says %v", s, got, want)
		}
		labelsOK := true
		for l := range strings.SplitSeq(s, ".") {
			labelsOK = labelsOK && len(validation.IsDNS1123Label(l)) == 0
		}
		if got, want := isDNSName(s), len(validation.IsDNS1123Subdomain(s)) == 0 && labelsOK; got != want {
			t.Fatalf("isDNSName(%q) = %v, want %v", s, got, want)
		}
	})
}
