package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
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
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/internal/quiet"
)

// GatewayAPICertificates says who writes the Certificates of Gateway API
// Gateways and ListenerSets (serve's --gateway-api-certificates).
type GatewayAPICertificates string

const (
	// GatewayAPICertificatesShim leaves them to cert-manager's
	// gateway-shim: meshcert writes none and only records Events.
	GatewayAPICertificatesShim GatewayAPICertificates = "shim"
	// GatewayAPICertificatesMeshcert has meshcert write exactly the ones
	// the shim would (gatewayapi.Plan), marked as meshcert's, for clusters
	// whose cert-manager runs without Gateway API support.
	GatewayAPICertificatesMeshcert GatewayAPICertificates = "meshcert"
)

// GatewayAPICertificatesModes are the values GatewayAPICertificates takes,
// the default first.
var GatewayAPICertificatesModes = []GatewayAPICertificates{GatewayAPICertificatesShim, GatewayAPICertificatesMeshcert}

// GatewayAPIControllerName is the name in logs and metrics of the
// controller of a Gateway API kind (gatewayapi.KindGateway or
// KindListenerSet).
func GatewayAPIControllerName(kind string) string {
	return "gatewayapi-" + strings.ToLower(kind) + "-certificates"
}

// GatewayAPIReconciler plans one Gateway API Gateway or ListenerSet (its
// Kind) with gatewayapi.Plan, the function the webhook and the CLI call,
// and records the plan's errors as a Warning Event on it, so what was
// stored while the validating webhook was bypassed shows in kubectl
// describe. It never writes the object. With Certificates set to
// GatewayAPICertificatesMeshcert it also writes the Certificates the plan
// holds, as cert-manager's gateway-shim would, and deletes those it wrote
// whose Secret no listener names any more.
type GatewayAPIReconciler struct {
	// Kind is gatewayapi.KindGateway or KindListenerSet.
	Kind string
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads a Certificate's managed fields before an update.
	APIReader client.Reader
	Lookup    certs.Lookup
	Options   certs.Options
	Shim      gatewayapi.ShimOptions
	// Certificates says who writes the Certificates; empty means the shim.
	Certificates GatewayAPICertificates
	Recorder     events.EventRecorder
	// Metrics may be nil.
	Metrics *Metrics
	// Admissions holds writes back while Gateways are being admitted;
	// nil holds nothing back.
	Admissions *quiet.Gate
}

// Reconcile implements reconcile.Reconciler.
func (r *GatewayAPIReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	u := cluster.NewGatewayAPIObject(r.Kind)
	if err := r.Client.Get(ctx, req.NamespacedName, u); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone: its Certificates, meshcert's as the shim's, go with
			// their owner reference.
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("failed to get %s %s: %w", r.Kind, req.NamespacedName, err)
	}
	obj, err := gatewayapi.Parse(u)
	if err != nil {
		// The API server's schema refuses what does not parse; a retry
		// would read the same.
		logf.FromContext(ctx).Error(err, "Not planning an object that does not parse")
		return ctrl.Result{}, nil
	}
	plan := gatewayapi.Plan(ctx, obj, r.Lookup, r.Options, r.Shim)
	writes := r.Certificates == GatewayAPICertificatesMeshcert
	var withheld, outsidePolicy bool
	if writes {
		withheld, outsidePolicy = r.withheld(ctx, obj, plan)
	}
	if errs := errorMessages(plan.Findings); len(errs) > 0 {
		reason := ReasonBadConfig
		if outsidePolicy {
			reason = ReasonOutsidePolicy
		}
		r.Recorder.Eventf(u, nil, corev1.EventTypeWarning, reason, "Plan", "%s", strings.Join(errs, "; "))
	}
	if !writes || obj.Deleting {
		// The shim leaves an object being deleted alone too.
		return ctrl.Result{}, nil
	}
	return r.writeCertificates(ctx, u, obj, plan, withheld)
}

// withheld reports whether meshcert, as the writer, must issue nothing for
// the object, as for a managed Istio Gateway, where the shim, which knows
// no policy, would: a listener claims a credential or host another
// namespace holds (MC8001, MC8002), or a name or issuer of the
// Certificates it would write is outside the namespace's policy, or the
// policy does not parse (outsidePolicy). Findings about other objects (a
// Gateway's attached ListenerSet outside its own namespace's policy)
// withhold nothing here: that ListenerSet's own plan withholds its
// Certificates.
func (r *GatewayAPIReconciler) withheld(ctx context.Context, obj *gatewayapi.Object, plan *gatewayapi.ShimPlan) (withheld, outsidePolicy bool) {
	if len(plan.Certificates) > 0 {
		// The plan said where; only whether is asked here.
		scratch := finding.Builder{Object: obj.Ref}
		anywhere := func(*cmapi.Certificate, string) *field.Path { return field.NewPath("spec") }
		outsidePolicy = !certs.CheckPolicyOf(ctx, &scratch, obj.Namespace, plan.Certificates, anywhere, r.Lookup, r.Options)
	}
	hijack := slices.ContainsFunc(plan.Findings, func(f finding.Finding) bool {
		return f.Severity == finding.SeverityError && (f.Code == finding.CodeCredentialHijack || f.Code == finding.CodeHostHijack)
	})
	return outsidePolicy || hijack, outsidePolicy
}

// writeCertificates makes the object's Certificates the plan's (none when
// withheld), marked as meshcert's, and deletes the ones meshcert wrote for
// it that the shim would delete: those whose Secret none of its listeners
// names, once a sync gets that far (the object acts, and has no errors
// that stop the shim's sync or keep meshcert from pruning). Withheld, it
// deletes every one meshcert wrote for it, as for an Istio Gateway whose
// namespace's policy no longer allows it.
func (r *GatewayAPIReconciler) writeCertificates(ctx context.Context, u *unstructured.Unstructured, obj *gatewayapi.Object, plan *gatewayapi.ShimPlan, withheld bool) (ctrl.Result, error) {
	var desired []*cmapi.Certificate
	if !withheld {
		desired = make([]*cmapi.Certificate, 0, len(plan.Certificates))
		for _, crt := range plan.Certificates {
			desired = append(desired, markedAsMeshcerts(crt))
		}
	}
	note := "none of this " + obj.Kind + "'s listeners names its Secret any more"
	if withheld {
		note = "this " + obj.Kind + " names what its namespace may not have (see the Warning Event)"
	}
	w := r.writer(u, obj, note)
	var applyErrs []error
	for _, crt := range desired {
		if err := w.apply(ctx, crt, nil); err != nil {
			applyErrs = append(applyErrs, err)
		}
	}
	result, err := resultOf(applyErrs)
	if err != nil {
		return result, fmt.Errorf("failed to apply Certificates of %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	if !withheld && (!plan.Acts || plan.Findings.HasErrors()) {
		// The shim's sync stops before it deletes anything when the object
		// names no issuer or its annotations are refused; and an object
		// with errors keeps its Certificates (a typo must not stop
		// renewals).
		logf.FromContext(ctx).V(1).Info("Not pruning the Certificates of an object that does not act or has errors")
		return result, nil
	}
	written, err := r.certificatesWrittenFor(ctx, obj)
	if err != nil {
		return result, err
	}
	if !withheld {
		written = slices.DeleteFunc(written, func(crt *cmapi.Certificate) bool { return obj.NamesSecret(crt.Spec.SecretName) })
	}
	return result, w.prune(ctx, written, desired)
}

// markedAsMeshcerts is the shim's Certificate as meshcert writes it: the
// same, with meshcert's managed-by label (in place of one the object's
// labels gave it). The owner reference stays the shim's: the object as
// controller, with blockOwnerDeletion.
func markedAsMeshcerts(crt *cmapi.Certificate) *cmapi.Certificate {
	out := crt.DeepCopy()
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	out.Labels[certs.LabelManagedBy] = certs.ManagedByValue
	return out
}

// WroteForGatewayAPI reports whether meshcert wrote crt for the Gateway
// API object obj: meshcert's managed-by label, and obj (by UID) as its
// controller. A Certificate the shim wrote has the controller but not the
// label; one the shim has since taken over lost the label in the shim's
// first update (it sets the labels to the object's).
func WroteForGatewayAPI(crt *cmapi.Certificate, obj *gatewayapi.Object) bool {
	if !certs.ManagedByMeshcert(crt) || obj.UID == "" {
		return false
	}
	ref := metav1.GetControllerOfNoCopy(crt)
	return ref != nil && string(ref.UID) == obj.UID
}

// certificatesWrittenFor lists, from the cache, the Certificates meshcert
// wrote for obj, all in its namespace (the shim writes none elsewhere).
func (r *GatewayAPIReconciler) certificatesWrittenFor(ctx context.Context, obj *gatewayapi.Object) ([]*cmapi.Certificate, error) {
	var list cmapi.CertificateList
	err := r.Client.List(ctx, &list, client.InNamespace(obj.Namespace), client.MatchingLabels{certs.LabelManagedBy: certs.ManagedByValue})
	if err != nil {
		return nil, fmt.Errorf("failed to list Certificates of %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	var out []*cmapi.Certificate
	for i := range list.Items {
		if WroteForGatewayAPI(&list.Items[i], obj) {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// writer makes the Certificates of one object; deleteNote says why one is
// deleted.
func (r *GatewayAPIReconciler) writer(u *unstructured.Unstructured, obj *gatewayapi.Object, deleteNote string) certificateWriter {
	return certificateWriter{
		client: r.Client, apiReader: r.APIReader, recorder: r.Recorder, metrics: r.Metrics, admissions: r.Admissions,
		source:     u,
		owns:       func(crt *cmapi.Certificate) bool { return WroteForGatewayAPI(crt, obj) },
		upToDate:   gatewayAPIUpToDate,
		targetNoun: "Secret",
		deleteNote: deleteNote,
	}
}

// shimCertificateAnnotations are the annotations the shim may put on a
// Certificate it creates: the HTTP-01 parent its route attaches to, and
// the ACME overrides.
var shimCertificateAnnotations = append([]string{
	cmacme.ACMECertificateHTTP01ParentRefKind,
	cmacme.ACMECertificateHTTP01ParentRefName,
	cmacme.ACMECertificateHTTP01ParentRefNamespace,
}, certs.ACMEShimCertificateAnnotations...)

// gatewayAPIUpToDate is upToDate with the labels exactly the object's (as
// the shim compares them: one removed from the object goes from the
// Certificate) and none of the shim's annotations the plan no longer
// wants.
func gatewayAPIUpToDate(existing, desired *cmapi.Certificate) bool {
	if !upToDate(existing, desired) || !maps.Equal(existing.Labels, desired.Labels) {
		return false
	}
	for _, k := range shimCertificateAnnotations {
		if _, wanted := desired.Annotations[k]; !wanted && hasKey(existing.Annotations, k) {
			return false
		}
	}
	return true
}

// setupGatewayAPI adds a controller for Gateway API Gateways and one for
// ListenerSets, each where the API server serves its CRD when meshcert
// starts (cluster.Setup then caches its objects too).
func setupGatewayAPI(ctx context.Context, mgr manager.Manager, cfg Config) error {
	for _, kind := range []string{gatewayapi.KindGateway, gatewayapi.KindListenerSet} {
		if err := setupGatewayAPIKind(ctx, mgr, cfg, kind); err != nil {
			return err
		}
	}
	return nil
}

// gatewayAPIServed reports whether the API server serves the Gateway API's
// kind (v1); cluster.Setup caches only the kinds served.
func gatewayAPIServed(mgr manager.Manager, kind string) (bool, error) {
	gvk := schema.GroupVersionKind{Group: gatewayapi.Group, Version: "v1", Kind: kind}
	if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
		if meta.IsNoMatchError(err) {
			return false, nil
		}
		return false, fmt.Errorf("failed to discover the Gateway API %s API: %w", kind, err)
	}
	return true, nil
}

func setupGatewayAPIKind(ctx context.Context, mgr manager.Manager, cfg Config, kind string) error {
	if served, err := gatewayAPIServed(mgr, kind); err != nil || !served {
		if err == nil {
			// cluster.Setup has logged it for the cache.
			logf.FromContext(ctx).V(1).Info("CRD not installed; no controller for its objects", "kind", kind, "group", gatewayapi.Group)
		}
		return err
	}
	other := gatewayapi.KindListenerSet
	if kind == gatewayapi.KindListenerSet {
		other = gatewayapi.KindGateway
	}
	// Gateway API releases before v1.5 have Gateways but no v1
	// ListenerSets: a watch on a kind not served never syncs, and the
	// manager would stop.
	otherServed, err := gatewayAPIServed(mgr, other)
	if err != nil {
		return err
	}
	r := &GatewayAPIReconciler{
		Kind:         kind,
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Lookup:       cfg.Lookup,
		Options:      cfg.Options,
		Shim:         gatewayapi.DefaultShimOptions(),
		Certificates: cfg.GatewayAPICertificates,
		Recorder:     cfg.recorder(mgr),
		Metrics:      cfg.Metrics,
		Admissions:   cfg.Admissions,
	}
	m := gatewayAPIMappings{reader: mgr.GetClient(), kind: kind}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(GatewayAPIControllerName(kind)).
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: max(1, cfg.MaxConcurrentReconciles)}).
		For(cluster.NewGatewayAPIObject(kind)).
		// The namespace's policy judges the object.
		Watches(cluster.NewNamespaceMetadata(), handler.EnqueueRequestsFromMapFunc(m.inNamespace),
			builder.WithPredicates(predicate.Or(predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{})))
	switch {
	case !otherServed:
	case kind == gatewayapi.KindGateway:
		// What attaches to a Gateway may change what is said of it.
		b = b.Watches(cluster.NewGatewayAPIObject(gatewayapi.KindListenerSet), handler.EnqueueRequestsFromMapFunc(parentOfListenerSet))
	default:
		// A ListenerSet takes its Gateway's issuer annotations.
		b = b.Watches(cluster.NewGatewayAPIObject(gatewayapi.KindGateway), handler.EnqueueRequestsFromMapFunc(m.listenerSetsOf))
	}
	if cfg.GatewayAPICertificates == GatewayAPICertificatesMeshcert {
		// A Certificate deleted, edited, or in the way of one meshcert
		// would write; not its status.
		b = b.Watches(&cmapi.Certificate{}, handler.EnqueueRequestsFromMapFunc(m.ofCertificate),
			builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{},
				predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{})))
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("failed to set up the %s controller: %w", GatewayAPIControllerName(kind), err)
	}
	return nil
}

// gatewayAPIMappings turn changes of other objects into the objects of
// kind to reconcile, reading them from the cache.
type gatewayAPIMappings struct {
	reader client.Reader
	kind   string
}

func (m gatewayAPIMappings) list(ctx context.Context, kind string, opts ...client.ListOption) []*gatewayapi.Object {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Group: gatewayapi.Group, Version: "v1", Kind: kind + "List"})
	if err := m.reader.List(ctx, list, opts...); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to list Gateway API objects", "kind", kind)
		return nil
	}
	out := make([]*gatewayapi.Object, 0, len(list.Items))
	for i := range list.Items {
		if obj, err := gatewayapi.Parse(&list.Items[i]); err == nil {
			out = append(out, obj)
		}
	}
	return out
}

func requestsOf(objs []*gatewayapi.Object, keep func(*gatewayapi.Object) bool) []reconcile.Request {
	var out []reconcile.Request
	for _, obj := range objs {
		if keep == nil || keep(obj) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}})
		}
	}
	return out
}

// inNamespace re-plans a namespace's objects when its labels or
// annotations (its policy) change.
func (m gatewayAPIMappings) inNamespace(ctx context.Context, ns client.Object) []reconcile.Request {
	return requestsOf(m.list(ctx, m.kind, client.InNamespace(ns.GetName())), nil)
}

// listenerSetsOf re-plans the ListenerSets attached to a Gateway.
func (m gatewayAPIMappings) listenerSetsOf(ctx context.Context, gw client.Object) []reconcile.Request {
	return requestsOf(m.list(ctx, gatewayapi.KindListenerSet), func(ls *gatewayapi.Object) bool {
		return ls.ParentNamespace == gw.GetNamespace() && ls.ParentName == gw.GetName()
	})
}

// parentOfListenerSet re-plans a ListenerSet's Gateway.
func parentOfListenerSet(_ context.Context, ls client.Object) []reconcile.Request {
	u, ok := ls.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	obj, err := gatewayapi.Parse(u)
	if err != nil || obj.ParentName == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.ParentNamespace, Name: obj.ParentName}}}
}

// ofCertificate re-plans the object that controls a Certificate, or,
// for a Certificate no object of the kind controls, the objects of its
// namespace whose listeners name a Secret of its name: it was in the way
// of the one meshcert would write, or is no longer.
func (m gatewayAPIMappings) ofCertificate(ctx context.Context, crt client.Object) []reconcile.Request {
	if ref := metav1.GetControllerOfNoCopy(crt); ref != nil && ref.Kind == m.kind && strings.HasPrefix(ref.APIVersion, gatewayapi.Group+"/") {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: crt.GetNamespace(), Name: ref.Name}}}
	}
	return requestsOf(m.list(ctx, m.kind, client.InNamespace(crt.GetNamespace())), func(obj *gatewayapi.Object) bool {
		return obj.NamesSecret(crt.GetName())
	})
}
