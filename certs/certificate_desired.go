package certs

import (
	"cmp"
	"context"
	"net/netip"
	"slices"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// secretGroup is the servers of one Gateway that share a Secret.
type secretGroup struct {
	secret  string
	servers []Server
}

func groupBySecret(gw *Gateway, credentials [][]string) []secretGroup {
	groups := make([]secretGroup, 0, len(gw.Servers))
	// A map at every size: scanning the groups instead saved at most 1 µs
	// up to 16 servers, 1-2% of planning them (BenchmarkPlanGateway), and
	// is quadratic beyond.
	index := make(map[string]int, len(gw.Servers))
	for i, srv := range gw.Servers {
		if !eligible(srv) || len(credentials[i]) != 1 || len(srv.TLS.CredentialNames) > 0 {
			// credentialNames pairs an RSA with an ECDSA certificate; which
			// is which is not written down, so meshcert does not guess.
			continue
		}
		secret, certifiable := certifiableSecret(credentials[i][0])
		if !certifiable {
			continue
		}
		j, ok := index[secret]
		if !ok {
			// The first server's slice points into gw.Servers: no copy
			// unless a second server shares the Secret.
			groups = append(groups, secretGroup{secret: secret, servers: gw.Servers[i : i+1 : i+1]})
			index[secret] = len(groups) - 1
			continue
		}
		groups[j].servers = append(groups[j].servers, srv)
	}
	return groups
}

// desiredCertificates decides the Certificates meshcert should own for a
// managed Gateway: one per Secret and credential namespace, sorted by
// namespace and name. credentials[i] is what server i reads after injection.
func desiredCertificates(ctx context.Context, b *finding.Builder, gw *Gateway, namespaces []string, credentials [][]string, lookup Lookup, opts Options) []*cmapi.Certificate {
	groups := groupBySecret(gw, credentials)
	if len(groups) == 0 {
		if !slices.ContainsFunc(gw.Servers, func(s Server) bool { return s.TLS.TerminatesWithCredential() }) {
			b.Warningf(finding.CodeNoEligibleServer, serversPath,
				"meshcert manages this Gateway but no server terminates TLS with SIMPLE, MUTUAL or OPTIONAL_MUTUAL, so there is nothing to certify; remove the issuer annotation or add such a server")
		}
		return nil
	}

	issuer, src, issuerValid := issuerFromAnnotations(b, gw.Annotations, opts.DefaultIssuer)
	tmpl, tmplValid := templateFromAnnotations(b, gw.Annotations)
	if !issuerValid || !tmplValid {
		return nil
	}
	var issuerField *field.Path
	if src.field != "" {
		issuerField = annotationPath(src.field)
	}

	var out []*cmapi.Certificate
	own := owner{gateway: gw}
	for _, ns := range namespaces {
		found := checkIssuerRef(ctx, b, issuerCheck{
			field: issuerField, ref: issuer, namespace: ns, fromGateway: ns != gw.Namespace,
		}, lookup, opts)
		for _, g := range groups {
			crt := certificateFor(ctx, b, &own, g, ns, issuer, tmpl, lookup, opts)
			if crt == nil {
				continue
			}
			checkMutualClientCA(ctx, b, gw, g.servers, ns, g.secret, found, lookup)
			if isACME(found) {
				checkACMEIssuance(ctx, b, acmeCheck{
					issuer: found, issuerField: issuerField, pathOf: identifierPath(g, crt), lookup: lookup, opts: opts, gateway: gw,
				}, crt)
			}
			out = append(out, crt)
		}
	}
	slices.SortFunc(out, func(a, b *cmapi.Certificate) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// MaxCertificateNames is the most DNS names and IP addresses meshcert puts
// into one Certificate. The hard ceilings are far above (a Secret holds at
// most 1 MiB, about 9,000 names' worth of PEM; an object in etcd 1.5 MiB),
// but public CAs stop at 100 to 250 names, and every TLS handshake carries
// the whole certificate.
const MaxCertificateNames = 1000

// certificateFor builds the Certificate for one Secret of the Gateway in one
// credential namespace, or explains why meshcert must not own it.
func certificateFor(ctx context.Context, b *finding.Builder, own *owner, g secretGroup, ns string, issuer cmmeta.IssuerReference, tmpl certificateTemplate, lookup Lookup, opts Options) *cmapi.Certificate {
	gw := own.gateway
	firstField := func() *field.Path { return tlsPath(g.servers[0].Index, "credentialName") }

	// Never take over a Certificate meshcert did not create, nor one that
	// another Gateway's plan owns; two writers of one Secret fight forever.
	if existing, ok := lookup.Certificate(ctx, ns, g.secret); ok && !OwnedBy(existing, gw.Namespace, gw.Name) {
		notOwned(b, firstField(), gw, existing)
		return nil
	}
	for _, other := range lookup.CertificatesForSecret(ctx, ns, g.secret) {
		if other.Name != g.secret && !OwnedBy(other, gw.Namespace, gw.Name) {
			notOwned(b, firstField(), gw, other)
			return nil
		}
	}
	if !mayWriteSecret(ctx, b, own, g.servers, ns, g.secret, firstField(), lookup, opts) {
		return nil
	}

	hostCount := len(tmpl.altNames)
	for _, srv := range g.servers {
		hostCount += len(srv.Hosts)
	}
	dnsNames := make([]string, 0, hostCount)
	var ips []string
	for _, srv := range g.servers {
		for h, host := range srv.Hosts {
			if istioHostProblem(host, gw.gatewaySemantics()) != "" {
				// Istio rejects the host (MC2017) and serves nothing for it;
				// what is left of it once parsed is no name to certify.
				continue
			}
			name := certificateName(host)
			if problem := hostProblem(name); problem != "" {
				b.Errorf(finding.CodeUncertifiableHost, serverPath(srv.Index).Child("hosts").Index(h), "host %q cannot go into the certificate for Secret %q: %s", host, g.secret, problem)
				continue
			}
			if isIP(name) {
				// Canonical form ("2001:db8::a"), so equal addresses compare equal.
				ips = append(ips, netip.MustParseAddr(name).String())
			} else {
				dnsNames = append(dnsNames, name)
			}
		}
	}
	dnsNames = append(dnsNames, tmpl.altNames...)
	// Sorting then compacting de-duplicates without a set.
	slices.Sort(dnsNames)
	dnsNames = slices.Compact(dnsNames)
	if names := len(dnsNames) + len(ips); names > MaxCertificateNames {
		b.Errorf(finding.CodeTooManyNames, serverPath(g.servers[0].Index).Child("hosts"),
			"the certificate for Secret %q would hold %d names, more than the %d meshcert puts in one; so many names make a Certificate and Secret near Kubernetes' size limits and a TLS handshake too large, and no public CA issues them: spread the hosts over servers with their own credentials",
			g.secret, names, MaxCertificateNames)
		return nil
	}

	crt := &cmapi.Certificate{
		TypeMeta: metav1.TypeMeta{APIVersion: certificateAPIVersion, Kind: cmapi.CertificateKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:        g.secret,
			Namespace:   ns,
			Labels:      own.labels(),
			Annotations: own.annotations(),
		},
	}
	tmpl.spec.DeepCopyInto(&crt.Spec)
	crt.Spec.SecretName = g.secret
	crt.Spec.IssuerRef = issuer
	crt.Spec.DNSNames = dnsNames
	// Host IPs and cert-manager.io/ip-sans, both in canonical form, once each.
	crt.Spec.IPAddresses = append(ips, crt.Spec.IPAddresses...)
	slices.Sort(crt.Spec.IPAddresses)
	crt.Spec.IPAddresses = slices.Compact(crt.Spec.IPAddresses)
	if len(crt.Spec.DNSNames) == 0 && len(crt.Spec.IPAddresses) == 0 && crt.Spec.CommonName == "" &&
		len(crt.Spec.EmailAddresses) == 0 {
		b.Errorf(finding.CodeUncertifiableHost, firstField(), "no host of the servers using Secret %q can go into a certificate, so meshcert creates none; list DNS names in hosts or in %s", g.secret, cmapi.AltNamesAnnotationKey)
		return nil
	}
	if ns == gw.Namespace && gw.UID != "" {
		crt.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: gw.Ref.APIVersion,
			Kind:       gw.Ref.Kind,
			Name:       gw.Name,
			UID:        types.UID(gw.UID),
			Controller: new(true),
		}}
	}
	return crt
}

// identifierPath finds where a Gateway asks for one identifier of crt:
// the first server host that names it, else the annotation that adds it.
func identifierPath(g secretGroup, crt *cmapi.Certificate) func(string) *field.Path {
	return func(id string) *field.Path {
		for _, srv := range g.servers {
			for h, host := range srv.Hosts {
				name := certificateName(host)
				if isIP(name) {
					name = netip.MustParseAddr(name).String()
				}
				if name == id {
					return serverPath(srv.Index).Child("hosts").Index(h)
				}
			}
		}
		switch {
		case id == crt.Spec.CommonName:
			return annotationPath(cmapi.CommonNameAnnotationKey)
		case isIP(id):
			return annotationPath(cmapi.IPSANAnnotationKey)
		}
		return annotationPath(cmapi.AltNamesAnnotationKey)
	}
}
