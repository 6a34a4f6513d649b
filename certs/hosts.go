package certs

import (
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DNSNameOf strips the optional "namespace/" part of an Istio server host:
// "team-a/web.example.com" → "web.example.com". The namespace part selects
// which VirtualServices may bind; it is never part of the DNS name.
func DNSNameOf(host string) string {
	if i := strings.IndexByte(host, '/'); i >= 0 {
		return host[i+1:]
	}
	return host
}

// hostProblem says why a DNS name cannot go into a certificate, or "" when it
// can. A leading "*." wildcard label is allowed, as TLS allows it.
func hostProblem(name string) string {
	switch {
	case name == "":
		return "the host is empty"
	case name == "*":
		return `a bare "*" host matches every name and cannot be put into a certificate; list the DNS names (or a "*.domain" wildcard) instead`
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return ""
	}
	name = strings.ToLower(name)
	if errs := validation.IsFullyQualifiedDomainName(nil, strings.TrimPrefix(name, "*.")); len(errs) > 0 {
		if !strings.Contains(name, ".") {
			// Single-label names are valid hosts for Istio but a public CA will
			// not sign them; they are valid SANs, so accept them.
			if len(validation.IsDNS1123Label(strings.TrimPrefix(name, "*."))) == 0 {
				return ""
			}
		}
		return "it is not a valid DNS name (" + errs.ToAggregate().Error() + ")"
	}
	if strings.Contains(strings.TrimPrefix(name, "*."), "*") {
		return `a wildcard is only allowed as the whole leftmost label ("*.example.com")`
	}
	return ""
}

// isIP reports whether a host is an IP address, which goes into a
// certificate's ipAddresses rather than its dnsNames.
func isIP(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// Covers reports whether a certificate SAN covers a server host the way a
// TLS client checks it: names compare case-insensitively, and a "*." SAN
// matches exactly one extra leftmost label. A wildcard host is covered only
// by the same wildcard, since it stands for every name under it.
func Covers(san, host string) bool {
	san = strings.ToLower(strings.TrimSuffix(san, "."))
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if san == host {
		return true
	}
	if strings.HasPrefix(host, "*.") || !strings.HasPrefix(san, "*.") {
		return false
	}
	dot := strings.IndexByte(host, '.')
	return dot > 0 && host[dot:] == san[1:]
}
