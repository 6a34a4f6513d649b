package certs

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	apiutil "github.com/cert-manager/cert-manager/pkg/api/util"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// A namespace policy is what a cluster admin allows one namespace's Gateways:
// the hosts they may claim and the issuers meshcert may use for them. It is
// written as annotations on the Namespace object because a Namespace is
// cluster-scoped: a namespace's own users hold at most RoleBindings inside
// it, which cannot grant anything on the Namespace object, so they cannot
// widen their own policy (docs/security.md).
const (
	// AnnotationAllowedHosts lists the host patterns a namespace's Gateways
	// may claim: "*", "*.domain" (every name below domain, at any depth,
	// wildcards included), an exact DNS name or an IP address.
	AnnotationAllowedHosts = "meshcert.io/allowed-hosts"
	// AnnotationAllowedIssuers lists the issuers meshcert may use for a
	// namespace's Gateways: "Kind/name" or "Kind.group/name", with "*" as a
	// name for every issuer of that kind, or "*" alone for every issuer.
	AnnotationAllowedIssuers = "meshcert.io/allowed-issuers"
)

// PolicyMode says what a namespace without a policy annotation may do.
type PolicyMode string

const (
	// PolicyRequired is the secure default: a namespace without
	// meshcert.io/allowed-hosts may claim no host, one without
	// meshcert.io/allowed-issuers may use no issuer, and a namespace
	// meshcert cannot see is refused.
	PolicyRequired PolicyMode = "required"
	// PolicyOptional restricts only the namespaces that carry a policy
	// annotation; the others are unrestricted. For clusters whose
	// namespaces all belong to one trusted team.
	PolicyOptional PolicyMode = "optional"
)

// PolicyModes lists the valid modes, for flags and their errors.
var PolicyModes = []PolicyMode{PolicyRequired, PolicyOptional}

// NamespacePolicy is a parsed namespace policy. A nil list means its
// annotation is absent; an empty one allows nothing.
type NamespacePolicy struct {
	Hosts   []HostPattern
	Issuers []IssuerPattern
}

// HostPattern is one entry of meshcert.io/allowed-hosts.
type HostPattern struct {
	// Any is the pattern "*".
	Any bool
	// Suffix is set for "*.domain": the "." and domain, lower case.
	Suffix string
	// Exact is a lower-case DNS name, or an IP address in canonical form.
	Exact string
	// ip is Exact parsed, when it is an IP address.
	ip netip.Addr
}

// IssuerPattern is one entry of meshcert.io/allowed-issuers. An empty Kind
// is "*" alone; an empty Name ("*") is every issuer of Kind and Group.
type IssuerPattern struct {
	Kind  string
	Group string
	Name  string
}

// ParseNamespacePolicy reads a Namespace's policy annotations. An error
// names the annotation and the entry, so a cluster admin can fix it.
func ParseNamespacePolicy(annotations map[string]string) (NamespacePolicy, error) {
	hosts, err := parsePatterns(annotations, AnnotationAllowedHosts, parseHostPattern)
	if err != nil {
		return NamespacePolicy{}, err
	}
	issuers, err := parsePatterns(annotations, AnnotationAllowedIssuers, parseIssuerPattern)
	if err != nil {
		return NamespacePolicy{}, err
	}
	return NamespacePolicy{Hosts: hosts, Issuers: issuers}, nil
}

// parsePatterns reads the comma-separated entries of annotation key: nil
// when it is absent, an empty list when it lists nothing.
func parsePatterns[P any](annotations map[string]string, key string, parse func(string) (P, error)) ([]P, error) {
	v, ok := annotations[key]
	if !ok {
		return nil, nil
	}
	out := []P{}
	for _, entry := range commaList(v) {
		p, err := parse(entry)
		if err != nil {
			return nil, fmt.Errorf("%s: %q %w", key, entry, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseHostPattern(entry string) (HostPattern, error) {
	if entry == "*" {
		return HostPattern{Any: true}, nil
	}
	if addr, err := netip.ParseAddr(entry); err == nil && addr.Zone() == "" {
		return HostPattern{Exact: addr.String(), ip: addr}, nil
	}
	name := strings.ToLower(strings.TrimSuffix(entry, "."))
	domain, wildcard := strings.CutPrefix(name, "*.")
	if strings.Contains(domain, "*") {
		return HostPattern{}, errors.New(`has a "*" that is not the whole leftmost label; write "*.domain" for every name below domain`)
	}
	if errs := validation.IsDNS1123Subdomain(domain); len(errs) > 0 {
		return HostPattern{}, fmt.Errorf("is not a host pattern (%s); write \"*\", \"*.domain\", a DNS name or an IP address", strings.Join(errs, "; "))
	}
	if wildcard {
		return HostPattern{Suffix: "." + domain}, nil
	}
	return HostPattern{Exact: name}, nil
}

func parseIssuerPattern(entry string) (IssuerPattern, error) {
	if entry == "*" {
		return IssuerPattern{}, nil
	}
	kindGroup, name, ok := strings.Cut(entry, "/")
	if !ok {
		return IssuerPattern{}, fmt.Errorf(`names no kind; write "ClusterIssuer/%s" or "Issuer/%s" (an Issuer in the credential namespace)`, entry, entry)
	}
	kind, group, _ := strings.Cut(kindGroup, ".")
	if group == "" {
		group = CertManagerGroup
	}
	if errs := validation.IsDNS1035Label(strings.ToLower(kind)); len(errs) > 0 {
		return IssuerPattern{}, fmt.Errorf("has no valid kind before the \"/\" (%s)", strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(group); len(errs) > 0 {
		return IssuerPattern{}, fmt.Errorf("has no valid API group after the kind (%s)", strings.Join(errs, "; "))
	}
	if name == "*" {
		name = ""
	} else if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return IssuerPattern{}, fmt.Errorf("has no valid issuer name after the \"/\" (%s); use \"*\" for every issuer of this kind", strings.Join(errs, "; "))
	}
	return IssuerPattern{Kind: kind, Group: group, Name: name}, nil
}

// AllowsHost reports whether a pattern covers name, a certificate name
// (lower case, without namespace part or trailing dot) or an IP address.
func (h HostPattern) AllowsHost(name string) bool {
	switch {
	case h.Any:
		return true
	case h.Suffix != "":
		return strings.HasSuffix(name, h.Suffix) && len(name) > len(h.Suffix)
	}
	if h.ip.IsValid() {
		// Parsed only against IP patterns: a failed parse allocates its error.
		addr, err := netip.ParseAddr(name)
		return err == nil && addr == h.ip
	}
	return name == h.Exact
}

// AllowsIssuer reports whether a pattern covers an issuerRef, with
// cert-manager's defaults (kind Issuer, group cert-manager.io).
func (i IssuerPattern) AllowsIssuer(ref cmmeta.IssuerReference) bool {
	if i.Kind == "" {
		return true
	}
	return apiutil.IssuerKind(ref) == i.Kind && apiutil.IssuerGroup(ref) == i.Group && (i.Name == "" || i.Name == ref.Name)
}

// String writes the pattern as the annotation does.
func (h HostPattern) String() string {
	switch {
	case h.Any:
		return "*"
	case h.Suffix != "":
		return "*" + h.Suffix
	}
	return h.Exact
}

// String writes the pattern as the annotation does.
func (i IssuerPattern) String() string {
	if i.Kind == "" {
		return "*"
	}
	name := i.Name
	if name == "" {
		name = "*"
	}
	if i.Group == CertManagerGroup {
		return i.Kind + "/" + name
	}
	return i.Kind + "." + i.Group + "/" + name
}
