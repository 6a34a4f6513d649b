package certs

import (
	"context"
	"fmt"
	"strings"

	apiutil "github.com/cert-manager/cert-manager/pkg/api/util"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// maxPolicyFindings bounds the findings one Gateway gets for names outside
// its policy, so a Gateway with 100,000 hosts still gets a readable answer.
const maxPolicyFindings = 10

var namespacePath = field.NewPath("metadata", "namespace")

// checkNamespacePolicy holds a managed Gateway to its namespace's policy:
// every host its servers claim (except the catch-all "*", which is no
// claim), every name, address and email domain in its Certificates, and
// every issuer they use. It reports whether the Gateway is within it; one
// that is not gets no Certificate at all.
func checkNamespacePolicy(ctx context.Context, b *finding.Builder, gw *Gateway, crts []*cmapi.Certificate, lookup Lookup, opts Options) bool {
	c, ok := newPolicyCheck(ctx, b, gw.Namespace, lookup, opts)
	if c == nil {
		return ok
	}
	c.hostsOf(gw, crts)
	c.issuersOf(gw, crts)
	return c.done()
}

// CheckPolicyOf holds Certificates another controller makes for an object
// of namespace (cert-manager's gateway-shim, for Gateway API Gateways and
// ListenerSets) to the namespace's policy, as a managed Gateway's are: the
// names, addresses and email domains in them, and their issuers. fieldOf
// says which field of the object decided a Certificate field (such as
// spec.dnsNames[0]), so a finding lands where the user wrote it. It reports
// whether they are within the policy.
func CheckPolicyOf(ctx context.Context, b *finding.Builder, namespace string, crts []*cmapi.Certificate, fieldOf func(*cmapi.Certificate, string) *field.Path, lookup Lookup, opts Options) bool {
	c, ok := newPolicyCheck(ctx, b, namespace, lookup, opts)
	if c == nil {
		return ok
	}
	checked := map[cmmeta.IssuerReference]bool{}
	for _, crt := range crts {
		at := func(format string, i int) claimAt {
			return claimAt{explicit: fieldOf(crt, fmt.Sprintf(format, i))}
		}
		if cn := strings.ToLower(crt.Spec.CommonName); cn != "" && (isIP(cn) || len(validation.IsDNS1123Subdomain(strings.TrimPrefix(cn, "*."))) == 0) {
			c.host(cn, claimAt{explicit: fieldOf(crt, "spec.commonName")})
		}
		for i, name := range crt.Spec.DNSNames {
			c.host(strings.ToLower(name), at("spec.dnsNames[%d]", i))
		}
		for i, ip := range crt.Spec.IPAddresses {
			c.host(ip, at("spec.ipAddresses[%d]", i))
		}
		for i, email := range crt.Spec.EmailAddresses {
			c.host(strings.ToLower(email[strings.LastIndexByte(email, '@')+1:]), at("spec.emailAddresses[%d]", i))
		}
		if ref := crt.Spec.IssuerRef; !checked[ref] {
			checked[ref] = true
			c.issuer(ref, fieldOf(crt, "spec.issuerRef.name"))
		}
	}
	return c.done()
}

// newPolicyCheck reads namespace's policy. A nil check means there is
// nothing to hold names to, and ok says whether that lets them pass (no
// policy to apply) or not (the namespace is unknown, or its policy is
// invalid: reported).
func newPolicyCheck(ctx context.Context, b *finding.Builder, namespace string, lookup Lookup, opts Options) (c *policyCheck, ok bool) {
	required := opts.NamespacePolicy == PolicyRequired
	ns, known := lookup.Namespace(ctx, namespace)
	if !known {
		if !required || opts.PolicyOnlyForKnownNamespaces {
			return nil, true
		}
		// The API server admits nothing into a namespace that does not
		// exist, so this is a cache behind by moments: refuse, not guess.
		b.Errorf(finding.CodeHostOutsidePolicy, namespacePath,
			"meshcert does not know namespace %s yet, so it cannot read the namespace's policy and refuses this %s; retry in a moment", namespace, b.Object.Kind)
		return nil, false
	}
	policy, err := ParseNamespacePolicy(ns.Annotations)
	if err != nil {
		b.Errorf(finding.CodeInvalidNamespacePolicy, namespacePath,
			"the policy on Namespace %s is invalid, so meshcert refuses its Gateways until a cluster admin fixes it: %v", namespace, err)
		return nil, false
	}
	return &policyCheck{b: b, namespace: namespace, policy: policy, required: required}, true
}

// done reports the names beyond the first maxPolicyFindings outside the
// policy, and whether everything was within it.
func (c *policyCheck) done() bool {
	if c.outside > maxPolicyFindings {
		c.b.Errorf(finding.CodeHostOutsidePolicy, namespacePath,
			"%d more names are outside the hosts Namespace %s may claim (only the first %d are listed)", c.outside-maxPolicyFindings, c.namespace, maxPolicyFindings)
	}
	return c.within()
}

type policyCheck struct {
	b         *finding.Builder
	namespace string
	policy    NamespacePolicy
	required  bool
	// reported holds the names reported outside the policy, so a name
	// claimed twice (a host and an alt-name) is reported once.
	reported map[string]bool
	// outside counts names outside the policy; missingHosts and
	// missingIssuers are set once the absent annotation was reported.
	outside        int
	missingHosts   bool
	missingIssuers bool
	deniedIssuer   bool
}

func (c *policyCheck) within() bool {
	return c.outside == 0 && !c.missingHosts && !c.missingIssuers && !c.deniedIssuer
}

// claimAt is where a name is claimed: server host [server][host], or an
// annotation. The field path is built only for a finding, since a path per
// allowed host would cost more than checking it.
type claimAt struct {
	server, host int
	annotation   string
	// explicit is the path, when the caller knows it.
	explicit *field.Path
}

func (a claimAt) path() *field.Path {
	if a.explicit != nil {
		return a.explicit
	}
	if a.annotation != "" {
		return annotationPath(a.annotation)
	}
	return serverPath(a.server).Child("hosts").Index(a.host)
}

func (c *policyCheck) hostsOf(gw *Gateway, crts []*cmapi.Certificate) {
	for i, srv := range gw.Servers {
		for j, host := range srv.Hosts {
			if name := certificateName(host); name != "*" {
				c.host(name, claimAt{server: i, host: j})
			}
		}
	}
	for _, crt := range crts {
		// A common name that could be a host claims it (legacy clients
		// still read it); free text such as "Team A shop" claims nothing.
		if cn := strings.ToLower(crt.Spec.CommonName); cn != "" && (isIP(cn) || len(validation.IsDNS1123Subdomain(strings.TrimPrefix(cn, "*."))) == 0) {
			c.host(cn, claimAt{annotation: cmapi.CommonNameAnnotationKey})
		}
		for _, name := range crt.Spec.DNSNames {
			c.host(name, claimAt{annotation: cmapi.AltNamesAnnotationKey})
		}
		for _, ip := range crt.Spec.IPAddresses {
			c.host(ip, claimAt{annotation: cmapi.IPSANAnnotationKey})
		}
		for _, email := range crt.Spec.EmailAddresses {
			// An email address is an identity in the domain after its "@".
			c.host(strings.ToLower(email[strings.LastIndexByte(email, '@')+1:]), claimAt{annotation: cmapi.EmailsAnnotationKey})
		}
	}
}

// host checks one name where at claims it; a name outside the policy is
// reported once, at the first place that claims it.
func (c *policyCheck) host(name string, at claimAt) {
	if c.policy.Hosts == nil {
		if c.required && !c.missingHosts {
			c.missingHosts = true
			c.b.Errorf(finding.CodeHostOutsidePolicy, namespacePath,
				"Namespace %s has no %s annotation, and without one its Gateways may claim no host; a cluster admin must list the hosts it may claim, e.g. kubectl annotate namespace %s %s='*.%s.example.com'",
				c.namespace, AnnotationAllowedHosts, c.namespace, AnnotationAllowedHosts, c.namespace)
		}
		return
	}
	for _, p := range c.policy.Hosts {
		if p.AllowsHost(name) {
			return
		}
	}
	if c.reported[name] {
		return
	}
	if c.reported == nil {
		c.reported = map[string]bool{}
	}
	c.reported[name] = true
	c.outside++
	if c.outside <= maxPolicyFindings {
		c.b.Errorf(finding.CodeHostOutsidePolicy, at.path(),
			"%q is outside the hosts Namespace %s may claim (%s: %s); use a host it allows, or ask a cluster admin to allow this one",
			name, c.namespace, AnnotationAllowedHosts, joinPatterns(c.policy.Hosts))
	}
}

func (c *policyCheck) issuersOf(gw *Gateway, crts []*cmapi.Certificate) {
	var path *field.Path
	if key := issuerAnnotationKey(gw.Annotations); key != "" {
		path = annotationPath(key)
	}
	checked := map[cmmeta.IssuerReference]bool{}
	for _, crt := range crts {
		ref := crt.Spec.IssuerRef
		if checked[ref] {
			continue
		}
		checked[ref] = true
		c.issuer(ref, path)
	}
}

func (c *policyCheck) issuer(ref cmmeta.IssuerReference, path *field.Path) {
	if c.policy.Issuers == nil {
		if c.required && !c.missingIssuers {
			c.missingIssuers = true
			c.b.Errorf(finding.CodeIssuerOutsidePolicy, namespacePath,
				"Namespace %s has no %s annotation, and without one meshcert may use no issuer for its Gateways; a cluster admin must list the issuers it may use, e.g. kubectl annotate namespace %s %s=%s",
				c.namespace, AnnotationAllowedIssuers, c.namespace, AnnotationAllowedIssuers, issuerPatternOf(ref))
		}
		return
	}
	for _, p := range c.policy.Issuers {
		if p.AllowsIssuer(ref) {
			return
		}
	}
	c.deniedIssuer = true
	c.b.Errorf(finding.CodeIssuerOutsidePolicy, path,
		"%s is not an issuer Namespace %s may use (%s: %s); use one it allows, or ask a cluster admin to allow this one",
		issuerPatternOf(ref), c.namespace, AnnotationAllowedIssuers, joinPatterns(c.policy.Issuers))
}

// issuerPatternOf writes ref as an allowed-issuers entry that names it.
func issuerPatternOf(ref cmmeta.IssuerReference) string {
	p := IssuerPattern{Kind: apiutil.IssuerKind(ref), Group: apiutil.IssuerGroup(ref), Name: ref.Name}
	if p.Name == "" {
		// An issuerRef always names its issuer; keep the entry valid anyway.
		p.Name = "<name>"
	}
	return p.String()
}

func joinPatterns[P interface{ String() string }](patterns []P) string {
	if len(patterns) == 0 {
		return `"" (nothing)`
	}
	parts := make([]string, len(patterns))
	for i, p := range patterns {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}
