package webhook

import (
	"context"
	"encoding/json"
	"fmt"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
)

// NewGatewayValidator returns the handler that judges Istio Gateways, as
// they will be stored (after the mutating webhook), by the planner's
// findings: errors deny, warnings come back as admission warnings.
func NewGatewayValidator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	h := &handler{name: "validate-gateway", lookup: lookup, cfg: cfg, metrics: metrics}
	h.review = h.validateGateway
	return h
}

// NewCertificateValidator returns the handler that judges cert-manager
// Certificates, meshcert's own included, with certs.CheckCertificate.
func NewCertificateValidator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	h := &handler{name: "validate-certificate", lookup: lookup, cfg: cfg, metrics: metrics}
	h.review = h.validateCertificate
	return h
}

// NewIstioOperatorValidator returns the handler that judges IstioOperators
// with certs.CheckIstioOperator.
func NewIstioOperatorValidator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	h := &handler{name: "validate-istiooperator", lookup: lookup, cfg: cfg, metrics: metrics}
	h.review = h.validateIstioOperator
	return h
}

func (h *handler) validateGateway(_ context.Context, req admission.Request, lookup certs.Lookup) decision {
	obj, _, err := decodeUnstructured(req)
	if err != nil {
		return badRequest(err)
	}
	if !certs.IsGateway(obj.GroupVersionKind()) || beingDeleted(obj) {
		return allowed()
	}
	plan := certs.PlanGateway(certs.ParseGateway(obj), lookup, h.options(lookup, obj.GetNamespace()))
	return judge(plan.Findings)
}

func (h *handler) validateCertificate(_ context.Context, req admission.Request, lookup certs.Lookup) decision {
	obj, _, err := decodeUnstructured(req)
	if err != nil {
		return badRequest(err)
	}
	gvk := obj.GroupVersionKind()
	if gvk.Group != certs.CertManagerGroup || gvk.Kind != cmapi.CertificateKind || beingDeleted(obj) {
		return allowed()
	}
	crt := &cmapi.Certificate{}
	if err := json.Unmarshal(req.Object.Raw, crt); err != nil {
		return badRequest(fmt.Errorf("failed to decode the Certificate: %w", err))
	}
	crt.Namespace = obj.GetNamespace()
	return judge(certs.CheckCertificate(crt, lookup, h.options(lookup, crt.Namespace)))
}

func (h *handler) validateIstioOperator(_ context.Context, req admission.Request, _ certs.Lookup) decision {
	obj, _, err := decodeUnstructured(req)
	if err != nil {
		return badRequest(err)
	}
	if !certs.IsIstioOperator(obj.GroupVersionKind()) || beingDeleted(obj) {
		return allowed()
	}
	return judge(certs.CheckIstioOperator(obj))
}
