package gatewayapi

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshcert/meshcert/finding"
)

// Group is the Kubernetes Gateway API's group.
const Group = "gateway.networking.k8s.io"

// The kinds cert-manager's gateway-shim reads, at the version its typed
// informers watch (v1 for both since gateway-api v1.5).
const (
	KindGateway     = "Gateway"
	KindListenerSet = "ListenerSet"
)

// GatewayVersions are the served versions of Gateway with one schema; the
// API server converts between them, so a v1beta1 manifest is the v1 object
// the shim reads.
var GatewayVersions = []string{"v1", "v1beta1"}

// IsGateway reports whether gvk is a Gateway API Gateway.
func IsGateway(gvk schema.GroupVersionKind) bool {
	if gvk.Group != Group || gvk.Kind != KindGateway {
		return false
	}
	for _, v := range GatewayVersions {
		if gvk.Version == v {
			return true
		}
	}
	return false
}

// Is reports whether gvk is a Gateway or ListenerSet meshcert plans.
func Is(gvk schema.GroupVersionKind) bool { return IsGateway(gvk) || IsListenerSet(gvk) }

// IsListenerSet reports whether gvk is a ListenerSet of the version the
// pinned cert-manager reads.
func IsListenerSet(gvk schema.GroupVersionKind) bool {
	return gvk.Group == Group && gvk.Version == "v1" && gvk.Kind == KindListenerSet
}

// Listener is one listener of a Gateway or ListenerSet, after the API
// server's defaults (the CRDs default tls.mode to Terminate and a
// certificateRef's group to "" and kind to Secret).
type Listener struct {
	// Index is the listener's position in spec.listeners, skipped ones
	// included, as the shim's field paths count.
	Index    int
	Name     string
	Hostname string
	// HasHostname is false when hostname is absent; "" when it is set empty.
	HasHostname bool
	Port        gwapi.PortNumber
	Protocol    string
	TLS         *gwapi.ListenerTLSConfig
	// AllowedRoutes is the listener's allowedRoutes as written; nil means
	// the CRD's default, routes of the protocol's kinds from the same
	// namespace.
	AllowedRoutes *gwapi.AllowedRoutes
}

// Path is the listener's field path.
func (l Listener) Path() *field.Path {
	return field.NewPath("spec", "listeners").Index(l.Index)
}

// Object is a Gateway API Gateway or ListenerSet as the planner reads it.
type Object struct {
	Source      *unstructured.Unstructured
	Ref         finding.ObjectRef
	Kind        string
	Namespace   string
	Name        string
	UID         string
	Created     time.Time
	Labels      map[string]string
	Annotations map[string]string
	Listeners   []Listener
	// GatewayClassName is a Gateway's spec.gatewayClassName.
	GatewayClassName string
	// AllowedListeners is a Gateway's spec.allowedListeners: which
	// ListenerSets may attach (nil: none).
	AllowedListeners *gwapi.AllowedListeners
	// Addresses are a Gateway's spec.addresses: istiod deploys the gateway
	// itself unless they name Services (type Hostname).
	Addresses []gwapi.GatewaySpecAddress
	// InfrastructureLabels are a Gateway's spec.infrastructure.labels,
	// which istiod puts on the gateway Pods it deploys instead of the
	// Gateway's own labels when HasInfrastructureLabels.
	InfrastructureLabels    map[string]string
	HasInfrastructureLabels bool
	// Parent is a ListenerSet's spec.parentRef: the Gateway's namespace
	// (the ListenerSet's when unset) and name.
	ParentNamespace, ParentName string
	// ParentNamespaceSet records whether parentRef.namespace was given.
	ParentNamespaceSet bool
	// Deleted is true when the object has a deletionTimestamp; Deleting
	// also when it has the foregroundDeletion finalizer. The shim leaves a
	// Deleting object alone, and a ListenerSet whose parent is Deleted.
	Deleted, Deleting bool
}

// Parse reads a Gateway or ListenerSet. An object whose fields do not have
// the types of the Gateway API's schema (which the API server would reject)
// is an error naming the object.
func Parse(obj *unstructured.Unstructured) (*Object, error) {
	o := &Object{
		Source:      obj,
		Ref:         finding.ObjectRef{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()},
		Kind:        obj.GetKind(),
		Namespace:   obj.GetNamespace(),
		Name:        obj.GetName(),
		UID:         string(obj.GetUID()),
		Created:     obj.GetCreationTimestamp().Time,
		Labels:      obj.GetLabels(),
		Annotations: obj.GetAnnotations(),
		Deleted:     obj.GetDeletionTimestamp() != nil,
	}
	o.Deleting = o.Deleted
	for _, f := range obj.GetFinalizers() {
		if f == metav1.FinalizerDeleteDependents {
			o.Deleting = true
		}
	}
	switch {
	case IsGateway(obj.GroupVersionKind()):
		var gw gwapi.Gateway
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &gw); err != nil {
			return nil, fmt.Errorf("failed to read %s as a Gateway API Gateway: %w", o.Ref, err)
		}
		o.GatewayClassName = string(gw.Spec.GatewayClassName)
		o.AllowedListeners = gw.Spec.AllowedListeners
		o.Addresses = gw.Spec.Addresses
		if infra := gw.Spec.Infrastructure; infra != nil && infra.Labels != nil {
			o.HasInfrastructureLabels = true
			o.InfrastructureLabels = make(map[string]string, len(infra.Labels))
			for k, v := range infra.Labels {
				o.InfrastructureLabels[string(k)] = string(v)
			}
		}
		for i, l := range gw.Spec.Listeners {
			o.Listeners = append(o.Listeners, listenerOf(i, l.Name, l.Hostname, l.Port, l.Protocol, l.TLS, l.AllowedRoutes))
		}
	case IsListenerSet(obj.GroupVersionKind()):
		var ls gwapi.ListenerSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &ls); err != nil {
			return nil, fmt.Errorf("failed to read %s as a ListenerSet: %w", o.Ref, err)
		}
		o.ParentName = string(ls.Spec.ParentRef.Name)
		o.ParentNamespace = o.Namespace
		if ns := ls.Spec.ParentRef.Namespace; ns != nil && *ns != "" {
			o.ParentNamespace, o.ParentNamespaceSet = string(*ns), true
		}
		for i, l := range ls.Spec.Listeners {
			o.Listeners = append(o.Listeners, listenerOf(i, l.Name, l.Hostname, l.Port, l.Protocol, l.TLS, l.AllowedRoutes))
		}
	default:
		return nil, fmt.Errorf("failed to read %s: not a Gateway API Gateway or ListenerSet", o.Ref)
	}
	return o, nil
}

func listenerOf(i int, name gwapi.SectionName, hostname *gwapi.Hostname, port gwapi.PortNumber, protocol gwapi.ProtocolType, tls *gwapi.ListenerTLSConfig, routes *gwapi.AllowedRoutes) Listener {
	l := Listener{Index: i, Name: string(name), Port: port, Protocol: string(protocol), AllowedRoutes: routes}
	if hostname != nil {
		l.Hostname, l.HasHostname = string(*hostname), true
	}
	if tls != nil {
		l.TLS = withDefaults(tls)
	}
	return l
}

// withDefaults applies the CRD's defaults the API server writes before the
// shim ever reads the object, so a manifest means what the stored object
// will: tls.mode Terminate, a certificateRef's group "" and kind Secret.
func withDefaults(tls *gwapi.ListenerTLSConfig) *gwapi.ListenerTLSConfig {
	tls = tls.DeepCopy()
	if tls.Mode == nil {
		mode := gwapi.TLSModeTerminate
		tls.Mode = &mode
	}
	for i := range tls.CertificateRefs {
		ref := &tls.CertificateRefs[i]
		if ref.Group == nil {
			group := gwapi.Group("")
			ref.Group = &group
		}
		if ref.Kind == nil {
			kind := gwapi.Kind("Secret")
			ref.Kind = &kind
		}
	}
	return tls
}
