// Package controller is meshcert's Certificate controller: for every Istio
// Gateway it asks the planner which Certificates the Gateway needs and makes
// the cluster hold exactly those, creating, updating and deleting only
// Certificates meshcert created. All decisions are the planner's; this
// package reads caches and writes.
package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/internal/quiet"
)

// FieldManager is the field manager of every write meshcert makes.
const FieldManager = "meshcert"

// Event reasons on the Gateway, matching cert-manager's shim where they
// mean the same.
const (
	ReasonCreateCertificate = "CreateCertificate"
	ReasonUpdateCertificate = "UpdateCertificate"
	ReasonDeleteCertificate = "DeleteCertificate"
	ReasonBadConfig         = "BadConfig"
	// ReasonWebhookBypassed: the Gateway was stored without the
	// credentialName the mutating webhook would have injected.
	ReasonWebhookBypassed = "WebhookBypassed"
	// ReasonOutsidePolicy: the namespace's policy forbids a host or
	// issuer of the Gateway, so it gets no Certificate.
	ReasonOutsidePolicy = "OutsidePolicy"
)

// Reconciler makes the Certificates of one Gateway match the plan.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client   client.Client
	Lookup   certs.Lookup
	Options  certs.Options
	Recorder events.EventRecorder
	// Metrics may be nil.
	Metrics *Metrics
	// Admissions holds writes back while Gateways are being admitted;
	// nil holds nothing back.
	Admissions *quiet.Gate
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	gw := cluster.NewGateway()
	if err := r.Client.Get(ctx, req.NamespacedName, gw); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("failed to get Gateway %s: %w", req.NamespacedName, err)
		}
		// Gone: Certificates in its own namespace go with their owner
		// reference; those in other namespaces are only found by label.
		return ctrl.Result{}, r.prune(ctx, req.NamespacedName, nil, nil)
	}
	if gw.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, r.prune(ctx, req.NamespacedName, nil, gw)
	}

	plan := certs.PlanGateway(ctx, certs.ParseGateway(gw), r.Lookup, r.Options)
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
	if len(applyErrs) > 0 {
		return ctrl.Result{}, fmt.Errorf("failed to apply Certificates of Gateway %s: %w", req.NamespacedName, errors.Join(applyErrs...))
	}
	if plan.Managed && plan.Findings.HasErrors() && !plan.OutsidePolicy {
		// A typo in an annotation must not delete working Certificates:
		// keep what exists until the Gateway is fixed or unmanaged. A
		// policy that no longer allows the Gateway is a cluster admin's
		// decision, so its Certificates go: cert-manager keeps the Secrets,
		// which serve until they expire and are adopted again, without
		// reissuing, if the policy comes back.
		log.V(1).Info("Not pruning Certificates of a managed Gateway with errors")
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.prune(ctx, req.NamespacedName, plan.Certificates, gw)
}

// writer makes the Certificates of one Gateway.
func (r *Reconciler) writer(gw *unstructured.Unstructured, gateway types.NamespacedName) certificateWriter {
	w := certificateWriter{
		client: r.Client, recorder: r.Recorder, metrics: r.Metrics, admissions: r.Admissions,
		owns:       func(crt *cmapi.Certificate) bool { return certs.OwnedBy(crt, gateway.Namespace, gateway.Name) },
		targetNoun: "Secret",
		deleteNote: "no longer needed by this Gateway",
	}
	if gw != nil {
		w.source = gw
	}
	return w
}

func (r *Reconciler) apply(ctx context.Context, gw *unstructured.Unstructured, desired *cmapi.Certificate) error {
	return r.writer(gw, client.ObjectKeyFromObject(gw)).apply(ctx, desired, nil)
}

// prune deletes meshcert's Certificates of the Gateway that the plan no
// longer wants. Only Certificates carrying both meshcert's labels and this
// Gateway's annotation are candidates; Secrets are never deleted.
func (r *Reconciler) prune(ctx context.Context, gateway types.NamespacedName, desired []*cmapi.Certificate, gw *unstructured.Unstructured) error {
	var list cmapi.CertificateList
	// The field index finds this Gateway's Certificates in any namespace
	// without scanning every Certificate in the cache on each reconcile.
	if err := r.Client.List(ctx, &list, client.MatchingFields{cluster.IndexCertificateGateway: gateway.String()}); err != nil {
		return fmt.Errorf("failed to list Certificates of Gateway %s: %w", gateway, err)
	}
	return r.writer(gw, gateway).prune(ctx, list.Items, desired)
}

// certificateWriter creates, updates and deletes the Certificates meshcert
// makes for one source object (a Gateway, an IstioOperator) and records
// each write: metric, log and an Event on the source.
type certificateWriter struct {
	client   client.Client
	recorder events.EventRecorder
	metrics  *Metrics
	// admissions, if set, is waited for before each write, so admission
	// requests are answered first.
	admissions *quiet.Gate
	// source gets the Events; nil (a source already gone) gets none.
	source client.Object
	// owns says whether a Certificate is meshcert's for this source.
	owns func(*cmapi.Certificate) bool
	// targetNoun and deleteNote word the Events.
	targetNoun, deleteNote string
}

// apply creates the Certificate, or updates it when it is meshcert's and
// differs from the plan, both with server-side apply. A Certificate meshcert
// does not own is never written, even if the cache was stale when the plan
// was made. mayCreate, if set, must agree before a Certificate is created.
func (w certificateWriter) apply(ctx context.Context, desired *cmapi.Certificate, mayCreate func(context.Context) (bool, error)) error {
	existing := &cmapi.Certificate{}
	err := w.client.Get(ctx, client.ObjectKeyFromObject(desired), existing)
	switch {
	case apierrors.IsNotFound(err):
		if mayCreate != nil {
			if ok, err := mayCreate(ctx); err != nil || !ok {
				return err
			}
		}
		return w.write(ctx, desired, desired, creating)
	case err != nil:
		return fmt.Errorf("failed to get Certificate %s/%s: %w", desired.Namespace, desired.Name, err)
	}
	if !w.owns(existing) {
		logf.FromContext(ctx).Info("Leaving alone a Certificate meshcert does not own", "certificate", client.ObjectKeyFromObject(desired))
		return nil
	}
	if upToDate(existing, desired) {
		return nil
	}
	return w.write(ctx, existing, desired, updating)
}

// writeKind is a create or an update of a Certificate, with what the
// controller says about it.
type writeKind struct {
	op, verb, action, reason, done string
	// force takes over fields others set; never when creating (see
	// applyCertificate).
	force bool
}

var (
	creating = writeKind{op: opCreate, verb: "create", action: "Create", reason: ReasonCreateCertificate, done: "Created"}
	updating = writeKind{op: opUpdate, verb: "update", action: "Update", reason: ReasonUpdateCertificate, done: "Updated", force: true}
)

// write applies desired and records it: metric, log and an Event on the
// source regarding the Certificate.
func (w certificateWriter) write(ctx context.Context, regarding, desired *cmapi.Certificate, k writeKind) error {
	if err := w.admissions.Wait(ctx); err != nil {
		return fmt.Errorf("failed to %s Certificate %s/%s: %w", k.verb, desired.Namespace, desired.Name, err)
	}
	if err := applyCertificate(ctx, w.client, desired, k.force); err != nil {
		return fmt.Errorf("failed to %s Certificate %s/%s: %w", k.verb, desired.Namespace, desired.Name, err)
	}
	w.metrics.wrote(k.op)
	logf.FromContext(ctx).Info("Wrote Certificate", "operation", k.op, "certificate", client.ObjectKeyFromObject(desired))
	if w.source != nil {
		w.recorder.Eventf(w.source, regarding, corev1.EventTypeNormal, k.reason, k.action,
			"%s Certificate %s/%s for %s %q", k.done, desired.Namespace, desired.Name, w.targetNoun, desired.Spec.SecretName)
	}
	return nil
}

// applyCertificate server-side applies the Certificate as meshcert wants
// it: every field meshcert sets is written, a field it no longer sets is
// removed, fields others own are kept. Creating, it does not force: if
// someone created a Certificate of that name since the cache was read, any
// field they set differently conflicts and nothing is written, so meshcert
// never takes over a Certificate it did not create.
func applyCertificate(ctx context.Context, c client.Client, desired *cmapi.Certificate, force bool) error {
	u, err := certs.CertificateObject(desired)
	if err != nil {
		return err
	}
	opts := []client.ApplyOption{client.FieldOwner(FieldManager)}
	if force {
		opts = append(opts, client.ForceOwnership)
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), opts...); err != nil {
		return fmt.Errorf("failed to apply: %w", err)
	}
	return nil
}

// prune deletes the Certificates of list that are meshcert's for the
// source and not desired. Secrets are never deleted.
func (w certificateWriter) prune(ctx context.Context, list []cmapi.Certificate, desired []*cmapi.Certificate) error {
	log := logf.FromContext(ctx)
	var errs []error
	for i := range list {
		crt := &list[i]
		if !w.owns(crt) {
			continue
		}
		if slices.ContainsFunc(desired, func(d *cmapi.Certificate) bool {
			return d.Namespace == crt.Namespace && d.Name == crt.Name
		}) {
			continue
		}
		if err := w.admissions.Wait(ctx); err != nil {
			return errors.Join(append(errs, fmt.Errorf("failed to delete Certificate %s/%s: %w", crt.Namespace, crt.Name, err))...)
		}
		// Preconditions make sure what is deleted is what was inspected.
		err := w.client.Delete(ctx, crt, client.Preconditions{UID: &crt.UID, ResourceVersion: &crt.ResourceVersion})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("failed to delete Certificate %s/%s: %w", crt.Namespace, crt.Name, err))
			continue
		}
		w.metrics.wrote(opDelete)
		log.Info("Deleted Certificate", "certificate", client.ObjectKeyFromObject(crt))
		if w.source != nil {
			w.recorder.Eventf(w.source, crt, corev1.EventTypeNormal, ReasonDeleteCertificate, "Delete",
				"Deleted Certificate %s/%s, %s", crt.Namespace, crt.Name, w.deleteNote)
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) warnBypassed(gw *unstructured.Unstructured, plan *certs.GatewayPlan) {
	parts := make([]string, 0, len(plan.Injections))
	for _, inj := range plan.Injections {
		parts = append(parts, fmt.Sprintf("%s: %s", inj.Field(), inj.Value()))
	}
	r.Recorder.Eventf(gw, nil, corev1.EventTypeWarning, ReasonWebhookBypassed, "Plan",
		"stored without what meshcert injects (was its webhook down?); the Certificate is ready under that name: set %s, or update the Gateway (e.g. kubectl annotate --overwrite ... meshcert.io/reinject=1) so the webhook injects it",
		strings.Join(parts, ", "))
}

// upToDate reports whether existing already holds everything meshcert
// wants: the whole spec, and its labels, annotations and owner references
// (others may add their own).
func upToDate(existing, desired *cmapi.Certificate) bool {
	if !equality.Semantic.DeepEqual(existing.Spec, desired.Spec) {
		return false
	}
	for k, v := range desired.Labels {
		if existing.Labels[k] != v {
			return false
		}
	}
	for k, v := range desired.Annotations {
		if existing.Annotations[k] != v {
			return false
		}
	}
	// An override of a shim annotation removed from the Gateway: applying
	// removes it if meshcert wrote it. If someone else did, the apply
	// changes nothing and so triggers no further reconcile.
	for _, k := range certs.ACMEShimCertificateAnnotations {
		if _, wanted := desired.Annotations[k]; !wanted && hasKey(existing.Annotations, k) {
			return false
		}
	}
	for _, ref := range desired.OwnerReferences {
		if !slices.ContainsFunc(existing.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == ref.UID }) {
			return false
		}
	}
	return true
}

func hasKey(m map[string]string, key string) bool {
	_, ok := m[key]
	return ok
}

func errorMessages(fs finding.Findings) []string {
	var out []string
	for _, f := range fs {
		if f.Severity == finding.SeverityError {
			out = append(out, fmt.Sprintf("%s %s: %s", f.Code, f.Field, f.Message))
		}
	}
	return out
}
