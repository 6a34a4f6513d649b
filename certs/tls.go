package certs

import (
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	networking "istio.io/api/networking/v1alpha3"

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
		if _, known := networking.ServerTLSSettings_TLSmode_value[t.Mode]; !known {
			b.Addf(finding.SeverityError, finding.CodeUnknownTLSMode, tlsPath(srv.Index, "mode"), "%q is not an Istio TLS mode; use SIMPLE, MUTUAL, OPTIONAL_MUTUAL, PASSTHROUGH, AUTO_PASSTHROUGH or ISTIO_MUTUAL", t.Mode)
			continue
		}
		sources := 0
		if t.CredentialName != "" {
			sources++
		}
		if len(t.CredentialNames) > 0 {
			sources++
		}
		if t.UsesFiles() {
			sources++
		}
		if sources > 1 {
			b.Addf(finding.SeverityError, finding.CodeConflictingCredentialSources, tlsPath(srv.Index), "set only one of credentialName, credentialNames, or serverCertificate with privateKey")
		}
		if len(t.CredentialNames) > 2 {
			b.Addf(finding.SeverityError, finding.CodeConflictingCredentialSources, tlsPath(srv.Index, "credentialNames"), "%d credentialNames given; Istio takes at most 2 (one RSA and one ECDSA certificate)", len(t.CredentialNames))
		}
		for i, name := range t.Credentials() {
			if isDNS1123Subdomain(secretNameOf(name)) {
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
				b.Addf(finding.SeverityError, finding.CodeIstioMutualWithCredential, tlsPath(srv.Index, "credentialName"), "ISTIO_MUTUAL uses the mesh's own workload certificates and Istio rejects a credentialName with it; remove the credential or use MUTUAL")
			}
		case ModePassthrough, ModeAutoPassthrough:
			if hasCredential {
				b.Addf(finding.SeverityWarning, finding.CodePassthroughWithCredential, tlsPath(srv.Index), "%s does not terminate TLS, so the credential is ignored; remove it, or use SIMPLE to terminate TLS at the gateway", t.Mode)
			}
		case ModeSimple, ModeMutual, ModeOptionalMutual:
			switch {
			case t.UsesFiles():
				if managed {
					b.Addf(finding.SeverityInfo, finding.CodeFileCertificate, tlsPath(srv.Index, "serverCertificate"), "this server reads its certificate from files mounted into the gateway pod, not from a Secret; meshcert leaves it alone")
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
