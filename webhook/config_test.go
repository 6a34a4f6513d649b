package webhook

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/utils/ptr"

	"github.com/meshcert/meshcert/certs"
)

func TestConfigurations(t *testing.T) {
	byPath := func(path string) admissionregistrationv1.WebhookClientConfig {
		url := "https://meshcert.test" + path
		return admissionregistrationv1.WebhookClientConfig{URL: &url}
	}
	mutating, validating := Configurations("meshcert", byPath, "")

	require.Len(t, mutating.Webhooks, 1)
	m := mutating.Webhooks[0]
	assert.Equal(t, "gateways.mutate.meshcert.io", m.Name)
	assert.Equal(t, "https://meshcert.test/mutate-gateway", *m.ClientConfig.URL)
	assert.Equal(t, admissionregistrationv1.Fail, *m.FailurePolicy, "an empty policy means Fail")
	assert.Equal(t, admissionregistrationv1.IfNeededReinvocationPolicy, *m.ReinvocationPolicy)
	assert.Equal(t, admissionregistrationv1.SideEffectClassNone, *m.SideEffects)
	assert.Equal(t, []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{"networking.istio.io"}, APIVersions: []string{"v1", "v1beta1", "v1alpha3"}, Resources: []string{"gateways"},
		},
	}}, m.Rules)

	got := map[string]string{}
	for _, v := range validating.Webhooks {
		got[v.Name] = *v.ClientConfig.URL
		assert.Equal(t, admissionregistrationv1.Fail, *v.FailurePolicy)
		assert.Equal(t, ptr.To(admissionregistrationv1.Equivalent), v.MatchPolicy)
		assert.Equal(t, ptr.To(int32(10)), v.TimeoutSeconds)
		assert.Equal(t, []string{"v1"}, v.AdmissionReviewVersions)
	}
	assert.Equal(t, map[string]string{
		"gateways.validate.meshcert.io":       "https://meshcert.test/validate-gateway",
		"certificates.validate.meshcert.io":   "https://meshcert.test/validate-certificate",
		"istiooperators.validate.meshcert.io": "https://meshcert.test/validate-istiooperator",
	}, got)
	assert.Equal(t, "meshcert", mutating.Name)
	assert.Equal(t, "MutatingWebhookConfiguration", mutating.Kind)
	assert.Equal(t, "ValidatingWebhookConfiguration", validating.Kind)

	_, ignoring := Configurations("meshcert", byPath, admissionregistrationv1.Ignore)
	for _, v := range ignoring.Webhooks {
		assert.Equal(t, admissionregistrationv1.Ignore, *v.FailurePolicy, "a given policy is used")
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
