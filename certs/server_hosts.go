package certs

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/meshcert/meshcert/finding"
)

// istioHostProblem says why Istio's validation rejects a Gateway server
// host, or "" (istio.io/istio pkg/config/validation/agent:
// ValidateNamespaceSlashWildcardHostname for a Gateway, and what it calls).
func istioHostProblem(host string, gatewaySemantics bool) string {
	ns, name, hasNamespace := strings.Cut(host, "/")
	if !hasNamespace {
		return istioHostnameProblem(host)
	}
	if ns == "" || name == "" {
		return "the namespace part and the DNS name of a host cannot be empty"
	}
	// "~" marks a Gateway istiod converted from the Gateway API.
	if ns != "*" && ns != "." && (ns != "~" || !gatewaySemantics) && !IsIstioLabel(ns) {
		return strconv.Quote(ns) + " is not a namespace: use a namespace name, \"*\" or \".\""
	}
	return istioHostnameProblem(name)
}

// istioHostnameProblem is validateSidecarOrGatewayHostnamePart for a
// Gateway: an FQDN with an optional wildcard first label, or an IP address.
func istioHostnameProblem(name string) string {
	if name != "*" && !strings.Contains(name, ".") {
		return "short names are not allowed; write the fully qualified name"
	}
	if problem := istioWildcardDomainProblem(name); problem != "" {
		if _, err := netip.ParseAddr(name); err != nil {
			return problem
		}
	}
	if strings.Contains(name, "*") && len(name) != 1 && !strings.HasPrefix(name, "*.") {
		return "a wildcard is allowed only as the whole first label (\"*.example.com\")"
	}
	return ""
}

// istioWildcardDomainProblem is ValidateWildcardDomain.
func istioWildcardDomainProblem(domain string) string {
	switch {
	case len(domain) > 255:
		return "the name is longer than 255 characters"
	case domain == "":
		return "the name is empty"
	}
	first, rest, hasRest := strings.Cut(domain, ".")
	if !isIstioWildcardLabel(first) {
		return "label " + strconv.Quote(first) + " is not a DNS label"
	}
	if !hasRest {
		return ""
	}
	// The top-level domain is the part after the last dot; a trailing dot
	// ("istio.io.") leaves it empty, which is allowed.
	tld := rest[strings.LastIndexByte(rest, '.')+1:]
	if isInteger(tld) {
		return "the top-level domain " + strconv.Quote(tld) + " cannot be all digits"
	}
	// Only the very last label may be empty: "istio.io." is fine (the loop
	// ends on the empty rest after the dot), "istio.io.." is not.
	for rest != "" {
		label, more, _ := strings.Cut(rest, ".")
		if !IsIstioLabel(label) {
			return "label " + strconv.Quote(label) + " is not a DNS label"
		}
		rest = more
	}
	return ""
}

// isInteger reports what strconv.Atoi accepts (an optional sign, then
// digits) without Atoi's error allocation for every ordinary name.
func isInteger(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsIstioLabel is Istio's IsDNS1123Label: letters of either case, digits
// and inner '-', at most 63 characters.
func IsIstioLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// isIstioWildcardLabel is Istio's IsWildcardDNS1123Label: "*", or a label
// optionally prefixed by "*" or "*-".
func isIstioWildcardLabel(s string) bool {
	if len(s) > 63 {
		return false
	}
	if s == "*" {
		return true
	}
	if rest, ok := strings.CutPrefix(s, "*-"); ok && IsIstioLabel(rest) {
		return true
	}
	if rest, ok := strings.CutPrefix(s, "*"); ok && IsIstioLabel(rest) {
		return true
	}
	return IsIstioLabel(s)
}

// checkServerHosts applies Istio's host rules to every server: at least one
// host, each a valid [namespace/]name.
func checkServerHosts(b *finding.Builder, gw *Gateway) {
	for _, srv := range gw.Servers {
		if len(srv.Hosts) == 0 {
			b.Errorf(finding.CodeInvalidIstioHost, serverPath(srv.Index).Child("hosts"),
				"a server needs at least one host and Istio rejects it without; list the hosts it serves")
			continue
		}
		for h, host := range srv.Hosts {
			if problem := istioHostProblem(host, gw.gatewaySemantics()); problem != "" {
				b.Errorf(finding.CodeInvalidIstioHost, serverPath(srv.Index).Child("hosts").Index(h),
					"Istio rejects host %q: %s", host, problem)
			}
		}
	}
}

// Istio's internal annotations: the first makes a Gateway one istiod
// converted from the Gateway API; Istio refuses the others on any object a
// user writes (validateMetadata), and istio.io/dry-run on all but
// AuthorizationPolicies.
const (
	annotationGatewaySemantics = "internal.istio.io/gateway-semantics"
	gatewaySemanticsGateway    = "gateway"
)

var refusedAnnotations = []string{"istio.io/dry-run", "internal.istio.io/webhook-always-reject", "internal.istio.io/parent-namespace", "internal.istio.io/parents"}

// gatewaySemantics reports a Gateway istiod made from a Gateway API one,
// which Istio's validation holds to fewer rules.
func (gw *Gateway) gatewaySemantics() bool {
	return gw.Annotations[annotationGatewaySemantics] == gatewaySemanticsGateway
}
