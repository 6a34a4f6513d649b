package certs

import (
	"cmp"
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
		for c, credential := range credentials[i] {
			// meshcert provides a managed server's credential itself; when
			// it cannot, the findings already say why.
			_, certifiable := certifiableSecret(credential)
			providedByMeshcert := managed && len(srv.TLS.CredentialNames) == 0 && certifiable
			fp := func() *field.Path {
				if len(srv.TLS.CredentialNames) > 0 {
					return tlsPath(srv.Index, "credentialNames").Index(c)
				}
				return tlsPath(srv.Index, "credentialName")
			}
			for _, ns := range namespaces {
				ref := ResolveCredential(credential, ns, gw.Namespace)
				if !checkServed(b, ref, ns, fp) {
					continue
				}
				if !ref.IsSecret() {
					continue
				}
				providers, planned := providersOf(ctx, ref.Namespace, ref.Name, desired, lookup)
				if len(providers) == 0 {
					if providedByMeshcert || ref.External {
						// An SDS server may answer an sds:// reference.
						continue
					}
					if exists, known := lookup.SecretExists(ctx, ref.Namespace, ref.Name); known && !exists {
						b.Addf(opts.lenient(), finding.CodeCredentialNotFound, fp(), "no Certificate or Secret %q is known in %q, where the gateway workload reads it; create one there, or annotate the Gateway with %s so meshcert does", ref.Name, ref.Namespace, cmapi.IngressClusterIssuerNameAnnotationKey)
					}
					// A Secret with no data at all stands for one kept out of
					// the files (sealed, or made by an operator).
					if secret, ok := lookup.Secret(ctx, ref.Namespace, ref.Name); ok && secret != nil && len(secret.Data) > 0 {
						if problem := credentialProblem(secret, opts.Time()); problem != "" {
							b.Errorf(finding.CodeInvalidCredential, fp(),
								"istiod cannot serve Secret %s/%s as this server's certificate: %s (Istio's IST0161); put a valid PEM certificate and key under tls.crt and tls.key, or let meshcert issue one",
								ref.Namespace, ref.Name, problem)
						}
					}
					continue
				}
				if planned {
					// A Certificate this plan builds holds every certifiable
					// host of the servers using it, by construction.
					continue
				}
				if !providedByMeshcert && hijacks(ctx, b, fp(), gw, providers, lookup) {
					continue
				}
				checkCoverage(b, srv, ref.Name, providers, opts)
				for _, crt := range providers {
					issuer := issuerOfCertificate(ctx, crt, lookup)
					checkMutualClientCA(ctx, b, gw, []Server{srv}, ns, credential, issuer, lookup)
				}
			}
		}
	}
}

// checkServed reports a credential istiod would not give the gateway
// workload in ns, and whether it would.
func checkServed(b *finding.Builder, ref CredentialRef, ns string, fp func() *field.Path) bool {
	switch {
	case ref.Kind == CredentialBuiltin:
		return false
	case !ref.Served:
		b.Errorf(finding.CodeCredentialNotServed, fp(),
			"istiod gives the gateway workload in %q nothing for %q: %s; name a Secret of %q",
			ns, ref.Reference, ref.Refusal, ns)
		return false
	case ref.Kind == CredentialConfigMap || ref.CAOnly:
		// Reported by checkServerTLS as MC2015 for Secrets.
		if ref.Kind == CredentialConfigMap {
			b.Errorf(finding.CodeCredentialNotServed, fp(),
				"%q names a ConfigMap, which istiod reads as CA certificates only, never as the server certificate and key: name a Secret of %q",
				ref.Reference, ns)
		}
		return false
	}
	return true
}

// hijacks reports reading a credential meshcert manages for a Gateway of
// another namespace that had it first. The incumbent is never blamed: when
// this Gateway was there before that Certificate, the finding is the other
// Gateway's, unless the Secret has a name meshcert derives for its owner,
// which nobody else comes by honestly.
func hijacks(ctx context.Context, b *finding.Builder, path *field.Path, gw *Gateway, providers []*cmapi.Certificate, lookup Lookup) bool {
	for _, crt := range providers {
		if kind, name, ok := ShimController(crt); ok {
			// cert-manager's gateway-shim writes it for a Gateway API
			// object's listener, always in that object's namespace.
			if crt.Namespace == gw.Namespace || !certificateClaimedFirst(crt, gw) {
				continue
			}
			b.Errorf(finding.CodeCredentialHijack, path,
				"Secret %q in %q is the credential cert-manager's gateway-shim writes for Gateway API %s %s/%s of another namespace; a Gateway may not serve another Gateway's key: use a credential of yours",
				crt.Spec.SecretName, crt.Namespace, kind, crt.Namespace, name)
			return true
		}
		if !IsManagedCertificate(crt) || OwnedBy(crt, gw.Namespace, gw.Name) || ownerNamespace(crt) == gw.Namespace {
			continue
		}
		if !certificateClaimedFirst(crt, gw) && !derivedForOwner(ctx, crt, lookup) {
			continue
		}
		credentialHijack(b, path, crt)
		return true
	}
	return false
}

// derivedForOwner reports whether the Secret a managed Certificate writes
// has a name meshcert derives for the Gateway that owns it. The owner is
// found among the Gateways that name the Secret, as it does once injected.
func derivedForOwner(ctx context.Context, crt *cmapi.Certificate, lookup Lookup) bool {
	for _, other := range lookup.GatewaysClaiming(ctx, CredentialKey(crt.Spec.SecretName)) {
		if OwnedBy(crt, other.Namespace, other.Name) {
			return (&owner{gateway: other}).derivedNames()[crt.Spec.SecretName]
		}
	}
	return false
}

// providersOf returns the Certificates that write Secret ns/secret: the ones
// this plan creates, or else the known ones.
func providersOf(ctx context.Context, ns, secret string, desired []*cmapi.Certificate, lookup Lookup) ([]*cmapi.Certificate, bool) {
	// The plan has at most one Certificate per namespace and Secret, sorted
	// by namespace and name, and names each after its Secret: found by
	// halving, as every server of a large Gateway asks. The scan below
	// answers should a Certificate ever be named otherwise.
	if i, found := slices.BinarySearchFunc(desired, [2]string{ns, secret}, func(crt *cmapi.Certificate, key [2]string) int {
		return cmp.Or(cmp.Compare(crt.Namespace, key[0]), cmp.Compare(crt.Name, key[1]))
	}); found && desired[i].Spec.SecretName == secret {
		return desired[i : i+1 : i+1], true
	}
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
	// Only the SANs: cert-manager does not copy a commonName into them,
	// and TLS clients ignore the subject's common name (RFC 6125, Go since
	// 1.15, browsers for years).
	return slices.ContainsFunc(crt.Spec.DNSNames, func(san string) bool { return Covers(san, host) })
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
func checkMutualClientCA(ctx context.Context, b *finding.Builder, gw *Gateway, servers []Server, ns, credential string, issuer cmapi.GenericIssuer, lookup Lookup) {
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
		// caCertCredentialName or the <credential>-cacert Secret give a
		// client CA other than the certificate's own Secret.
		if t.CACertCredentialName != "" {
			continue
		}
		withCredential := *t
		if len(t.Credentials()) == 0 {
			withCredential.CredentialName = credential // injected
		}
		refs := ClientCARefs(&withCredential, ns, gw.Namespace)
		if len(refs) == 0 || !refs[0].IsSecret() {
			continue
		}
		if exists, _ := lookup.SecretExists(ctx, refs[0].Namespace, refs[0].Name); exists {
			continue
		}
		secret := strings.TrimSuffix(refs[0].Name, caCertSuffix)
		b.Addf(finding.SeverityWarning, finding.CodeACMEIssuerForMutual, serverPath(srv.Index).Child("tls", "mode"), "%s server uses Secret %q from ACME issuer %q, which provides no CA to verify client certificates; add Secret %q with the client CA in %q, or set caCertCredentialName", t.Mode, secret, issuer.GetName(), refs[0].Name, refs[0].Namespace)
	}
}
