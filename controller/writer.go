package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/csaupgrade"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/internal/quiet"
)

// certificateWriter creates, updates and deletes the Certificates meshcert
// makes for one source object (a Gateway, an IstioOperator) and records
// each write: metric, log and an Event on the source.
type certificateWriter struct {
	client client.Client
	// apiReader reads a Certificate's managed fields before an update.
	apiReader client.Reader
	recorder  events.EventRecorder
	metrics   *Metrics
	// admissions, if set, is waited for before each write, so admission
	// requests are answered first.
	admissions *quiet.Gate
	// source gets the Events; nil (a source already gone) gets none.
	source client.Object
	// owns says whether a Certificate is meshcert's for this source.
	owns func(*cmapi.Certificate) bool
	// upToDate, if set, replaces the package's upToDate.
	upToDate func(existing, desired *cmapi.Certificate) bool
	// targetNoun and deleteNote word the Events.
	targetNoun, deleteNote string
}

// apply creates the Certificate, or updates it with server-side apply when
// it is meshcert's and differs from the plan. A Certificate meshcert
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
	isUpToDate := upToDate
	if w.upToDate != nil {
		isUpToDate = w.upToDate
	}
	if isUpToDate(existing, desired) {
		return nil
	}
	return w.write(ctx, existing, desired, updating)
}

// writeKind is a create or an update of a Certificate, with what the
// controller says about it.
type writeKind struct {
	op, verb, action, reason, done string
}

var (
	creating = writeKind{op: opCreate, verb: "create", action: "Create", reason: ReasonCreateCertificate, done: "Created"}
	updating = writeKind{op: opUpdate, verb: "update", action: "Update", reason: ReasonUpdateCertificate, done: "Updated"}
)

// write creates or updates desired and records it: metric, log and an
// Event on the source regarding the Certificate.
func (w certificateWriter) write(ctx context.Context, regarding, desired *cmapi.Certificate, k writeKind) error {
	if err := w.admissions.Wait(ctx); err != nil {
		return fmt.Errorf("failed to %s Certificate %s/%s: %w", k.verb, desired.Namespace, desired.Name, err)
	}
	var err error
	if k.op == opCreate {
		err = createCertificate(ctx, w.client, desired)
	} else {
		err = w.update(ctx, desired)
	}
	if k.op == opCreate && apierrors.IsAlreadyExists(err) {
		logf.FromContext(ctx).V(1).Info("Certificate appeared since the cache was read; planning again once the cache has it", "certificate", client.ObjectKeyFromObject(desired))
		return errCacheBehind
	}
	if err != nil {
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

// errCacheBehind says a Certificate meshcert was about to create already
// exists: the cache had not seen it yet (meshcert's own, made by a reconcile
// a moment before, or someone else's). It is not a failure; the object is
// planned again shortly (requeueSoon), against a cache that has it.
var errCacheBehind = errors.New("the Certificate exists but the cache has not seen it yet")

// requeueSoon is how long a reconcile waits for the cache after
// errCacheBehind.
const requeueSoon = time.Second

// resultOf turns what writing a plan's Certificates returned into a
// reconcile result: errCacheBehind alone asks to plan again soon.
func resultOf(errs []error) (ctrl.Result, error) {
	var failures []error
	behind := false
	for _, err := range errs {
		if errors.Is(err, errCacheBehind) {
			behind = true
			continue
		}
		failures = append(failures, err)
	}
	if len(failures) > 0 {
		return ctrl.Result{}, errors.Join(failures...)
	}
	if behind {
		return ctrl.Result{RequeueAfter: requeueSoon}, nil
	}
	return ctrl.Result{}, nil
}

// createCertificate creates the Certificate with exactly the fields meshcert
// sets. A plain create costs the API server less than a server-side apply
// (a fifth less time to 10,000 Certificates, docs/performance.md). If
// someone created a Certificate of that name since the cache was read, the
// create fails and nothing is written: meshcert never takes over a
// Certificate it did not create.
func createCertificate(ctx context.Context, c client.Client, desired *cmapi.Certificate) error {
	u, err := certs.CertificateObject(desired)
	if err != nil {
		return err
	}
	if err := c.Create(ctx, u, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("failed to create: %w", err)
	}
	return nil
}

// update server-side applies the Certificate as meshcert wants it, forcing
// its fields back: every field meshcert sets is written, a field it no
// longer sets is removed, fields others own are kept. meshcert created the
// Certificate with a plain create, which records its fields as updated
// rather than applied, and an apply removes only applied fields; so
// meshcert's ownership is first converted, as kubectl does when it moves to
// server-side apply (csaupgrade). Managed fields are not cached, so this
// reads the Certificate from the API server; updates are rare.
func (w certificateWriter) update(ctx context.Context, desired *cmapi.Certificate) error {
	live := &metav1.PartialObjectMetadata{}
	live.SetGroupVersionKind(cmapi.SchemeGroupVersion.WithKind(cmapi.CertificateKind))
	if err := w.apiReader.Get(ctx, client.ObjectKeyFromObject(desired), live); err != nil {
		return fmt.Errorf("failed to read its managed fields: %w", err)
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, sets.New(FieldManager), FieldManager)
	if err != nil {
		return fmt.Errorf("failed to convert meshcert's field ownership: %w", err)
	}
	if patch != nil {
		// The patch tests the resourceVersion it was made from, so a
		// concurrent change fails it rather than being overwritten.
		if err := w.client.Patch(ctx, live, client.RawPatch(types.JSONPatchType, patch)); err != nil {
			return fmt.Errorf("failed to convert meshcert's field ownership: %w", err)
		}
	}
	u, err := certs.CertificateObject(desired)
	if err != nil {
		return err
	}
	if err := w.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("failed to apply: %w", err)
	}
	return nil
}

// prune deletes the Certificates of list that are meshcert's for the
// source and not desired. Secrets are never deleted.
func (w certificateWriter) prune(ctx context.Context, list, desired []*cmapi.Certificate) error {
	log := logf.FromContext(ctx)
	var errs []error
	for _, crt := range list {
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
		// A copy: crt is the cache's.
		err := w.client.Delete(ctx, crt.DeepCopy(), client.Preconditions{UID: &crt.UID, ResourceVersion: &crt.ResourceVersion})
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
