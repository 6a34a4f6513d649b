package certs

import (
	"context"
	"strconv"
	"strings"

	apiutil "github.com/cert-manager/cert-manager/pkg/api/util"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// issuerAnnotationKeys are the annotations that make a Gateway managed by
// naming its issuer, as cert-manager's ingress-shim reads them.
var issuerAnnotationKeys = []string{
	cmapi.IngressIssuerNameAnnotationKey,
	cmapi.IngressClusterIssuerNameAnnotationKey,
	cmapi.IssuerKindAnnotationKey,
	cmapi.IssuerGroupAnnotationKey,
}

func hasIssuerAnnotation(annotations map[string]string) bool {
	for _, k := range issuerAnnotationKeys {
		if _, ok := annotations[k]; ok {
			return true
		}
	}
	return false
}

// issuerSource says where an issuerRef came from, for field paths and messages.
type issuerSource struct {
	// field is the annotation that named the issuer, or "" for the default.
	field string
}

// issuerAnnotationKey is the annotation that names the issuer, as the shim
// reads them (cluster-issuer over issuer), or "" for the default issuer.
func issuerAnnotationKey(annotations map[string]string) string {
	for _, key := range []string{cmapi.IngressClusterIssuerNameAnnotationKey, cmapi.IngressIssuerNameAnnotationKey} {
		if _, ok := annotations[key]; ok {
			return key
		}
	}
	return ""
}

// issuerFromAnnotations resolves the issuer for a Gateway exactly as
// cert-manager's ingress-shim does for an Ingress: the default first, then
// cert-manager.io/issuer, cluster-issuer, issuer-kind and issuer-group on
// top, with cert-manager's three configuration errors reported as findings.
// It reports whether the annotations were valid.
func issuerFromAnnotations(b *finding.Builder, annotations map[string]string, def cmmeta.IssuerReference) (cmmeta.IssuerReference, issuerSource, bool) {
	issuer := def
	src := issuerSource{}
	valid := true
	bad := func(key, format string, args ...any) {
		valid = false
		b.Errorf(finding.CodeInvalidIssuerAnnotation, annotationPath(key), format, args...)
	}

	src.field = issuerAnnotationKey(annotations)
	issuerName, issuerSet := annotations[cmapi.IngressIssuerNameAnnotationKey]
	if issuerSet {
		issuer.Name, issuer.Kind = issuerName, cmapi.IssuerKind
	}
	clusterIssuerName, clusterIssuerSet := annotations[cmapi.IngressClusterIssuerNameAnnotationKey]
	if clusterIssuerSet {
		issuer.Name, issuer.Kind = clusterIssuerName, cmapi.ClusterIssuerKind
	}
	kind, kindSet := annotations[cmapi.IssuerKindAnnotationKey]
	if kindSet {
		issuer.Kind = kind
	}
	group, groupSet := annotations[cmapi.IssuerGroupAnnotationKey]
	if groupSet {
		issuer.Group = group
	}

	if issuerSet && clusterIssuerSet {
		bad(cmapi.IngressClusterIssuerNameAnnotationKey, "both %q and %q may not be set; keep the one you mean",
			cmapi.IngressIssuerNameAnnotationKey, cmapi.IngressClusterIssuerNameAnnotationKey)
	}
	if clusterIssuerSet && groupSet {
		bad(cmapi.IssuerGroupAnnotationKey, "both %q and %q may not be set; an external cluster-scoped issuer is named with %q plus %q and %q",
			cmapi.IngressClusterIssuerNameAnnotationKey, cmapi.IssuerGroupAnnotationKey,
			cmapi.IngressIssuerNameAnnotationKey, cmapi.IssuerKindAnnotationKey, cmapi.IssuerGroupAnnotationKey)
	}
	if clusterIssuerSet && kindSet {
		bad(cmapi.IssuerKindAnnotationKey, "both %q and %q may not be set; %q always means kind ClusterIssuer",
			cmapi.IngressClusterIssuerNameAnnotationKey, cmapi.IssuerKindAnnotationKey, cmapi.IngressClusterIssuerNameAnnotationKey)
	}
	if strings.TrimSpace(issuer.Name) == "" {
		key := src.field
		if key == "" {
			key = cmapi.IngressIssuerNameAnnotationKey
		}
		bad(key, "no issuer name: set %q or %q to a non-empty name (or configure a default issuer)",
			cmapi.IngressIssuerNameAnnotationKey, cmapi.IngressClusterIssuerNameAnnotationKey)
	}
	return issuer, src, valid
}

// isCertManagerGroup reports whether an issuerRef group means cert-manager's
// own issuers, which meshcert can look up.
func isCertManagerGroup(group string) bool {
	return group == "" || group == CertManagerGroup
}

// issuerCheck is what the issuer checks need to know about one issuerRef.
type issuerCheck struct {
	// field is where the finding points: the Certificate's spec.issuerRef,
	// or the Gateway annotation that chose the issuer (nil: the default).
	field *field.Path
	// ref is the issuerRef as cert-manager will see it.
	ref cmmeta.IssuerReference
	// namespace is where the Certificate lives (and so where an Issuer must be).
	namespace string
	// fromGateway means the issuer was chosen on a Gateway whose own
	// namespace differs from namespace, so messages explain the credential
	// namespace.
	fromGateway bool
}

// checkIssuerRef validates an issuerRef against the lookup: kind and group,
// existence in this cluster, the namespace rule for Issuers, and readiness.
// It returns the issuer when found, so callers can look at its type.
func checkIssuerRef(ctx context.Context, b *finding.Builder, c issuerCheck, lookup Lookup, opts Options) cmapi.GenericIssuer {
	if strings.TrimSpace(c.ref.Name) == "" {
		b.Errorf(finding.CodeInvalidIssuerRef, c.field, "the issuerRef has no name; name the Issuer or ClusterIssuer that should sign this certificate")
		return nil
	}
	if !isCertManagerGroup(c.ref.Group) {
		// An external issuer (another group): its kinds are its own and it
		// cannot be looked up generically, so there is nothing more to check.
		if c.ref.Kind == "" {
			b.Errorf(finding.CodeInvalidIssuerRef, c.field, "the issuerRef names group %q but no kind; external issuers need the kind their controller serves", c.ref.Group)
		}
		return nil
	}
	kind := apiutil.IssuerKind(c.ref)
	switch kind {
	case cmapi.IssuerKind:
		if iss, ok := lookup.Issuer(ctx, c.namespace, c.ref.Name); ok {
			readiness(b, c, iss)
			return iss
		}
		if others := lookup.IssuerNamespaces(ctx, c.ref.Name); len(others) > 0 {
			if c.fromGateway {
				b.Addf(opts.lenient(), finding.CodeIssuerInOtherNamespace, c.field,
					"Issuer %q is not in %q, the credential namespace where meshcert creates this Gateway's Certificate; it exists only in %s: create it in %q or use %s with a ClusterIssuer",
					c.ref.Name, c.namespace, quoteJoin(others), c.namespace, cmapi.IngressClusterIssuerNameAnnotationKey)
				return nil
			}
			b.Addf(opts.lenient(), finding.CodeIssuerInOtherNamespace, c.field,
				"Issuer %q is not in namespace %q, where the Certificate lives; it exists only in %s, and a Certificate can only use an Issuer in its own namespace: create the Issuer in %q or use a ClusterIssuer",
				c.ref.Name, c.namespace, quoteJoin(others), c.namespace)
			return nil
		}
		if c.fromGateway {
			b.Addf(opts.lenient(), finding.CodeIssuerNotFound, c.field,
				"Issuer %q not found in %q, the credential namespace where meshcert creates this Gateway's Certificate; create it there or use %s",
				c.ref.Name, c.namespace, cmapi.IngressClusterIssuerNameAnnotationKey)
			return nil
		}
		b.Addf(opts.lenient(), finding.CodeIssuerNotFound, c.field,
			"Issuer %q not found in namespace %q; an issuerRef can only name an issuer in the same cluster and, for kind Issuer, the same namespace: create it there or use a ClusterIssuer",
			c.ref.Name, c.namespace)
		return nil
	case cmapi.ClusterIssuerKind:
		if iss, ok := lookup.ClusterIssuer(ctx, c.ref.Name); ok {
			readiness(b, c, iss)
			return iss
		}
		b.Addf(opts.lenient(), finding.CodeIssuerNotFound, c.field,
			"ClusterIssuer %q not found in this cluster; an issuerRef can only name an issuer in the same cluster (cert-manager cannot use another cluster's issuer): create the ClusterIssuer here or fix the name", c.ref.Name)
		return nil
	default:
		b.Errorf(finding.CodeInvalidIssuerRef, c.field,
			"kind %q is not a cert-manager.io issuer kind; use Issuer or ClusterIssuer, or set the group of the external issuer that serves this kind", kind)
		return nil
	}
}

func readiness(b *finding.Builder, c issuerCheck, iss cmapi.GenericIssuer) {
	conds := iss.GetStatus().Conditions
	if len(conds) == 0 {
		// No status at all: a manifest, or an issuer cert-manager has not
		// looked at yet. Nothing to say.
		return
	}
	for _, cond := range conds {
		if cond.Type == cmapi.IssuerConditionReady {
			if cond.Status != cmmeta.ConditionTrue {
				b.Warningf(finding.CodeIssuerNotReady, c.field, "%s %q is not Ready (%s: %s); certificates will not be issued until it is",
					apiutil.IssuerKind(c.ref), c.ref.Name, cond.Reason, cond.Message)
			}
			return
		}
	}
	b.Warningf(finding.CodeIssuerNotReady, c.field, "%s %q has no Ready condition yet; certificates will not be issued until it is Ready", apiutil.IssuerKind(c.ref), c.ref.Name)
}

func quoteJoin(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = strconv.Quote(s)
	}
	return strings.Join(quoted, ", ")
}
