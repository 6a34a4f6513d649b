package webhook

import (
	"context"
	"net/http"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/istiooperator"
)

// Definition is one admission webhook meshcert serves, declared once: the
// server registers its handler at Path, and the webhook configurations the
// e2e framework (and the chart) install are built from the same list, so
// paths, rules and versions are never typed twice.
type Definition struct {
	// Name is the webhook's name in its configuration.
	Name string
	// Gateways marks the Gateway webhooks, which the API server calls only
	// for Gateways that can matter to meshcert (see Configurations).
	Gateways bool
	// Path is where the server serves it.
	Path string
	// Mutating webhooks go into the MutatingWebhookConfiguration, and
	// their handlers allow what they fail to review (see safeReview).
	Mutating bool
	// Rules are the objects and operations the API server sends it.
	Rules []admissionregistrationv1.RuleWithOperations
	// strictness says how the handler decides certs.Options.Strict.
	strictness strictness
	// review is the handler's own work; newHandler wraps it.
	review func(h *handler, ctx context.Context, req admission.Request) decision
}

// label names the handler in metrics and logs: its path without the
// slash ("mutate-gateway"), as the docs and dashboards know it.
func (d Definition) label() string { return strings.TrimPrefix(d.Path, "/") }

// strictness is how a handler decides certs.Options.Strict.
type strictness int

const (
	// strictWhenEnforcedOrLabelled: strict under Config.Enforce, or for an
	// object in a namespace labelled LabelEnforce=true.
	strictWhenEnforcedOrLabelled strictness = iota
	// strictWhenEnforced: strict under Config.Enforce alone. Strict only
	// raises the severity of findings, which a mutator does not answer
	// with, so it spares the namespace lookup.
	strictWhenEnforced
)

// definition is the Definition served at path, one of the Path constants.
func definition(path string) Definition {
	for _, d := range Definitions() {
		if d.Path == path {
			return d
		}
	}
	panic("webhook: no Definition is served at " + path)
}

// Paths the handlers are served at.
const (
	PathMutateGateway         = "/mutate-gateway"
	PathValidateGateway       = "/validate-gateway"
	PathValidateCertificate   = "/validate-certificate"
	PathValidateIstioOperator = "/validate-istiooperator"
	PathMutateIstioOperator   = "/mutate-istiooperator"
	PathValidateSail          = "/validate-sail"
	PathMutateSail            = "/mutate-sail"
	PathValidateGatewayAPI    = "/validate-gatewayapi"
)

// TimeoutSeconds is the webhooks' timeout. They answer from memory in
// milliseconds; a longer timeout would only delay the failure policy when
// meshcert is unreachable, and every apply waits for it.
const TimeoutSeconds = 5

// Register serves every handler of Definitions on server. lookup must
// answer from memory (cluster.Lookup over the manager's cache); metrics may
// be nil.
func Register(server webhook.Server, lookup certs.Lookup, cfg Config, metrics *Metrics) {
	for path, h := range Handlers(lookup, cfg, metrics) {
		server.Register(path, Serve(path, h))
	}
}

// Serve returns how the handler of path, one of the Path constants, is
// served over HTTP: the Gateway webhooks, the busiest, decode each review
// once (reviewServer); the others through controller-runtime's webhook.
func Serve(path string, h admission.Handler) http.Handler {
	if definition(path).Gateways {
		return newReviewServer(h)
	}
	return &admission.Webhook{Handler: h, LogConstructor: logConstructor}
}

// Handlers returns the admission handlers of Definitions by path.
func Handlers(lookup certs.Lookup, cfg Config, metrics *Metrics) map[string]admission.Handler {
	out := map[string]admission.Handler{}
	for _, d := range Definitions() {
		out[d.Path] = newHandler(d, lookup, cfg, metrics)
		metrics.serving(d.label())
	}
	return out
}

// Definitions lists every webhook meshcert serves, the mutating one first.
func Definitions() []Definition {
	gateways := rules(certs.IstioNetworkingGroup, certs.GatewayVersions, "gateways")
	istioOperators := rules(istiooperator.GVK.Group, []string{istiooperator.GVK.Version}, istiooperator.IstioOperatorKind.Resource)
	sail := rules(istiooperator.SailGroup, []string{istiooperator.SailVersion}, istiooperator.SailIstioKind.Resource, istiooperator.SailIstioRevisionKind.Resource)
	return []Definition{
		{
			Name: "gateways.mutate.meshcert.io", Path: PathMutateGateway, Mutating: true, Gateways: true, Rules: gateways,
			strictness: strictWhenEnforced, review: (*handler).mutateGateway,
		},
		{
			Name: "gateways.validate.meshcert.io", Path: PathValidateGateway, Gateways: true, Rules: gateways,
			strictness: strictWhenEnforcedOrLabelled, review: (*handler).validateGateway,
		},
		{
			Name: "certificates.validate.meshcert.io", Path: PathValidateCertificate,
			Rules:      rules(certs.CertManagerGroup, []string{"v1"}, "certificates"),
			strictness: strictWhenEnforcedOrLabelled, review: (*handler).validateCertificate,
		},
		{
			Name: "istiooperators.mutate.meshcert.io", Path: PathMutateIstioOperator, Mutating: true, Rules: istioOperators,
			strictness: strictWhenEnforced, review: (*handler).mutateIstioOperator,
		},
		{
			Name: "istiooperators.validate.meshcert.io", Path: PathValidateIstioOperator, Rules: istioOperators,
			strictness: strictWhenEnforcedOrLabelled, review: (*handler).validateIstioOperator,
		},
		{
			Name: "sail.mutate.meshcert.io", Path: PathMutateSail, Mutating: true, Rules: sail,
			strictness: strictWhenEnforced, review: (*handler).mutateIstioOperator,
		},
		{
			Name: "sail.validate.meshcert.io", Path: PathValidateSail, Rules: sail,
			strictness: strictWhenEnforcedOrLabelled, review: (*handler).validateIstioOperator,
		},
		{
			Name: "gatewayapi.validate.meshcert.io", Path: PathValidateGatewayAPI,
			Rules: append(rules(gatewayapi.Group, gatewayapi.GatewayVersions, "gateways"),
				rules(gatewayapi.Group, []string{"v1"}, "listenersets")...),
			strictness: strictWhenEnforcedOrLabelled, review: (*handler).validateGatewayAPI,
		},
	}
}

func rules(group string, versions []string, resources ...string) []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: versions, Resources: resources,
		},
	}}
}

// ClientConfigFunc returns how the API server reaches the webhook served at
// path: a Service in the cluster, or a URL (the local e2e stack).
type ClientConfigFunc func(path string) admissionregistrationv1.WebhookClientConfig

// InstallOptions say how the webhook configurations are installed.
type InstallOptions struct {
	// Name names both configurations.
	Name string
	// Namespace is where meshcert runs; the API server never calls meshcert
	// about objects there, nor in kube-system, so meshcert cannot block its
	// own recovery. Empty: only kube-system is skipped.
	Namespace string
	// ClientConfig says how the API server reaches each path.
	ClientConfig ClientConfigFunc
	// MutatingFailurePolicy and ValidatingFailurePolicy apply when meshcert
	// cannot answer; empty means Ignore. Ignore on the mutating webhook
	// admits a Gateway without its credentialName, which the validating
	// webhook (under Fail) or Istio then reports.
	MutatingFailurePolicy, ValidatingFailurePolicy admissionregistrationv1.FailurePolicyType
}

// Labels and annotations that make a Gateway matter to meshcert.
const (
	labelMetadataName = "kubernetes.io/metadata.name"
	// gatewayMatters is true for a Gateway that carries a cert-manager.io or
	// meshcert.io annotation: elsewhere than in namespaces labelled for
	// injection, no other Gateway can be managed.
	gatewayMatters = `has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith("cert-manager.io/") || k.startsWith("meshcert.io/"))`
)

// scope is one slice of the namespaces a Gateway webhook is split into,
// so the API server sends meshcert only the Gateways that can matter.
type scope struct {
	prefix    string
	selectors []metav1.LabelSelectorRequirement
	condition bool
}

// gatewayScopes split the namespaces into disjoint slices. For mutation:
// namespaces labelled for injection (every Gateway matters) and the rest,
// where only annotated Gateways matter. Validation is one slice, every
// Gateway: any of them, annotated or not, may claim a host a Gateway of
// another namespace holds (MC8002) or read a credential meshcert manages
// (MC8001). Under the default Ignore failure policy this costs a cached
// lookup per write and never blocks a Gateway when meshcert is down.
func gatewayScopes(mutating bool) []scope {
	if !mutating {
		return []scope{{}}
	}
	injected := metav1.LabelSelectorRequirement{Key: certs.LabelInject, Operator: metav1.LabelSelectorOpIn, Values: []string{certs.LabelInjectEnabled}}
	notInjected := metav1.LabelSelectorRequirement{Key: certs.LabelInject, Operator: metav1.LabelSelectorOpNotIn, Values: []string{certs.LabelInjectEnabled}}
	return []scope{
		{prefix: "injected.", selectors: []metav1.LabelSelectorRequirement{injected}},
		{selectors: []metav1.LabelSelectorRequirement{notInjected}, condition: true},
	}
}

// Configurations builds meshcert's mutating and validating webhook
// configurations from Definitions: the one source for the e2e stack and the
// chart. The webhooks have no side effects, answer v1 AdmissionReviews,
// match equivalent versions and time out after TimeoutSeconds; the mutating
// one is reinvoked when later mutations need it (it is idempotent). No
// webhook sees kube-system or meshcert's own namespace. The mutating
// Gateway webhook is split by namespace labels (gatewayScopes) so that a
// Gateway without a cert-manager.io or meshcert.io annotation, in a
// namespace not labelled for injection, never reaches it; every Gateway is
// validated.
func Configurations(opts InstallOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	mutatingPolicy, validatingPolicy := orIgnore(opts.MutatingFailurePolicy), orIgnore(opts.ValidatingFailurePolicy)
	none := admissionregistrationv1.SideEffectClassNone
	ifNeeded := admissionregistrationv1.IfNeededReinvocationPolicy
	equivalent := admissionregistrationv1.Equivalent
	timeout := int32(TimeoutSeconds)
	reviewVersions := []string{"v1"}
	skipped := []string{metav1.NamespaceSystem}
	if opts.Namespace != "" && opts.Namespace != metav1.NamespaceSystem {
		skipped = append(skipped, opts.Namespace)
	}
	notSkipped := metav1.LabelSelectorRequirement{Key: labelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: skipped}

	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: opts.Name},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: opts.Name},
	}
	for _, d := range Definitions() {
		scopes := []scope{{}}
		if d.Gateways {
			scopes = gatewayScopes(d.Mutating)
		}
		for _, sc := range scopes {
			selector := &metav1.LabelSelector{MatchExpressions: append([]metav1.LabelSelectorRequirement{notSkipped}, sc.selectors...)}
			var conditions []admissionregistrationv1.MatchCondition
			if sc.condition {
				conditions = []admissionregistrationv1.MatchCondition{{Name: "annotated", Expression: gatewayMatters}}
			}
			if d.Mutating {
				mutating.Webhooks = append(mutating.Webhooks, admissionregistrationv1.MutatingWebhook{
					Name: sc.prefix + d.Name, ClientConfig: opts.ClientConfig(d.Path), Rules: d.Rules,
					SideEffects: &none, AdmissionReviewVersions: reviewVersions, FailurePolicy: &mutatingPolicy,
					ReinvocationPolicy: &ifNeeded, MatchPolicy: &equivalent, TimeoutSeconds: &timeout,
					NamespaceSelector: selector, MatchConditions: conditions,
				})
				continue
			}
			validating.Webhooks = append(validating.Webhooks, admissionregistrationv1.ValidatingWebhook{
				Name: sc.prefix + d.Name, ClientConfig: opts.ClientConfig(d.Path), Rules: d.Rules,
				SideEffects: &none, AdmissionReviewVersions: reviewVersions, FailurePolicy: &validatingPolicy,
				MatchPolicy: &equivalent, TimeoutSeconds: &timeout,
				NamespaceSelector: selector, MatchConditions: conditions,
			})
		}
	}
	return mutating, validating
}

func orIgnore(p admissionregistrationv1.FailurePolicyType) admissionregistrationv1.FailurePolicyType {
	if p == "" {
		return admissionregistrationv1.Ignore
	}
	return p
}
