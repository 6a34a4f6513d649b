package certs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)

// checkCredentials checks, for every server that reads a credential, that
// something provides it in each credential namespace and that what provides
// it covers the server's hosts.
func checkCredentials(gw *Gateway, managed bool, credentials [][]string, namespaces []string, desired []*cmapi.Certificate, lookup Lookup, opts Options) Findings {
	var findings Findings
	for i, srv := range gw.Servers {
		if !eligible(srv) || len(credentials[i]) == 0 {
			continue
		}
		// meshcert provides the credential of a managed server itself; when
		// it cannot, the findings already say why.
		providedByMeshcert := managed && len(srv.TLS.CredentialNames) == 0
		for c, credential := range credentials[i] {
			secret := secretNameOf(credential)
			fp := func() string {
				if len(srv.TLS.CredentialNames) > 0 {
					return serverPath(srv.Index).Child("tls", "credentialNames").Index(c).String()
				}
				return serverPath(srv.Index).Child("tls", "credentialName").String()
			}
			for _, ns := range namespaces {
				providers, planned := providersOf(ns, secret, desired, lookup)
				if len(providers) == 0 {
					if providedByMeshcert {
						continue
					}
					if exists, known := lookup.SecretExists(ns, secret); known && !exists {
						findings = append(findings, Finding{
							Severity: opts.lenient(), Code: CodeCredentialNotFound, Object: gw.Ref, Field: fp(),
							Message: fmt.Sprintf("no Certificate or Secret %q is known in %q, where the gateway workload reads it; create one there, or annotate the Gateway with %s so meshcert does",
								secret, ns, cmapi.IngressClusterIssuerNameAnnotationKey),
						})
					}
					continue
				}
				if planned {
					// A Certificate this plan builds holds every certifiable
					// host of the servers using it, by construction.
					continue
				}
				findings = append(findings, checkCoverage(gw, srv, secret, providers, opts)...)
				for _, crt := range providers {
					issuer := issuerOfCertificate(crt, lookup)
					findings = append(findings, checkMutualClientCA(gw, []Server{srv}, ns, secret, issuer, lookup)...)
				}
			}
		}
	}
	return findings
}

// providersOf returns the Certificates that write Secret ns/secret: the ones
// this plan creates, or else the known ones.
func providersOf(ns, secret string, desired []*cmapi.Certificate, lookup Lookup) ([]*cmapi.Certificate, bool) {
	// The plan has at most one Certificate per namespace and Secret.
	for i, crt := range desired {
		if crt.Namespace == ns && crt.Spec.SecretName == secret {
			return desired[i : i+1 : i+1], true
		}
	}
	return lookup.CertificatesForSecret(ns, secret), false
}

// checkCoverage reports server hosts that no providing Certificate covers.
func checkCoverage(gw *Gateway, srv Server, secret string, providers []*cmapi.Certificate, opts Options) Findings {
	var findings Findings
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
		findings = append(findings, Finding{
			Severity: opts.lenient(), Code: CodeHostNotCovered, Object: gw.Ref,
			Field: serverPath(srv.Index).Child("hosts").Index(h).String(),
			Message: fmt.Sprintf("host %q is not covered by Certificate %s, which provides Secret %q; TLS clients will reject it: add the host to the Certificate's dnsNames",
				name, strings.Join(names, ", "), secret),
		})
	}
	return findings
}

func certificateCovers(crt *cmapi.Certificate, host string) bool {
	if isIP(host) {
		return slices.Contains(crt.Spec.IPAddresses, host)
	}
	return slices.ContainsFunc(crt.Spec.DNSNames, func(san string) bool { return Covers(san, host) }) ||
		(len(crt.Spec.DNSNames) == 0 && crt.Spec.CommonName != "" && Covers(crt.Spec.CommonName, host))
}

func issuerOfCertificate(crt *cmapi.Certificate, lookup Lookup) cmapi.GenericIssuer {
	ref := crt.Spec.IssuerRef
	if !isCertManagerGroup(ref.Group) {
		return nil
	}
	switch issuerKindOf(ref) {
	case cmapi.IssuerKind:
		if iss, ok := lookup.Issuer(crt.Namespace, ref.Name); ok {
			return iss
		}
	case cmapi.ClusterIssuerKind:
		if iss, ok := lookup.ClusterIssuer(ref.Name); ok {
			return iss
		}
	}
	return nil
}

// checkMutualClientCA warns when a MUTUAL or OPTIONAL_MUTUAL server would
// take its client CA from an ACME certificate: Istio reads the client CA
// from <secret>-cacert, else from the Secret's ca.crt, and an ACME issuer
// writes no CA there that could verify client certificates.
func checkMutualClientCA(gw *Gateway, servers []Server, ns, secret string, issuer cmapi.GenericIssuer, lookup Lookup) Findings {
	if issuer == nil || issuer.GetSpec().ACME == nil {
		return nil
	}
	var findings Findings
	for _, srv := range servers {
		t := srv.TLS
		if t.Mode != ModeMutual && t.Mode != ModeOptionalMutual {
			continue
		}
		if t.CACertificates != "" || t.CACertCredentialName != "" {
			continue
		}
		if exists, _ := lookup.SecretExists(ns, secret+"-cacert"); exists {
			continue
		}
		findings = append(findings, Finding{
			Severity: SeverityWarning, Code: CodeACMEIssuerForMutual, Object: gw.Ref,
			Field: serverPath(srv.Index).Child("tls", "mode").String(),
			Message: fmt.Sprintf("%s server uses Secret %q from ACME issuer %q, which provides no CA to verify client certificates; add Secret %q with the client CA in %q, or set caCertCredentialName",
				t.Mode, secret, issuer.GetName(), secret+"-cacert", ns),
		})
	}
	return findings
}

type portHost struct {
	port int64
	host string
}

type claim struct {
	gateway    *Gateway
	server     int
	credential string
}

// checkConflicts finds servers on the same gateway workload (this Gateway,
// and other Gateways with the same selector) that claim one host on one port
// with different credentials (Istio's IST0145), and credentials shared by
// different Gateways on one workload (IST0138).
func checkConflicts(gw *Gateway, credentials [][]string, lookup Lookup) Findings {
	var findings Findings
	claims := map[portHost]claim{}
	for i, srv := range gw.Servers {
		if !srv.TLS.TerminatesWithCredential() || len(credentials[i]) == 0 {
			continue
		}
		credential := strings.Join(credentials[i], ",")
		for h, host := range srv.Hosts {
			key := portHost{srv.Port.Number, strings.ToLower(DNSNameOf(host))}
			prev, ok := claims[key]
			if !ok {
				claims[key] = claim{gateway: gw, server: srv.Index, credential: credential}
				continue
			}
			if prev.credential != credential {
				findings = append(findings, hostConflict(gw, srv.Index, h, key, fmt.Sprintf("server %s", serverPath(prev.server)), prev.credential, credential))
			}
		}
	}
	if len(gw.Selector) == 0 || len(claims) == 0 {
		return findings
	}
	// A Gateway alone on its workload (the common per-team gateway) needs
	// no per-host lookups at all.
	if !slices.ContainsFunc(lookup.GatewaysClaiming(gw.SelectorKey), func(other *Gateway) bool {
		return other.Namespace != gw.Namespace || other.Name != gw.Name
	}) {
		return findings
	}
	// Other Gateways on the same workload, found by what they claim, so the
	// cost does not grow with the number of Gateways.
	reported := map[string]bool{}
	for i, creds := range credentials {
		if !gw.Servers[i].TLS.TerminatesWithCredential() {
			continue
		}
		for _, c := range creds {
			if reported[c] {
				continue
			}
			for _, other := range lookup.GatewaysClaiming(CredentialKey(gw.SelectorKey, c)) {
				if other.Namespace == gw.Namespace && other.Name == gw.Name {
					continue
				}
				reported[c] = true
				findings = append(findings, Finding{
					Severity: SeverityWarning, Code: CodeCredentialSharedAcrossGateways, Object: gw.Ref,
					Field: serverPath(gw.Servers[i].Index).Child("tls", "credentialName").String(),
					Message: fmt.Sprintf("credential %q is also used by Gateway %s/%s on the same gateway workload (Istio's IST0138); give each Gateway its own credential",
						c, other.Namespace, other.Name),
				})
				break
			}
		}
	}
	for key, mine := range claims {
		for _, other := range lookup.GatewaysClaiming(HostKey(gw.SelectorKey, key.port, key.host)) {
			if other.Namespace == gw.Namespace && other.Name == gw.Name {
				continue
			}
			credential, ok := credentialFor(other, key)
			if !ok || credential == mine.credential {
				continue
			}
			h := slices.IndexFunc(gw.Servers[serverPos(gw, mine.server)].Hosts, func(x string) bool {
				return strings.EqualFold(DNSNameOf(x), key.host)
			})
			findings = append(findings, hostConflict(gw, mine.server, h, key,
				fmt.Sprintf("Gateway %s/%s", other.Namespace, other.Name), credential, mine.credential))
		}
	}
	return findings
}

// credentialFor returns the credential a Gateway serves host on port with.
func credentialFor(gw *Gateway, key portHost) (string, bool) {
	for _, srv := range gw.Servers {
		if srv.Port.Number != key.port || !srv.TLS.TerminatesWithCredential() || len(srv.TLS.Credentials()) == 0 {
			continue
		}
		for _, h := range srv.Hosts {
			if strings.EqualFold(DNSNameOf(h), key.host) {
				return strings.Join(srv.TLS.Credentials(), ","), true
			}
		}
	}
	return "", false
}

// GatewayClaims returns the keys under which a Gateway is indexed for
// GatewaysClaiming: its SelectorKey (every Gateway on the workload), a
// HostKey per host of each server that terminates TLS with a credential,
// and a CredentialKey per credential.
func GatewayClaims(gw *Gateway) []string {
	var keys []string
	if len(gw.Selector) > 0 {
		keys = append(keys, gw.SelectorKey)
	}
	for _, srv := range gw.Servers {
		if !srv.TLS.TerminatesWithCredential() {
			continue
		}
		creds := srv.TLS.Credentials()
		for _, c := range creds {
			keys = append(keys, CredentialKey(gw.SelectorKey, c))
		}
		if len(creds) == 0 {
			continue
		}
		for _, h := range srv.Hosts {
			keys = append(keys, HostKey(gw.SelectorKey, srv.Port.Number, strings.ToLower(DNSNameOf(h))))
		}
	}
	return dedupe(keys)
}

// HostKey is the key of a host claim on a workload: selectorKey is the
// Gateway's SelectorKey, host lower case without its namespace part.
func HostKey(selectorKey string, port int64, host string) string {
	// One allocation: the builder's buffer becomes the string.
	var b strings.Builder
	b.Grow(len(selectorKey) + len(host) + 22)
	b.WriteString(selectorKey)
	b.WriteByte('|')
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], port, 10))
	b.WriteByte('|')
	b.WriteString(host)
	return b.String()
}

// CredentialKey is the key of a credential used on a workload.
func CredentialKey(selectorKey, credential string) string {
	return selectorKey + "|cred|" + credential
}

func dedupe(keys []string) []string {
	slices.Sort(keys)
	return slices.Compact(keys)
}

func serverPos(gw *Gateway, index int) int {
	return slices.IndexFunc(gw.Servers, func(s Server) bool { return s.Index == index })
}

func hostConflict(gw *Gateway, server, host int, key portHost, other, otherCredential, credential string) Finding {
	p := serverPath(server).Child("hosts")
	if host >= 0 {
		p = p.Index(host)
	}
	return Finding{
		Severity: SeverityError, Code: CodeHostConflict, Object: gw.Ref, Field: p.String(),
		Message: fmt.Sprintf("host %q on port %d is also claimed by %s with credential %q, while this server uses %q; the gateway can serve only one: use one credential or different hosts",
			key.host, key.port, other, otherCredential, credential),
	}
}
