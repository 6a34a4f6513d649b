package certs

import (
	"context"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
)

// Lookup is everything the planner needs to know about objects other than
// the one it plans. The CLI implements it over its input files
// (offline.Index), the server over informer caches (cluster.Lookup); both
// answer from memory, never the API. Like client.Reader, every method takes
// the caller's context, so a read waiting on a cache ends with the request.
type Lookup interface {
	// Issuer returns the cert-manager Issuer namespace/name, if known.
	Issuer(ctx context.Context, namespace, name string) (*cmapi.Issuer, bool)
	// IssuerNamespaces lists the namespaces that hold an Issuer with this
	// name, sorted, so a finding can say where the issuer actually is.
	IssuerNamespaces(ctx context.Context, name string) []string
	// ClusterIssuer returns the cert-manager ClusterIssuer, if known.
	ClusterIssuer(ctx context.Context, name string) (*cmapi.ClusterIssuer, bool)
	// Certificate returns the Certificate namespace/name, if known.
	Certificate(ctx context.Context, namespace, name string) (*cmapi.Certificate, bool)
	// CertificatesForSecret returns the Certificates in namespace whose
	// spec.secretName is secretName, sorted by name.
	CertificatesForSecret(ctx context.Context, namespace, secretName string) []*cmapi.Certificate
	// SecretExists reports whether a Secret exists; known is false when the
	// lookup does not track Secrets in that namespace.
	SecretExists(ctx context.Context, namespace, name string) (exists, known bool)
	// Secret returns a Secret with its data; known is false when the lookup
	// does not hold Secret contents (the server never caches Secrets).
	Secret(ctx context.Context, namespace, name string) (secret *corev1.Secret, known bool)
	// TrustBundle returns a ConfigMap holding CA certificates. The server
	// caches only ConfigMaps labelled LabelTrustBundle, so the planner
	// requires that label wherever the ConfigMap comes from.
	TrustBundle(ctx context.Context, namespace, name string) (*corev1.ConfigMap, bool)
	// WorkloadNamespaces returns the sorted namespaces of gateway workloads
	// whose labels match selector (an Istio Gateway's spec.selector).
	WorkloadNamespaces(ctx context.Context, selector map[string]string) []string
	// Workloads returns the gateway workloads whose labels match selector,
	// so two Gateways can be told to share one when a workload carries
	// labels both select.
	Workloads(ctx context.Context, selector map[string]string) []Workload
	// Services returns the Services of a namespace; known is false when the
	// lookup does not hold Services (the server does not cache them).
	Services(ctx context.Context, namespace string) (services []*corev1.Service, known bool)
	// KnowsWorkloads reports whether the lookup knows any gateway workload
	// at all, so a selector matching none of them can be told apart from a
	// lookup that simply has none.
	KnowsWorkloads(ctx context.Context) bool
	// Namespace returns a namespace's metadata (its labels and annotations),
	// if the namespace is known.
	Namespace(ctx context.Context, name string) (*metav1.ObjectMeta, bool)
	// GatewaysClaiming returns the known Istio Gateways that claim key: a
	// HostKey (a server serving a host on a port and bind) or a
	// CredentialKey (a server naming a credential), whatever their
	// selectors. GatewayClaims lists a Gateway's keys for indexing.
	GatewaysClaiming(ctx context.Context, key string) []*Gateway
	// IngressClasses returns the cluster's IngressClasses; known is false
	// when the lookup cannot vouch that it holds them all (input files
	// without any IngressClass).
	IngressClasses(ctx context.Context) (classes []*networkingv1.IngressClass, known bool)
}

// RouteParents is what a Lookup may also know: the Gateway API Gateways and
// ListenerSets an HTTPRoute attaches to, so the HTTPRoute cert-manager
// creates for a gatewayHTTPRoute ACME solver can be checked against the
// listeners it would attach to. A Lookup without it knows none, and such a
// solver is checked only for what it says itself. The CLI knows them from
// its input (offline.Index); the server when the Gateway API CRDs were
// installed when it started (cluster.Lookup).
type RouteParents interface {
	// RouteParent returns the object of kind (Gateway or ListenerSet, of
	// group gateway.networking.k8s.io) namespace/name, nil when there is
	// none; known is false when the lookup does not hold objects of that
	// kind at all.
	RouteParent(ctx context.Context, kind, namespace, name string) (parent *RouteParent, known bool)
}

// RouteParent is a Gateway API Gateway or ListenerSet as a route attaching
// to it sees it.
type RouteParent struct {
	Kind, Namespace, Name string
	Listeners             []RouteListener
	// AllowedListeners is a Gateway's spec.allowedListeners, which says
	// which ListenerSets may attach to it (nil: none).
	AllowedListeners *gwapi.AllowedListeners
	// GatewayNamespace and GatewayName are a ListenerSet's parentRef, and
	// Gateway that Gateway, nil when it does not exist.
	GatewayNamespace, GatewayName string
	Gateway                       *RouteParent
}

// RouteListener is one listener of a RouteParent.
type RouteListener struct {
	// Index is the listener's position in spec.listeners.
	Index int
	Name  string
	// Hostname is nil when the listener matches every hostname.
	Hostname *string
	Port     int32
	Protocol string
	// AllowedRoutes as written; nil means the CRD's default (routes of
	// the protocol's kinds, from the same namespace).
	AllowedRoutes *gwapi.AllowedRoutes
}
