package webhook

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

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
		if strings.Contains(m.Name, "gateways") {
			assert.Equal(t, gatewayRules, m.Rules)
		} else {
			assert.Equal(t, "istiooperators", m.Rules[0].Resources[0])
		}
	}
	assert.Equal(t, map[string]want{
		"injected.gateways.mutate.meshcert.io": {"https://meshcert.test/mutate-gateway", []metav1.LabelSelectorRequirement{skip, injected}, false},
		"gateways.mutate.meshcert.io":          {"https://meshcert.test/mutate-gateway", []metav1.LabelSelectorRequirement{skip, notInjected}, true},
		"istiooperators.mutate.meshcert.io":    {"https://meshcert.test/mutate-istiooperator", []metav1.LabelSelectorRequirement{skip}, false},
	}, gotMutating, "every Gateway of a labelled namespace; elsewhere only annotated ones; every IstioOperator")

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
// paths, each with the handler of its kind.
func TestEveryDefinitionIsServed(t *testing.T) {
	handlers := Handlers(index(t), Config{Options: certs.DefaultOptions()}, nil)
	require.Len(t, handlers, len(Definitions()))
	for _, d := range Definitions() {
		h, ok := handlers[d.Path].(*handler)
		require.True(t, ok, "%s is served", d.Path)
		assert.Equal(t, d.Path, "/"+h.name, "the handler's name is its path")
	}
}

func TestADryRunFlagIsOptional(t *testing.T) {
	req := request(t, objects(t, mutualGateway)[0])
	req.DryRun = nil
	h := NewGatewayValidator(index(t), Config{Options: certs.DefaultOptions()}, nil)
	assert.NotPanics(t, func() { handle(h, req) })
}
