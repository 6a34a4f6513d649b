package webhook

import (
	"context"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
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
// with istiooperator.Check.
func NewIstioOperatorValidator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	h := &handler{name: "validate-istiooperator", lookup: lookup, cfg: cfg, metrics: metrics}
	h.review = h.validateIstioOperator
	return h
}

func (h *handler) validateGateway(ctx context.Context, req admission.Request) decision {
	obj, _, err := decodeUnstructured(req)
	if err != nil {
		return badRequest(err)
	}
	if !certs.IsGateway(obj.GroupVersionKind()) || beingDeleted(obj) {
		return allowed()
	}
	plan := certs.PlanGateway(ctx, certs.ParseGateway(obj), h.lookup, h.options(ctx, obj.GetNamespace()))
	return judge(plan.Findings)
}

func (h *handler) validateCertificate(ctx context.Context, req admission.Request) decision {
	crt := &cmapi.Certificate{}
	if _, err := decode(req, crt, crt); err != nil {
		return badRequest(err)
	}
	gvk := crt.GroupVersionKind()
	if gvk.Group != certs.CertManagerGroup || gvk.Kind != cmapi.CertificateKind || crt.DeletionTimestamp != nil {
		return allowed()
	}
	return judge(certs.CheckCertificate(ctx, crt, h.lookup, h.options(ctx, crt.Namespace)))
}

func (h *handler) validateIstioOperator(_ context.Context, req admission.Request) decision {
	obj, _, err := decodeUnstructured(req)
	if err != nil {
		return badRequest(err)
	}
	if !istiooperator.Is(obj.GroupVersionKind()) || beingDeleted(obj) {
		return allowed()
	}
	return judge(istiooperator.Check(obj))
}
