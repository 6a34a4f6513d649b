package istiooperator

import (
	"context"
	"fmt"
	"slices"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/meshca"
)

// CertificateLabels are the labels of the mesh CA Certificate meshcert makes
// for the IstioOperator namespace/name: the controller lists by them to
// find it. Values longer than a label allows are hashed.
func CertificateLabels(namespace, name string) map[string]string {
	return map[string]string{
		certs.LabelManagedBy:        certs.ManagedByValue,
		LabelIstioOperatorNamespace: certs.LabelValue(namespace),
		LabelIstioOperatorName:      certs.LabelValue(name),
	}
}

// OwnsCertificate reports whether crt is meshcert's mesh CA Certificate for
// the IstioOperator namespace/name.
func OwnsCertificate(crt *cmapi.Certificate, namespace, name string) bool {
	return IstioOperatorKind.OwnsCertificate(crt, namespace, name)
}

// CACertsFound is what a reader found in istiod's namespace of the
// Certificates and the Secret cacerts: the inputs of CACertsObstacles.
type CACertsFound struct {
	// Namespace is istiod's.
	Namespace string
	// Writers are the Certificates whose spec.secretName is cacerts, and
	// IssuedWriters those whose spec.secretName is cacerts-issued.
	Writers, IssuedWriters []*cmapi.Certificate
	// Named is the Certificate named cacerts; nil when there is none.
	Named *cmapi.Certificate
	// Secret is the Secret cacerts (its metadata is enough); nil when it
	// does not exist or the reader holds no Secrets.
	Secret metav1.Object
	// SecretUnreadable says the reader was not allowed to read the Secret.
	SecretUnreadable bool
}

// CACertsObstacles decides whether meshcert may own istiod's Certificate
// cacerts, the Secret cacerts-issued cert-manager writes for it and the
// Secret cacerts meshcert composes from that (package meshca) for the
// IstioOperator operator, and words why not: one message per obstacle, none
// when it may. The planner reports each as finding MC6005, the controller's
// live read of the Secret as an Event, so both say the same. In the way are:
// another Certificate writing either Secret (not meshcert's, or another
// IstioOperator's); a Certificate named cacerts that is not meshcert's and
// writes another Secret; a Secret cacerts that meshcert did not compose for
// this IstioOperator and cert-manager did not write for a Certificate
// cacerts (a plugged-in CA made by hand, which meshcert would overwrite);
// and a Secret meshcert may not read, since that could be such a CA.
// meshcert's own Certificate cacerts from before it composed the Secret
// writes cacerts itself; it is no obstacle, it is moved.
func CACertsObstacles(kind Kind, operator types.NamespacedName, found CACertsFound) []string {
	var out []string
	ours := func(crt *cmapi.Certificate) bool {
		return crt.Name == CACertsSecret && kind.OwnsCertificate(crt, operator.Namespace, operator.Name)
	}
	for _, crt := range slices.Concat(found.Writers, found.IssuedWriters) {
		if ours(crt) {
			continue
		}
		owner := "not meshcert's"
		if otherKind, other, ok := ownerOf(crt); ok {
			owner = "meshcert's for " + otherKind.describe(other)
		} else if certs.IsManagedCertificate(crt) {
			owner = "meshcert's for Gateway " + crt.Annotations[certs.AnnotationGateway]
		}
		out = append(out, fmt.Sprintf(
			"Certificate %s/%s (%s) already writes istiod's Secret %q; meshcert leaves it alone and makes no mesh CA here: remove that Certificate, or the issuer annotation",
			crt.Namespace, crt.Name, owner, crt.Spec.SecretName))
	}
	if found.Named != nil && !ours(found.Named) && found.Named.Spec.SecretName != CACertsSecret {
		out = append(out, fmt.Sprintf(
			"a Certificate %s/%s exists for Secret %q; meshcert leaves it alone and makes no mesh CA here: rename or remove it",
			found.Namespace, CACertsSecret, found.Named.Spec.SecretName))
	}
	switch {
	case found.SecretUnreadable:
		out = append(out, fmt.Sprintf(
			"meshcert may not read Secret %s/%s, so it cannot tell a plugged-in CA from none and makes no mesh CA: grant get on that Secret (the chart's istiodNamespace Role)",
			found.Namespace, CACertsSecret))
	case found.Secret != nil && composedForOther(kind, operator, found.Secret.GetAnnotations()) != "":
		out = append(out, fmt.Sprintf(
			"Secret %s/%s is istiod's CA as meshcert composes it for %s, and one istiod has one CA: remove the issuer annotation from one of the two",
			found.Namespace, CACertsSecret, kind.describe(composedForOther(kind, operator, found.Secret.GetAnnotations()))))
	case found.Secret != nil && foreignCACerts(kind, operator, found.Secret.GetAnnotations()):
		out = append(out, fmt.Sprintf(
			"Secret %s/%s exists and cert-manager did not write it (a plugged-in CA made by hand?); a Certificate would overwrite it and replace istiod's CA, so meshcert makes none: move that Secret away to let meshcert manage istiod's CA, or remove the issuer annotation",
			found.Namespace, CACertsSecret))
	}
	return out
}

// foreignCACerts reports whether a Secret cacerts with these annotations is
// neither one meshcert composed for operator nor one cert-manager wrote for
// a Certificate named cacerts (meshcert's, before it composed the Secret).
func foreignCACerts(kind Kind, operator types.NamespacedName, secretAnnotations map[string]string) bool {
	if _, ok := secretAnnotations[kind.ownerAnnotation]; !ok {
		for _, other := range Kinds {
			if _, ok := secretAnnotations[other.ownerAnnotation]; ok {
				return true // composed for an object of another kind
			}
		}
	}
	if owner, ok := secretAnnotations[kind.ownerAnnotation]; ok {
		return owner != kind.Key(operator.Namespace, operator.Name)
	}
	return secretAnnotations[certificateNameAnnotation] != CACertsSecret
}

// composedForOther returns the key of the other object of kind a Secret
// cacerts with these annotations was composed for, or "".
func composedForOther(kind Kind, operator types.NamespacedName, secretAnnotations map[string]string) string {
	if owner, ok := secretAnnotations[kind.ownerAnnotation]; ok && owner != kind.Key(operator.Namespace, operator.Name) {
		return owner
	}
	return ""
}

// cacertsFree reports whether meshcert may own the cacerts Certificate, and
// reports what is in the way otherwise. A lookup that holds no Secrets knows
// none here: the controller reads the Secret itself before it creates the
// Certificate.
func (pl *planner) cacertsFree(ctx context.Context, namespace string) bool {
	found := CACertsFound{
		Namespace:     namespace,
		Writers:       pl.lookup.CertificatesForSecret(ctx, namespace, CACertsSecret),
		IssuedWriters: pl.lookup.CertificatesForSecret(ctx, namespace, meshca.IssuedSecret),
	}
	if crt, ok := pl.lookup.Certificate(ctx, namespace, CACertsSecret); ok {
		found.Named = crt
	}
	if secret, known := pl.lookup.Secret(ctx, namespace, CACertsSecret); known && secret != nil {
		found.Secret = secret
	}
	obstacles := CACertsObstacles(pl.kind, types.NamespacedName{Namespace: pl.obj.GetNamespace(), Name: pl.obj.GetName()}, found)
	for _, msg := range obstacles {
		pl.Warningf(finding.CodeCACertsNotOwned, annotationsPath, "%s", msg)
	}
	return len(obstacles) == 0
}
