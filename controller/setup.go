package controller

import (
	"context"
	"fmt"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/internal/quiet"
	"github.com/meshcert/meshcert/istiooperator"
	"github.com/meshcert/meshcert/meshca"
)

// Name is the Certificate controller's name in logs and metrics.
const Name = "gateway-certificates"

// IstioOperatorName is the IstioOperator controller's name in logs.
const IstioOperatorName = "istiooperator-certificates"

// Config is what the controllers need besides the manager.
type Config struct {
	// Lookup answers from the manager's cache.
	Lookup Lookup
	// Options are the planner options.
	Options certs.Options
	// Metrics may be nil.
	Metrics *Metrics
	// Admissions, if set, holds writes back while Gateways are being
	// admitted (see quiet.Gate).
	Admissions *quiet.Gate
	// MaxConcurrentReconciles is how many Gateways are reconciled at once;
	// below 1 means 1. A Gateway is never reconciled twice at once.
	MaxConcurrentReconciles int
	// Recorder records the controllers' Events; nil uses the manager's
	// (client-go's broadcaster). The server passes an eventq.Recorder.
	Recorder events.EventRecorder
	// GatewayAPICertificates says who writes the Certificates of Gateway
	// API Gateways and ListenerSets; empty means cert-manager's shim.
	GatewayAPICertificates GatewayAPICertificates
}

// recorder is cfg's Recorder, or else the manager's.
func (cfg Config) recorder(mgr manager.Manager) events.EventRecorder {
	if cfg.Recorder != nil {
		return cfg.Recorder
	}
	return mgr.GetEventRecorder("meshcert")
}

// Setup registers the controllers with the manager, whose cache
// cluster.Setup has prepared (informers and their indexes). Gateways are the
// Certificate controller's primary objects; meshcert's Certificates,
// namespaces (their inject label and policy) and gateway Pods (the credential
// namespace) change plans too, so they enqueue the Gateways they affect.
// Issuers are not watched: they change findings, not which Certificates
// exist. IstioOperators get their own controller where the CRD exists, and
// so do Gateway API Gateways and ListenerSets (gatewayapi.go).
func Setup(ctx context.Context, mgr manager.Manager, cfg Config) error {
	r := &Reconciler{
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Lookup:     cfg.Lookup,
		Options:    cfg.Options,
		Recorder:   cfg.recorder(mgr),
		Metrics:    cfg.Metrics,
		Admissions: cfg.Admissions,
	}
	managed := predicate.NewPredicateFuncs(func(obj client.Object) bool { return certs.ManagedByMeshcert(obj) })
	m := watchMappings{lookup: cfg.Lookup}
	err := ctrl.NewControllerManagedBy(mgr).
		Named(Name).
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: max(1, cfg.MaxConcurrentReconciles)}).
		For(cluster.NewGateway()).
		Watches(&cmapi.Certificate{}, handler.EnqueueRequestsFromMapFunc(gatewayOfCertificate), builder.WithPredicates(managed)).
		Watches(cluster.NewNamespaceMetadata(),
			handler.EnqueueRequestsFromMapFunc(m.gatewaysInNamespace),
			builder.WithPredicates(predicate.Or(predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(cluster.NewPodMetadata(),
			handler.EnqueueRequestsFromMapFunc(m.gatewaysSelectingPod), builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Complete(r)
	if err != nil {
		return fmt.Errorf("failed to set up the %s controller: %w", Name, err)
	}
	if err := setupIstioOperators(ctx, mgr, cfg, managed); err != nil {
		return err
	}
	return setupGatewayAPI(ctx, mgr, cfg)
}

// setupIstioOperators adds a controller for each kind that installs istiod
// (istiooperator.Kinds) whose CRD the API server serves: istioctl stopped
// installing the IstioOperator CRD in Istio 1.21, and only clusters that
// run the Sail Operator have its Istio and IstioRevision.
func setupIstioOperators(ctx context.Context, mgr manager.Manager, cfg Config, managed predicate.Predicate) error {
	for _, kind := range istiooperator.Kinds {
		if err := setupInstallKind(ctx, mgr, cfg, managed, kind); err != nil {
			return err
		}
	}
	return nil
}

func setupInstallKind(ctx context.Context, mgr manager.Manager, cfg Config, managed predicate.Predicate, kind istiooperator.Kind) error {
	log := logf.FromContext(ctx)
	if _, err := mgr.GetRESTMapper().RESTMapping(kind.GVK.GroupKind(), kind.GVK.Version); err != nil {
		if meta.IsNoMatchError(err) {
			log.Info("CRD not installed; not watching its objects", "kind", kind.GVK.Kind, "group", kind.GVK.Group)
			return nil
		}
		return fmt.Errorf("failed to discover the %s API: %w", kind.GVK.Kind, err)
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(kind.GVK)
	r := &IstioOperatorReconciler{
		Kind:       kind,
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Lookup:     cfg.Lookup,
		Options:    cfg.Options,
		Recorder:   cfg.recorder(mgr),
		Metrics:    cfg.Metrics,
		Admissions: cfg.Admissions,
	}
	err := ctrl.NewControllerManagedBy(mgr).
		Named(InstallControllerName(kind)).
		For(obj).
		Watches(&cmapi.Certificate{}, handler.EnqueueRequestsFromMapFunc(ownerOfMeshCA(kind)), builder.WithPredicates(managed)).
		// A peer's published roots change what istiod must trust here.
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(allOfKind(mgr.GetClient(), kind)), builder.WithPredicates(publishedMeshCA)).
		Complete(r)
	if err != nil {
		return fmt.Errorf("failed to set up the %s controller: %w", kind.GVK.Kind, err)
	}
	return nil
}

// InstallControllerName is the name in logs and metrics of the controller
// of a kind that installs istiod.
func InstallControllerName(kind istiooperator.Kind) string {
	if kind.IsSail() {
		return "sail-" + strings.ToLower(kind.GVK.Kind) + "-certificates"
	}
	return IstioOperatorName
}

// gatewayOfCertificate maps a meshcert Certificate to its Gateway, so a
// deleted or edited Certificate is put back.
func gatewayOfCertificate(_ context.Context, obj client.Object) []reconcile.Request {
	ns, name, ok := splitRef(obj.GetAnnotations()[certs.AnnotationGateway])
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
}

// ownerOfMeshCA maps a mesh CA Certificate to its object of kind.
func ownerOfMeshCA(kind istiooperator.Kind) handler.MapFunc {
	return func(_ context.Context, obj client.Object) []reconcile.Request {
		namespace, name, ok := kind.ParseKey(obj.GetAnnotations()[kind.OwnerAnnotation()])
		if !ok {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}}
	}
}

// publishedMeshCA selects the ConfigMaps clusters publish their mesh CA
// in, and copies of them.
var publishedMeshCA = predicate.NewPredicateFuncs(func(obj client.Object) bool {
	_, ok := obj.GetLabels()[meshca.LabelMeshCA]
	return ok
})

// allOfKind maps any change to every object of kind in the cache: there are
// few, and which istiod a published ConfigMap matters to is theirs to say.
func allOfKind(reader client.Reader, kind istiooperator.Kind) handler.MapFunc {
	return func(ctx context.Context, _ client.Object) []reconcile.Request {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(kind.GVK.GroupVersion().WithKind(kind.GVK.Kind + "List"))
		if err := reader.List(ctx, list); err != nil {
			logf.FromContext(ctx).Error(err, "Failed to list objects that install istiod", "kind", kind.GVK.Kind)
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, item := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: item.GetNamespace(), Name: item.GetName()}})
		}
		return out
	}
}

// splitRef splits "namespace/name"; both parts must be non-empty.
func splitRef(ref string) (string, string, bool) {
	for i := range len(ref) {
		if ref[i] == '/' {
			return ref[:i], ref[i+1:], i > 0 && i < len(ref)-1
		}
	}
	return "", "", false
}

// watchMappings turn changes of other objects into the Gateways to
// reconcile, reading Gateways from the cache.
type watchMappings struct {
	lookup Lookup
}

func requestsFor(gateways []*cluster.CachedGateway, keep func(*cluster.CachedGateway) bool) []reconcile.Request {
	var out []reconcile.Request
	for _, gw := range gateways {
		if keep == nil || keep(gw) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(gw)})
		}
	}
	return out
}

// gatewaysInNamespace re-plans a namespace's Gateways when its labels
// (meshcert.io/inject, meshcert.io/enforce) or annotations (its policy)
// change.
func (m watchMappings) gatewaysInNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	return requestsFor(m.lookup.Gateways(ctx, obj.GetName()), nil)
}

// gatewaysSelectingPod re-plans the Gateways whose selector matches a
// gateway Pod, since the Pod decides their credential namespace.
func (m watchMappings) gatewaysSelectingPod(ctx context.Context, obj client.Object) []reconcile.Request {
	podLabels := labels.Set(obj.GetLabels())
	return requestsFor(m.lookup.Gateways(ctx, ""), func(gw *cluster.CachedGateway) bool {
		sel := gw.Parsed.Selector
		return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(podLabels)
	})
}
