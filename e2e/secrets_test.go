package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/e2e/framework"
)

// platformGateway is the platform team's own Gateway in istio-system,
// serving a Secret they made by hand; label varies it between applies.
func platformGateway(label string) string {
	return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: prod, namespace: istio-system, labels: {revision: "` + label + `"}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [prod.example.com]
    tls: {mode: SIMPLE, credentialName: prod-tls}
`
}

// TestWhoseSecretOnTheRealStack: a tenant's managed Gateway naming another
// team's live Secret in the shared ingress namespace gets nothing written,
// through kubectl (denied) and with the webhooks bypassed (the controller
// makes no Certificate, so cert-manager never overwrites the Secret); and
// the other team's Gateway, there first, still applies.
func TestWhoseSecretOnTheRealStack(t *testing.T) {
	cp := framework.Start(t)
	startMeshcert(t, cp, framework.MeshcertConfig{})
	applyExamples(t, cp)
	ctx := t.Context()

	handMade := map[string]map[string][]byte{}
	for _, name := range []string{"prod-tls", "lonely-tls"} {
		data := map[string][]byte{corev1.TLSCertKey: []byte("hand-made " + name), corev1.TLSPrivateKeyKey: []byte("hand-made key")}
		handMade[name] = data
		require.NoError(t, cp.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system"}, Data: data}))
	}
	_, stderr, err := kubectlRun(t, cp, platformGateway("1"), "apply", "-f", "-")
	require.NoError(t, err, stderr)
	require.NoError(t, cp.Client.Create(ctx, tenantNamespace("team-thief")))

	tenant := func(name, credential string) string {
		return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ` + name + `, namespace: team-thief, annotations: {cert-manager.io/cluster-issuer: gateway-ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [` + name + `.example.com]
    tls: {mode: SIMPLE, credentialName: "` + credential + `"}
`
	}
	cases := []struct {
		name, gateway, credential, code, mentions string
	}{
		{"a Secret another namespace's Gateway serves", "steal", "prod-tls", "MC8001", "istio-system/prod"},
		{"the same Secret spelled with Istio's kubernetes:// scheme", "steal-scheme", "kubernetes://prod-tls", "MC8001", "istio-system/prod"},
		{"a Secret no Gateway serves, which meshcert cannot see", "lonely", "lonely-tls", "MC8006", "lonely-tls"},
	}
	for _, tc := range cases {
		t.Run("kubectl apply naming "+tc.name+" is denied", func(t *testing.T) {
			_, stderr, err := kubectlRun(t, cp, tenant(tc.gateway, tc.credential), "apply", "-f", "-")
			require.Error(t, err)
			assert.Contains(t, stderr, tc.code)
			assert.Contains(t, stderr, tc.mentions)
		})
	}

	t.Run("with the webhooks bypassed, the controller writes nothing over the Secrets and the incumbent still applies", func(t *testing.T) {
		mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
		validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		key := client.ObjectKey{Name: framework.WebhookConfigurationName}
		require.NoError(t, cp.Client.Get(ctx, key, mutating))
		require.NoError(t, cp.Client.Get(ctx, key, validating))
		require.NoError(t, framework.UnregisterWebhooks(ctx, cp.Client))
		for _, tc := range cases {
			eventually(t, "Gateway "+tc.gateway+" stored without meshcert's webhooks", func(context.Context) error {
				if _, stderr, err := kubectlRun(t, cp, tenant(tc.gateway, tc.credential), "apply", "-f", "-"); err != nil {
					return fmt.Errorf("%w: %s", err, stderr)
				}
				return nil
			})
		}
		for _, tc := range cases {
			eventually(t, "a BadConfig Event on "+tc.gateway, func(ctx context.Context) error {
				var events eventsv1.EventList
				if err := cp.Client.List(ctx, &events, client.InNamespace("team-thief")); err != nil {
					return err
				}
				for _, e := range events.Items {
					if e.Regarding.Name == tc.gateway && e.Reason == "BadConfig" && strings.Contains(e.Note, tc.code) {
						return nil
					}
				}
				return errors.New("no BadConfig Event with " + tc.code + " yet")
			})
		}
		// The Events come after each plan was applied; give a wrong write
		// time to show, then check none came.
		time.Sleep(2 * time.Second)
		for name, data := range handMade {
			err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: name}, &cmapi.Certificate{})
			assert.True(t, apierrors.IsNotFound(err), "a Certificate over the hand-made Secret %s: %v", name, err)
			secret := &corev1.Secret{}
			require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: name}, secret))
			assert.Equal(t, data, secret.Data, "Secret %s is as its owner made it", name)
		}

		for _, obj := range []client.Object{mutating, validating} {
			obj.SetResourceVersion("")
			obj.SetUID("")
			require.NoError(t, cp.Client.Create(ctx, obj))
		}
		eventually(t, "the platform team's Gateway applied again through meshcert, not blamed for the newcomers", func(context.Context) error {
			_, stderr, err := kubectlRun(t, cp, platformGateway("2"), "apply", "-f", "-")
			if err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			if strings.Contains(stderr, "MC8001") {
				return fmt.Errorf("the incumbent was warned about its own Secret: %s", stderr)
			}
			return nil
		})
		eventually(t, "the webhooks back: a newcomer is denied again", func(context.Context) error {
			_, stderr, err := kubectlRun(t, cp, tenant("steal-again", "prod-tls"), "apply", "-f", "-")
			if err == nil || !strings.Contains(stderr, "MC8001") {
				return fmt.Errorf("not denied with MC8001 (yet): %w: %s", err, stderr)
			}
			return nil
		})
	})

	t.Run("an old Gateway edited to take a newer Gateway's host is the newcomer for it, and denied", func(t *testing.T) {
		// istiod orders Gateways by creationTimestamp, which an update
		// keeps, so without this the edited old Gateway would take the host.
		plain := func(namespace string, hosts ...string) string {
			return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: ` + namespace + `}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [` + strings.Join(hosts, ", ") + `]
`
		}
		for _, ns := range []string{"team-old", "team-new"} {
			require.NoError(t, cp.Client.Create(ctx, tenantNamespace(ns)))
		}
		_, stderr, err := kubectlRun(t, cp, plain("team-old", "old.example.com"), "apply", "-f", "-")
		require.NoError(t, err, stderr)
		// Creation timestamps have a one-second resolution.
		time.Sleep(1100 * time.Millisecond)
		_, stderr, err = kubectlRun(t, cp, plain("team-new", "new.example.com"), "apply", "-f", "-")
		require.NoError(t, err, stderr)

		_, stderr, err = kubectlRun(t, cp, plain("team-old", "old.example.com", "new.example.com"), "apply", "-f", "-")
		require.Error(t, err, "the edit that takes team-new's host is admitted")
		assert.Contains(t, stderr, "MC8002")
		assert.Contains(t, stderr, "team-new/edge")

		_, stderr, err = kubectlRun(t, cp, plain("team-old", "old.example.com", "more.example.com"), "apply", "-f", "-")
		require.NoError(t, err, "an edit adding a host nobody holds: %s", stderr)
		_, stderr, err = kubectlRun(t, cp, plain("team-new", "new.example.com", "more2.example.com"), "apply", "-f", "-")
		require.NoError(t, err, "the newer Gateway's own edit: %s", stderr)
		assert.NotContains(t, stderr, "MC8002")
	})
}
