package webhook

import (
	"context"
	"net/http"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/istiooperator"
)

// NewGatewayValidator returns the handler that judges Istio Gateways, as
// they will be stored (after the mutating webhook), by the planner's
// findings: errors deny, warnings come back as admission warnings.
func NewGatewayValidator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	return newHandler(definition(PathValidateGateway), lookup, cfg, metrics)
}

// NewCertificateValidator returns the handler that judges cert-manager
// Certificates, meshcert's own included, with certs.CheckCertificate.
func NewCertificateValidator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	return newHandler(definition(PathValidateCertificate), lookup, cfg, metrics)
}

// NewIstioOperatorValidator returns the handler that judges IstioOperators
// with istiooperator.PlanIstioOperator.
func NewIstioOperatorValidator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	return newHandler(definition(PathValidateIstioOperator), lookup, cfg, metrics)
}

// NewSailValidator returns the same handler for the Sail Operator's Istio
// and IstioRevision.
func NewSailValidator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	return newHandler(definition(PathValidateSail), lookup, cfg, metrics)
}

// NewGatewayAPIValidator returns the handler that judges Gateway API
// Gateways and ListenerSets with gatewayapi.Plan: what cert-manager's
// gateway-shim would refuse or skip is said at admission.
func NewGatewayAPIValidator(lookup certs.Lookup, cfg Config, metrics *Metrics) admission.Handler {
	return newHandler(definition(PathValidateGatewayAPI), lookup, cfg, metrics)
}

func (h *handler) validateGatewayAPI(ctx context.Context, req admission.Request) decision {
	obj := &unstructured.Unstructured{}
	if _, skip := decodeFor(req, obj, gatewayapi.Is); skip != nil {
		return *skip
	}
	o, err := gatewayapi.Parse(obj)
	if err != nil {
		return errored(http.StatusBadRequest, err)
	}
	return judge(gatewayapi.Plan(ctx, o, h.lookup, h.options(ctx, o.Namespace), h.cfg.Shim).Findings)
}

func (h *handler) validateGateway(ctx context.Context, req admission.Request) decision {
	h.cfg.Admissions.Admitted()
	obj := &unstructured.Unstructured{}
	if _, skip := decodeFor(req, obj, certs.IsGateway); skip != nil {
		return *skip
	}
	gw := certs.ParseGateway(obj)
	gw.Previous = previousGateway(req, obj.GetNamespace())
	plan := certs.PlanGateway(ctx, gw, h.lookup, h.options(ctx, obj.GetNamespace()))
	return judge(plan.Findings)
}

// previousGateway is the stored Gateway an UPDATE replaces, so that what
// the update adds is judged as claimed now: editing an old Gateway must not
// take a host or credential another namespace holds. nil for a CREATE, or
// when the old object does not decode (the new one is then judged alone).
func previousGateway(req admission.Request, namespace string) *certs.Gateway {
	if req.Operation != admissionv1.Update {
		return nil
	}
	old := &unstructured.Unstructured{}
	if decoded, ok := req.OldObject.Object.(*unstructured.Unstructured); ok {
		// reviewServer decoded it with the review.
		old.Object = decoded.Object
	} else if len(req.OldObject.Raw) == 0 {
		return nil
	} else if err := utiljson.Unmarshal(req.OldObject.Raw, &old.Object); err != nil {
		return nil
	}
	if old.Object == nil {
		return nil
	}
	fillNamespace(old, namespace)
	return certs.ParseGateway(old)
}

func (h *handler) validateCertificate(ctx context.Context, req admission.Request) decision {
	crt := &cmapi.Certificate{}
	_, unknown, skip := decodeStrictFor(req, crt, certs.IsCertificate)
	if skip != nil {
		return *skip
	}
	findings := certs.CheckCertificate(ctx, crt, h.lookup, h.options(ctx, crt.Namespace))
	findings = append(findings, certs.UnknownFieldFindings(certs.CertificateRef(crt), unknown)...)
	return judge(findings)
}

func (h *handler) validateIstioOperator(ctx context.Context, req admission.Request) decision {
	obj := &unstructured.Unstructured{}
	if _, skip := decodeFor(req, obj, istiooperator.Is); skip != nil {
		return *skip
	}
	return judge(istiooperator.PlanIstioOperator(ctx, obj, h.lookup, h.options(ctx, istiooperator.PolicyNamespace(obj))).Findings)
}
