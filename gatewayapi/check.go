package gatewayapi

import (
	"context"
	"slices"
	"strconv"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// checkShimCertificate judges a Certificate the shim will create as
// meshcert judges any Certificate (certs.CheckCertificate: the issuer,
// cert-manager's validation, the ACME solver for each name), and reports
// each finding on the object the user wrote: a name on the listener whose
// hostname brought it, the issuer on the annotation that named it. It
// reports whether cert-manager's webhook refuses the Certificate (MC3007,
// MC5001), which then never exists.
// warned holds the fields p.stricter already speaks of.
func (p *ShimPlan) checkShimCertificate(ctx context.Context, b *finding.Builder, crt *cmapi.Certificate, warned map[string]bool, lookup certs.Lookup, opts certs.Options) (refused bool) {
	for _, f := range certs.CheckCertificate(ctx, crt, lookup, opts) {
		webhook := f.Severity == finding.SeverityError && webhookRefuses(f.Code, crt.Spec.IssuerRef)
		refused = refused || webhook
		path := p.fieldOf(crt, f.Field)
		if !webhook && warned[path.String()] {
			// cert-manager takes the annotation; the warning on it already
			// says what meshcert thinks of it.
			continue
		}
		b.Addf(f.Severity, f.Code, path,
			"the Certificate %s/%s cert-manager's gateway-shim creates for this %s: %s: %s",
			crt.Namespace, crt.Name, p.Object.Kind, f.Field, f.Message)
	}
	return refused
}

// webhookRefuses says whether a CheckCertificate error restates
// cert-manager's webhook validation, so the Certificate is never stored:
// MC3007 always; MC5001, its issuerRef rule said apart, for a missing name
// or a kind cert-manager.io does not have. An external issuer's group
// without a kind passes the webhook (the Certificate is stored, and no
// issuer ever signs it).
func webhookRefuses(code finding.Code, ref cmmeta.IssuerReference) bool {
	if code == finding.CodeInvalidIssuerRef {
		return strings.TrimSpace(ref.Name) == "" || ref.Group == "" || ref.Group == certs.CertManagerGroup
	}
	return code == finding.CodeCertificateRejected
}

// fieldOf maps a field of a planned Certificate to the field of the object
// that decided it.
func (p *ShimPlan) fieldOf(crt *cmapi.Certificate, certField string) *field.Path {
	annotations := field.NewPath("metadata", "annotations")
	switch {
	case strings.HasPrefix(certField, "spec.dnsNames["), strings.HasPrefix(certField, "spec.ipAddresses["):
		if l, ok := p.listenerOf(crt, certField); ok {
			return l.Path().Child("hostname")
		}
		if strings.HasPrefix(certField, "spec.dnsNames[") {
			return annotations.Key(cmapi.AltNamesAnnotationKey)
		}
		return annotations.Key(cmapi.IPSANAnnotationKey)
	case strings.HasPrefix(certField, "spec.issuerRef"):
		keys := []string{cmapi.IngressClusterIssuerNameAnnotationKey, cmapi.IngressIssuerNameAnnotationKey}
		switch {
		case strings.HasPrefix(certField, "spec.issuerRef.kind"):
			keys = append([]string{cmapi.IssuerKindAnnotationKey}, keys...)
		case strings.HasPrefix(certField, "spec.issuerRef.group"):
			keys = append([]string{cmapi.IssuerGroupAnnotationKey}, keys...)
		}
		for _, key := range keys {
			if _, ok := p.Annotations[key]; ok {
				return annotations.Key(key)
			}
		}
	case strings.HasPrefix(certField, "spec.secretName"):
		if ls := p.Hosts[crt.Namespace+"/"+crt.Name]; len(ls) > 0 {
			return ls[0].Path().Child("tls", "certificateRefs")
		}
	}
	for _, a := range specAnnotations {
		if _, ok := p.Annotations[a.key]; ok && (certField == a.field || strings.HasPrefix(certField, a.field+".") || strings.HasPrefix(certField, a.field+"[")) {
			return annotations.Key(a.key)
		}
	}
	return annotations
}

// specAnnotations map the Certificate fields the shim sets from an
// annotation to that annotation, so a finding on the field is reported
// where the user wrote it.
var specAnnotations = []struct{ field, key string }{
	{"spec.commonName", cmapi.CommonNameAnnotationKey},
	{"spec.emailAddresses", cmapi.EmailsAnnotationKey},
	{"spec.duration", cmapi.DurationAnnotationKey},
	{"spec.renewBefore", cmapi.RenewBeforeAnnotationKey},
	{"spec.renewBeforePercentage", cmapi.RenewBeforePercentageAnnotationKey},
	{"spec.usages", cmapi.UsagesAnnotationKey},
	{"spec.revisionHistoryLimit", cmapi.RevisionHistoryLimitAnnotationKey},
	{"spec.privateKey.algorithm", cmapi.PrivateKeyAlgorithmAnnotationKey},
	{"spec.privateKey.encoding", cmapi.PrivateKeyEncodingAnnotationKey},
	{"spec.privateKey.size", cmapi.PrivateKeySizeAnnotationKey},
	{"spec.privateKey.rotationPolicy", cmapi.PrivateKeyRotationPolicyAnnotationKey},
	{"spec.privateKey", cmapi.PrivateKeySizeAnnotationKey},
	{"spec.secretTemplate", cmapi.IngressSecretTemplate},
	{"spec.subject.organizations", cmapi.SubjectOrganizationsAnnotationKey},
	{"spec.subject.organizationalUnits", cmapi.SubjectOrganizationalUnitsAnnotationKey},
	{"spec.subject.countries", cmapi.SubjectCountriesAnnotationKey},
	{"spec.subject.provinces", cmapi.SubjectProvincesAnnotationKey},
	{"spec.subject.localities", cmapi.SubjectLocalitiesAnnotationKey},
	{"spec.subject.postalCodes", cmapi.SubjectPostalCodesAnnotationKey},
	{"spec.subject.streetAddresses", cmapi.SubjectStreetAddressesAnnotationKey},
	{"spec.subject.serialNumber", cmapi.SubjectSerialNumberAnnotationKey},
}

// listenerOf finds the listener whose hostname is the Certificate's name at
// certField (spec.dnsNames[i] or spec.ipAddresses[i]). Listener hostnames
// come first, de-duplicated, so a later repeat of a name is an alt-name.
func (p *ShimPlan) listenerOf(crt *cmapi.Certificate, certField string) (Listener, bool) {
	list, rest := crt.Spec.DNSNames, strings.TrimPrefix(certField, "spec.dnsNames[")
	if strings.HasPrefix(certField, "spec.ipAddresses[") {
		list, rest = crt.Spec.IPAddresses, strings.TrimPrefix(certField, "spec.ipAddresses[")
	}
	i, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if err != nil || i < 0 || i >= len(list) || slices.Index(list, list[i]) != i {
		return Listener{}, false
	}
	for _, l := range p.Hosts[crt.Namespace+"/"+crt.Name] {
		if l.Hostname == list[i] {
			return l, true
		}
	}
	return Listener{}, false
}

// Parents is what a certs.Lookup knows of Gateway API objects, so a
// ListenerSet finds its parent Gateway and a gatewayHTTPRoute solver its
// route's parents (RouteParent); a lookup without it knows none. The CLI's
// offline.Index knows every object of its input; the server's
// cluster.Lookup those of the kinds whose CRDs were installed when it
// started.
type Parents interface {
	// KnowsGatewayAPI reports whether the lookup holds the objects of kind
	// (KindGateway, KindListenerSet) at all, so that "not found" means
	// there is none.
	KnowsGatewayAPI(ctx context.Context, kind string) bool
	// APIGateway returns the Gateway namespace/name, if known.
	APIGateway(ctx context.Context, namespace, name string) (*Object, bool)
	// ListenerSet returns the ListenerSet namespace/name, if known.
	ListenerSet(ctx context.Context, namespace, name string) (*Object, bool)
}

// RouteParent answers certs.RouteParents from what parents knows: the
// Gateway or ListenerSet (kind) namespace/name as a route attaching to it
// sees it, with a ListenerSet's Gateway.
func RouteParent(ctx context.Context, parents Parents, kind, namespace, name string) (*certs.RouteParent, bool) {
	if kind != KindGateway && kind != KindListenerSet || !parents.KnowsGatewayAPI(ctx, kind) {
		return nil, false
	}
	get := parents.APIGateway
	if kind == KindListenerSet {
		get = parents.ListenerSet
	}
	obj, found := get(ctx, namespace, name)
	if !found {
		return nil, true
	}
	out := obj.routeParent()
	if kind == KindListenerSet {
		out.GatewayNamespace, out.GatewayName = obj.ParentNamespace, obj.ParentName
		if gw, found := parents.APIGateway(ctx, obj.ParentNamespace, obj.ParentName); found {
			out.Gateway = gw.routeParent()
		}
	}
	return out, true
}

// routeParent is o as a route attaching to it sees it.
func (o *Object) routeParent() *certs.RouteParent {
	out := &certs.RouteParent{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, AllowedListeners: o.AllowedListeners}
	for _, l := range o.Listeners {
		rl := certs.RouteListener{Index: l.Index, Name: l.Name, Port: l.Port, Protocol: l.Protocol, AllowedRoutes: l.AllowedRoutes}
		if l.HasHostname {
			hostname := l.Hostname
			rl.Hostname = &hostname
		}
		out.Listeners = append(out.Listeners, rl)
	}
	return out
}

// Plan is everything meshcert says about one Gateway API object, the same
// for the CLI, the webhook and the controller: what the shim will create
// (PlanShim, its parent Gateway found through lookup), less the
// Certificates cert-manager's webhook refuses, and the findings on both the
// object and those Certificates.
func Plan(ctx context.Context, obj *Object, lookup certs.Lookup, opts certs.Options, shim ShimOptions) *ShimPlan {
	b := finding.Builder{Object: obj.Ref}
	parent, parentKnown := parentOf(ctx, obj, lookup)
	placeholder := obj.Kind == KindListenerSet && parent == nil
	if placeholder {
		if parentKnown {
			b.Addf(opts.Lenient(), finding.CodeListenerSetParentUnknown, field.NewPath("spec", "parentRef"),
				"Gateway %s/%s is not known, and cert-manager's gateway-shim creates nothing for this ListenerSet until it exists; it then takes that Gateway's issuer-kind and issuer-group (and its issuer, where this ListenerSet names none): apply the Gateway, or fix parentRef",
				obj.ParentNamespace, obj.ParentName)
		} else if _, ok := lookup.(Parents); ok && obj.ParentName != "" {
			// A lookup that could know Gateways and does not: the server,
			// started before the Gateway API CRDs were installed.
			b.Addf(opts.Lenient(), finding.CodeListenerSetParentUnknown, field.NewPath("spec", "parentRef"),
				"meshcert knows no Gateway API Gateways (their CRD was not installed when it started), so it cannot see Gateway %s/%s, whose issuer-kind and issuer-group (and issuer, where this ListenerSet names none) cert-manager's gateway-shim adds: restart meshcert",
				obj.ParentNamespace, obj.ParentName)
		}
		// Still check what the ListenerSet says itself, as if its parent
		// added nothing; the shim writes nothing yet.
		parent = &Object{Kind: KindGateway, Namespace: obj.ParentNamespace, Name: obj.ParentName}
	}
	plan := PlanShim(obj, parent, shim)
	b.Append(inheritedFrom(obj, parent, plan.Findings)...)
	warned := map[string]bool{}
	for _, f := range plan.stricter {
		warned[f.Field] = true
	}
	hijacked := credentialHijacks(ctx, &b, obj, lookup, opts)
	// The shim creates a Certificate held back by another of its name as
	// soon as that one is gone (a Gateway replaced, a Certificate deleted),
	// so the policy holds every one it would write.
	predicted := plan.Certificates
	stored := plan.Certificates[:0:0]
	for _, crt := range plan.Certificates {
		if existing, ok := lookup.Certificate(ctx, crt.Namespace, crt.Name); ok && !controlledBy(existing, obj) {
			if hijacked[crt.Namespace+"/"+crt.Spec.SecretName] {
				continue // the error on the listener says more
			}
			// The shim leaves a Certificate it does not control alone,
			// with a log line only, so these hosts get no certificate.
			b.Warningf(finding.CodeCertificateNotOwned, plan.fieldOf(crt, "spec.secretName"),
				"Certificate %s/%s already exists and is not this %s's (%s), so cert-manager's gateway-shim leaves it alone and %s get no certificate from it: name another Secret in certificateRefs, or remove that Certificate",
				crt.Namespace, crt.Name, obj.Kind, ownerText(existing, obj), certs.QuoteJoin(append(slices.Clone(crt.Spec.DNSNames), crt.Spec.IPAddresses...)))
			continue
		}
		if !plan.checkShimCertificate(ctx, &b, crt, warned, lookup, opts) {
			stored = append(stored, crt)
		}
	}
	if len(stored) == len(plan.Certificates) {
		// Said only when no refusal says it already.
		b.Append(inheritedFrom(obj, parent, plan.stricter)...)
	}
	plan.Certificates = stored
	if placeholder {
		plan.Certificates = nil
	}
	if !placeholder && len(predicted) > 0 {
		// The shim issues whatever a listener names, so the namespace's
		// policy is held to what it will create, as to a managed Gateway.
		policy := finding.Builder{Object: obj.Ref}
		certs.CheckPolicyOf(ctx, &policy, obj.Namespace, predicted, plan.fieldOf, lookup, opts)
		b.Append(inheritedFrom(obj, parent, policy.Findings())...)
	}
	if obj.Kind == KindGateway {
		attachedOutsidePolicy(ctx, &b, obj, lookup, opts, shim)
	}
	if !placeholder {
		// What istiod, the controller of class istio, will mark on the
		// listeners (listeners.go).
		checkIstioListeners(ctx, &b, obj, parent, lookup, opts, plan.Certificates)
	}
	plan.Findings = b.Findings()
	plan.Findings.Sort()
	return plan
}

// controlledBy is the shim's test (metav1.IsControlledBy): a controller
// owner reference to obj. Objects read from files have no UID, so there
// the kind and name decide.
func controlledBy(crt *cmapi.Certificate, obj *Object) bool {
	ref := metav1.GetControllerOfNoCopy(crt)
	switch {
	case ref == nil:
		return false
	case obj.UID != "" && ref.UID != "":
		return string(ref.UID) == obj.UID
	}
	return ref.Kind == obj.Kind && ref.Name == obj.Name
}

// ownerText says whose a Certificate is, for a message about obj.
func ownerText(crt *cmapi.Certificate, obj *Object) string {
	if ref := metav1.GetControllerOfNoCopy(crt); ref != nil {
		if ref.Kind == obj.Kind && ref.Name == obj.Name && crt.Namespace == obj.Namespace {
			// Deleted and created again: the garbage collector deletes the
			// old object's Certificate, and the shim then writes its own.
			return "it is an earlier " + ref.Kind + " " + crt.Namespace + "/" + ref.Name + "'s, deleted since, and goes once Kubernetes' garbage collector removes it"
		}
		return "it is " + ref.Kind + " " + crt.Namespace + "/" + ref.Name + "'s"
	}
	if certs.IsManagedCertificate(crt) {
		return "meshcert writes it for Gateway " + crt.Annotations[certs.AnnotationGateway]
	}
	return "it has no controller"
}

// parentOf finds a ListenerSet's parent Gateway through lookup, and says
// whether the lookup knows Gateway API Gateways at all.
func parentOf(ctx context.Context, obj *Object, lookup certs.Lookup) (*Object, bool) {
	parents, ok := lookup.(Parents)
	ok = ok && parents.KnowsGatewayAPI(ctx, KindGateway)
	if !ok || obj.Kind != KindListenerSet || obj.ParentName == "" {
		return nil, ok
	}
	parent, _ := parents.APIGateway(ctx, obj.ParentNamespace, obj.ParentName)
	return parent, true
}

// inheritedFrom returns findings about obj, those on an annotation a
// ListenerSet took from its parent Gateway saying where to fix it.
func inheritedFrom(obj, parent *Object, findings finding.Findings) finding.Findings {
	if obj.Kind != KindListenerSet || parent == nil {
		return findings
	}
	out := make(finding.Findings, 0, len(findings))
	for _, f := range findings {
		key := annotationKeyOf(f.Field)
		if _, own := obj.Annotations[key]; key != "" && !own {
			if _, inherited := parent.Annotations[key]; inherited {
				f.Message += " (this ListenerSet takes " + key + " from Gateway " + parent.Namespace + "/" + parent.Name + ": fix it there)"
			}
		}
		out = append(out, f)
	}
	return out
}
