package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
)

// Definition is one admission webhook meshcert serves, declared once: the
// server registers its handler at Path, and the webhook configurations the
// e2e framework (and the chart) install are built from the same list, so
// paths, rules and versions are never typed twice.
type Definition struct {
	// Name is the webhook's name in its configuration.
	Name string
	// Path is where the server serves it.
	Path string
	// Mutating webhooks go into the MutatingWebhookConfiguration.
	Mutating bool
	// Rules are the objects and operations the API server sends it.
	Rules []admissionregistrationv1.RuleWithOperations
	// handler builds the admission handler.
	handler func(certs.Lookup, Config, *Metrics) admission.Handler
}

// Paths the handlers are served at.
const (
	PathMutateGateway         = "/mutate-gateway"
	PathValidateGateway       = "/validate-gateway"
	PathValidateCertificate   = "/validate-certificate"
	PathValidateIstioOperator = "/validate-istiooperator"
)

// TimeoutSeconds is the webhooks' timeout. They answer from memory in
// milliseconds; the API server's default (10 s) only delays a failure.
const TimeoutSeconds = 10

// Register serves every handler of Definitions on server. lookup must
// answer from memory (cluster.Lookup over the manager's cache); metrics may
// be nil.
func Register(server webhook.Server, lookup certs.Lookup, cfg Config, metrics *Metrics) {
	for path, h := range Handlers(lookup, cfg, metrics) {
		server.Register(path, &admission.Webhook{Handler: h})
	}
}

// Handlers returns the admission handlers of Definitions by path.
func Handlers(lookup certs.Lookup, cfg Config, metrics *Metrics) map[string]admission.Handler {
	out := map[string]admission.Handler{}
	for _, d := range Definitions() {
		out[d.Path] = d.handler(lookup, cfg, metrics)
	}
	return out
}

// Definitions lists every webhook meshcert serves, the mutating one first.
func Definitions() []Definition {
	gateways := rules(certs.IstioNetworkingGroup, certs.GatewayVersions, "gateways")
	return []Definition{
		{Name: "gateways.mutate.meshcert.io", Path: PathMutateGateway, Mutating: true, Rules: gateways, handler: NewGatewayMutator},
		{Name: "gateways.validate.meshcert.io", Path: PathValidateGateway, Rules: gateways, handler: NewGatewayValidator},
		{
			Name: "certificates.validate.meshcert.io", Path: PathValidateCertificate,
			Rules: rules(certs.CertManagerGroup, []string{"v1"}, "certificates"), handler: NewCertificateValidator,
		},
		{
			Name: "istiooperators.validate.meshcert.io", Path: PathValidateIstioOperator,
			Rules:   rules(istiooperator.GVK.Group, []string{istiooperator.GVK.Version}, "istiooperators"),
			handler: NewIstioOperatorValidator,
		},
	}
}

func rules(group string, versions []string, resource string) []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: versions, Resources: []string{resource},
		},
	}}
}

// ClientConfigFunc returns how the API server reaches the webhook served at
// path: a Service in the cluster, or a URL (the local e2e stack).
type ClientConfigFunc func(path string) admissionregistrationv1.WebhookClientConfig

// Configurations builds meshcert's mutating and validating webhook
// configurations, both named name, from Definitions. The webhooks have no
// side effects, answer v1 AdmissionReviews, match equivalent versions, and
// the mutating one is reinvoked when later mutations need it (it is
// idempotent). An empty policy means Fail.
func Configurations(name string, clientConfig ClientConfigFunc, policy admissionregistrationv1.FailurePolicyType) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	if policy == "" {
		policy = admissionregistrationv1.Fail
	}
	none := admissionregistrationv1.SideEffectClassNone
	ifNeeded := admissionregistrationv1.IfNeededReinvocationPolicy
	equivalent := admissionregistrationv1.Equivalent
	timeout := int32(TimeoutSeconds)
	reviewVersions := []string{"v1"}

	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	for _, d := range Definitions() {
		if d.Mutating {
			mutating.Webhooks = append(mutating.Webhooks, admissionregistrationv1.MutatingWebhook{
				Name: d.Name, ClientConfig: clientConfig(d.Path), Rules: d.Rules,
				SideEffects: &none, AdmissionReviewVersions: reviewVersions, FailurePolicy: &policy,
				ReinvocationPolicy: &ifNeeded, MatchPolicy: &equivalent, TimeoutSeconds: &timeout,
			})
			continue
		}
		validating.Webhooks = append(validating.Webhooks, admissionregistrationv1.ValidatingWebhook{
			Name: d.Name, ClientConfig: clientConfig(d.Path), Rules: d.Rules,
			SideEffects: &none, AdmissionReviewVersions: reviewVersions, FailurePolicy: &policy,
			MatchPolicy: &equivalent, TimeoutSeconds: &timeout,
		})
	}
	return mutating, validating
}
