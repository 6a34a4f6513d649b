package certs

import (
	"fmt"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// certificateAPIVersion is cert-manager.io/v1, formatted once.
var certificateAPIVersion = cmapi.SchemeGroupVersion.String()

// LegacyGatewayCertsSecret is the Secret Istio's ingress gateway once
// mounted at /etc/istio/ingressgateway-certs, before SDS.
const LegacyGatewayCertsSecret = "istio-ingressgateway-certs" //nolint:gosec // A Secret name, not a credential.

// CheckCertificate checks a cert-manager Certificate, whoever wrote it: its
// issuerRef can be used from its namespace, in this cluster, and its Secret
// is one an Istio gateway will read.
func CheckCertificate(crt *cmapi.Certificate, lookup Lookup, opts Options) Findings {
	ref := ObjectRef{APIVersion: certificateAPIVersion, Kind: cmapi.CertificateKind, Namespace: crt.Namespace, Name: crt.Name}
	issuerPath := field.NewPath("spec", "issuerRef")
	_, findings := checkIssuerRef(IssuerCheck{
		Object: ref, Field: issuerPath.String(), Ref: crt.Spec.IssuerRef, Namespace: crt.Namespace,
	}, lookup, opts)
	if crt.Spec.SecretName == LegacyGatewayCertsSecret {
		findings = append(findings, Finding{
			Severity: SeverityWarning, Code: CodeLegacyGatewayCertsSecret, Object: ref,
			Field: field.NewPath("spec", "secretName").String(),
			Message: fmt.Sprintf("current Istio gateways do not mount Secret %q (it predates SDS) and read certificates only through a Gateway's tls.credentialName; reference this Secret from a Gateway server's credentialName, or let meshcert inject one",
				LegacyGatewayCertsSecret),
		})
	}
	findings.Sort()
	return findings
}
