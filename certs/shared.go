package certs

import (
	"context"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// The cert-manager vocabulary other planners share with Gateways, so an
// IstioOperator's cert-manager.io annotations mean exactly what they mean on
// a Gateway and are reported the same way.

// HasIssuerAnnotation reports whether annotations name an issuer with any of
// cert-manager's issuer annotations.
func HasIssuerAnnotation(annotations map[string]string) bool {
	return hasIssuerAnnotation(annotations)
}

// IssuerFromAnnotations resolves the issuerRef annotations name, with
// cert-manager's ingress-shim rules over the default def, reporting bad
// combinations on b. It returns the annotation that chose the issuer (for
// findings) and whether the annotations were valid.
func IssuerFromAnnotations(b *finding.Builder, annotations map[string]string, def cmmeta.IssuerReference) (cmmeta.IssuerReference, *field.Path, bool) {
	ref, src, ok := issuerFromAnnotations(b, annotations, def)
	if src.field == "" {
		return ref, nil, ok
	}
	return ref, annotationPath(src.field), ok
}

// SpecFromAnnotations reads cert-manager's Certificate spec annotations
// (duration, renew-before, private-key-*, subject-*, ...) into a spec,
// reporting every bad one on b. altNames are the cert-manager.io/alt-names
// entries. It reports whether every annotation was valid.
func SpecFromAnnotations(b *finding.Builder, annotations map[string]string) (spec cmapi.CertificateSpec, altNames []string, ok bool) {
	tmpl, ok := templateFromAnnotations(b, annotations)
	return tmpl.spec, tmpl.altNames, ok
}

// CheckIssuer checks an issuerRef for a Certificate in namespace: kind and
// group, existence, the namespace rule for Issuers and readiness. It
// returns the issuer when the lookup knows it.
func CheckIssuer(ctx context.Context, b *finding.Builder, path *field.Path, ref cmmeta.IssuerReference, namespace string, lookup Lookup, opts Options) cmapi.GenericIssuer {
	return checkIssuerRef(ctx, b, issuerCheck{field: path, ref: ref, namespace: namespace}, lookup, opts)
}

// QuoteJoin quotes each item and joins them with ", ", for messages.
func QuoteJoin(items []string) string { return quoteJoin(items) }

// Lenient is the severity of findings that may only mean the objects have
// not all been applied yet: a warning, or an error under Strict.
func (o Options) Lenient() finding.Severity { return o.lenient() }
