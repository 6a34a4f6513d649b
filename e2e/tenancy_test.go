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
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
)

// tenantGatewayYAML is a managed Gateway in namespace serving host with
// meshcert's credential, or with credential when set.
func tenantGatewayYAML(namespace, name, host, credential string) string {
	tlsSettings := "{mode: SIMPLE}"
	annotations := "{cert-manager.io/cluster-issuer: gateway-ca}"
	if credential != "" {
		tlsSettings = "{mode: SIMPLE, credentialName: " + credential + "}"
		annotations = "{}"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: %[2]s, namespace: %[1]s, annotations: %[5]s}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [%[3]s]
    tls: %[4]s
`, namespace, name, host, tlsSettings, annotations)
}

// TestTenancyOnTheRealStack: a Gateway of another namespace can neither take
// a host a team serves on the shared ingress gateway nor serve the
// credential meshcert manages for that team's Gateway. kubectl is denied,
// naming the owner; and when the webhooks are bypassed, the controller
// still makes no Certificate for the stolen host.
func TestTenancyOnTheRealStack(t *testing.T) {
	cp := framework.Start(t)
	startMeshcert(t, cp, framework.MeshcertConfig{})
	applyExamples(t, cp)
	owner := tenantGatewayYAML("team-shop", "shop", "tenancy-shop.example.com", "")
	eventually(t, "the owner's Gateway applied", func(context.Context) error {
		if _, stderr, err := kubectlRun(t, cp, owner, "apply", "-f", "-"); err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		return nil
	})
	ownerCredential := certs.CredentialName("team-shop", "shop", "https")
	ready(t, cp.Client, "istio-system", ownerCredential)

	t.Run("taking a host another namespace serves is denied, naming the owner", func(t *testing.T) {
		_, stderr, err := kubectlRun(t, cp, tenantGatewayYAML("team-thief", "lookalike", "tenancy-shop.example.com", ""), "apply", "-f", "-")
		require.Error(t, err)
		assert.Contains(t, stderr, "MC8002")
		assert.Contains(t, stderr, "team-shop/shop")
	})
	t.Run("serving another Gateway's credential is denied, naming the owner", func(t *testing.T) {
		_, stderr, err := kubectlRun(t, cp, tenantGatewayYAML("team-thief", "borrow", "borrow.example.com", ownerCredential), "apply", "-f", "-")
		require.Error(t, err)
		assert.Contains(t, stderr, "MC8001")
		assert.Contains(t, stderr, "team-shop/shop")
	})
	t.Run("with the webhooks bypassed, the controller makes no certificate for the stolen host", func(t *testing.T) {
		for _, obj := range []client.Object{
			&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: framework.WebhookConfigurationName}},
			&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: framework.WebhookConfigurationName}},
		} {
			require.NoError(t, client.IgnoreNotFound(cp.Client.Delete(t.Context(), obj)))
		}
		eventually(t, "the hijacking Gateway stored without meshcert", func(context.Context) error {
			_, stderr, err := kubectlRun(t, cp, tenantGatewayYAML("team-thief", "lookalike", "tenancy-shop.example.com", ""), "apply", "-f", "-")
			if err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			return nil
		})
		thiefCredential := certs.CredentialName("team-thief", "lookalike", "https")
		eventually(t, "a BadConfig Event naming the owner", func(ctx context.Context) error {
			var events eventsv1.EventList
			if err := cp.Client.List(ctx, &events, client.InNamespace("team-thief")); err != nil {
				return err
			}
			for _, e := range events.Items {
				if e.Reason == "BadConfig" && strings.Contains(e.Note, "MC8002") && strings.Contains(e.Note, "team-shop/shop") {
					return nil
				}
			}
			return errors.New("no BadConfig Event with MC8002 yet")
		})
		// The Event comes after the plan was applied; give a wrong write
		// time to show, then check none came.
		time.Sleep(2 * time.Second)
		err := cp.Client.Get(t.Context(), client.ObjectKey{Namespace: "istio-system", Name: thiefCredential}, &cmapi.Certificate{})
		assert.True(t, apierrors.IsNotFound(err), "a Certificate for the stolen host exists: %v", err)
	})
}
