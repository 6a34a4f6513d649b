package certs

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshcert/meshcert/finding"
)

// The Gateway API vocabulary of the HTTPRoute a gatewayHTTPRoute solver
// creates (sigs.k8s.io/gateway-api apis/v1).
const (
	gatewayAPIGroup     = gwapi.GroupName
	kindGateway         = "Gateway"
	kindListenerSet     = "ListenerSet"
	kindHTTPRoute       = "HTTPRoute"
	listenerHTTP        = string(gwapi.HTTPProtocolType)
	acmeHTTP01Port      = 80
	namespaceNameLabel  = corev1.LabelMetadataName
	parentRefAnnotation = cmacme.ACMECertificateHTTP01ParentRefName
)

// routeParentRef is one parentRef of the HTTPRoute a gatewayHTTPRoute
// solver creates, and whether it came from the Certificate's annotations.
type routeParentRef struct {
	gwapi.ParentReference
	fromAnnotations bool
}

// solverParentRefs are the parentRefs of the HTTPRoute cert-manager creates
// for a gatewayHTTPRoute solver, as its acmeorders controller sets them
// (applyGatewayAPIAnnotationParentRefOverride): the solver's, with the
// Certificate's (the Order's) parentRef annotations, when both name and
// kind are there, replacing a solver parentRef of that namespace, name and
// kind (or no kind), and added last. namespace is the Certificate's. It
// reports whether only one of name and kind is there, which cert-manager
// refuses.
func solverParentRefs(route *cmacme.ACMEChallengeSolverHTTP01GatewayHTTPRoute, namespace string, annotations map[string]string) (refs []routeParentRef, onlyOne bool) {
	name, hasName := annotations[cmacme.ACMECertificateHTTP01ParentRefName]
	kind, hasKind := annotations[cmacme.ACMECertificateHTTP01ParentRefKind]
	if hasName != hasKind {
		return nil, true
	}
	if !hasName {
		for _, ref := range route.ParentRefs {
			refs = append(refs, routeParentRef{ParentReference: ref})
		}
		return refs, false
	}
	if ns := annotations[cmacme.ACMECertificateHTTP01ParentRefNamespace]; ns != "" {
		namespace = ns
	}
	for _, ref := range route.ParentRefs {
		sameNamespace := ref.Namespace != nil && string(*ref.Namespace) == namespace
		sameKind := ref.Kind == nil || string(*ref.Kind) == kind
		if sameNamespace && string(ref.Name) == name && sameKind {
			continue
		}
		refs = append(refs, routeParentRef{ParentReference: ref})
	}
	ns, k := gwapi.Namespace(namespace), gwapi.Kind(kind)
	return append(refs, routeParentRef{
		ParentReference: gwapi.ParentReference{Name: gwapi.ObjectName(name), Namespace: &ns, Kind: &k},
		fromAnnotations: true,
	}), false
}

// routeParentRefs reports what keeps a gatewayHTTPRoute solver from working
// whatever its parents hold, and returns its HTTPRoute's parentRefs, nil
// when it cannot work.
func (c *http01Check) routeParentRefs(b *finding.Builder, id string, route *cmacme.ACMEChallengeSolverHTTP01GatewayHTTPRoute) []routeParentRef {
	kind, name := c.issuerKindName()
	refs, onlyOne := solverParentRefs(route, c.namespace, c.certificateAnnotations)
	switch {
	case onlyOne:
		b.Errorf(finding.CodeInvalidACMESolver, c.pathOf(id),
			"the certificate carries only one of %s and %s, and cert-manager fails the order of the gatewayHTTPRoute solver of ACME %s %q that would take %q (\"cannot specify only one of parentRefName, parentRefKind override annotations\"): set both, or neither",
			cmacme.ACMECertificateHTTP01ParentRefName, cmacme.ACMECertificateHTTP01ParentRefKind, kind, name, id)
		return nil
	case len(refs) == 0:
		b.Errorf(finding.CodeInvalidACMESolver, c.pathOf(id),
			"the gatewayHTTPRoute solver of ACME %s %q that would take %q has no parentRefs, so the HTTPRoute cert-manager creates for the challenge attaches to no Gateway and the challenge is never served: add parentRefs naming a Gateway API Gateway with an HTTP listener on port 80",
			kind, name, id)
		return nil
	}
	for _, ref := range refs {
		if ref.Port != nil && *ref.Port != acmeHTTP01Port {
			b.Errorf(finding.CodeInvalidACMESolver, c.pathOf(id),
				"the gatewayHTTPRoute solver of ACME %s %q that would take %q attaches to port %d of Gateway %q, but the ACME server sends HTTP-01 requests to port 80: use port 80, or leave the port out",
				kind, name, id, *ref.Port, string(ref.Name))
			return nil
		}
	}
	return refs
}

// checkRouteParents checks, where the lookup knows the Gateway API objects
// named, that each parentRef of the solver's HTTPRoute for id reaches a
// listener that accepts the route, as the Gateway API attaches one: the
// parentRef's sectionName and port select listeners; one of them must be
// HTTP on port 80 (the ACME server connects nowhere else), admit HTTPRoutes
// from the route's namespace (allowedRoutes), and have a hostname that
// matches id. A ListenerSet's listeners count only when its Gateway admits
// it. What does not depend on id is reported once per solver and
// parentRef. solver is the solver's index in the issuer.
func (c *http01Check) checkRouteParents(ctx context.Context, b *finding.Builder, id string, solver int, refs []routeParentRef) {
	parents, ok := c.lookup.(RouteParents)
	if !ok {
		return
	}
	for r, ref := range refs {
		group, kind := gatewayAPIGroup, kindGateway
		if ref.Group != nil {
			group = string(*ref.Group)
		}
		if ref.Kind != nil {
			kind = string(*ref.Kind)
		}
		if group != gatewayAPIGroup || (kind != kindGateway && kind != kindListenerSet) {
			// Not a parent that serves the ACME server's request.
			continue
		}
		namespace := c.namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			namespace = string(*ref.Namespace)
		}
		parent, known := parents.RouteParent(ctx, kind, namespace, string(ref.Name))
		if !known {
			continue
		}
		key := strconv.Itoa(solver) + "/" + strconv.Itoa(r)
		if c.parentReported[key] {
			continue
		}
		if problem := c.routeParentProblem(ctx, parent, ref); problem != "" {
			if c.parentReported == nil {
				c.parentReported = map[string]bool{}
			}
			c.parentReported[key] = true
			c.reportRouteParent(b, id, kind+" "+namespace+"/"+string(ref.Name), ref, problem, missingOf(parent))
			continue
		}
		c.checkRouteHostname(ctx, b, id, parent, ref)
	}
}

// routeParentProblem says why no listener of parent accepts the solver's
// HTTPRoute whatever its hostname, "" when some listener may.
func (c *http01Check) routeParentProblem(ctx context.Context, parent *RouteParent, ref routeParentRef) string {
	switch {
	case parent == nil:
		return "which does not exist"
	case parent.Kind == kindListenerSet && parent.Gateway == nil:
		return fmt.Sprintf("whose Gateway %s/%s does not exist, so its listeners serve nothing", parent.GatewayNamespace, parent.GatewayName)
	case parent.Kind == kindListenerSet:
		if ok, why := c.admitsNamespace(ctx, listenerSetsFrom(parent.Gateway.AllowedListeners), listenerSetsSelector(parent.Gateway.AllowedListeners), parent.Gateway.Namespace, parent.Namespace); !ok {
			return fmt.Sprintf("which Gateway %s/%s does not admit (its spec.allowedListeners %s), so its listeners serve nothing", parent.GatewayNamespace, parent.GatewayName, why)
		}
	}
	var reasons []string
	for _, l := range selectedListeners(parent, ref) {
		reason := c.listenerProblem(ctx, parent, l)
		if reason == "" {
			return ""
		}
		reasons = append(reasons, reason)
	}
	if len(reasons) == 0 {
		if ref.SectionName != nil {
			for _, l := range parent.Listeners {
				if l.Name == string(*ref.SectionName) && ref.Port != nil {
					return fmt.Sprintf("whose listener %q (sectionName) is on port %d, not on port %d (port), and a parentRef selects only a listener both match", l.Name, l.Port, *ref.Port)
				}
			}
			return fmt.Sprintf("which has no listener named %q (sectionName)", string(*ref.SectionName))
		}
		return "which has no listeners"
	}
	return "where no listener accepts it on port 80: " + strings.Join(reasons, "; ")
}

// selectedListeners are the listeners of parent a parentRef's sectionName
// and port select (Gateway API ParentReference: both must match when both
// are set).
func selectedListeners(parent *RouteParent, ref routeParentRef) []RouteListener {
	var out []RouteListener
	for _, l := range parent.Listeners {
		if ref.SectionName != nil && string(*ref.SectionName) != l.Name || ref.Port != nil && *ref.Port != l.Port {
			continue
		}
		out = append(out, l)
	}
	return out
}

// listenerProblem says why listener l of parent does not accept the
// solver's HTTPRoute whatever its hostname, "" when it does.
func (c *http01Check) listenerProblem(ctx context.Context, parent *RouteParent, l RouteListener) string {
	if l.Protocol != listenerHTTP || l.Port != acmeHTTP01Port {
		return fmt.Sprintf("listener %q is %s on port %d", l.Name, l.Protocol, l.Port)
	}
	var from *gwapi.FromNamespaces
	var selector *metav1.LabelSelector
	if l.AllowedRoutes != nil {
		if ns := l.AllowedRoutes.Namespaces; ns != nil {
			from, selector = ns.From, ns.Selector
		}
		if kinds := l.AllowedRoutes.Kinds; len(kinds) > 0 && !admitsHTTPRoute(kinds) {
			return fmt.Sprintf("listener %q admits no HTTPRoute (allowedRoutes.kinds)", l.Name)
		}
	}
	if from == nil {
		// The CRD's default.
		same := gwapi.NamespacesFromSame
		from = &same
	}
	if ok, why := c.admitsNamespace(ctx, from, selector, parent.Namespace, c.namespace); !ok {
		return fmt.Sprintf("listener %q admits routes %s (allowedRoutes.namespaces), not from namespace %q", l.Name, why, c.namespace)
	}
	return ""
}

// admitsHTTPRoute reports whether allowedRoutes.kinds lists HTTPRoute of
// the Gateway API group (the group's default).
func admitsHTTPRoute(kinds []gwapi.RouteGroupKind) bool {
	for _, k := range kinds {
		if string(k.Kind) == kindHTTPRoute && (k.Group == nil || string(*k.Group) == gatewayAPIGroup) {
			return true
		}
	}
	return false
}

// listenerSetsFrom is where a Gateway's allowedListeners admits
// ListenerSets from.
func listenerSetsFrom(allowed *gwapi.AllowedListeners) *gwapi.FromNamespaces {
	none := gwapi.NamespacesFromNone
	if allowed == nil || allowed.Namespaces == nil || allowed.Namespaces.From == nil {
		// The CRD's default: no ListenerSet.
		return &none
	}
	return allowed.Namespaces.From
}

// listenerSetsSelector is a Gateway's allowedListeners namespace selector.
func listenerSetsSelector(allowed *gwapi.AllowedListeners) *metav1.LabelSelector {
	if allowed == nil || allowed.Namespaces == nil {
		return nil
	}
	return allowed.Namespaces.Selector
}

// admitsNamespace reports whether from (with selector) on an object of
// ownerNamespace admits an object of namespace, and if not, what it admits.
// The labels of a namespace the lookup does not know are not known; such a
// namespace is taken as admitted, as is one a selector that does not
// parse would judge.
func (c *http01Check) admitsNamespace(ctx context.Context, from *gwapi.FromNamespaces, selector *metav1.LabelSelector, ownerNamespace, namespace string) (bool, string) {
	switch *from {
	case gwapi.NamespacesFromAll:
		return true, ""
	case gwapi.NamespacesFromSame:
		return namespace == ownerNamespace, fmt.Sprintf("only from its own namespace %q (from Same)", ownerNamespace)
	case gwapi.NamespacesFromSelector:
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if selector == nil || err != nil {
			return selector != nil, "from no namespace (from Selector without a selector)"
		}
		ns, known := c.lookup.Namespace(ctx, namespace)
		if !known {
			return true, ""
		}
		// The API server labels every namespace with its name.
		set := labels.Set{namespaceNameLabel: namespace}
		for k, v := range ns.Labels {
			set[k] = v
		}
		return sel.Matches(set), fmt.Sprintf("only from namespaces labelled %s (from Selector)", sel.String())
	case gwapi.NamespacesFromNone:
	}
	return false, fmt.Sprintf("from no namespace (from %s)", string(*from))
}

// checkRouteHostname reports, for a parent some of whose listeners accept
// the solver's HTTPRoute, when none of them has a hostname matching id: the
// route's hostnames (id) must intersect the listener's for the route to be
// accepted there.
func (c *http01Check) checkRouteHostname(ctx context.Context, b *finding.Builder, id string, parent *RouteParent, ref routeParentRef) {
	var hostnames []string
	for _, l := range selectedListeners(parent, ref) {
		if c.listenerProblem(ctx, parent, l) != "" {
			continue
		}
		if listenerHostnameMatches(l.Hostname, id) {
			return
		}
		hostnames = append(hostnames, *l.Hostname)
	}
	kind, name := c.issuerKindName()
	b.Errorf(finding.CodeInvalidACMESolver, c.pathOf(id),
		"the gatewayHTTPRoute solver of ACME %s %q that would take %q attaches its HTTPRoute in namespace %q to %s %s/%s%s, whose port-80 HTTP listeners that admit it serve only %s, so the route is not accepted for %q and the challenge is never served: add a port-80 HTTP listener for %q (or without a hostname) there",
		kind, name, id, c.namespace, parent.Kind, parent.Namespace, parent.Name, annotationSource(ref), QuoteJoin(hostnames), id, id)
}

// reportRouteParent reports a parentRef (parent: its kind, namespace and
// name) whose parent accepts the solver's HTTPRoute on no listener, or
// where missing (the object that does not exist) is not there: lenient, it
// may be applied later.
func (c *http01Check) reportRouteParent(b *finding.Builder, id, parent string, ref routeParentRef, problem, missing string) {
	issuerKind, issuerName := c.issuerKindName()
	if missing != "" {
		b.Addf(c.opts.lenient(), finding.CodeACMESolverParentNotFound, c.pathOf(id),
			"the gatewayHTTPRoute solver of ACME %s %q that would take %q attaches its HTTPRoute to %s%s, %s, and the challenge is not served until it does: apply %s, or fix parentRefs",
			issuerKind, issuerName, id, parent, annotationSource(ref), problem, missing)
		return
	}
	b.Errorf(finding.CodeInvalidACMESolver, c.pathOf(id),
		"the gatewayHTTPRoute solver of ACME %s %q that would take %q attaches its HTTPRoute in namespace %q to %s%s, %s, so the ACME server's request is never served: give it a listener with protocol HTTP on port 80 that admits HTTPRoutes from namespace %q, or point parentRefs at one",
		issuerKind, issuerName, id, c.namespace, parent, annotationSource(ref), problem, c.namespace)
}

// missingOf names what does not exist for a parentRef's parent (nil when
// there is none), "" when it is all there.
func missingOf(parent *RouteParent) string {
	switch {
	case parent == nil:
		return "it"
	case parent.Kind == kindListenerSet && parent.Gateway == nil:
		return "Gateway " + parent.GatewayNamespace + "/" + parent.GatewayName
	}
	return ""
}

// annotationSource says where a parentRef from the Certificate's
// annotations came from.
func annotationSource(ref routeParentRef) string {
	if !ref.fromAnnotations {
		return ""
	}
	return " (the Certificate's " + parentRefAnnotation + " annotation)"
}

// listenerHostnameMatches reports whether a listener with hostname (nil:
// every hostname) accepts an HTTPRoute whose hostname is id, as the Gateway
// API matches them: "*.example.com" is a suffix match over one or more
// labels (test.example.com and foo.test.example.com, not example.com). The
// route cert-manager creates for an IP address has no hostnames, which
// every listener accepts.
func listenerHostnameMatches(hostname *string, id string) bool {
	if hostname == nil || *hostname == "" || isIP(id) {
		return true
	}
	h, id := strings.ToLower(*hostname), strings.ToLower(id)
	if suffix, ok := strings.CutPrefix(h, "*"); ok {
		return len(id) > len(suffix) && strings.HasSuffix(id, suffix)
	}
	return h == id
}
