package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/meshcert/meshcert/istiooperator"
)

// IstioOperatorReconciler reports the planner's findings on IstioOperators
// as Warning Events, so mistakes stored while the validating webhook was
// bypassed are still visible with `kubectl describe`.
type IstioOperatorReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
}

// Reconcile implements reconcile.Reconciler.
func (r *IstioOperatorReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(istiooperator.GVK)
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("failed to get IstioOperator %s: %w", req.NamespacedName, err)
	}
	if errs := errorMessages(istiooperator.Check(obj)); len(errs) > 0 {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonBadConfig, "Check", "%s", strings.Join(errs, "; "))
	}
	return ctrl.Result{}, nil
}

// setupIstioOperators adds the IstioOperator controller when the API
// server serves the CRD: istioctl stopped installing it in Istio 1.21.
func setupIstioOperators(ctx context.Context, mgr manager.Manager) error {
	log := logf.FromContext(ctx)
	if _, err := mgr.GetRESTMapper().RESTMapping(istiooperator.GVK.GroupKind(), istiooperator.GVK.Version); err != nil {
		if meta.IsNoMatchError(err) {
			log.Info("IstioOperator CRD not installed; not watching IstioOperators")
			return nil
		}
		return fmt.Errorf("failed to look up the IstioOperator API: %w", err)
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(istiooperator.GVK)
	r := &IstioOperatorReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("meshcert")}
	if err := ctrl.NewControllerManagedBy(mgr).Named("istiooperator-findings").For(obj).Complete(r); err != nil {
		return fmt.Errorf("failed to set up the IstioOperator controller: %w", err)
	}
	return nil
}
