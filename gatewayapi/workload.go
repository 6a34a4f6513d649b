package gatewayapi

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// Istio Gateways (networking.istio.io) and Gateway API listeners on one
// gateway workload. istiod turns each listener of a Gateway of class istio
// (and of the ListenerSets it admits) into a server of an internal Istio
// Gateway, and merges those with the Istio Gateways that apply to the same
// proxy (the pinned istio.io/istio's PushContext.mergeGateways), so a host
// served with tls settings by both on one port is not served twice.
//
// A listener applies to the proxies behind its Gateway's Services in the
// Gateway's namespace (internal.istio.io/gateway-service): the Service
// istiod deploys with the gateway, or those spec.addresses names (manual
// deployment). An Istio Gateway applies where its selector holds. On a
// gateway istiod deploys, Istio Gateways of other namespaces are not
// merged at all (PILOT_ENABLE_STRICT_GATEWAY_MERGING, on by default).

// Labels istiod's gateway template (kube-gateway.yaml) puts on the Pods of a
// gateway it deploys.
const (
	LabelGatewayName  = "gateway.networking.k8s.io/gateway-name"
	labelGatewayClass = "gateway.networking.k8s.io/gateway-class-name"
	// LabelManaged with ManagedByIstio marks a Pod of a gateway istiod
	// deployed for a Gateway of class istio.
	LabelManaged   = "gateway.istio.io/managed"
	ManagedByIstio = "istio.io-gateway-controller"
	// annotationNameOverride names the Deployment and Service istiod
	// deploys, <name>-<class> by default.
	annotationNameOverride = "gateway.istio.io/name-override"
)

// gatewayWorkload is the gateway workload istiod applies a Gateway's
// listeners to.
type gatewayWorkload struct {
	gateway *Object
	// managed is true when istiod deploys the gateway.
	managed bool
	// strict, for a managed gateway, are the namespaces whose Istio
	// Gateways istiod merges onto it (filterStrictGatewayMerging): those of
	// the Gateway and of its admitted ListenerSets that have a listener
	// istiod builds a server for. With none, istiod merges Istio Gateways
	// of every namespace.
	strict []string
	// ports, for a managed gateway, are those of the Service istiod
	// deploys and keeps so (extractServicePorts): every listener's, and
	// the status port.
	ports []int64
	// serviceAccount, for a managed gateway, is the one its Pods run as.
	serviceAccount string
	// owners, for a managed gateway, are its Gateway and admitted
	// ListenerSets with their conflicted listeners, read once for strict
	// and reused by ListenersBeside.
	owners []ownerListeners
	// labels are those of its Pods: istiod's template for a managed
	// gateway; otherwise those of the known workloads its Services select,
	// or, with none known, the Services' selectors.
	labels []map[string]string
	// selectorsOnly is true when labels are Service selectors, compared
	// with an Istio Gateway's selector as istioctl analyze does without
	// Pods: one a subset of the other.
	selectorsOnly bool
}

// statusPort is the readiness port istiod's gateway Service always has.
const statusPort = 15021

// annotationServiceAccount names the ServiceAccount of a gateway istiod
// deploys, <name>-<class> by default.
const annotationServiceAccount = "gateway.istio.io/service-account"

// IsManaged reports whether istiod deploys the gateway of gw itself
// (gatewaycommon.IsManaged): no spec.addresses, or one IP address. A
// Gateway whose addresses name Services (type Hostname) runs on the
// workloads behind them.
func (gw *Object) IsManaged() bool {
	switch {
	case len(gw.Addresses) == 0:
		return true
	case len(gw.Addresses) > 1:
		return false
	}
	t := gw.Addresses[0].Type
	return t == nil || *t == gwapi.IPAddressType
}

// workloadOf is the workload of gw, a Gateway of class istio, with obj (gw
// or a ListenerSet being admitted to it) among its listeners; false when
// it cannot be told (a manual deployment whose Services are not known).
func workloadOf(ctx context.Context, gw, obj *Object, lookup certs.Lookup) (gatewayWorkload, bool) {
	w := gatewayWorkload{gateway: gw, managed: gw.IsManaged()}
	if w.managed {
		w.labels = []map[string]string{podLabels(gw)}
		w.serviceAccount = cmp.Or(gw.Annotations[annotationServiceAccount], gw.Name+"-"+gw.GatewayClassName)
		w.ports = []int64{statusPort}
		w.owners = ownersWithConflicts(ctx, gw, obj, lookup)
		for _, o := range w.owners {
			owner, conflicted := o.owner, o.conflicted
			serves := false
			for _, l := range owner.Listeners {
				w.ports = append(w.ports, int64(listenerPort(l)))
				if _, skipped := conflicted[l.Index]; !skipped && buildsServer(l) {
					serves = true
				}
			}
			if serves {
				w.strict = append(w.strict, owner.Namespace)
			}
		}
		return w, true
	}
	services, known := lookup.Services(ctx, gw.Namespace)
	if !known {
		return w, false
	}
	for _, addr := range gw.Addresses {
		if addr.Type != nil && *addr.Type != gwapi.HostnameAddressType {
			continue
		}
		name, ok := serviceOf(addr.Value, gw.Namespace)
		if !ok {
			continue
		}
		for _, svc := range services {
			if svc.Name != name || len(svc.Spec.Selector) == 0 {
				continue
			}
			if !lookup.KnowsWorkloads(ctx) {
				w.selectorsOnly = true
				w.labels = append(w.labels, svc.Spec.Selector)
				continue
			}
			for _, wl := range lookup.Workloads(ctx, svc.Spec.Selector) {
				if wl.Namespace == gw.Namespace {
					w.labels = append(w.labels, wl.Labels)
				}
			}
		}
	}
	return w, true
}

// podLabels are the labels istiod's gateway template (kube-gateway.yaml)
// puts on the Pods of a gateway it deploys for gw: its own, then
// spec.infrastructure.labels (without the gateway.networking.k8s.io/
// prefix, translateInfraMeta) or, without them, the Gateway's labels
// (PILOT_ENABLE_GATEWAY_API_COPY_LABELS_ANNOTATIONS, on by default), then
// the labels naming the Gateway.
func podLabels(gw *Object) map[string]string {
	labels := map[string]string{
		"sidecar.istio.io/inject":             "false",
		"service.istio.io/canonical-name":     cmp.Or(gw.Annotations[annotationNameOverride], gw.Name+"-"+gw.GatewayClassName),
		"service.istio.io/canonical-revision": "latest",
	}
	if gw.HasInfrastructureLabels {
		for k, v := range gw.InfrastructureLabels {
			if !strings.HasPrefix(k, Group+"/") {
				labels[k] = v
			}
		}
	} else {
		for k, v := range gw.Labels {
			labels[k] = v
		}
	}
	labels[LabelGatewayName] = gw.Name
	labels[labelGatewayClass] = gw.GatewayClassName
	labels[LabelManaged] = ManagedByIstio
	return labels
}

// ownerListeners is a Gateway or ListenerSet merged onto a gateway, with
// the listeners istiod marks conflicted (by Index).
type ownerListeners struct {
	owner      *Object
	conflicted map[int]conflict
}

// ownersWithConflicts are mergedOwners with their conflicted listeners.
func ownersWithConflicts(ctx context.Context, gw, obj *Object, lookup certs.Lookup) []ownerListeners {
	owners := mergedOwners(ctx, gw, obj, lookup)
	out := make([]ownerListeners, 0, len(owners))
	for _, owner := range owners {
		out = append(out, ownerListeners{owner: owner, conflicted: listenerConflicts(ctx, owner, gw, lookup)})
	}
	return out
}

// mergedOwners are gw and the ListenerSets it admits, obj among them when
// it is one being admitted.
func mergedOwners(ctx context.Context, gw, obj *Object, lookup certs.Lookup) []*Object {
	owners := []*Object{gw}
	if obj.Kind == KindListenerSet {
		owners = append(owners, obj)
	}
	if attached, ok := lookup.(Attached); ok {
		for _, ls := range attached.ListenerSetsOf(ctx, gw.Namespace, gw.Name) {
			if ls.Namespace == obj.Namespace && ls.Name == obj.Name && obj.Kind == KindListenerSet {
				continue
			}
			if ok, _ := certs.AdmitsListenerSet(ctx, lookup, gw.AllowedListeners, gw.Namespace, ls.Namespace); ok {
				owners = append(owners, ls)
			}
		}
	}
	return owners
}

// buildsServer reports whether istiod builds a server for a listener
// (buildListener): not for an HTTPS or TLS one without tls, a placeholder.
func buildsServer(l Listener) bool {
	return l.TLS != nil || l.Protocol != string(gwapi.HTTPSProtocolType) && l.Protocol != string(gwapi.TLSProtocolType)
}

// serviceOf is the name of the Service a Hostname address names, when it is
// one of namespace: istiod expands a short name into namespace, takes a
// name with a dot as the Service's full name, and matches only Services
// of the Gateway's own namespace.
func serviceOf(address, namespace string) (string, bool) {
	name, rest, qualified := strings.Cut(address, ".")
	if !qualified {
		return name, name != ""
	}
	return name, rest == namespace+".svc."+clusterDomain
}

// clusterDomain is the DNS domain istiod qualifies Service names with by
// default (its --domain flag).
const clusterDomain = "cluster.local"

// applies reports whether istiod merges an Istio Gateway of namespace with
// selector onto w.
func (w gatewayWorkload) applies(namespace string, selector map[string]string) bool {
	return !w.apart(namespace) && w.selects(selector)
}

// apart reports whether istiod keeps Istio Gateways of namespace off w, a
// gateway it deploys that serves listeners of other namespaces only.
func (w gatewayWorkload) apart(namespace string) bool {
	return w.managed && len(w.strict) > 0 && !slices.Contains(w.strict, namespace)
}

// selects reports whether an Istio Gateway's selector picks w's Pods.
func (w gatewayWorkload) selects(selector map[string]string) bool {
	for _, labels := range w.labels {
		if certs.SelectsLabels(selector, labels) || w.selectorsOnly && certs.SelectsLabels(labels, selector) {
			return true
		}
	}
	return false
}

// tlsHost is the host a listener istiod serves with tls settings (HTTPS
// or TLS, passthrough too) puts in its filter chain match: its hostname,
// or every host.
func tlsHost(l Listener) (string, bool) {
	if l.Protocol != string(gwapi.HTTPSProtocolType) && l.Protocol != string(gwapi.TLSProtocolType) {
		return "", false
	}
	if !l.HasHostname || l.Hostname == "" {
		return "*", true
	}
	return l.Hostname, true
}

// checkIstioGatewaysOnWorkload reports hosts obj's listeners serve with tls
// settings on the gateway workload of gw (obj, or a ListenerSet's parent)
// that an Istio Gateway merged there serves with tls settings too: from
// another namespace, one that was there first takes the host (MC8002, as
// between Istio Gateways); otherwise istiod cannot serve both (MC3003).
// Conflicted listeners (conflicts) are not served, so they take no host.
func checkIstioGatewaysOnWorkload(ctx context.Context, b *finding.Builder, obj, gw *Object, lookup certs.Lookup, conflicted map[int]conflict) {
	w, ok := workloadOf(ctx, gw, obj, lookup)
	if !ok || len(w.labels) == 0 {
		return
	}
	for _, l := range obj.Listeners {
		host, ok := tlsHost(l)
		if _, skipped := conflicted[l.Index]; !ok || skipped || !buildsServer(l) {
			continue
		}
		port := int64(listenerPort(l))
		key := certs.HostKey(port, "", certs.NormalHost(host))
		var hijackers, conflicts []string
		for _, other := range lookup.GatewaysClaiming(ctx, key) {
			served, ok := other.ServesHost(port, host)
			if !ok || !served.TLS || !w.applies(other.Namespace, other.Selector) {
				continue
			}
			name := "Istio Gateway " + other.Namespace + "/" + other.Name
			if host != "*" && other.Namespace != obj.Namespace && claimedBefore(other.Created, other.Namespace, other.Name, obj.Created, obj.Namespace, obj.Name) {
				hijackers = append(hijackers, name)
				continue
			}
			conflicts = append(conflicts, name)
		}
		path := l.Path().Child("hostname")
		if len(hijackers) > 0 {
			b.Errorf(finding.CodeHostHijack, path,
				"host %q on port %d is served with tls settings on this Gateway's workload (%s) by %s of another namespace, which claimed it first; istiod merges both onto the gateway, which cannot serve the host twice: use another host, or agree with its owner to move it",
				host, port, w.describe(), joinSorted(hijackers))
		}
		if len(conflicts) > 0 {
			b.Errorf(finding.CodeHostConflict, path,
				"host %q on port %d is also served with tls settings by %s, which istiod merges onto this Gateway's workload (%s); it cannot serve both: it skips one server, or, where the two spell the host differently (a listener's is namespace/host), sends two identical SNI matches that the gateway's Envoy rejects: serve the host from one of them",
				host, port, joinSorted(conflicts), w.describe())
		}
	}
}

// describe names the workload in a message.
func (w gatewayWorkload) describe() string {
	if w.managed {
		return "the gateway istiod deploys for Gateway " + w.gateway.Namespace + "/" + w.gateway.Name
	}
	return "the Pods behind its spec.addresses"
}

// claimedBefore is istiod's order of configs (creation time, then name,
// then namespace), which decides whose server a merge keeps: a stored
// object before one not stored yet (an admission CREATE); two unstored
// ones (files in CI) each count as first, so both are told.
func claimedBefore(otherCreated time.Time, otherNS, otherName string, created time.Time, ns, name string) bool {
	switch {
	case created.IsZero():
		return true
	case otherCreated.IsZero():
		return false
	case otherCreated.Equal(created):
		if otherName != name {
			return otherName < name
		}
		return otherNS < ns
	}
	return otherCreated.Before(created)
}

func joinSorted(names []string) string {
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// AllGateways is what a certs.Lookup may also know: every Gateway API
// Gateway, so an Istio Gateway finds the listeners istiod merges with it.
type AllGateways interface {
	// APIGateways returns every known Gateway API Gateway, in any order.
	APIGateways(ctx context.Context) []*Object
}

// ListenersBeside answers certs.WorkloadListeners for an Istio Gateway gw
// from what lookup knows (it must also be Parents and AllGateways): the
// Gateways of class istio whose workloads istiod merges gw onto, with
// their listeners with tls settings (and those of the ListenerSets they
// admit); and the Gateways whose deployed gateway gw's selector picks but
// onto which istiod merges no Istio Gateway of another namespace.
func ListenersBeside(ctx context.Context, lookup certs.Lookup, gw *certs.Gateway) certs.Beside {
	var out certs.Beside
	all, ok := lookup.(AllGateways)
	if !ok {
		return out
	}
	for _, apiGateway := range all.APIGateways(ctx) {
		if apiGateway.GatewayClassName != IstioGatewayClass || apiGateway.Deleted {
			continue
		}
		w, ok := workloadOf(ctx, apiGateway, apiGateway, lookup)
		if !ok || !w.selects(gw.Selector) {
			continue
		}
		if w.apart(gw.Namespace) {
			// Without a selector the Gateway is meant for every gateway,
			// not for this one.
			if len(gw.Selector) > 0 {
				out.Apart = append(out.Apart, apiGateway.Namespace+"/"+apiGateway.Name)
			}
			continue
		}
		if len(gw.Selector) > 0 {
			out.Namespaces = append(out.Namespaces, apiGateway.Namespace)
		}
		if w.managed {
			out.Managed = append(out.Managed, certs.ManagedGateway{
				Namespace: apiGateway.Namespace, Name: apiGateway.Name, ServiceAccount: w.serviceAccount, Ports: w.ports,
			})
		}
		owners := w.owners
		if owners == nil {
			owners = ownersWithConflicts(ctx, apiGateway, apiGateway, lookup)
		}
		for _, o := range owners {
			owner, conflicted := o.owner, o.conflicted
			for _, l := range owner.Listeners {
				host, ok := tlsHost(l)
				if _, skipped := conflicted[l.Index]; !ok || skipped || !buildsServer(l) {
					continue
				}
				out.Listeners = append(out.Listeners, certs.SharedListener{
					Kind: owner.Kind, Namespace: owner.Namespace, Name: owner.Name, Listener: l.Name, Created: owner.Created,
					Port: int64(listenerPort(l)), Host: certs.NormalHost(host),
				})
			}
		}
	}
	return out
}
