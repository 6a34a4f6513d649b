package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/internal/quiet"
)

// Lookup is what the controller reads from the cache: the planner's
// Lookup, and the Certificates meshcert made for a Gateway, in any
// namespace (cluster.Lookup). Objects it returns must not be modified.
type Lookup interface {
	certs.Lookup
	CertificatesOfGateway(ctx context.Context, gateway types.NamespacedName) []*cmapi.Certificate
	// Gateway and Gateways read the Istio Gateways the cache holds, parsed
	// (cluster.CachedGateway).
	Gateway(ctx context.Context, namespace, name string) (*cluster.CachedGateway, bool)
	Gateways(ctx context.Context, namespace string) []*cluster.CachedGateway
}

// Reconciler makes the Certificates of one Gateway match the plan.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server what the cache does not hold:
	// a Certificate's managed fields, before it is updated.
	APIReader client.Reader
	Lookup    Lookup
	Options   certs.Options
	Recorder  events.EventRecorder
	// Metrics may be nil.
	Metrics *Metrics
	// Admissions holds writes back while Gateways are being admitted;
	// nil holds nothing back.
	Admissions *quiet.Gate
}

// cacheLagRetry is how soon an object the API server has but the cache
// does not is reconciled again.
const cacheLagRetry = time.Second

// goneFromAPIServer asks the API server whether the object the cache does
// not hold is gone, before what was made for it is deleted: the cache's
// first list is served from the API server's watch cache and may lag it,
// and the events of other kinds can ask for an object it does not hold
// yet. obj says the kind; it is filled in when found.
func goneFromAPIServer(ctx context.Context, reader client.Reader, key types.NamespacedName, obj client.Object) (bool, error) {
	err := reader.Get(ctx, key, obj)
	switch {
	case err == nil:
		logf.FromContext(ctx).V(1).Info("Object not in the cache yet; retrying")
		return false, nil
	case apierrors.IsNotFound(err):
		return true, nil
	}
	return false, fmt.Errorf("failed to confirm that %s %s is gone: %w", obj.GetObjectKind().GroupVersionKind().Kind, key, err)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	// The cache holds the Gateway parsed (cluster.CachedGateway), not as
	// an object a client could read.
	gw, found := r.Lookup.Gateway(ctx, req.Namespace, req.Name)
	if !found {
		// The cache's first list may lag the API server (it is served from
		// the API server's watch cache), and a Certificate's event can ask
		// for a Gateway it does not hold yet: only the API server's "not
		// found" lets Certificates go.
		if gone, err := goneFromAPIServer(ctx, r.APIReader, req.NamespacedName, cluster.NewGateway()); err != nil {
			return ctrl.Result{}, err
		} else if !gone {
			return ctrl.Result{RequeueAfter: cacheLagRetry}, nil
		}
		// Gone: Certificates in its own namespace go with their owner
		// reference; those in other namespaces are only found by label.
		return ctrl.Result{}, r.prune(ctx, req.NamespacedName, nil, nil)
	}
	if gw.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, r.prune(ctx, req.NamespacedName, nil, gw)
	}

	plan := certs.PlanGateway(ctx, gw.Parsed, r.Lookup, r.Options)
	if len(plan.Injections) > 0 {
		r.warnBypassed(gw, plan)
	}
	if errs := errorMessages(plan.Findings); len(errs) > 0 {
		reason := ReasonBadConfig
		if plan.OutsidePolicy {
			reason = ReasonOutsidePolicy
		}
		r.Recorder.Eventf(gw, nil, corev1.EventTypeWarning, reason, "Plan", "%s", strings.Join(errs, "; "))
	}

	var applyErrs []error
	for _, crt := range plan.Certificates {
		if err := r.apply(ctx, gw, crt); err != nil {
			applyErrs = append(applyErrs, err)
		}
	}
	result, err := resultOf(applyErrs)
	if err != nil {
		return result, fmt.Errorf("failed to apply Certificates of Gateway %s: %w", req.NamespacedName, err)
	}
	if plan.Managed && plan.Findings.HasErrors() && !plan.OutsidePolicy {
		// A typo in an annotation must not delete working Certificates:
		// keep what exists until the Gateway is fixed or unmanaged. A
		// policy that no longer allows the Gateway is a cluster admin's
		// decision, so its Certificates go: cert-manager keeps the Secrets,
		// which serve until they expire and are adopted again, without
		// reissuing, if the policy comes back.
		log.V(1).Info("Not pruning Certificates of a managed Gateway with errors")
		return result, nil
	}
	return result, r.prune(ctx, req.NamespacedName, plan.Certificates, gw)
}

// writer makes the Certificates of one Gateway.
func (r *Reconciler) writer(gw *cluster.CachedGateway, gateway types.NamespacedName) certificateWriter {
	w := certificateWriter{
		client: r.Client, apiReader: r.APIReader, recorder: r.Recorder, metrics: r.Metrics, admissions: r.Admissions,
		owns:       func(crt *cmapi.Certificate) bool { return certs.OwnedBy(crt, gateway.Namespace, gateway.Name) },
		targetNoun: "Secret",
		deleteNote: "no longer needed by this Gateway",
	}
	if gw != nil {
		w.source = gw
	}
	return w
}

func (r *Reconciler) apply(ctx context.Context, gw *cluster.CachedGateway, desired *cmapi.Certificate) error {
	return r.writer(gw, client.ObjectKeyFromObject(gw)).apply(ctx, desired, nil)
}

// prune deletes meshcert's Certificates of the Gateway that the plan no
// longer wants. Only Certificates carrying both meshcert's labels and this
// Gateway's annotation are candidates; Secrets are never deleted.
func (r *Reconciler) prune(ctx context.Context, gateway types.NamespacedName, desired []*cmapi.Certificate, gw *cluster.CachedGateway) error {
	// The index finds this Gateway's Certificates in any namespace without
	// scanning every Certificate in the cache on each reconcile.
	return r.writer(gw, gateway).prune(ctx, r.Lookup.CertificatesOfGateway(ctx, gateway), desired)
}

func (r *Reconciler) warnBypassed(gw *cluster.CachedGateway, plan *certs.GatewayPlan) {
	parts := make([]string, 0, len(plan.Injections))
	for _, inj := range plan.Injections {
		parts = append(parts, fmt.Sprintf("%s: %s", inj.Field(), inj.Value()))
	}
	r.Recorder.Eventf(gw, nil, corev1.EventTypeWarning, ReasonWebhookBypassed, "Plan",
		"stored without what meshcert injects (was its webhook down?); the Certificate is ready under that name: set %s, or update the Gateway (e.g. kubectl annotate --overwrite ... meshcert.io/reinject=1) so the webhook injects it",
		strings.Join(parts, ", "))
}
