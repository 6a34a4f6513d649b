// Package webhook holds meshcert's admission handlers: thin glue that
// decodes the object, looks other objects up in the informer cache through
// a certs.Lookup, calls the certs planner and answers. The handlers hold no
// API client, so an admission request makes no API call, and they have no
// side effects, so dry-run requests are answered the same way.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/internal/jsonvalue"
	"github.com/meshcert/meshcert/internal/quiet"
)

// LabelEnforce set to "true" on a namespace turns findings that may only mean
// "not applied yet" (an issuer or credential not found) into denials for the
// objects in that namespace, as the --enforce flag does for all namespaces.
const LabelEnforce = "meshcert.io/enforce"

// Config is what the handlers need besides the lookup.
type Config struct {
	// Options are the planner options; Strict is decided per request.
	Options certs.Options
	// Enforce makes every namespace strict, as if labelled LabelEnforce=true.
	Enforce bool
	// Admissions, if set, is told of every Gateway admission, so the
	// controller can hold its writes back until they pause.
	Admissions *quiet.Gate
	// Shim are the settings of cert-manager's gateway-shim, to predict
	// what it creates for Gateway API objects.
	Shim gatewayapi.ShimOptions
}

// Results of an admission decision, the values of the result label.
const (
	ResultAllowed = "allowed"
	ResultDenied  = "denied"
	ResultPatched = "patched"
	ResultErrored = "errored"
)

// decision is what a handler decided, for the response, metrics and logs.
type decision struct {
	response admission.Response
	result   string
	findings finding.Findings
}

func allowed() decision { return decision{response: admission.Allowed(""), result: ResultAllowed} }

func errored(code int32, err error) decision {
	return decision{response: admission.Errored(code, err), result: ResultErrored}
}

// handler is the part every webhook shares: instrumentation and logging
// around its Definition's review.
type handler struct {
	def Definition
	// name is def.label(), computed once.
	name    string
	lookup  certs.Lookup
	cfg     Config
	metrics *Metrics
}

var _ admission.Handler = (*handler)(nil)

// safeReview runs the review and answers a panic instead of dropping the
// connection: a mutating webhook allows (what its Ignore failure policy
// would do, and the controller repairs what it let through), a validating
// one answers an error, which the API server treats per its failure
// policy. Either way the panic is logged with its stack and counted.
func (h *handler) safeReview(ctx context.Context, req admission.Request) (d decision) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		h.metrics.panicked(h.name)
		logf.FromContext(ctx).Error(fmt.Errorf("panic: %v", r), "Admission handler panicked; answering anyway",
			append(requestKeys(h.name, req), "kind", req.Kind.Kind, "stack", string(debug.Stack()))...)
		if h.def.Mutating {
			d = allowed()
			return
		}
		d = errored(http.StatusInternalServerError, fmt.Errorf("meshcert failed to review %s %s/%s (an internal error, logged and counted in meshcert_admission_panics_total)", req.Kind.Kind, req.Namespace, req.Name))
	}()
	return h.def.review(h, ctx, req)
}

// newHandler returns the handler of d: its name, its kind and how it
// decides strictness all come from d.
func newHandler(d Definition, lookup certs.Lookup, cfg Config, metrics *Metrics) *handler {
	return &handler{def: d, name: d.label(), lookup: lookup, cfg: cfg, metrics: metrics}
}

// Handle implements admission.Handler.
func (h *handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	var d decision
	if skip(req) {
		d = allowed()
	} else {
		d = h.safeReview(ctx, req)
	}
	elapsed := time.Since(start)
	h.metrics.observe(h.name, d.result, d.findings, elapsed)
	// The logger gets the request's values only when it logs: attaching
	// them to every request cost more than the planning of a small Gateway.
	base := logf.FromContext(ctx)
	verbose := base.V(1)
	if d.result != ResultDenied && d.result != ResultErrored && !verbose.Enabled() {
		return d.response
	}
	keys := append(requestKeys(h.name, req), "result", d.result, "findings", len(d.findings), "dryRun", req.DryRun != nil && *req.DryRun, "duration", elapsed)
	switch d.result {
	case ResultDenied:
		base.Info("admission denied", append(keys, "reason", d.response.Result.Message)...)
	case ResultErrored:
		base.Info("admission errored", append(keys, "reason", d.response.Result.Message)...)
	default:
		verbose.Info("admission reviewed", keys...)
	}
	return d.response
}

// requestKeys name the webhook and the request in a log line, as
// controller-runtime's default admission logger does (see logConstructor).
func requestKeys(webhook string, req admission.Request) []any {
	return []any{
		"webhook", webhook, "object", klog.KRef(req.Namespace, req.Name), "namespace", req.Namespace, "name", req.Name,
		"resource", req.Resource, "user", req.UserInfo.Username, "requestID", req.UID,
	}
}

// logConstructor replaces controller-runtime's default, which attaches the
// request's values to a new logger for every request; Handle adds them
// (requestKeys) only to the lines it logs.
func logConstructor(base logr.Logger, _ *admission.Request) logr.Logger { return base }

// skip reports requests meshcert has nothing to say about: deletes,
// connects and subresources. Objects already being deleted are skipped by
// the reviews once decoded (see decodeFor).
func skip(req admission.Request) bool {
	if req.SubResource != "" {
		return true
	}
	switch req.Operation {
	case "CREATE", "UPDATE":
	default:
		return true
	}
	return false
}

// options are the planner options for an object in namespace: strict when
// enforcement is on or, if the handler's strictness reads it, the namespace
// is labelled for it.
func (h *handler) options(ctx context.Context, namespace string) certs.Options {
	opts := h.cfg.Options
	opts.Strict = h.cfg.Enforce
	if !opts.Strict && h.def.strictness == strictWhenEnforcedOrLabelled && namespace != "" {
		if ns, ok := h.lookup.Namespace(ctx, namespace); ok {
			opts.Strict = ns.Labels[LabelEnforce] == "true"
		}
	}
	return opts
}

var errNoObject = errors.New("the admission request has no object")

// decodeFor decodes the request's object into obj, once, and completes it as
// the API server will store it: the kind from the request when the object
// names none, the namespace from the request when it names none (see
// fillNamespace; filled is for a patch to leave it out again). skip is the
// answer when there is nothing to review: an object that cannot be read,
// one that is not of the kind the handler reviews (is), or one being
// deleted (denying its update could block the removal of a finalizer).
func decodeFor(req admission.Request, obj client.Object, is func(schema.GroupVersionKind) bool) (filled filledNamespace, skip *decision) {
	filled, _, skip = decodeStrictFor(req, obj, is)
	return filled, skip
}

// decodeStrictFor is decodeFor that also returns, for a typed object, the
// fields its type does not have, as Kubernetes' strict decoder reports
// them; the object is still decoded once.
func decodeStrictFor(req admission.Request, obj client.Object, is func(schema.GroupVersionKind) bool) (filled filledNamespace, unknown []error, skip *decision) {
	decoded, isDecoded := req.Object.Object.(*unstructured.Unstructured)
	u, wantsUnstructured := obj.(*unstructured.Unstructured)
	switch {
	case isDecoded && wantsUnstructured:
		// reviewServer decoded it with the review, as utiljson would.
		u.Object = decoded.Object
	case bytesAreNoObject(req.Object.Raw):
		return false, nil, badRequest(errNoObject)
	default:
		var err error
		if wantsUnstructured {
			err = utiljson.Unmarshal(req.Object.Raw, &u.Object)
		} else {
			unknown, err = sigsjson.UnmarshalStrict(req.Object.Raw, obj, sigsjson.DisallowUnknownFields)
		}
		if err != nil {
			return false, nil, badRequest(fmt.Errorf("failed to decode the %s: %w", req.Kind.Kind, err))
		}
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" || gvk.Version == "" {
		gvk = schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
		obj.GetObjectKind().SetGroupVersionKind(gvk)
	}
	filled = fillNamespace(obj, req.Namespace)
	if !is(gvk) || obj.GetDeletionTimestamp() != nil {
		d := allowed()
		return filled, nil, &d
	}
	return filled, unknown, nil
}

// bytesAreNoObject reports a request without an object: no bytes, or null.
func bytesAreNoObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// filledNamespace is true when an object named no namespace of its own, so
// the one it has was filled in by fillNamespace: the planner needs the
// namespace the API server will store the object in, but a patch must not
// add it, so that it holds the mutations alone.
type filledNamespace bool

// fillNamespace gives obj the request's namespace when it names none, for
// planning. The answer is for leaveOut to take it out of what is patched.
func fillNamespace(obj client.Object, namespace string) filledNamespace {
	if obj.GetNamespace() != "" {
		return false
	}
	if namespace != "" {
		obj.SetNamespace(namespace)
	}
	return true
}

// leaveOut returns doc, an object fillNamespace was given, without the
// namespace it filled in. doc is not modified.
func (filled filledNamespace) leaveOut(doc map[string]any) map[string]any {
	if !filled {
		return doc
	}
	return jsonvalue.WithoutNamespace(doc)
}

// badRequest is the answer to an object that cannot be read.
func badRequest(err error) *decision {
	d := errored(http.StatusBadRequest, err)
	return &d
}
