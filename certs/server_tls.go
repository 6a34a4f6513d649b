package certs

import (
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// caCertSuffix marks a credential istiod reads as a CA bundle only.
const caCertSuffix = "-cacert"

// checkServerTLS checks each server's TLS mode against its credential
// settings the way Istio's validation does.
func checkServerTLS(b *finding.Builder, gw *Gateway, managed bool) {
	for _, srv := range gw.Servers {
		t := srv.TLS
		if t == nil {
			continue
		}
		checkCipherSuites(b, srv)
		if _, known := networking.ServerTLSSettings_TLSmode_value[t.Mode]; !known {
			b.Addf(finding.SeverityError, finding.CodeUnknownTLSMode, tlsPath(srv.Index, "mode"), "%q is not an Istio TLS mode; use SIMPLE, MUTUAL, OPTIONAL_MUTUAL, PASSTHROUGH, AUTO_PASSTHROUGH or ISTIO_MUTUAL", t.Mode)
			continue
		}
		// Istio's count: a file pair only when both files are set.
		sources := 0
		for _, set := range []bool{t.CredentialName != "", len(t.CredentialNames) > 0,
			t.ServerCertificate != "" && t.PrivateKey != "", len(t.TLSCertificates) > 0} {
			if set {
				sources++
			}
		}
		if sources > 1 {
			b.Addf(finding.SeverityError, finding.CodeConflictingCredentialSources, tlsPath(srv.Index), "set only one of credentialName, credentialNames, serverCertificate with privateKey, or tlsCertificates")
		}
		checkCRL(b, srv)
		if len(t.CredentialNames) > 2 {
			b.Addf(finding.SeverityError, finding.CodeAPIServerRejects, tlsPath(srv.Index, "credentialNames"), "%d credentialNames given; the Gateway CRD allows at most 2 (one RSA and one ECDSA certificate), so the API server rejects it", len(t.CredentialNames))
		}
		for i, name := range t.Credentials() {
			// Only a Secret has a name to judge; istiod's refusal of the
			// other forms is MC4008.
			if ref := ResolveCredential(name, "", ""); !ref.IsSecret() || isDNS1123Subdomain(ref.Name) {
				continue
			}
			fp := serverPath(srv.Index).Child("tls", "credentialName")
			if t.CredentialName == "" {
				fp = serverPath(srv.Index).Child("tls", "credentialNames").Index(i)
			}
			sev := finding.SeverityWarning
			if managed && t.TerminatesWithCredential() {
				sev = finding.SeverityError
			}
			b.Addf(sev, finding.CodeInvalidCredentialName, fp, "%q is not a valid Secret name; use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", name)
		}
		hasCredential := sources > 0
		switch t.Mode {
		case ModeIstioMutual:
			if t.CredentialName != "" || len(t.CredentialNames) > 0 {
				b.Addf(finding.SeverityError, finding.CodeIstioMutualWithCredential, tlsPath(srv.Index, istioMutualField(t)), "ISTIO_MUTUAL uses the mesh's own workload certificates and Istio rejects a credentialName with it; remove the credential or use MUTUAL")
			}
			for _, f := range []struct {
				name string
				set  bool
			}{{"serverCertificate", t.ServerCertificate != ""}, {"privateKey", t.PrivateKey != ""}, {"caCertificates", t.CACertificates != ""}, {"tlsCertificates", len(t.TLSCertificates) > 0}} {
				if f.set {
					b.Errorf(finding.CodeIstioMutualWithCredential, tlsPath(srv.Index, f.name), "ISTIO_MUTUAL uses the mesh's own workload certificates and Istio rejects %s with it; remove it, or use MUTUAL", f.name)
				}
			}
		case ModePassthrough, ModeAutoPassthrough:
			// Istio warns about any certificate field here.
			if hasCredential || t.UsesFiles() || t.CACertificates != "" || t.CACrl != "" {
				b.Addf(finding.SeverityWarning, finding.CodePassthroughWithCredential, tlsPath(srv.Index), "%s does not terminate TLS, so the credential is ignored; remove it, or use SIMPLE to terminate TLS at the gateway", t.Mode)
			}
		case ModeSimple, ModeMutual, ModeOptionalMutual:
			switch {
			case t.UsesFiles():
				if managed {
					files := "serverCertificate"
					if len(t.TLSCertificates) > 0 {
						files = "tlsCertificates"
					}
					b.Addf(finding.SeverityInfo, finding.CodeFileCertificate, tlsPath(srv.Index, files), "this server reads its certificate from files mounted into the gateway pod, not from a Secret; meshcert leaves it alone")
				}
				if !hasNamedCredential(t) {
					checkFileSources(b, srv)
				}
			case !hasCredential && !managed:
				b.Addf(finding.SeverityError, finding.CodeMissingCredential, tlsPath(srv.Index, "credentialName"), "%s needs a credential and Istio rejects the server without one; set credentialName, or annotate the Gateway with %s so meshcert provides one", t.Mode, cmapi.IngressClusterIssuerNameAnnotationKey)
			}
			checkClientCAReference(b, srv)
			for i, name := range t.Credentials() {
				// istiod reads a Secret named <name>-cacert as the client CA
				// of <name> and never as a server certificate.
				if strings.HasSuffix(secretNameOf(name), caCertSuffix) {
					fp := tlsPath(srv.Index, "credentialName")
					if t.CredentialName == "" {
						fp = tlsPath(srv.Index, "credentialNames").Index(i)
					}
					b.Errorf(finding.CodeCACertCredential, fp,
						"%q ends in %q, which istiod reads as a client CA only, never as the server certificate %s needs; name the server certificate's Secret %q (a Secret %q then holds its client CA)",
						name, caCertSuffix, t.Mode, strings.TrimSuffix(secretNameOf(name), caCertSuffix), secretNameOf(name))
				}
			}
		}
	}
}

// checkClientCAReference reports a caCertCredentialName istiod serves as a
// certificate and key rather than CA certificates: a Secret whose name does
// not end in -cacert (sds.go generate reads only those, and ConfigMaps, as
// CAs), so the server gets no client CA.
func checkClientCAReference(b *finding.Builder, srv Server) {
	t := srv.TLS
	if t.CACertCredentialName == "" || (t.Mode != ModeMutual && t.Mode != ModeOptionalMutual) {
		return
	}
	ref := ResolveCredential(t.CACertCredentialName, "", "")
	if ref.ServedAs() != ServedAsKeyPair {
		return
	}
	b.Errorf(finding.CodeCredentialNotServed, tlsPath(srv.Index, "caCertCredentialName"),
		"istiod serves Secret %q as a certificate and key, never as client CAs, since its name does not end in %q, so %s gets no client CA: name a Secret %q, or a ConfigMap as configmap://<namespace>/<name>",
		ref.Name, caCertSuffix, t.Mode, ref.Name+caCertSuffix)
}

func hasNamedCredential(t *ServerTLS) bool {
	return t.CredentialName != "" || len(t.CredentialNames) > 0
}

// checkFileSources is Istio's validation of a server that takes its
// certificate from files: every pair needs its certificate and key, MUTUAL
// and OPTIONAL_MUTUAL a client CA bundle, and more than two pairs is more
// than Istio serves.
func checkFileSources(b *finding.Builder, srv Server) {
	t := srv.TLS
	for j, pair := range t.filePairs() {
		at := func(name string) *field.Path {
			if len(t.TLSCertificates) > 0 {
				return tlsPath(srv.Index, "tlsCertificates").Index(j).Child(name)
			}
			return tlsPath(srv.Index, name)
		}
		if pair.ServerCertificate == "" {
			b.Errorf(finding.CodeMissingCredential, at("serverCertificate"), "%s with certificate files needs serverCertificate, and Istio rejects the server without it: set it beside privateKey", t.Mode)
		}
		if pair.PrivateKey == "" {
			b.Errorf(finding.CodeMissingCredential, at("privateKey"), "%s with certificate files needs privateKey, and Istio rejects the server without it: set it beside serverCertificate", t.Mode)
		}
	}
	if (t.Mode == ModeMutual || t.Mode == ModeOptionalMutual) && t.CACertificates == "" {
		b.Errorf(finding.CodeMissingCredential, tlsPath(srv.Index, "caCertificates"), "%s with certificate files needs caCertificates, the client CA bundle, and Istio rejects the server without it: set it, or use a credentialName whose Secret holds ca.crt", t.Mode)
	}
	if len(t.TLSCertificates) > 2 {
		b.Warningf(finding.CodeConflictingCredentialSources, tlsPath(srv.Index, "tlsCertificates"), "%d tlsCertificates given; Istio serves at most 2 (one RSA and one ECDSA certificate)", len(t.TLSCertificates))
	}
}

// checkCRL is Istio's rule for caCrl: a file CRL does not go with a
// credentialName (the Secret carries its own), nor with SIMPLE, which
// verifies no client.
func checkCRL(b *finding.Builder, srv Server) {
	t := srv.TLS
	// Istio's validation returns before its CRL rules when a terminating
	// server names a credential.
	if t.CACrl == "" || t.Mode == ModeIstioMutual || t.TerminatesWithCredential() && hasNamedCredential(t) {
		return
	}
	if t.CredentialName != "" {
		b.Errorf(finding.CodeConflictingCredentialSources, tlsPath(srv.Index, "caCrl"), "Istio rejects caCrl with a credentialName: put the CRL into the credential's Secret (ca.crl or crl) and remove caCrl")
	}
	if t.Mode == ModeSimple {
		b.Errorf(finding.CodeConflictingCredentialSources, tlsPath(srv.Index, "caCrl"), "Istio rejects caCrl with SIMPLE, which verifies no client certificate: remove it, or use MUTUAL")
	}
}

// istioMutualField is where an ISTIO_MUTUAL server names its credential.
func istioMutualField(t *ServerTLS) string {
	if t.CredentialName == "" {
		return "credentialNames"
	}
	return "credentialName"
}
