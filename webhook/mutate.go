package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
)

// NewGatewayMutator returns the handler that injects credentialNames into
// Istio Gateways (v1, v1beta1 and v1alpha3) as the planner decides. It only
// ever allows, with or without a patch: judging the Gateway is the
// validating webhook's job. The patch is the planner's (GatewayPlan.Patch),
// and reinvoking it on its own output gives no patch.
func NewGatewayMutator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	return newHandler(definition(PathMutateGateway), lookup, cfg, metrics)
}

func (h *handler) mutateGateway(ctx context.Context, req admission.Request) decision {
	h.cfg.Admissions.Admitted()
	obj := &unstructured.Unstructured{}
	if _, skip := decodeFor(req, obj, certs.IsGateway); skip != nil {
		return *skip
	}
	// The patch only adds the injected fields, so a namespace filled in
	// for planning never reaches it.
	// Only the injections: the validating webhook judges the Gateway.
	plan := certs.PlanInjections(ctx, certs.ParseGateway(obj), h.lookup, h.options(ctx, obj.GetNamespace()))
	patch, err := plan.Patch()
	if err != nil {
		return errored(http.StatusInternalServerError, err)
	}
	if len(patch) == 0 {
		return allowed()
	}
	return decision{response: admission.Patched("", patch...), result: ResultPatched}
}

// patchTo answers with the patch from the request's object to mutated,
// leaving out a namespace filled in for planning.
func patchTo(req admission.Request, mutatedObj *unstructured.Unstructured, filled filledNamespace) decision {
	current, err := json.Marshal(filled.leaveOut(mutatedObj.Object))
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
	return newHandler(definition(PathMutateIstioOperator), lookup, cfg, metrics)
}

// NewSailMutator returns the same handler for the Sail Operator's Istio
// and IstioRevision.
func NewSailMutator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	return newHandler(definition(PathMutateSail), lookup, cfg, metrics)
}

func (h *handler) mutateIstioOperator(ctx context.Context, req admission.Request) decision {
	obj := &unstructured.Unstructured{}
	filled, skip := decodeFor(req, obj, istiooperator.Is)
	if skip != nil {
		return *skip
	}
	mutated := istiooperator.PlanIstioOperator(ctx, obj, h.lookup, h.options(ctx, istiooperator.PolicyNamespace(obj))).Mutated()
	if mutated == nil {
		return allowed()
	}
	return patchTo(req, mutated, filled)
}
