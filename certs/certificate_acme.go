package certs

import (
	"context"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	apiutil "github.com/cert-manager/cert-manager/pkg/api/util"
	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/util/solverpicker"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// LetsEncryptMaxNames is how many identifiers Let's Encrypt puts into one
// certificate ("Names per Certificate" in its rate limits).
const LetsEncryptMaxNames = 100

// The challenge types an ACME server offers, by identifier: DNS-01 alone
// for a wildcard (RFC 8555 section 7.1.3), HTTP-01 but not DNS-01 for an IP
// address (RFC 8738 section 7), and both otherwise. cert-manager solves no
// other type (TLS-ALPN-01 is never picked).
var (
	offeredForName     = []cmacme.ACMEChallenge{{Type: "http-01"}, {Type: "dns-01"}}
	offeredForWildcard = []cmacme.ACMEChallenge{{Type: "dns-01"}}
	offeredForIP       = []cmacme.ACMEChallenge{{Type: "http-01"}}
)

// acmeCheck is what checkACMEIssuance needs besides the Certificate.
type acmeCheck struct {
	issuer cmapi.GenericIssuer
	// issuerField is where findings about the whole Certificate point.
	issuerField *field.Path
	// pathOf is where a finding about one identifier points.
	pathOf func(identifier string) *field.Path
	lookup Lookup
	opts   Options
	// gateway is the Gateway the Certificate is planned for; nil when
	// checking a Certificate on its own.
	gateway *Gateway
}

// isACME reports whether iss is a known ACME issuer. Callers check it
// before building an acmeCheck, whose pathOf closure costs an allocation.
func isACME(iss cmapi.GenericIssuer) bool {
	return iss != nil && iss.GetSpec().ACME != nil
}

// checkACMEIssuance checks that an ACME issuer can issue crt, with the
// decisions cert-manager itself makes: every identifier (each DNS name, IP
// address, and the common name when it is one) has a solver cert-manager's
// own solver picker selects for the challenges the ACME server offers; the
// common name is among the DNS names and IP addresses, which cert-manager's
// ACME issuer requires; and Let's Encrypt's cap on names is kept. The
// issuer must be ACME (isACME).
func checkACMEIssuance(ctx context.Context, b *finding.Builder, c acmeCheck, crt *cmapi.Certificate) {
	acme := c.issuer.GetSpec().ACME
	kind := apiutil.IssuerKind(crt.Spec.IssuerRef)
	pathOf := c.pathOf

	identifiers := acmeIdentifiers(crt)
	if cn := crt.Spec.CommonName; cn != "" && !slices.Contains(crt.Spec.DNSNames, cn) && !slices.Contains(crt.Spec.IPAddresses, cn) {
		b.Errorf(finding.CodeACMECommonNameNotInNames, pathOf(cn),
			"the common name %q is not among the certificate's DNS names and IP addresses, and cert-manager's ACME issuer refuses such a request (InvalidOrder): add it to cert-manager.io/alt-names, or remove cert-manager.io/common-name", cn)
	}
	if crt.Spec.IsCA {
		b.Errorf(finding.CodeACMEIssuerForCA, c.issuerField,
			"the certificate for Secret %q is a CA (isCA), and ACME servers issue only end-entity certificates: use a CA, Vault or other issuer that can sign a CA",
			crt.Spec.SecretName)
	}
	if isLetsEncrypt(acme.Server) && len(identifiers) > LetsEncryptMaxNames {
		b.Errorf(finding.CodeTooManyACMENames, c.issuerField,
			"the certificate for Secret %q holds %d names and %s %q is Let's Encrypt, which issues at most %d per certificate: spread the hosts over servers with their own credentials",
			crt.Spec.SecretName, len(identifiers), kind, c.issuer.GetName(), LetsEncryptMaxNames)
	}

	// The Order cert-manager creates carries the Certificate's labels,
	// which solvers' matchLabels selectors are matched against.
	order := &cmacme.Order{}
	order.Labels = crt.Labels
	http01 := http01Check{
		acmeCheck: c, kind: kind, certificateAnnotations: crt.Annotations, namespace: crt.Namespace,
		served: map[int]bool{},
	}
	for _, id := range identifiers {
		if solver, _ := solverpicker.Pick(ctx, id, offeredFor(id), acme.Solvers, order); solver != nil {
			if solver.HTTP01 != nil {
				http01.check(ctx, b, id, solver)
			}
			continue
		}
		if strings.HasPrefix(id, "*.") {
			if solver, _ := solverpicker.Pick(ctx, id, offeredForName, acme.Solvers, order); solver != nil {
				b.Errorf(finding.CodeACMEWildcardNeedsDNS01, pathOf(id),
					"%q is a wildcard, which an ACME server lets only DNS-01 validate, and the solvers of ACME %s %q that would take it are HTTP-01: add a DNS-01 solver that matches it (or one without a selector)", id, kind, c.issuer.GetName())
				continue
			}
		}
		b.Errorf(finding.CodeNoACMESolver, pathOf(id),
			"no solver of ACME %s %q would take %q: cert-manager picks, among the solvers of a type the ACME server offers for it (%s), the one whose selector matches (dnsNames, then dnsZones, then matchLabels against the Certificate's labels) or one without a selector, and none fits; add a solver that matches this name",
			kind, c.issuer.GetName(), id, challengeTypes(offeredFor(id)))
	}
}

// acmeIdentifiers are the identifiers cert-manager orders for crt: its DNS
// names and IP addresses, plus the common name when it is a domain name or
// an IP address, without repeats.
func acmeIdentifiers(crt *cmapi.Certificate) []string {
	ids := slices.Concat(crt.Spec.DNSNames, crt.Spec.IPAddresses)
	if cn := crt.Spec.CommonName; cn != "" {
		if _, err := netip.ParseAddr(cn); err == nil || len(validation.IsFullyQualifiedDomainName(nil, cn)) == 0 {
			ids = append(ids, cn)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func offeredFor(id string) []cmacme.ACMEChallenge {
	switch {
	case strings.HasPrefix(id, "*."):
		return offeredForWildcard
	case isIP(id):
		return offeredForIP
	}
	return offeredForName
}

func challengeTypes(chs []cmacme.ACMEChallenge) string {
	types := make([]string, len(chs))
	for i, ch := range chs {
		types[i] = strings.ToUpper(ch.Type)
	}
	return strings.Join(types, " or ")
}

// isLetsEncrypt reports whether an ACME directory URL is Let's Encrypt's,
// production or staging.
func isLetsEncrypt(server string) bool {
	u, err := url.Parse(server)
	return err == nil && (u.Hostname() == "api.letsencrypt.org" || strings.HasSuffix(u.Hostname(), ".api.letsencrypt.org"))
}
