package certs

import (
	"context"
	"slices"
	"strings"

	apiutil "github.com/cert-manager/cert-manager/pkg/api/util"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// checkCredentials checks, for every server that reads a credential, that
// something provides it in each credential namespace and that what provides
// it covers the server's hosts.
func checkCredentials(ctx context.Context, b *finding.Builder, gw *Gateway, managed bool, credentials [][]string, namespaces []string, desired []*cmapi.Certificate, lookup Lookup, opts Options) {
	for i, srv := range gw.Servers {
		if !eligible(srv) || len(credentials[i]) == 0 {
			continue
		}
		// meshcert provides the credential of a managed server itself; when
		// it cannot, the findings already say why.
		providedByMeshcert := managed && len(srv.TLS.CredentialNames) == 0
		for c, credential := range credentials[i] {
			secret := secretNameOf(credential)
			fp := func() *field.Path {
				if len(srv.TLS.CredentialNames) > 0 {
					return tlsPath(srv.Index, "credentialNames").Index(c)
				}
				return tlsPath(srv.Index, "credentialName")
			}
			for _, ns := range namespaces {
				providers, planned := providersOf(ctx, ns, secret, desired, lookup)
				if len(providers) == 0 {
					if providedByMeshcert {
						continue
					}
					if exists, known := lookup.SecretExists(ctx, ns, secret); known && !exists {
						b.Addf(opts.lenient(), finding.CodeCredentialNotFound, fp(), "no Certificate or Secret %q is known in %q, where the gateway workload reads it; create one there, or annotate the Gateway with %s so meshcert does", secret, ns, cmapi.IngressClusterIssuerNameAnnotationKey)
					}
					continue
				}
				if planned {
					// A Certificate this plan builds holds every certifiable
					// host of the servers using it, by construction.
					continue
				}
				if !providedByMeshcert {
					if i := slices.IndexFunc(providers, func(crt *cmapi.Certificate) bool {
						return IsManagedCertificate(crt) && !OwnedBy(crt, gw.Namespace, gw.Name)
					}); i >= 0 {
						credentialHijack(b, fp(), providers[i])
						continue
					}
				}
				checkCoverage(b, srv, secret, providers, opts)
				for _, crt := range providers {
					issuer := issuerOfCertificate(ctx, crt, lookup)
					checkMutualClientCA(ctx, b, gw, []Server{srv}, ns, secret, issuer, lookup)
				}
			}
		}
	}
}

// providersOf returns the Certificates that write Secret ns/secret: the ones
// this plan creates, or else the known ones.
func providersOf(ctx context.Context, ns, secret string, desired []*cmapi.Certificate, lookup Lookup) ([]*cmapi.Certificate, bool) {
	// The plan has at most one Certificate per namespace and Secret.
	for i, crt := range desired {
		if crt.Namespace == ns && crt.Spec.SecretName == secret {
			return desired[i : i+1 : i+1], true
		}
	}
	return lookup.CertificatesForSecret(ctx, ns, secret), false
}

// checkCoverage reports server hosts that no providing Certificate covers.
func checkCoverage(b *finding.Builder, srv Server, secret string, providers []*cmapi.Certificate, opts Options) {
	for h, host := range srv.Hosts {
		name := strings.ToLower(DNSNameOf(host))
		if name == "*" || hostProblem(name) != "" {
			// Not a name a certificate can hold; reported where it matters
			// (for managed Gateways), and Istio serves the credential anyway.
			continue
		}
		if slices.ContainsFunc(providers, func(crt *cmapi.Certificate) bool { return certificateCovers(crt, name) }) {
			continue
		}
		names := make([]string, len(providers))
		for i, crt := range providers {
			names[i] = crt.Namespace + "/" + crt.Name
		}
		b.Addf(opts.lenient(), finding.CodeHostNotCovered, serverPath(srv.Index).Child("hosts").Index(h), "host %q is not covered by Certificate %s, which provides Secret %q; TLS clients will reject it: add the host to the Certificate's dnsNames", name, strings.Join(names, ", "), secret)
	}
}

func certificateCovers(crt *cmapi.Certificate, host string) bool {
	if isIP(host) {
		return slices.Contains(crt.Spec.IPAddresses, host)
	}
	return slices.ContainsFunc(crt.Spec.DNSNames, func(san string) bool { return Covers(san, host) }) ||
		(len(crt.Spec.DNSNames) == 0 && crt.Spec.CommonName != "" && Covers(crt.Spec.CommonName, host))
}

func issuerOfCertificate(ctx context.Context, crt *cmapi.Certificate, lookup Lookup) cmapi.GenericIssuer {
	ref := crt.Spec.IssuerRef
	if !isCertManagerGroup(ref.Group) {
		return nil
	}
	switch apiutil.IssuerKind(ref) {
	case cmapi.IssuerKind:
		if iss, ok := lookup.Issuer(ctx, crt.Namespace, ref.Name); ok {
			return iss
		}
	case cmapi.ClusterIssuerKind:
		if iss, ok := lookup.ClusterIssuer(ctx, ref.Name); ok {
			return iss
		}
	}
	return nil
}

// checkMutualClientCA warns when a MUTUAL or OPTIONAL_MUTUAL server would
// take its client CA from an ACME certificate: Istio reads the client CA
// from <secret>-cacert, else from the Secret's ca.crt, and an ACME issuer
// writes no CA there that could verify client certificates.
func checkMutualClientCA(ctx context.Context, b *finding.Builder, gw *Gateway, servers []Server, ns, secret string, issuer cmapi.GenericIssuer, lookup Lookup) {
	if issuer == nil || issuer.GetSpec().ACME == nil {
		return
	}
	if _, ok := gw.Annotations[AnnotationClientCA]; ok {
		return // meshcert injects caCertCredentialName
	}
	for _, srv := range servers {
		t := srv.TLS
		if t.Mode != ModeMutual && t.Mode != ModeOptionalMutual {
			continue
		}
		// With a credentialName, Istio ignores the caCertificates file: only
		// caCertCredentialName or the <secret>-cacert Secret give a client CA.
		if t.CACertCredentialName != "" {
			continue
		}
		if exists, _ := lookup.SecretExists(ctx, ns, secret+"-cacert"); exists {
			continue
		}
		b.Addf(finding.SeverityWarning, finding.CodeACMEIssuerForMutual, serverPath(srv.Index).Child("tls", "mode"), "%s server uses Secret %q from ACME issuer %q, which provides no CA to verify client certificates; add Secret %q with the client CA in %q, or set caCertCredentialName", t.Mode, secret, issuer.GetName(), secret+"-cacert", ns)
	}
}
