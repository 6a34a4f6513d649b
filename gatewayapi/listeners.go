package gatewayapi

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// What istiod, as the gateway controller of GatewayClass istio, writes on
// the listeners of Gateway API Gateways and ListenerSets, said at
// admission: the pinned istio.io/istio's pilot/pkg/config/kube/gateway
// (buildListener, buildTLS, buildSecretReference, GatewayCollection,
// ListenerSetCollection) and gatewaycommon (ComputeGatewayListenerConflicts,
// GenerateGatewaySupportedKinds, NamespaceAcceptedByAllowListeners). Every
// finding says, in the words of the status istiod writes, which condition
// it sets (condition below); the e2e test compares them with the status
// the real istiod writes (docs/fidelity.md).

// IstioGatewayClass is the GatewayClass istiod's gateway controller
// creates and serves (PILOT_GATEWAY_API_DEFAULT_GATEWAYCLASS_NAME).
const IstioGatewayClass = "istio"

// istioTerminateModeKey is the listener tls.options key with which istiod
// terminates with the mesh's own certificates (ISTIO_SIMPLE, ISTIO_MUTUAL),
// reading no certificateRefs, or asks for a client certificate.
const istioTerminateModeKey = "gateway.istio.io/tls-terminate-mode"

// Attached is what a certs.Lookup knows of the ListenerSets attached to a
// Gateway, so a ListenerSet's listeners are judged against those merged
// before it; a lookup without it knows only the ListenerSet judged.
type Attached interface {
	// ListenerSetsOf returns the ListenerSets whose parentRef names the
	// Gateway namespace/name, in any order.
	ListenerSetsOf(ctx context.Context, namespace, name string) []*Object
}

// condition is a listener (or ListenerSet) condition as istiod writes it,
// as findings spell it: "Conflicted=True (HostnameConflict)".
func condition(typ gwapi.ListenerConditionType, status bool, reason gwapi.ListenerConditionReason) string {
	text := "False"
	if status {
		text = "True"
	}
	return string(typ) + "=" + text + " (" + string(reason) + ")"
}

// Reasons istiod writes that the Gateway API does not name for listeners.
const (
	// reasonNotAllowed is a ListenerSet's Accepted reason when its
	// Gateway's allowedListeners does not admit it.
	reasonNotAllowed gwapi.ListenerConditionReason = "NotAllowed"
)

// istioGateway is the Gateway whose listeners istiod merges obj's with: obj
// itself, or a ListenerSet's parent; nil when that Gateway is not known or
// not of class istio, which istiod leaves alone.
func istioGateway(obj, parent *Object) *Object {
	gw := obj
	if obj.Kind == KindListenerSet {
		gw = parent
	}
	if gw == nil || gw.GatewayClassName != IstioGatewayClass {
		return nil
	}
	return gw
}

// checkIstioListeners reports, for a Gateway of class istio or a
// ListenerSet attached to one (its parent, nil when unknown), each listener
// istiod will mark conflicted, not accepted or with unresolved references,
// and a ListenerSet it will not accept at all. planned are the Certificates
// the shim creates for obj, which write the Secrets they name.
func checkIstioListeners(ctx context.Context, b *finding.Builder, obj, parent *Object, lookup certs.Lookup, opts certs.Options, planned []*cmapi.Certificate) {
	gw := istioGateway(obj, parent)
	if gw == nil {
		return
	}
	if obj.Kind == KindListenerSet {
		if ok, why := certs.AdmitsListenerSet(ctx, lookup, gw.AllowedListeners, gw.Namespace, obj.Namespace); !ok {
			b.Errorf(finding.CodeListenerSetNotAllowed, field.NewPath("spec", "parentRef"),
				"Gateway %s/%s admits ListenerSets %s by its spec.allowedListeners (none when unset), and not this one of namespace %q: istiod serves none of its listeners and marks the ListenerSet %s; have the Gateway admit namespace %q, or attach to another Gateway",
				gw.Namespace, gw.Name, why, obj.Namespace, condition(gwapi.ListenerConditionAccepted, false, reasonNotAllowed), obj.Namespace)
			return
		}
	}
	conflicts := listenerConflicts(ctx, obj, gw, lookup)
	for _, l := range obj.Listeners {
		checkRouteKinds(b, l)
		if c, ok := conflicts[l.Index]; ok {
			// istiod judges nothing else of a conflicted listener.
			c.report(b, obj, l)
			continue
		}
		checkProtocol(b, obj, l)
		checkCertificateRefs(ctx, b, obj, l, lookup, opts, planned)
	}
	checkIstioGatewaysOnWorkload(ctx, b, obj, gw, lookup, conflicts)
}

// merged is a listener of a Gateway or of one of its ListenerSets, in the
// order istiod merges them.
type merged struct {
	owner *Object
	l     Listener
	port  gwapi.PortNumber
}

// conflict is why istiod marks a listener conflicted: the listener merged
// before it that it cannot coexist with.
type conflict struct {
	reason gwapi.ListenerConditionReason
	with   merged
	// gateway is the Gateway both belong to.
	gateway *Object
}

// listenerConflicts returns the listeners of obj (by Index) istiod marks
// conflicted: gatewaycommon.ComputeGatewayListenerConflicts merges the
// Gateway's listeners and then those of the ListenerSets it admits, oldest
// first, and a listener that cannot coexist with one kept before it is
// conflicted and frees its slot. A Gateway's own listeners always come
// first, so only its own can conflict with them.
func listenerConflicts(ctx context.Context, obj, gw *Object, lookup certs.Lookup) map[int]conflict {
	var sets []*Object
	if obj.Kind == KindListenerSet {
		sets = attachedListenerSets(ctx, obj, gw, lookup)
	}
	out := map[int]conflict{}
	var kept []merged
	for _, m := range mergedListeners(gw, sets) {
		if i := slices.IndexFunc(kept, func(prior merged) bool { return !distinct(m, prior) }); i >= 0 {
			if m.owner == obj {
				out[m.l.Index] = conflict{reason: conflictReason(m, kept[i]), with: kept[i], gateway: gw}
			}
			continue
		}
		kept = append(kept, m)
	}
	return out
}

// attachedListenerSets are the ListenerSets of gw istiod merges, obj (a
// ListenerSet) among them in its current form, in istiod's order: by
// creationTimestamp, then namespace/name. Only those gw's
// allowedListeners admits count.
func attachedListenerSets(ctx context.Context, obj, gw *Object, lookup certs.Lookup) []*Object {
	sets := []*Object{obj}
	if attached, ok := lookup.(Attached); ok {
		for _, ls := range attached.ListenerSetsOf(ctx, gw.Namespace, gw.Name) {
			if ls.Namespace == obj.Namespace && ls.Name == obj.Name {
				continue
			}
			if ok, _ := certs.AdmitsListenerSet(ctx, lookup, gw.AllowedListeners, gw.Namespace, ls.Namespace); ok {
				sets = append(sets, ls)
			}
		}
	}
	slices.SortStableFunc(sets, func(a, b *Object) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name))
	})
	return sets
}

// mergedListeners are gw's listeners and then those of sets, each with the
// port istiod serves it on (listenerPort).
func mergedListeners(gw *Object, sets []*Object) []merged {
	var out []merged
	for _, owner := range append([]*Object{gw}, sets...) {
		for _, l := range owner.Listeners {
			out = append(out, merged{owner: owner, l: l, port: listenerPort(l)})
		}
	}
	return out
}

// listenerPort is the port istiod serves a listener on: a ListenerSet's
// listener without one gets 80 for HTTP and 443 for HTTPS
// (gatewaycommon.ListenerEntryPortNumber).
func listenerPort(l Listener) gwapi.PortNumber {
	switch {
	case l.Port != 0:
		return l.Port
	case l.Protocol == string(gwapi.HTTPProtocolType):
		return 80
	case l.Protocol == string(gwapi.HTTPSProtocolType):
		return 443
	}
	return 0
}

// hostnameOf is a listener's hostname as istiod compares them: "*" for
// none.
func hostnameOf(l Listener) string {
	if !l.HasHostname || l.Hostname == "" {
		return "*"
	}
	return l.Hostname
}

func layer4(protocol string) bool {
	return protocol == string(gwapi.TCPProtocolType) || protocol == string(gwapi.UDPProtocolType)
}

func httpLike(protocol string) bool {
	switch gwapi.ProtocolType(protocol) {
	case gwapi.HTTPProtocolType, gwapi.HTTPSProtocolType, gwapi.TLSProtocolType:
		return true
	default:
		return false
	}
}

// distinct is gatewaycommon.listenersDistinct: listeners on different
// ports coexist; on one port, HTTP, HTTPS and TLS listeners coexist when
// their hostnames differ, TCP and UDP with nothing else, and other
// protocols when they differ.
func distinct(a, b merged) bool {
	switch {
	case a.port != b.port:
		return true
	case layer4(a.l.Protocol) && httpLike(b.l.Protocol), httpLike(a.l.Protocol) && layer4(b.l.Protocol):
		return false
	case layer4(a.l.Protocol) && layer4(b.l.Protocol):
		return false
	case httpLike(a.l.Protocol) && httpLike(b.l.Protocol):
		return hostnameOf(a.l) != hostnameOf(b.l)
	}
	return a.l.Protocol != b.l.Protocol
}

// conflictReason is gatewaycommon.listenerConflictReason.
func conflictReason(a, b merged) gwapi.ListenerConditionReason {
	if layer4(a.l.Protocol) && layer4(b.l.Protocol) || a.l.Protocol != b.l.Protocol {
		return gwapi.ListenerReasonProtocolConflict
	}
	return gwapi.ListenerReasonHostnameConflict
}

// report is the finding on a conflicted listener l of obj.
func (c conflict) report(b *finding.Builder, obj *Object, l Listener) {
	other := fmt.Sprintf("listener %q of this %s", c.with.l.Name, obj.Kind)
	why := "it comes first in spec.listeners"
	switch {
	case c.with.owner == obj:
	case c.with.owner.Kind == KindGateway:
		other = fmt.Sprintf("listener %q of Gateway %s/%s", c.with.l.Name, c.with.owner.Namespace, c.with.owner.Name)
		why = "a Gateway's own listeners come before its ListenerSets'"
	default:
		other = fmt.Sprintf("listener %q of ListenerSet %s/%s", c.with.l.Name, c.with.owner.Namespace, c.with.owner.Name)
		why = fmt.Sprintf("istiod merges the ListenerSets of Gateway %s/%s oldest first (creationTimestamp, then namespace/name)", c.gateway.Namespace, c.gateway.Name)
	}
	var clash string
	switch {
	case c.reason == gwapi.ListenerReasonHostnameConflict && hostnameOf(l) == "*":
		clash = fmt.Sprintf("both are %s on port %d without a hostname", l.Protocol, c.with.port)
	case c.reason == gwapi.ListenerReasonHostnameConflict:
		clash = fmt.Sprintf("both are %s on port %d for hostname %q", l.Protocol, c.with.port, l.Hostname)
	case l.Protocol == c.with.l.Protocol:
		clash = fmt.Sprintf("both are %s on port %d, which carries one such listener", l.Protocol, c.with.port)
	case httpLike(l.Protocol) && httpLike(c.with.l.Protocol):
		clash = fmt.Sprintf("%s and %s cannot share port %d for one hostname (%s)", l.Protocol, c.with.l.Protocol, c.with.port, hostnameOf(l))
	default:
		clash = fmt.Sprintf("%s and %s cannot share port %d", l.Protocol, c.with.l.Protocol, c.with.port)
	}
	b.Errorf(finding.CodeListenerConflicted, l.Path(),
		"listener %q conflicts with %s, which istiod keeps because %s: %s; istiod marks this listener %s and %s and serves nothing on it: give it another port or hostname",
		l.Name, other, why, clash,
		condition(gwapi.ListenerConditionConflicted, true, c.reason), condition(gwapi.ListenerConditionAccepted, false, c.reason))
}

// supportedRouteKinds is gatewaycommon.GenerateGatewaySupportedKinds: the
// route kinds istiod attaches to a listener of the protocol.
func supportedRouteKinds(l Listener) []string {
	switch gwapi.ProtocolType(l.Protocol) {
	case gwapi.HTTPProtocolType, gwapi.HTTPSProtocolType:
		return []string{"HTTPRoute", "GRPCRoute"}
	case gwapi.TCPProtocolType:
		return []string{"TCPRoute"}
	case gwapi.TLSProtocolType:
		if l.TLS != nil && *l.TLS.Mode == gwapi.TLSModeTerminate {
			return []string{"TLSRoute", "TCPRoute"}
		}
		return []string{"TLSRoute"}
	default:
		return nil
	}
}

// checkRouteKinds reports each allowedRoutes.kinds entry istiod does not
// attach to the listener: a kind of another group or one its protocol does
// not carry, or a kind listed twice (istiod counts the kinds it supports
// against the kinds listed). istiod marks the listener ResolvedRefs=False
// and still serves it, with the kinds it supports.
func checkRouteKinds(b *finding.Builder, l Listener) {
	if l.AllowedRoutes == nil {
		return
	}
	supported := supportedRouteKinds(l)
	seen := map[string]bool{}
	for j, k := range l.AllowedRoutes.Kinds {
		group := Group
		if k.Group != nil {
			group = string(*k.Group)
		}
		name := string(k.Kind)
		if name == "" {
			// The CRD refuses it; a file may still hold it.
			name = `a kind ""`
		}
		if group != Group {
			name = group + "/" + name
		}
		var problem string
		switch {
		case group != Group || !slices.Contains(supported, string(k.Kind)):
			carries := "no route kinds"
			if len(supported) > 0 {
				carries = strings.Join(supported, " and ")
			}
			problem = fmt.Sprintf("it admits %s, which istiod does not attach to a listener of protocol %s (it attaches %s there)", name, l.Protocol, carries)
		case seen[name]:
			problem = name + " is listed twice, and istiod counts each kind it supports once"
		}
		seen[name] = true
		if problem == "" {
			continue
		}
		b.Warningf(finding.CodeInvalidRouteKinds, l.Path().Child("allowedRoutes", "kinds").Index(j),
			"listener %q: %s; istiod marks the listener %s, and still serves the kinds it supports: remove this entry",
			l.Name, problem, condition(gwapi.ListenerConditionResolvedRefs, false, gwapi.ListenerReasonInvalidRouteKinds))
	}
}

// checkProtocol reports a listener protocol istiod does not serve on a
// Gateway of class istio (listenerProtocolToIstio: HTTP, HTTPS, TLS and
// TCP; HBONE only for waypoints), and a ListenerSet's HTTPS or TLS
// listener without tls, which istiod refuses there (a Gateway's is a
// placeholder istiod accepts and builds nothing for).
func checkProtocol(b *finding.Builder, obj *Object, l Listener) {
	notAccepted := condition(gwapi.ListenerConditionAccepted, false, gwapi.ListenerReasonUnsupportedProtocol)
	switch gwapi.ProtocolType(l.Protocol) {
	case gwapi.HTTPProtocolType, gwapi.HTTPSProtocolType, gwapi.TLSProtocolType, gwapi.TCPProtocolType:
	default:
		hint := "use HTTP, HTTPS, TLS or TCP"
		if upper := strings.ToUpper(l.Protocol); upper != l.Protocol && slices.Contains([]string{"HTTP", "HTTPS", "TLS", "TCP"}, upper) {
			hint = fmt.Sprintf("write %q (protocols are case-sensitive)", upper)
		}
		b.Errorf(finding.CodeInvalidServerPort, l.Path().Child("protocol"),
			"listener %q has protocol %q, which istiod does not serve on a Gateway of class %s: it marks the listener %s and serves nothing on it; %s",
			l.Name, l.Protocol, IstioGatewayClass, notAccepted, hint)
		return
	}
	if obj.Kind == KindListenerSet && l.TLS == nil && (l.Protocol == string(gwapi.HTTPSProtocolType) || l.Protocol == string(gwapi.TLSProtocolType)) {
		b.Errorf(finding.CodeTLSServerWithoutTLS, l.Path().Child("tls"),
			"listener %q is %s without tls, which istiod refuses on a ListenerSet: it marks the listener %s and serves nothing on it; add tls with certificateRefs",
			l.Name, l.Protocol, notAccepted)
	}
}

// refProblem is one reason istiod drops a certificateRef, in the order it
// finds them; the first decides the reference's reason.
type refProblem struct {
	severity finding.Severity
	code     finding.Code
	path     *field.Path
	text     string
	reason   gwapi.ListenerConditionReason
	// served is true for what meshcert refuses and istiod does not: it
	// serves the reference all the same.
	served bool
}

// checkCertificateRefs is buildTLS for a listener that terminates TLS: at
// most two references; each must be a core Secret that exists and holds a
// certificate and key, and one of another namespace needs a ReferenceGrant.
// istiod serves the listener with the references it can (the others
// silently left out), and marks it ResolvedRefs=False, with the first bad
// reference's reason, when none is left; for RefNotPermitted also
// Accepted=False.
func checkCertificateRefs(ctx context.Context, b *finding.Builder, obj *Object, l Listener, lookup certs.Lookup, opts certs.Options, planned []*cmapi.Certificate) {
	if l.TLS == nil || *l.TLS.Mode != gwapi.TLSModeTerminate {
		return
	}
	switch l.TLS.Options[istioTerminateModeKey] {
	case "ISTIO_SIMPLE", "ISTIO_MUTUAL":
		// The mesh's own certificate; certificateRefs are not read.
		return
	}
	refs := l.TLS.CertificateRefs
	refsPath := l.Path().Child("tls", "certificateRefs")
	if len(refs) > 2 {
		b.Errorf(finding.CodeConflictingCredentialSources, refsPath,
			"listener %q names %d certificateRefs, and istiod serves at most two (an RSA and an ECDSA certificate): it marks the listener %s and serves nothing on it; keep two",
			l.Name, len(refs), condition(gwapi.ListenerConditionResolvedRefs, false, gwapi.ListenerReasonInvalidCertificateRef))
		return
	}
	problems := make([][]refProblem, len(refs))
	var reason gwapi.ListenerConditionReason
	valid := 0
	for j, ref := range refs {
		problems[j] = certificateRefProblems(ctx, obj, l, j, ref, lookup, opts, planned)
		i := slices.IndexFunc(problems[j], func(p refProblem) bool { return !p.served })
		switch {
		case i < 0:
			valid++
		case reason == "":
			reason = problems[j][i].reason
		}
	}
	outcome := "istiod marks the listener " + condition(gwapi.ListenerConditionResolvedRefs, false, reason)
	if reason == gwapi.ListenerReasonRefNotPermitted {
		outcome += " and " + condition(gwapi.ListenerConditionAccepted, false, gwapi.ListenerReasonNoValidCACertificate)
	}
	outcome += " and serves nothing on it"
	if valid > 0 {
		outcome = "istiod leaves this reference out and serves the listener with the other certificate alone"
	}
	for _, list := range problems {
		for _, p := range list {
			if p.served {
				b.Addf(p.severity, p.code, p.path, "listener %q: %s", l.Name, p.text)
				continue
			}
			severity := p.severity
			if valid > 0 && severity == finding.SeverityError {
				// The listener is served; this certificate is not.
				severity = finding.SeverityWarning
			}
			b.Addf(severity, p.code, p.path, "listener %q: %s; %s", l.Name, p.text, outcome)
		}
	}
}

// certificateRefProblems are the reasons istiod drops certificateRefs[j]
// of listener l, in its order: not a core Secret (nothing else is then
// looked at), not there or not a certificate and key, and in another
// namespace without a ReferenceGrant. A Secret the lookup cannot see (the
// server caches none) is taken to be there; one a Certificate writes,
// known or planned, to be a certificate and key; a ReferenceGrant the
// lookup cannot see (the server caches none) to allow it.
func certificateRefProblems(ctx context.Context, obj *Object, l Listener, j int, ref gwapi.SecretObjectReference, lookup certs.Lookup, opts certs.Options, planned []*cmapi.Certificate) []refProblem {
	path := l.Path().Child("tls", "certificateRefs").Index(j)
	group, kind := string(*ref.Group), string(*ref.Kind)
	if group != "" || kind != "Secret" {
		at, what := path.Child("kind"), fmt.Sprintf("a %q", kind)
		if group != "" {
			at, what = path.Child("group"), fmt.Sprintf("a %s of group %q", kind, group)
		}
		return []refProblem{{severity: finding.SeverityError, code: finding.CodeCredentialNotServed, path: at,
			text:   fmt.Sprintf("certificateRefs[%d] is %s, and istiod serves only a Secret of the core group (group \"\", kind Secret): name one", j, what),
			reason: gwapi.ListenerReasonInvalidCertificateRef}}
	}
	namespace, name := obj.Namespace, string(ref.Name)
	if ref.Namespace != nil && *ref.Namespace != "" {
		namespace = string(*ref.Namespace)
	}
	var out []refProblem
	written := len(lookup.CertificatesForSecret(ctx, namespace, name)) > 0 || slices.ContainsFunc(planned, func(crt *cmapi.Certificate) bool {
		return crt.Namespace == namespace && crt.Spec.SecretName == name
	})
	if !written {
		if exists, known := lookup.SecretExists(ctx, namespace, name); known && !exists {
			out = append(out, refProblem{severity: opts.Lenient(), code: finding.CodeCredentialNotFound, path: path.Child("name"),
				text:   fmt.Sprintf("no Secret or Certificate %s/%s is known, and istiod serves only a Secret that exists: create it, or a cert-manager Certificate that writes it", namespace, name),
				reason: gwapi.ListenerReasonInvalidCertificateRef})
		} else if secret, ok := lookup.Secret(ctx, namespace, name); ok && secret != nil && len(secret.Data) > 0 {
			// A Secret with no data at all stands for one kept out of the
			// files (sealed, or made by an operator), as for Istio Gateways.
			switch problem, loads := servingProblem(secret, opts.Time()); {
			case problem == "":
			case loads:
				out = append(out, refProblem{severity: finding.SeverityError, code: finding.CodeInvalidCredential, path: path.Child("name"),
					text:   fmt.Sprintf("Secret %s/%s holds a certificate that %s: istiod serves it all the same, and clients refuse the handshake; renew it", namespace, name, strings.TrimPrefix(problem, "its certificate ")),
					served: true})
			default:
				out = append(out, refProblem{severity: finding.SeverityError, code: finding.CodeInvalidCredential, path: path.Child("name"),
					text:   fmt.Sprintf("istiod cannot serve Secret %s/%s: %s; put a PEM certificate and its key under tls.crt and tls.key", namespace, name, problem),
					reason: gwapi.ListenerReasonInvalidCertificateRef})
			}
		}
	}
	if namespace != obj.Namespace {
		if allowed, known := secretGranted(ctx, lookup, obj, namespace, name); known && !allowed {
			out = append(out, refProblem{severity: finding.SeverityError, code: finding.CodeCredentialNotServed, path: path.Child("namespace"),
				text: fmt.Sprintf("Secret %s/%s is in another namespace, and no ReferenceGrant of namespace %q lets a %s of namespace %q reference it: add one (from group %s, kind %s, namespace %s; to group \"\", kind Secret), or move the Secret to %q",
					namespace, name, namespace, obj.Kind, obj.Namespace, Group, obj.Kind, obj.Namespace, obj.Namespace),
				reason: gwapi.ListenerReasonRefNotPermitted})
		}
	}
	return out
}

// servingProblem says what is wrong with secret as a listener's
// certificate, "" when nothing is, and whether istiod loads it all the
// same: istiod needs a certificate and key, under cert and key or tls.crt
// and tls.key, that load as a pair (kubecreds.ExtractCertInfo,
// tls.X509KeyPair); meshcert also refuses one not valid now, as it judges
// the Secrets of Istio Gateways (MC4010), which istiod loads.
func servingProblem(secret *corev1.Secret, now time.Time) (problem string, loads bool) {
	problem = certs.CredentialProblem(secret, now)
	crt, key := secret.Data["cert"], secret.Data["key"]
	if len(crt) == 0 || len(key) == 0 {
		crt, key = secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
	}
	if len(crt) == 0 || len(key) == 0 {
		return problem, false
	}
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		if problem == "" {
			problem = "its certificate and key do not load as a pair: " + err.Error()
		}
		return problem, false
	}
	return problem, true
}
