package controller

import (
	"context"
	"fmt"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/meshcert/meshcert/certs"
)

// Name is the controller's name in logs and metrics.
const Name = "gateway-certificates"

// Setup registers the controller with the manager: Gateways are its
// primary objects; meshcert's Certificates, namespaces (their inject
// label) and gateway Pods (the credential namespace) change plans too, so
// they enqueue the Gateways they affect. Issuers are not watched: they change
// findings, not which Certificates exist.
func Setup(ctx context.Context, mgr manager.Manager, lookup certs.Lookup, opts certs.Options) error {
	r := &Reconciler{
		Client:   mgr.GetClient(),
		Lookup:   lookup,
		Options:  opts,
		Recorder: mgr.GetEventRecorder("meshcert"),
	}
	gateway := &unstructured.Unstructured{}
	gateway.SetGroupVersionKind(GatewayGVK)
	managed, err := predicate.LabelSelectorPredicate(metav1.LabelSelector{
		MatchLabels: map[string]string{certs.LabelManagedBy: certs.ManagedByValue},
	})
	if err != nil {
		return fmt.Errorf("failed to build the managed Certificate predicate: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &cmapi.Certificate{}, IndexCertificateGateway, CertificateGateway); err != nil {
		return fmt.Errorf("failed to index Certificates by Gateway: %w", err)
	}
	c := mgr.GetClient()
	err = ctrl.NewControllerManagedBy(mgr).
		Named(Name).
		For(gateway).
		Watches(&cmapi.Certificate{}, handler.EnqueueRequestsFromMapFunc(gatewayOfCertificate), builder.WithPredicates(managed)).
		Watches(&metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}},
			handler.EnqueueRequestsFromMapFunc(gatewaysInNamespace(c)), builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Watches(&metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}},
			handler.EnqueueRequestsFromMapFunc(gatewaysSelectingPod(c)), builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Complete(r)
	if err != nil {
		return fmt.Errorf("failed to set up the %s controller: %w", Name, err)
	}
	if err := setupIstioOperators(ctx, mgr); err != nil {
		return err
	}
	if err := registerManagedCertificates(ctx, mgr.GetCache()); err != nil {
		return fmt.Errorf("failed to register the managed Certificates metric: %w", err)
	}
	return nil
}

// IndexCertificateGateway indexes meshcert's Certificates by the
// "namespace/name" of their Gateway.
const IndexCertificateGateway = "meshcert.io/gateway"

// CertificateGateway is the index function of IndexCertificateGateway:
// only Certificates meshcert created are indexed.
func CertificateGateway(obj client.Object) []string {
	if obj.GetLabels()[certs.LabelManagedBy] != certs.ManagedByValue {
		return nil
	}
	if ref := obj.GetAnnotations()[certs.AnnotationGateway]; ref != "" {
		return []string{ref}
	}
	return nil
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

func splitRef(ref string) (string, string, bool) {
	for i := range len(ref) {
		if ref[i] == '/' {
			return ref[:i], ref[i+1:], i > 0 && i < len(ref)-1
		}
	}
	return "", "", false
}

func listGateways(ctx context.Context, c client.Reader, opts ...client.ListOption) []unstructured.Unstructured {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(GatewayGVK.GroupVersion().WithKind("GatewayList"))
	if err := c.List(ctx, list, opts...); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to list Gateways")
		return nil
	}
	return list.Items
}

func requestsFor(gateways []unstructured.Unstructured, keep func(*unstructured.Unstructured) bool) []reconcile.Request {
	var out []reconcile.Request
	for i := range gateways {
		if keep == nil || keep(&gateways[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&gateways[i])})
		}
	}
	return out
}

// gatewaysInNamespace re-plans a namespace's Gateways when its labels
// change (meshcert.io/inject, meshcert.io/enforce).
func gatewaysInNamespace(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		return requestsFor(listGateways(ctx, c, client.InNamespace(obj.GetName())), nil)
	}
}

// gatewaysSelectingPod re-plans the Gateways whose selector matches a
// gateway Pod, since the Pod decides their credential namespace.
func gatewaysSelectingPod(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		podLabels := labels.Set(obj.GetLabels())
		return requestsFor(listGateways(ctx, c), func(gw *unstructured.Unstructured) bool {
			sel, found, err := unstructured.NestedStringMap(gw.Object, "spec", "selector")
			return err == nil && found && len(sel) > 0 && labels.SelectorFromSet(sel).Matches(podLabels)
		})
	}
}
