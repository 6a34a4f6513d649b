package certs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// What Istio serves of Kubernetes Ingress, with the defaults of its mesh
// config (pkg/config/mesh DefaultMeshConfig; pilot/pkg/config/kube/ingress):
// ingressControllerMode STRICT, so an Ingress is served only when its
// kubernetes.io/ingress.class annotation is IstioIngressClass, or, without
// the annotation, when its spec.ingressClassName names an IngressClass whose
// controller is IstioIngressController. The Gateway Istio makes of it
// listens on port 80 of the workload labelled IstioIngressSelector.
const (
	IstioIngressClass      = "istio"
	IstioIngressController = "istio.io/ingress-controller"
)

// IstioIngressSelector selects the gateway workload that serves the Ingresses
// Istio serves (meshConfig ingressSelector and ingressService unset).
var IstioIngressSelector = map[string]string{"istio": "ingressgateway"}

// http01Check checks one HTTP-01 solver cert-manager would pick, once per
// solver for what is wrong with the solver itself, and per name for what
// the Gateway does to the challenge.
type http01Check struct {
	acmeCheck
	kind                   string
	certificateAnnotations map[string]string
	// namespace is the Certificate's, where cert-manager creates the
	// Challenge and so a gatewayHTTPRoute solver's HTTPRoute.
	namespace string
	// served records, by index in the issuer's solvers, whether Istio
	// serves the solver's Ingress; a solver is checked once.
	served map[int]bool
	// routes records, by index in the issuer's solvers, the parentRefs of
	// the HTTPRoute a gatewayHTTPRoute solver creates, nil when the solver
	// cannot work (reported once); parentReported the parentRefs already
	// reported for what does not depend on the name (routeParentKey).
	routes         map[int][]routeParentRef
	parentReported map[string]bool
}

func (c *http01Check) check(ctx context.Context, b *finding.Builder, id string, solver *cmacme.ACMEChallengeSolver) {
	// The picker returns a copy; find the issuer's own entry.
	i := slices.IndexFunc(c.issuer.GetSpec().ACME.Solvers, func(s cmacme.ACMEChallengeSolver) bool {
		return equality.Semantic.DeepEqual(&s, solver)
	})
	if route := solver.HTTP01.GatewayHTTPRoute; route != nil {
		refs, checked := c.routes[i]
		if !checked {
			refs = c.routeParentRefs(b, id, route)
			if c.routes == nil {
				c.routes = map[int][]routeParentRef{}
			}
			c.routes[i] = refs
		}
		c.checkRouteParents(ctx, b, id, i, refs)
		return
	}
	served, checked := c.served[i]
	if !checked {
		served = c.checkSolver(ctx, b, id, solver)
		c.served[i] = served
	}
	if served && c.gateway != nil {
		c.checkGatewayRoutesChallenge(ctx, b, id)
	}
}

// checkSolver reports what keeps an ingress solver's challenge from being
// served by Istio, and whether Istio serves it.
func (c *http01Check) checkSolver(ctx context.Context, b *finding.Builder, id string, solver *cmacme.ACMEChallengeSolver) bool {
	if solver.HTTP01.Ingress != nil {
		if overrides := c.overrideKeys(); len(overrides) > 1 {
			b.Errorf(finding.CodeInvalidACMESolver, c.pathOf(id),
				"the certificate carries %s, and cert-manager fails an order with more than one HTTP-01 override (\"may not specify more than one of: name, class, ingressClassName\"): keep one",
				strings.Join(overrides, " and "))
			return false
		}
		return c.checkIngressSolver(ctx, b, id, c.effectiveIngress(solver.HTTP01.Ingress))
	}
	return false
}

// overrideKeys are the HTTP-01 override annotations the Certificate
// carries, sorted.
func (c *http01Check) overrideKeys() []string {
	var keys []string
	for _, key := range acmeIngressOverrideKeys {
		if _, ok := c.certificateAnnotations[key]; ok {
			keys = append(keys, key)
		}
	}
	return keys
}

// effectiveIngress applies the Certificate's override annotation, at most
// one, as cert-manager does (acmeorders
// applyIngressParameterAnnotationOverrides): an override replaces the
// solver's name, class and ingressClassName.
func (c *http01Check) effectiveIngress(ing *cmacme.ACMEChallengeSolverHTTP01Ingress) *cmacme.ACMEChallengeSolverHTTP01Ingress {
	keys := c.overrideKeys()
	if len(keys) == 0 {
		return ing
	}
	out := ing.DeepCopy()
	out.Name, out.Class, out.IngressClassName = "", nil, nil
	v := c.certificateAnnotations[keys[0]]
	switch keys[0] {
	case cmacme.ACMECertificateHTTP01IngressNameOverride:
		out.Name = v
	case cmacme.ACMECertificateHTTP01IngressClassOverride:
		out.Class = &v
	default:
		out.IngressClassName = &v
	}
	return out
}

// checkIngressSolver decides whether Istio serves the Ingress cert-manager
// builds for this solver (pkg/issuer/acme/http/ingress.go: class becomes
// the kubernetes.io/ingress.class annotation, ingressClassName the field).
func (c *http01Check) checkIngressSolver(ctx context.Context, b *finding.Builder, id string, ing *cmacme.ACMEChallengeSolverHTTP01Ingress) bool {
	kind, name := c.issuerKindName()
	path := c.pathOf(id)
	set := 0
	for _, isSet := range []bool{ing.Name != "", ing.Class != nil, ing.IngressClassName != nil} {
		if isSet {
			set++
		}
	}
	if set > 1 {
		b.Errorf(finding.CodeInvalidACMESolver, path,
			"the HTTP-01 ingress solver of ACME %s %q that would take %q sets more than one of name, class and ingressClassName, which cert-manager refuses: keep ingressClassName %q only",
			kind, name, id, IstioIngressClass)
		return false
	}
	switch {
	case ing.Name != "":
		// The challenge path goes into an existing Ingress, whose class
		// meshcert does not read.
		return false
	case ing.Class != nil:
		if *ing.Class == IstioIngressClass {
			return true
		}
		b.Warningf(finding.CodeACMESolverNotServedByIstio, path,
			"the HTTP-01 solver of ACME %s %q that would take %q creates an Ingress of class %q, and Istio serves only class %q: the ACME server's request for %q reaches no solver unless another ingress controller answers for it on port 80; use ingressClassName of an IngressClass with controller %s",
			kind, name, id, *ing.Class, IstioIngressClass, id, IstioIngressController)
		return false
	}

	classes, known := c.lookup.IngressClasses(ctx)
	if ing.IngressClassName != nil {
		className := *ing.IngressClassName
		i := slices.IndexFunc(classes, func(ic *networkingv1.IngressClass) bool { return ic.Name == className })
		switch {
		case i >= 0 && classes[i].Spec.Controller == IstioIngressController:
			return true
		case i >= 0:
			b.Warningf(finding.CodeACMESolverNotServedByIstio, path,
				"the HTTP-01 solver of ACME %s %q that would take %q creates an Ingress of IngressClass %q, whose controller is %s, not Istio's %s: the ACME server's request for %q reaches no solver unless that controller answers for it on port 80; use an IngressClass with controller %s",
				kind, name, id, className, classes[i].Spec.Controller, IstioIngressController, id, IstioIngressController)
		case known:
			b.Warningf(finding.CodeACMESolverNotServedByIstio, path,
				"the HTTP-01 solver of ACME %s %q that would take %q creates an Ingress of IngressClass %q, which does not exist, and Istio serves an Ingress only when its IngressClass has controller %s: create IngressClass %q with that controller",
				kind, name, id, className, IstioIngressController, className)
		default:
			b.Addf(c.opts.lenient(), finding.CodeACMESolverClassUnknown, path,
				"the HTTP-01 solver of ACME %s %q that would take %q uses IngressClass %q, and meshcert does not know the IngressClasses (offline: none in the input), so it cannot tell whether Istio serves it (its controller must be %s): add the IngressClasses to the input",
				kind, name, id, className, IstioIngressController)
		}
		return false
	}

	// Neither: the API server's admission gives the Ingress the default
	// IngressClass, if there is one.
	var defaults []*networkingv1.IngressClass
	for _, ic := range classes {
		if ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
			defaults = append(defaults, ic)
		}
	}
	switch {
	case len(defaults) > 1:
		names := make([]string, len(defaults))
		for i, ic := range defaults {
			names[i] = ic.Name
		}
		slices.Sort(names)
		b.Warningf(finding.CodeACMESolverNotServedByIstio, path,
			"the HTTP-01 solver of ACME %s %q that would take %q sets no class, and IngressClasses %s are all marked default, so which one its Ingress gets is up to the API server's version: set ingressClassName to an IngressClass with controller %s",
			kind, name, id, strings.Join(names, ", "), IstioIngressController)
	case len(defaults) == 1 && defaults[0].Spec.Controller == IstioIngressController:
		return true
	case len(defaults) == 1:
		b.Warningf(finding.CodeACMESolverNotServedByIstio, path,
			"the HTTP-01 solver of ACME %s %q that would take %q sets no class, so its Ingress gets the default IngressClass %q, whose controller is %s, not Istio's %s: set ingressClassName to an IngressClass with controller %s",
			kind, name, id, defaults[0].Name, defaults[0].Spec.Controller, IstioIngressController, IstioIngressController)
	case known:
		b.Warningf(finding.CodeACMESolverNotServedByIstio, path,
			"the HTTP-01 solver of ACME %s %q that would take %q sets no class and there is no default IngressClass, and Istio serves an Ingress without a class only when told to (ingressControllerMode DEFAULT): set ingressClassName to an IngressClass with controller %s",
			kind, name, id, IstioIngressController)
	default:
		b.Addf(c.opts.lenient(), finding.CodeACMESolverClassUnknown, path,
			"the HTTP-01 solver of ACME %s %q that would take %q sets no class, so its Ingress gets the cluster's default IngressClass, and meshcert does not know the IngressClasses (offline: none in the input), so it cannot tell whether Istio serves it: set ingressClassName, or add the IngressClasses to the input",
			kind, name, id)
	}
	return false
}

// checkGatewayRoutesChallenge checks what the Gateway serving id does to
// the challenge Istio's ingress gateway serves: it must run on the workload
// that serves Ingress, and a port-80 server of that workload redirecting
// exactly this host to HTTPS answers the challenge with the redirect
// (Istio sets require_tls ALL on the host's one virtual host of route
// http.80, before any route is matched).
func (c *http01Check) checkGatewayRoutesChallenge(ctx context.Context, b *finding.Builder, id string) {
	gw := c.gateway
	ingress := resolveWorkloads(ctx, c.lookup, IstioIngressSelector)
	// A Gateway is on the workload serving Ingress when a known workload
	// labelled for it carries its selector's labels too; with no workload
	// known, when its selector picks that label.
	onIngress := func(selector map[string]string) bool {
		if ingress.known {
			return ingress.shares(selector)
		}
		return selects(selector, IstioIngressSelector)
	}
	if !onIngress(gw.Selector) {
		b.Warningf(finding.CodeACMEChallengeOnOtherWorkload, c.pathOf(id),
			"Istio serves the HTTP-01 solver's Ingress for %q on the gateway workload %s, but this Gateway, which serves %q, selects %s: if %q resolves to this Gateway's workload, the ACME server's request on port 80 never reaches the solver; use a DNS-01 solver, or serve this host from the workload %s",
			id, selectorString(IstioIngressSelector), id, selectorString(gw.Selector), id, selectorString(IstioIngressSelector))
		return
	}
	c.reportRedirects(b, gw, id, nil)
	// Istio merges the port-80 servers of every Gateway on the workload.
	for _, other := range c.lookup.GatewaysClaiming(ctx, HostKey(80, "", strings.ToLower(id))) {
		if other.Namespace == gw.Namespace && other.Name == gw.Name || !onIngress(other.Selector) {
			continue
		}
		c.reportRedirects(b, other, id, c.pathOf(id))
	}
}

// reportRedirects reports the port-80 servers of gw that redirect id to
// HTTPS. istiod keys the redirect by a server's host once it has dropped a
// "*/" namespace part: a host equal to id sets require_tls on the very
// virtual host the solver's route lands in (MC5013), and so does "*" for an
// IP address, whose solver Ingress has no host. A wildcard or other
// namespace-qualified host matching id does so only through a
// VirtualService bound to that Gateway serving id, which meshcert does not
// read (MC5016). path is where findings point when
// gw is not the Gateway being planned; nil points at gw's own host.
func (c *http01Check) reportRedirects(b *finding.Builder, gw *Gateway, id string, path *field.Path) {
	for _, srv := range gw.Servers {
		if srv.Port.Number != 80 || srv.TLS == nil || !srv.TLS.HTTPSRedirect {
			continue
		}
		who := fmt.Sprintf("server %d", srv.Index)
		if path != nil {
			who = fmt.Sprintf("server %d of Gateway %s/%s, on the same gateway workload,", srv.Index, gw.Namespace, gw.Name)
		}
		for h, host := range srv.Hosts {
			at := path
			if at == nil {
				at = serverPath(srv.Index).Child("hosts").Index(h)
			}
			// istiod drops a "*/" namespace part before keying the redirect
			// (sanitizeServerHostNamespace); other namespace parts stay.
			host = strings.TrimPrefix(host, "*/")
			switch {
			case isIP(id) && host == "*":
				// cert-manager's solver Ingress for an IP address has no
				// host, which Istio serves in the "*" virtual host: the very
				// one this redirect requires TLS on.
				b.Errorf(finding.CodeACMEChallengeRedirected, at,
					"%s redirects every plain-HTTP request for host \"*\" to HTTPS (tls.httpsRedirect), and Istio serves the HTTP-01 solver for the IP address %q there (cert-manager's solver Ingress for an IP has no host), so the challenge is never answered: remove httpsRedirect there, or leave the IP address out of the certificate",
					who, id)
			case isIP(id):
				// Other virtual hosts do not see a request for the IP.
			case strings.EqualFold(host, id):
				b.Errorf(finding.CodeACMEChallengeRedirected, at,
					"%s redirects every plain-HTTP request for %q to HTTPS (tls.httpsRedirect), the ACME server's HTTP-01 request included, so the challenge is never answered and the certificate is never issued: remove httpsRedirect there (route HTTP to HTTPS with a VirtualService that leaves /.well-known/acme-challenge/ alone), or use a DNS-01 solver",
					who, id)
			case hostMatches(DNSNameOf(host), id):
				b.Warningf(finding.CodeACMEChallengeMayBeRedirected, at,
					"%s redirects %q to HTTPS (tls.httpsRedirect), which covers %q: if a VirtualService bound to that Gateway serves %q, Istio redirects the ACME server's HTTP-01 request for it too and the certificate is never issued; leave /.well-known/acme-challenge/ out of the redirect, or use a DNS-01 solver",
					who, host, id, id)
			}
		}
	}
}

// hostMatches reports whether an Istio host (a name, "*.suffix" or "*")
// covers the DNS name id.
func hostMatches(host, id string) bool {
	if host == "*" {
		return true
	}
	if suffix, ok := strings.CutPrefix(host, "*"); ok {
		return len(id) > len(suffix) && strings.HasSuffix(strings.ToLower(id), strings.ToLower(suffix))
	}
	return strings.EqualFold(host, id)
}

func (c *http01Check) issuerKindName() (string, string) {
	return c.kind, c.issuer.GetName()
}

// selects reports whether selector holds every label of workload: it then
// picks Pods of that workload (or none at all). An empty selector applies
// to every gateway workload, as in Istio.
func selects(selector, workload map[string]string) bool {
	if len(selector) == 0 {
		return true
	}
	for k, v := range workload {
		if selector[k] != v {
			return false
		}
	}
	return true
}

func selectorString(selector map[string]string) string {
	pairs := make([]string, 0, len(selector))
	for _, k := range slices.Sorted(maps.Keys(selector)) {
		pairs = append(pairs, k+"="+selector[k])
	}
	return strings.Join(pairs, ",")
}
