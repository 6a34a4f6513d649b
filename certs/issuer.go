package certs

import (
	"fmt"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CertManagerGroup is cert-manager's API group; an issuerRef with an empty
// group means this group.
const CertManagerGroup = "cert-manager.io"

var annotationsPath = field.NewPath("metadata", "annotations")

func annotationPath(key string) *field.Path { return annotationsPath.Key(key) }

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

// issuerFromAnnotations resolves the issuer for a Gateway exactly as
// cert-manager's ingress-shim does for an Ingress: the default first, then
// cert-manager.io/issuer, cluster-issuer, issuer-kind and issuer-group on
// top, with cert-manager's three configuration errors reported as findings.
func issuerFromAnnotations(ref ObjectRef, annotations map[string]string, def cmmeta.IssuerReference) (cmmeta.IssuerReference, issuerSource, Findings) {
	issuer := def
	src := issuerSource{}
	var findings Findings
	bad := func(key, msg string) {
		findings = append(findings, Finding{
			Severity: SeverityError,
			Code:     CodeInvalidIssuerAnnotation,
			Object:   ref,
			Field:    annotationPath(key).String(),
			Message:  msg,
		})
	}

	issuerName, issuerSet := annotations[cmapi.IngressIssuerNameAnnotationKey]
	if issuerSet {
		issuer.Name, issuer.Kind = issuerName, cmapi.IssuerKind
		src.field = cmapi.IngressIssuerNameAnnotationKey
	}
	clusterIssuerName, clusterIssuerSet := annotations[cmapi.IngressClusterIssuerNameAnnotationKey]
	if clusterIssuerSet {
		issuer.Name, issuer.Kind = clusterIssuerName, cmapi.ClusterIssuerKind
		src.field = cmapi.IngressClusterIssuerNameAnnotationKey
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
		bad(cmapi.IngressClusterIssuerNameAnnotationKey, fmt.Sprintf("both %q and %q may not be set; keep the one you mean",
			cmapi.IngressIssuerNameAnnotationKey, cmapi.IngressClusterIssuerNameAnnotationKey))
	}
	if clusterIssuerSet && groupSet {
		bad(cmapi.IssuerGroupAnnotationKey, fmt.Sprintf("both %q and %q may not be set; an external cluster-scoped issuer is named with %q plus %q and %q",
			cmapi.IngressClusterIssuerNameAnnotationKey, cmapi.IssuerGroupAnnotationKey,
			cmapi.IngressIssuerNameAnnotationKey, cmapi.IssuerKindAnnotationKey, cmapi.IssuerGroupAnnotationKey))
	}
	if clusterIssuerSet && kindSet {
		bad(cmapi.IssuerKindAnnotationKey, fmt.Sprintf("both %q and %q may not be set; %q always means kind ClusterIssuer",
			cmapi.IngressClusterIssuerNameAnnotationKey, cmapi.IssuerKindAnnotationKey, cmapi.IngressClusterIssuerNameAnnotationKey))
	}
	if strings.TrimSpace(issuer.Name) == "" {
		key := src.field
		if key == "" {
			key = cmapi.IngressIssuerNameAnnotationKey
		}
		bad(key, fmt.Sprintf("no issuer name: set %q or %q to a non-empty name (or configure a default issuer)",
			cmapi.IngressIssuerNameAnnotationKey, cmapi.IngressClusterIssuerNameAnnotationKey))
	}
	return issuer, src, findings
}

// isCertManagerGroup reports whether an issuerRef group means cert-manager's
// own issuers, which meshcert can look up.
func isCertManagerGroup(group string) bool {
	return group == "" || group == CertManagerGroup
}

// issuerKindOf defaults an empty kind to Issuer, as cert-manager does.
func issuerKindOf(ref cmmeta.IssuerReference) string {
	if ref.Kind == "" {
		return cmapi.IssuerKind
	}
	return ref.Kind
}

// IssuerCheck is what the issuer checks need to know about one issuerRef.
type IssuerCheck struct {
	// Object and Field are where the finding points: the Certificate's
	// spec.issuerRef, or the Gateway annotation that chose the issuer.
	Object ObjectRef
	Field  string
	// Ref is the issuerRef as cert-manager will see it.
	Ref cmmeta.IssuerReference
	// Namespace is where the Certificate lives (and so where an Issuer must be).
	Namespace string
	// FromGateway means the issuer was chosen on a Gateway whose own
	// namespace differs from Namespace, so messages explain the credential
	// namespace.
	FromGateway      bool
	GatewayNamespace string
}

// checkIssuerRef validates an issuerRef against the lookup: kind and group,
// existence in this cluster, the namespace rule for Issuers, and readiness.
// It returns the issuer when found, so callers can look at its type.
func checkIssuerRef(c IssuerCheck, lookup Lookup, opts Options) (cmapi.GenericIssuer, Findings) {
	finding := func(sev Severity, code Code, msg string) Finding {
		return Finding{Severity: sev, Code: code, Object: c.Object, Field: c.Field, Message: msg}
	}
	if strings.TrimSpace(c.Ref.Name) == "" {
		return nil, Findings{finding(SeverityError, CodeInvalidIssuerRef, "the issuerRef has no name; name the Issuer or ClusterIssuer that should sign this certificate")}
	}
	if !isCertManagerGroup(c.Ref.Group) {
		// An external issuer (another group): its kinds are its own and it
		// cannot be looked up generically, so there is nothing more to check.
		if c.Ref.Kind == "" {
			return nil, Findings{finding(SeverityError, CodeInvalidIssuerRef, fmt.Sprintf("the issuerRef names group %q but no kind; external issuers need the kind their controller serves", c.Ref.Group))}
		}
		return nil, nil
	}
	kind := issuerKindOf(c.Ref)
	switch kind {
	case cmapi.IssuerKind:
		if iss, ok := lookup.Issuer(c.Namespace, c.Ref.Name); ok {
			return iss, readiness(c, iss, finding)
		}
		if others := lookup.IssuerNamespaces(c.Ref.Name); len(others) > 0 {
			msg := fmt.Sprintf("Issuer %q is not in namespace %q, where the Certificate lives; it exists only in %s, and a Certificate can only use an Issuer in its own namespace: create the Issuer in %q or use a ClusterIssuer",
				c.Ref.Name, c.Namespace, quoteJoin(others), c.Namespace)
			if c.FromGateway {
				msg = fmt.Sprintf("Issuer %q is not in %q, the credential namespace where meshcert creates this Gateway's Certificate; it exists only in %s: create it in %q or use %s with a ClusterIssuer",
					c.Ref.Name, c.Namespace, quoteJoin(others), c.Namespace, cmapi.IngressClusterIssuerNameAnnotationKey)
			}
			return nil, Findings{finding(opts.lenient(), CodeIssuerInOtherNamespace, msg)}
		}
		msg := fmt.Sprintf("Issuer %q not found in namespace %q; an issuerRef can only name an issuer in the same cluster and, for kind Issuer, the same namespace: create it there or use a ClusterIssuer", c.Ref.Name, c.Namespace)
		if c.FromGateway {
			msg = fmt.Sprintf("Issuer %q not found in %q, the credential namespace where meshcert creates this Gateway's Certificate; create it there or use %s", c.Ref.Name, c.Namespace, cmapi.IngressClusterIssuerNameAnnotationKey)
		}
		return nil, Findings{finding(opts.lenient(), CodeIssuerNotFound, msg)}
	case cmapi.ClusterIssuerKind:
		if iss, ok := lookup.ClusterIssuer(c.Ref.Name); ok {
			return iss, readiness(c, iss, finding)
		}
		return nil, Findings{finding(opts.lenient(), CodeIssuerNotFound, fmt.Sprintf(
			"ClusterIssuer %q not found in this cluster; an issuerRef can only name an issuer in the same cluster (cert-manager cannot use another cluster's issuer): create the ClusterIssuer here or fix the name", c.Ref.Name))}
	default:
		return nil, Findings{finding(SeverityError, CodeInvalidIssuerRef, fmt.Sprintf(
			"kind %q is not a cert-manager.io issuer kind; use Issuer or ClusterIssuer, or set the group of the external issuer that serves this kind", kind))}
	}
}

func readiness(c IssuerCheck, iss cmapi.GenericIssuer, finding func(Severity, Code, string) Finding) Findings {
	conds := iss.GetStatus().Conditions
	if len(conds) == 0 {
		// No status at all: a manifest, or an issuer cert-manager has not
		// looked at yet. Nothing to say.
		return nil
	}
	for _, cond := range conds {
		if cond.Type == cmapi.IssuerConditionReady {
			if cond.Status == cmmeta.ConditionTrue {
				return nil
			}
			return Findings{finding(SeverityWarning, CodeIssuerNotReady, fmt.Sprintf("%s %q is not Ready (%s: %s); certificates will not be issued until it is",
				issuerKindOf(c.Ref), c.Ref.Name, cond.Reason, cond.Message))}
		}
	}
	return Findings{finding(SeverityWarning, CodeIssuerNotReady, fmt.Sprintf("%s %q has no Ready condition yet; certificates will not be issued until it is Ready", issuerKindOf(c.Ref), c.Ref.Name))}
}

func quoteJoin(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(quoted, ", ")
}
