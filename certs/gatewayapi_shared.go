package certs

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
)

// Decisions the gatewayapi package shares with the checks here, so each is
// spelled once.

// AdmitsListenerSet reports whether a Gateway of gatewayNamespace whose
// spec.allowedListeners is allowed admits a ListenerSet of namespace, and
// if not, what it admits, as a gatewayHTTPRoute solver's route is checked:
// none by default; a namespace the lookup does not know is taken as
// admitted.
func AdmitsListenerSet(ctx context.Context, lookup Lookup, allowed *gwapi.AllowedListeners, gatewayNamespace, namespace string) (bool, string) {
	c := &http01Check{acmeCheck: acmeCheck{lookup: lookup}}
	return c.admitsNamespace(ctx, listenerSetsFrom(allowed), listenerSetsSelector(allowed), gatewayNamespace, namespace)
}

// CredentialProblem says why istiod cannot serve secret as a gateway's
// certificate at now (MC4010), "" when it can.
func CredentialProblem(secret *corev1.Secret, now time.Time) string {
	return credentialProblem(secret, now)
}

// ServedHost is a host an Istio Gateway serves, as a Gateway API check
// sees it: where it is written and whether its server has tls settings.
type ServedHost struct {
	Path *field.Path
	TLS  bool
}

// ServesHost reports whether gw serves host (a DNS name, compared without
// its namespace part, in lower case) on port without a bind: a Gateway API
// listener has no bind, so only such servers share its filter chains.
func (gw *Gateway) ServesHost(port int64, host string) (ServedHost, bool) {
	s, ok := servedBy(gw, listenerHost{port: port, host: normalHost(host)})
	if !ok {
		return ServedHost{}, false
	}
	return ServedHost{Path: hostPath(s), TLS: s.tls}, true
}

// SelectsLabels reports whether a Gateway whose spec.selector is selector
// applies to a proxy carrying labels, as istiod decides it (a selector's
// labels a subset of the proxy's; no selector applies to every proxy).
func SelectsLabels(selector, labels map[string]string) bool {
	return selectorSubset(selector, labels)
}

// NormalHost is a host as meshcert compares hosts between servers: the
// DNS name without its namespace part, in lower case.
func NormalHost(host string) string { return normalHost(host) }

// WorkloadListeners is what a Lookup may also know: the Gateway API
// Gateways istiod merges an Istio Gateway's servers with on its gateway
// workloads (gatewayapi.ListenersBeside). A Lookup without it knows none.
type WorkloadListeners interface {
	ListenersBeside(ctx context.Context, gw *Gateway) Beside
}

// Beside is what istiod merges an Istio Gateway with on the gateway
// workloads of Gateway API Gateways (class istio) its selector picks.
type Beside struct {
	// Listeners are their listeners with tls settings, and those of the
	// ListenerSets they admit.
	Listeners []SharedListener
	// Namespaces are those of the workloads istiod merges the Istio
	// Gateway onto, where it reads the Gateway's credentials.
	Namespaces []string
	// Managed are the gateways istiod deploys among them.
	Managed []ManagedGateway
	// Apart are the Gateways (namespace/name) of another namespace whose
	// deployed gateway the selector picks, onto which istiod merges no
	// Istio Gateway of another namespace.
	Apart []string
}

func besideOf(ctx context.Context, lookup Lookup, gw *Gateway) Beside {
	if wls, ok := lookup.(WorkloadListeners); ok {
		return wls.ListenersBeside(ctx, gw)
	}
	return Beside{}
}

// SharedListener is a Gateway API listener with tls settings on an Istio
// Gateway's workload.
type SharedListener struct {
	// Kind, Namespace and Name are its Gateway's or ListenerSet's.
	Kind, Namespace, Name string
	// Listener is its name.
	Listener string
	Created  time.Time
	Port     int64
	// Host is its hostname as NormalHost gives it, "*" for none.
	Host string
}

// ManagedGateway is a gateway istiod deploys for a Gateway API Gateway,
// which an Istio Gateway is merged onto.
type ManagedGateway struct {
	// Namespace and Name are the Gateway's.
	Namespace, Name string
	// ServiceAccount is the one its Pods run as.
	ServiceAccount string
	// Ports are those its Service exposes.
	Ports []int64
}
