package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/internal/quiet"
	"github.com/meshcert/meshcert/istiooperator"
	"github.com/meshcert/meshcert/meshca"
)

// ReasonCACertsNotOwned: something in istiod's namespace keeps meshcert
// from owning cacerts (istiooperator.CACertsObstacles), so it makes no
// mesh CA.
const ReasonCACertsNotOwned = "CACertsNotOwned"

// ReasonRootsNotServed: istiod's mesh ConfigMap lacks roots the object's
// meshConfig.caCertificates holds, so istiod runs without them.
const ReasonRootsNotServed = "RootsNotServed"

// rootsRecheck is how often the controller looks again at a mesh ConfigMap
// that lacks planned roots, rootsResync at one that holds them or does not
// exist yet: the install tool (Helm, the Sail Operator) applies the roots
// after the object is stored, a later upgrade may drop them, and the
// ConfigMap is not watched (the cache holds only trust-bundle ConfigMaps).
const (
	rootsRecheck = time.Minute
	rootsResync  = 10 * time.Minute
)

// IstioOperatorReconciler makes istiod's mesh CA Certificate match what
// the planner wants for an object that installs istiod (an IstioOperator,
// a Sail Istio or IstioRevision: its Kind), and reports the planner's
// errors as Warning Events, so mistakes stored while the validating
// webhook was bypassed are still visible with `kubectl describe`.
type IstioOperatorReconciler struct {
	// Kind is what it reconciles; the zero Kind is IstioOperator.
	Kind istiooperator.Kind
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads what the cache never holds: whether istiod's Secret
	// cacerts exists (its metadata only).
	APIReader client.Reader
	Lookup    certs.Lookup
	Options   certs.Options
	Recorder  events.EventRecorder
	// Metrics may be nil.
	Metrics *Metrics
	// Admissions holds writes back while Gateways are being admitted;
	// nil holds nothing back.
	Admissions *quiet.Gate
}

// Reconcile implements reconcile.Reconciler.
func (r *IstioOperatorReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	kind := r.kind()
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(kind.GVK)
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			stored := &unstructured.Unstructured{}
			stored.SetGroupVersionKind(kind.GVK)
			if gone, err := goneFromAPIServer(ctx, r.APIReader, req.NamespacedName, stored); err != nil {
				return ctrl.Result{}, err
			} else if !gone {
				return ctrl.Result{RequeueAfter: cacheLagRetry}, nil
			}
			r.Metrics.rotationAt(kind.GVK.Kind, req.Namespace, req.Name, "")
			return ctrl.Result{}, r.pruneMeshCA(ctx, req.NamespacedName, nil, nil)
		}
		return ctrl.Result{}, fmt.Errorf("failed to get %s %s: %w", kind.GVK.Kind, req.NamespacedName, err)
	}
	if obj.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, r.pruneMeshCA(ctx, req.NamespacedName, nil, obj)
	}
	plan := istiooperator.PlanIstioOperator(ctx, obj, r.Lookup, r.Options)
	if plan.Mutated() != nil && !plan.Findings.HasErrors() {
		// The controller never writes an IstioOperator or Istio; only the
		// webhook injects, so say what it would have done.
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonWebhookBypassed, "Plan",
			"stored without the peer roots meshcert injects into %s.caCertificates (was its webhook down?); update the %s (e.g. kubectl annotate --overwrite ... meshcert.io/reinject=1) so the webhook injects them, or run meshcert inject on it",
			kind.MeshConfigPath(), kind.GVK.Kind)
	}
	if errs := errorMessages(plan.Findings); len(errs) > 0 {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonBadConfig, "Check", "%s", strings.Join(errs, "; "))
	}
	if plan.MeshCA && plan.Findings.HasErrors() {
		// A typo must not delete istiod's working CA Certificate.
		return ctrl.Result{}, nil
	}
	if plan.Certificate != nil {
		if err := r.applyMeshCA(ctx, obj, plan.Certificate); err != nil {
			return resultOf([]error{err})
		}
	}
	if err := r.pruneMeshCA(ctx, req.NamespacedName, plan.Certificate, obj); err != nil {
		return ctrl.Result{}, err
	}
	var recheck time.Duration
	if plan.Certificate != nil && plan.Certificate.Spec.SecretName == meshca.IssuedSecret {
		var err error
		if recheck, err = r.composeCACerts(ctx, obj, plan); err != nil {
			return ctrl.Result{}, err
		}
	}
	if plan.Findings.HasErrors() {
		return ctrl.Result{RequeueAfter: recheck}, nil
	}
	result, err := r.checkRootsServed(ctx, obj, plan)
	if recheck > 0 && (result.RequeueAfter == 0 || recheck < result.RequeueAfter) {
		result.RequeueAfter = recheck
	}
	return result, err
}

// checkRootsServed reads istiod's mesh ConfigMap and reports, on obj, the
// roots its meshConfig.caCertificates holds (with meshcert's injection)
// that istiod does not run with. While obj holds roots it looks again
// later, sooner while any are missing. A ConfigMap that does not exist
// (istiod not installed yet, or elsewhere) or may not be read says
// nothing.
func (r *IstioOperatorReconciler) checkRootsServed(ctx context.Context, obj *unstructured.Unstructured, plan *istiooperator.Plan) (ctrl.Result, error) {
	planned := obj
	if mutated := plan.Mutated(); mutated != nil {
		planned = mutated
	}
	if !istiooperator.HoldsRoots(planned) {
		return ctrl.Result{}, nil
	}
	name := istiooperator.MeshConfigMapName(planned)
	cm := &corev1.ConfigMap{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: plan.IstiodNamespace, Name: name}, cm)
	switch {
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		return ctrl.Result{RequeueAfter: rootsResync}, nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("failed to get ConfigMap %s/%s: %w", plan.IstiodNamespace, name, err)
	}
	missing := istiooperator.RootsNotServed(planned, cm)
	if len(missing) == 0 {
		return ctrl.Result{RequeueAfter: rootsResync}, nil
	}
	r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonRootsNotServed, "Check",
		"istiod's mesh ConfigMap %s/%s does not hold %d of the roots in %s.caCertificates (SHA-256 %s), so istiod does not trust them: if this lasts, apply the %s's values to the install again (istioctl install, helm upgrade; the Sail Operator does it by itself)",
		plan.IstiodNamespace, name, len(missing), r.kind().MeshConfigPath(), strings.Join(missing, ", "), r.kind().GVK.Kind)
	return ctrl.Result{RequeueAfter: rootsRecheck}, nil
}

func (r *IstioOperatorReconciler) kind() istiooperator.Kind {
	if r.Kind.GVK.Empty() {
		return istiooperator.IstioOperatorKind
	}
	return r.Kind
}

// writer makes the mesh CA Certificate of one object.
func (r *IstioOperatorReconciler) writer(obj *unstructured.Unstructured, key types.NamespacedName) certificateWriter {
	w := certificateWriter{
		client: r.Client, apiReader: r.APIReader, recorder: r.Recorder, metrics: r.Metrics, admissions: r.Admissions,
		owns:       func(crt *cmapi.Certificate) bool { return r.kind().OwnsCertificate(crt, key.Namespace, key.Name) },
		targetNoun: "the intermediate meshcert puts in istiod's cacerts, Secret",
		deleteNote: "no longer wanted by this " + r.kind().GVK.Kind + "; its Secret is kept",
	}
	if obj != nil {
		w.source = obj
	}
	return w
}

// applyMeshCA creates or updates the cacerts Certificate. It creates it only
// once it has seen that no Secret cacerts exists that cert-manager did not
// write (the cache never holds Secrets, so it asks the API server), because
// the Certificate would overwrite a plugged-in CA made by hand.
func (r *IstioOperatorReconciler) applyMeshCA(ctx context.Context, obj *unstructured.Unstructured, desired *cmapi.Certificate) error {
	return r.writer(obj, client.ObjectKeyFromObject(obj)).apply(ctx, desired, func(ctx context.Context) (bool, error) {
		return r.cacertsFree(ctx, obj, desired.Namespace)
	})
}

// cacertsFree reads the Secret cacerts live and reports whether the planner's
// rule lets meshcert own it, recording an Event for each obstacle. When
// meshcert may not read it (no Role in istiod's namespace), it makes no
// mesh CA rather than risk overwriting one.
func (r *IstioOperatorReconciler) cacertsFree(ctx context.Context, obj *unstructured.Unstructured, namespace string) (bool, error) {
	secret := &metav1.PartialObjectMetadata{}
	secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: istiooperator.CACertsSecret}, secret)
	found := istiooperator.CACertsFound{Namespace: namespace}
	switch {
	case apierrors.IsNotFound(err):
	case apierrors.IsForbidden(err):
		found.SecretUnreadable = true
	case err != nil:
		return false, fmt.Errorf("failed to get Secret %s/%s: %w", namespace, istiooperator.CACertsSecret, err)
	default:
		found.Secret = secret
	}
	// The Certificates in the way were the plan's to find, from the cache;
	// apply reads the one it would write again.
	obstacles := istiooperator.CACertsObstacles(r.kind(), client.ObjectKeyFromObject(obj), found)
	for _, msg := range obstacles {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonCACertsNotOwned, "Check", "%s", msg)
	}
	return len(obstacles) == 0, nil
}

// pruneMeshCA deletes meshcert's mesh CA Certificates of the object
// other than desired. The Secret stays: istiod keeps signing with it until
// someone decides otherwise.
func (r *IstioOperatorReconciler) pruneMeshCA(ctx context.Context, key types.NamespacedName, desired *cmapi.Certificate, obj *unstructured.Unstructured) error {
	var desiredList []*cmapi.Certificate
	if desired != nil {
		desiredList = []*cmapi.Certificate{desired}
	}
	var list cmapi.CertificateList
	err := r.Client.List(ctx, &list, client.MatchingLabels(r.kind().CertificateLabels(key.Namespace, key.Name)))
	if err != nil {
		return fmt.Errorf("failed to list Certificates of %s %s: %w", r.kind().GVK.Kind, key, err)
	}
	crts := make([]*cmapi.Certificate, len(list.Items))
	for i := range list.Items {
		crts[i] = &list.Items[i]
	}
	return r.writer(obj, key).prune(ctx, crts, desiredList)
}
