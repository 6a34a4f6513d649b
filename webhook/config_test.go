package webhook

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
)

func TestConfigurations(t *testing.T) {
	byPath := func(path string) admissionregistrationv1.WebhookClientConfig {
		url := "https://meshcert.test" + path
		return admissionregistrationv1.WebhookClientConfig{URL: &url}
	}
	mutating, validating := Configurations(InstallOptions{Name: "meshcert", Namespace: "meshcert-system", ClientConfig: byPath})
	assert.Equal(t, "meshcert", mutating.Name)
	assert.Equal(t, "MutatingWebhookConfiguration", mutating.Kind)
	assert.Equal(t, "ValidatingWebhookConfiguration", validating.Kind)

	skip := metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "meshcert-system"}}
	injected := metav1.LabelSelectorRequirement{Key: "meshcert.io/inject", Operator: metav1.LabelSelectorOpIn, Values: []string{"enabled"}}
	notInjected := metav1.LabelSelectorRequirement{Key: "meshcert.io/inject", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"enabled"}}
	type want struct {
		url       string
		selector  []metav1.LabelSelectorRequirement
		annotated bool
	}
	gatewayRules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{"networking.istio.io"}, APIVersions: []string{"v1", "v1beta1", "v1alpha3"}, Resources: []string{"gateways"},
		},
	}}

	gotMutating := map[string]want{}
	for _, m := range mutating.Webhooks {
		gotMutating[m.Name] = want{*m.ClientConfig.URL, m.NamespaceSelector.MatchExpressions, len(m.MatchConditions) > 0}
		assert.Equal(t, admissionregistrationv1.Ignore, *m.FailurePolicy, "an empty policy means Ignore")
		assert.Equal(t, admissionregistrationv1.IfNeededReinvocationPolicy, *m.ReinvocationPolicy)
		assert.Equal(t, admissionregistrationv1.SideEffectClassNone, *m.SideEffects)
		assert.Equal(t, ptr.To(int32(5)), m.TimeoutSeconds, "at most 5 s, as the issue asks")
		switch {
		case strings.Contains(m.Name, "gateways"):
			assert.Equal(t, gatewayRules, m.Rules)
		case strings.HasPrefix(m.Name, "sail."):
			assert.Equal(t, []string{"sailoperator.io"}, m.Rules[0].APIGroups)
			assert.Equal(t, []string{"istios", "istiorevisions"}, m.Rules[0].Resources)
		default:
			assert.Equal(t, []string{"istiooperators"}, m.Rules[0].Resources)
		}
	}
	assert.Equal(t, map[string]want{
		"injected.gateways.mutate.meshcert.io": {"https://meshcert.test/mutate-gateway", []metav1.LabelSelectorRequirement{skip, injected}, false},
		"gateways.mutate.meshcert.io":          {"https://meshcert.test/mutate-gateway", []metav1.LabelSelectorRequirement{skip, notInjected}, true},
		"istiooperators.mutate.meshcert.io":    {"https://meshcert.test/mutate-istiooperator", []metav1.LabelSelectorRequirement{skip}, false},
		"sail.mutate.meshcert.io":              {"https://meshcert.test/mutate-sail", []metav1.LabelSelectorRequirement{skip}, false},
	}, gotMutating, "every Gateway of a labelled namespace; elsewhere only annotated ones; every IstioOperator, Istio and IstioRevision")

	gotValidating := map[string]want{}
	for _, v := range validating.Webhooks {
		gotValidating[v.Name] = want{*v.ClientConfig.URL, v.NamespaceSelector.MatchExpressions, len(v.MatchConditions) > 0}
		assert.Equal(t, admissionregistrationv1.Ignore, *v.FailurePolicy)
		assert.Equal(t, ptr.To(admissionregistrationv1.Equivalent), v.MatchPolicy)
		assert.Equal(t, ptr.To(int32(5)), v.TimeoutSeconds)
		assert.Equal(t, []string{"v1"}, v.AdmissionReviewVersions)
		assert.Equal(t, admissionregistrationv1.SideEffectClassNone, *v.SideEffects)
	}
	assert.Equal(t, map[string]want{
		"gateways.validate.meshcert.io":       {"https://meshcert.test/validate-gateway", []metav1.LabelSelectorRequirement{skip}, false},
		"certificates.validate.meshcert.io":   {"https://meshcert.test/validate-certificate", []metav1.LabelSelectorRequirement{skip}, false},
		"istiooperators.validate.meshcert.io": {"https://meshcert.test/validate-istiooperator", []metav1.LabelSelectorRequirement{skip}, false},
		"gatewayapi.validate.meshcert.io":     {"https://meshcert.test/validate-gatewayapi", []metav1.LabelSelectorRequirement{skip}, false},
		"sail.validate.meshcert.io":           {"https://meshcert.test/validate-sail", []metav1.LabelSelectorRequirement{skip}, false},
	}, gotValidating)

	mutating, validating = Configurations(InstallOptions{
		Name: "meshcert", ClientConfig: byPath,
		MutatingFailurePolicy: admissionregistrationv1.Fail, ValidatingFailurePolicy: admissionregistrationv1.Fail,
	})
	for _, m := range mutating.Webhooks {
		assert.Equal(t, admissionregistrationv1.Fail, *m.FailurePolicy, "a given policy is used")
		assert.Equal(t, []string{"kube-system"}, m.NamespaceSelector.MatchExpressions[0].Values, "without a namespace only kube-system is skipped")
	}
	for _, v := range validating.Webhooks {
		assert.Equal(t, admissionregistrationv1.Fail, *v.FailurePolicy, "a given policy is used")
	}
}

// TestEveryDefinitionIsServed: the server registers exactly the declared
// paths, each with a handler whose name, kind and strictness are its
// Definition's, and the exported constructors build the same handlers.
func TestEveryDefinitionIsServed(t *testing.T) {
	lookup, cfg := index(t), Config{Options: certs.DefaultOptions()}
	constructors := map[string]func(certs.Lookup, Config, *Metrics) admission.Handler{
		PathMutateGateway:         NewGatewayMutator,
		PathValidateGateway:       NewGatewayValidator,
		PathValidateCertificate:   NewCertificateValidator,
		PathMutateIstioOperator:   NewIstioOperatorMutator,
		PathValidateIstioOperator: NewIstioOperatorValidator,
		PathValidateGatewayAPI:    NewGatewayAPIValidator,
		PathMutateSail:            NewSailMutator,
		PathValidateSail:          NewSailValidator,
	}
	handlers := Handlers(lookup, cfg, nil)
	require.Len(t, handlers, len(Definitions()))
	require.Len(t, constructors, len(Definitions()))
	for _, d := range Definitions() {
		served, ok := handlers[d.Path].(*handler)
		require.True(t, ok, "%s is served", d.Path)
		built, ok := constructors[d.Path](lookup, cfg, nil).(*handler)
		require.True(t, ok, "%s has a constructor", d.Path)
		for _, h := range []*handler{served, built} {
			assert.Equal(t, d.Path, "/"+h.name, "the handler's name is its path")
			assert.Equal(t, d.Name, h.def.Name)
			assert.Equal(t, d.Mutating, h.def.Mutating)
			assert.Equal(t, d.strictness, h.def.strictness)
		}
	}
}

// TestHandlerNamesAndKindsArePinned: the names are the webhook label of the
// admission metrics, which the docs and dashboards use.
func TestHandlerNamesAndKindsArePinned(t *testing.T) {
	kinds := map[string]bool{}
	for _, d := range Definitions() {
		kinds[d.label()] = d.Mutating
	}
	assert.Equal(t, map[string]bool{
		"mutate-gateway": true, "validate-gateway": false, "validate-certificate": false,
		"mutate-istiooperator": true, "validate-istiooperator": false,
		"validate-gatewayapi": false,
		"mutate-sail":         true, "validate-sail": false,
	}, kinds)
}

// TestAPanicIsAnsweredAsTheKindSays: whatever panics in a review, a
// mutating handler allows and a validating one answers an error, counted
// under the handler's name.
func TestAPanicIsAnsweredAsTheKindSays(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	for _, d := range Definitions() {
		t.Run(d.label(), func(t *testing.T) {
			d.review = func(*handler, context.Context, admission.Request) decision { panic("a bug in the review") }
			resp := handle(newHandler(d, index(t), Config{}, m), rawRequest(certs.GatewayGVK, "team-a", "web", []byte("{}")))
			if d.Mutating {
				assert.True(t, resp.Allowed, "a mutating handler allows")
				assert.Empty(t, resp.Patches)
			} else {
				assert.False(t, resp.Allowed, "a validating handler answers an error")
				assert.Equal(t, int32(http.StatusInternalServerError), resp.Result.Code)
			}
			assert.InDelta(t, 1, value(t, m.panics.WithLabelValues(d.label())), 0)
		})
	}
}

func TestStrictnessComesFromTheDefinition(t *testing.T) {
	lookup := index(t, objects(t, `
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {meshcert.io/enforce: "true"}}
`)...)
	tests := []struct {
		name                         string
		enforce                      bool
		namespace                    string
		wantMutating, wantValidating bool
	}{
		{name: "nothing is strict in an unlabelled namespace without --enforce", namespace: "team-b"},
		{name: "a namespace labelled for enforcement makes the validators strict, not the mutators", namespace: "team-a", wantValidating: true},
		{name: "--enforce makes every handler strict", enforce: true, namespace: "team-b", wantMutating: true, wantValidating: true},
		{name: "an object without namespace is strict only under --enforce", namespace: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, d := range Definitions() {
				h := newHandler(d, lookup, Config{Options: certs.DefaultOptions(), Enforce: tc.enforce}, nil)
				want := tc.wantValidating
				if d.Mutating {
					want = tc.wantMutating
				}
				assert.Equal(t, want, h.options(t.Context(), tc.namespace).Strict, d.label())
			}
		})
	}
}

func TestADryRunFlagIsOptional(t *testing.T) {
	req := request(t, objects(t, mutualGateway)[0])
	req.DryRun = nil
	h := NewGatewayValidator(index(t), Config{Options: certs.DefaultOptions()}, nil)
	assert.NotPanics(t, func() { handle(h, req) })
}
