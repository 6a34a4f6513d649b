package certs

import (
	"context"
	"fmt"
	"slices"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/meshcert/meshcert/finding"
)

// certificateAPIVersion is cert-manager.io/v1, formatted once.
var certificateAPIVersion = cmapi.SchemeGroupVersion.String()

// LegacyGatewayCertsSecret is the Secret Istio's ingress gateway once
// mounted at /etc/istio/ingressgateway-certs, before SDS.
const LegacyGatewayCertsSecret = "istio-ingressgateway-certs" //nolint:gosec // A Secret name, not a credential.

// CheckCertificate checks a cert-manager Certificate, whoever wrote it: its
// issuerRef can be used from its namespace, in this cluster, and its Secret
// is one an Istio gateway will read.
func CheckCertificate(ctx context.Context, crt *cmapi.Certificate, lookup Lookup, opts Options) finding.Findings {
	b := finding.New(CertificateRef(crt))
	issuerField := field.NewPath("spec", "issuerRef")
	issuer := checkIssuerRef(ctx, b, issuerCheck{
		field: issuerField, ref: crt.Spec.IssuerRef, namespace: crt.Namespace,
	}, lookup, opts)
	validateCertificateSpec(b, crt)
	checkDNSNames(b, crt.Spec.DNSNames)
	if isACME(issuer) {
		checkACMEIssuance(ctx, b, acmeCheck{issuer: issuer, issuerField: issuerField, pathOf: certificateIdentifierPath(crt), lookup: lookup, opts: opts}, crt)
	}
	if crt.Spec.SecretName == LegacyGatewayCertsSecret {
		b.Warningf(finding.CodeLegacyGatewayCertsSecret, field.NewPath("spec", "secretName"), "current Istio gateways do not mount Secret %q (it predates SDS) and read certificates only through a Gateway's tls.credentialName; reference this Secret from a Gateway server's credentialName, or let meshcert inject one", LegacyGatewayCertsSecret)
	}
	findings := b.Findings()
	findings.Sort()
	return findings
}

// checkDNSNames reports dnsNames that are not DNS names (errors), and ones
// that are but not in the form issuers take and clients send: upper case,
// a trailing dot, or a repeat once normalised (warnings: cert-manager's
// webhook accepts them, an ACME server refuses a trailing dot).
func checkDNSNames(b *finding.Builder, names []string) {
	var seen map[string]int
	for i, name := range names {
		path := field.NewPath("spec", "dnsNames").Index(i)
		if ns, host, ok := strings.Cut(name, "/"); ok {
			b.Errorf(finding.CodeUncertifiableHost, path,
				"%q is an Istio Gateway host with its namespace part %q, not a DNS name; list %q", name, ns, DNSNameOf(host))
			continue
		}
		if problem := hostProblem(strings.ToLower(name)); problem != "" {
			b.Errorf(finding.CodeUncertifiableHost, path, "%q cannot be a DNS name in a certificate: %s", name, problem)
			continue
		}
		normal := certificateName(name)
		if first, ok := seen[normal]; ok {
			b.Warningf(finding.CodeCertificateNameForm, path, "%q repeats spec.dnsNames[%d] once names are compared as issuers do (lower case, no trailing dot); remove it", name, first)
			continue
		}
		if seen == nil {
			seen = make(map[string]int, len(names))
		}
		seen[normal] = i
		if normal != name {
			b.Warningf(finding.CodeCertificateNameForm, path, "%q is not in the form issuers take and TLS clients send (lower case, no trailing dot; an ACME server refuses the dot); list %q", name, normal)
		}
	}
}

// UnknownCertificateFields reports the fields of a Certificate, given as
// the JSON the API server receives, that cert-manager's v1 API does not
// have: under kubectl's default strict field validation the API server
// rejects such a Certificate. Paths come from the same strict decoder
// Kubernetes uses (sigs.k8s.io/json).
func UnknownCertificateFields(ref finding.ObjectRef, raw []byte) finding.Findings {
	strict, err := sigsjson.UnmarshalStrict(raw, &cmapi.Certificate{}, sigsjson.DisallowUnknownFields)
	if err != nil {
		// Not JSON a Certificate decodes from: the caller reports that.
		return nil
	}
	return UnknownFieldFindings(ref, strict)
}

// UnknownFieldFindings turns the strict errors of sigs.k8s.io/json
// (`unknown field "spec.dnsName"`) into findings on ref, with the path.
func UnknownFieldFindings(ref finding.ObjectRef, strict []error) finding.Findings {
	b := finding.New(ref)
	for _, e := range strict {
		path, ok := strings.CutPrefix(e.Error(), "unknown field ")
		if !ok {
			continue
		}
		// The decoder's dotted path prints the same as a field.Path.
		parts := strings.Split(strings.Trim(path, `"`), ".")
		b.Errorf(finding.CodeUnknownField, field.NewPath(parts[0], parts[1:]...),
			"unknown field %q in a %s %s, and the API server rejects objects with unknown fields: correct or remove it",
			parts[len(parts)-1], ref.APIVersion, ref.Kind)
	}
	return b.Findings()
}

// CertificateRef names a Certificate in findings.
func CertificateRef(crt *cmapi.Certificate) finding.ObjectRef {
	return finding.ObjectRef{APIVersion: certificateAPIVersion, Kind: cmapi.CertificateKind, Namespace: crt.Namespace, Name: crt.Name}
}

// CertificateObject turns a planned Certificate into the object a user
// would write: apiVersion and kind set, no empty status, no null
// creationTimestamp.
func CertificateObject(crt *cmapi.Certificate) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crt)
	if err != nil {
		return nil, fmt.Errorf("failed to convert Certificate %s/%s: %w", crt.Namespace, crt.Name, err)
	}
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	return &unstructured.Unstructured{Object: m}, nil
}

// certificateIdentifierPath finds where a Certificate lists an identifier.
func certificateIdentifierPath(crt *cmapi.Certificate) func(string) *field.Path {
	return func(id string) *field.Path {
		if i := slices.Index(crt.Spec.DNSNames, id); i >= 0 {
			return field.NewPath("spec", "dnsNames").Index(i)
		}
		if i := slices.Index(crt.Spec.IPAddresses, id); i >= 0 {
			return field.NewPath("spec", "ipAddresses").Index(i)
		}
		return field.NewPath("spec", "commonName")
	}
}
