package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
)

// NewGatewayMutator returns the handler that injects credentialNames into
// Istio Gateways (v1, v1beta1 and v1alpha3) as the planner decides. It only
// ever allows, with or without a patch: judging the Gateway is the
// validating webhook's job. The patch is computed from the mutated object,
// and reinvoking it on its own output gives no patch.
func NewGatewayMutator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	return newHandler("mutate-gateway", (*handler).mutateGateway, lookup, cfg, metrics)
}

func (h *handler) mutateGateway(ctx context.Context, req admission.Request) decision {
	h.cfg.Admissions.Admitted()
	obj := &unstructured.Unstructured{}
	if _, skip := decodeFor(req, obj, certs.IsGateway); skip != nil {
		return *skip
	}
	opts := h.cfg.Options
	opts.Strict = h.cfg.Enforce
	plan := certs.PlanGateway(ctx, certs.ParseGateway(obj), h.lookup, opts)
	if len(plan.Injections) == 0 {
		return allowed()
	}
	// Mutated checks every injected server still has a tls object to add
	// the field to; the patch is then written from the injections, which
	// is what diffing the two documents would give, without encoding the
	// object and decoding both again.
	if _, err := plan.Mutated(); err != nil {
		return errored(http.StatusInternalServerError, err)
	}
	return decision{response: admission.Patched("", injectionPatch(plan.Injections)...), result: ResultPatched}
}

// injectionPatch is the JSON patch that adds each injected field to its
// server's tls object. Injections only fill fields that are not set, so
// every operation is an add.
func injectionPatch(injections []certs.Injection) []jsonpatch.JsonPatchOperation {
	ops := make([]jsonpatch.JsonPatchOperation, len(injections))
	for i, inj := range injections {
		ops[i] = jsonpatch.JsonPatchOperation{
			Operation: "add",
			Path:      "/spec/servers/" + strconv.Itoa(inj.Server) + "/tls/" + inj.Key(),
			Value:     inj.Value(),
		}
	}
	return ops
}

// patchTo answers with the patch from the request's object to mutated. The
// namespace the decoder filled in for planning is left out when the request
// had none, so the patch holds the injections alone.
func patchTo(req admission.Request, mutatedObj *unstructured.Unstructured, hadNamespace bool) decision {
	mutated := mutatedObj.Object
	if !hadNamespace {
		// The namespace was only filled in for planning; leave the request's
		// object as it came, so the patch holds the injections alone.
		mutated = maps.Clone(mutated)
		if md, ok := mutated["metadata"].(map[string]any); ok {
			md = maps.Clone(md)
			delete(md, "namespace")
			mutated["metadata"] = md
		}
	}
	current, err := json.Marshal(mutated)
	if err != nil {
		return errored(http.StatusInternalServerError, fmt.Errorf("failed to encode the mutated %s: %w", req.Kind.Kind, err))
	}
	resp := admission.PatchResponseFromRaw(req.Object.Raw, current)
	if !resp.Allowed {
		return decision{response: resp, result: ResultErrored}
	}
	if len(resp.Patches) == 0 {
		return decision{response: resp, result: ResultAllowed}
	}
	return decision{response: resp, result: ResultPatched}
}

// NewIstioOperatorMutator returns the handler that injects peer roots into
// IstioOperators (meshcert.io/peer-roots) as istiooperator.PlanIstioOperator
// decides. Like the Gateway mutator it only ever allows; reinvoked on its
// own output it gives no patch.
func NewIstioOperatorMutator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	return newHandler("mutate-istiooperator", (*handler).mutateIstioOperator, lookup, cfg, metrics)
}

func (h *handler) mutateIstioOperator(ctx context.Context, req admission.Request) decision {
	obj := &unstructured.Unstructured{}
	hadNamespace, skip := decodeFor(req, obj, istiooperator.Is)
	if skip != nil {
		return *skip
	}
	opts := h.cfg.Options
	opts.Strict = h.cfg.Enforce
	mutated := istiooperator.PlanIstioOperator(ctx, obj, h.lookup, opts).Mutated()
	if mutated == nil {
		return allowed()
	}
	return patchTo(req, mutated, hadNamespace)
}
