package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/util/pki"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/e2e/framework"
)

// tenantGatewayYAML is a managed Gateway in namespace serving host with
// meshcert's credential, or with credential when set, after the Namespace
// with tenantPolicy.
func tenantGatewayYAML(namespace, name, host, credential string) string {
	tlsSettings := "{mode: SIMPLE}"
	annotations := "{cert-manager.io/cluster-issuer: gateway-ca}"
	if credential != "" {
		tlsSettings = "{mode: SIMPLE, credentialName: " + credential + "}"
		annotations = "{}"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s, annotations: {%[6]s}}
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
`, namespace, name, host, tlsSettings, annotations, tenantPolicy)
}

// tenantPolicy is the namespace policy the tenants of these tests get from
// their cluster admin: names under example.com from the examples' CA.
const tenantPolicy = `meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/gateway-ca`

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
	// creationTimestamps have a one-second resolution, and Gateways stored
	// in one second are ordered by name, which "lookalike" would win: the
	// thief comes in a later second than the owner, as a thief does.
	stored := cluster.NewGateway()
	require.NoError(t, cp.Client.Get(t.Context(), client.ObjectKey{Namespace: "team-shop", Name: "shop"}, stored))
	time.Sleep(time.Until(stored.GetCreationTimestamp().Add(time.Second)))

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
	t.Run("taking the host with a plain passthrough Gateway, no annotation and no credential, is denied too", func(t *testing.T) {
		sneaky := `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: sneaky, namespace: team-thief}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: [tenancy-shop.example.com]
    tls: {mode: PASSTHROUGH}
`
		_, stderr, err := kubectlRun(t, cp, sneaky, "apply", "-f", "-")
		require.Error(t, err, "a Gateway meshcert does not manage is still validated")
		assert.Contains(t, stderr, "MC8002")
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

// TestNamespacePolicyOnTheRealStack: a namespace gets only what its
// cluster admin allowed, on kubectl apply and, with the webhooks bypassed,
// in the controller; the namespace's own admin cannot widen its policy; and
// a policy that narrows withdraws the Certificate but never the Secret.
func TestNamespacePolicyOnTheRealStack(t *testing.T) {
	cp := framework.Start(t)
	startMeshcert(t, cp, framework.MeshcertConfig{})
	applyExamples(t, cp)

	t.Run("a namespace's own admin cannot set its policy", func(t *testing.T) {
		for _, args := range [][]string{
			{"create", "namespace", "team-self"},
			{"create", "rolebinding", "alice-admin", "-n", "team-self", "--clusterrole=admin", "--user=alice"},
		} {
			_, stderr, err := kubectlRun(t, cp, "", args...)
			require.NoError(t, err, stderr)
		}
		// alice administers team-self: she may manage its RoleBindings...
		_, stderr, err := kubectlRun(t, cp, "", "--as=alice", "auth", "can-i", "create", "rolebindings", "-n", "team-self")
		require.NoError(t, err, "alice is team-self's admin: %s", stderr)
		// ...but the Namespace object, where the policy lives, is out of her reach.
		_, stderr, err = kubectlRun(t, cp, "", "--as=alice", "annotate", "namespace", "team-self", certs.AnnotationAllowedHosts+"=*")
		require.Error(t, err)
		assert.Contains(t, stderr, "Forbidden")
		assert.Contains(t, stderr, `cannot patch resource "namespaces"`)
	})

	t.Run("a Gateway in a namespace without a policy is denied, saying what a cluster admin must set", func(t *testing.T) {
		gw := strings.Replace(tenantGatewayYAML("team-unpoliced", "web", "unpoliced.example.com", ""), "annotations: {"+tenantPolicy+"}", "annotations: {}", 1)
		_, stderr, err := kubectlRun(t, cp, gw, "apply", "-f", "-")
		require.Error(t, err)
		assert.Contains(t, stderr, "Namespace team-unpoliced has no meshcert.io/allowed-hosts annotation")
		assert.Contains(t, stderr, "(MC8003)")
		assert.Contains(t, stderr, "(MC8004)")
	})

	t.Run("a host outside the policy is denied, naming the policy", func(t *testing.T) {
		_, stderr, err := kubectlRun(t, cp, tenantGatewayYAML("team-a", "bank", "login.bank.example.org", ""), "apply", "-f", "-")
		require.Error(t, err)
		assert.Contains(t, stderr, `"login.bank.example.org" is outside the hosts Namespace team-a may claim (meshcert.io/allowed-hosts: *.example.com)`)
	})

	t.Run("with the webhooks bypassed, the controller follows the policy as a cluster admin changes it", func(t *testing.T) {
		for _, obj := range []client.Object{
			&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: framework.WebhookConfigurationName}},
			&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: framework.WebhookConfigurationName}},
		} {
			require.NoError(t, client.IgnoreNotFound(cp.Client.Delete(t.Context(), obj)))
		}
		gw := strings.Replace(tenantGatewayYAML("team-late", "web", "late.example.com", ""), "annotations: {"+tenantPolicy+"}", "annotations: {}", 1)
		eventually(t, "the Gateway stored without meshcert's webhooks", func(context.Context) error {
			if _, stderr, err := kubectlRun(t, cp, gw, "apply", "-f", "-"); err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			return nil
		})
		credential := certs.CredentialName("team-late", "web", "https")
		key := client.ObjectKey{Namespace: "istio-system", Name: credential}
		eventually(t, "an OutsidePolicy Event", func(ctx context.Context) error {
			var events eventsv1.EventList
			if err := cp.Client.List(ctx, &events, client.InNamespace("team-late")); err != nil {
				return err
			}
			for _, e := range events.Items {
				if e.Reason == "OutsidePolicy" && strings.Contains(e.Note, "MC8003") {
					return nil
				}
			}
			return errors.New("no OutsidePolicy Event yet")
		})
		err := cp.Client.Get(t.Context(), key, &cmapi.Certificate{})
		assert.True(t, apierrors.IsNotFound(err), "a namespace without a policy got a Certificate: %v", err)

		annotate := func(hosts string) {
			t.Helper()
			_, stderr, err := kubectlRun(t, cp, "", "annotate", "--overwrite", "namespace", "team-late",
				certs.AnnotationAllowedHosts+"="+hosts, certs.AnnotationAllowedIssuers+"=ClusterIssuer/gateway-ca")
			require.NoError(t, err, stderr)
		}
		annotate("*.example.com")
		ready(t, cp.Client, "istio-system", credential)
		issued := servingSerial(t, cp, credential)

		annotate("other.example.com")
		eventually(t, "the Certificate withdrawn when the policy no longer allows its host", func(ctx context.Context) error {
			err := cp.Client.Get(ctx, key, &cmapi.Certificate{})
			switch {
			case apierrors.IsNotFound(err):
				return nil
			case err != nil:
				return err
			}
			return fmt.Errorf("Certificate %s still there", key)
		})
		assert.Equal(t, issued, servingSerial(t, cp, credential), "the Secret stays and keeps serving until it expires")

		annotate("*.example.com")
		ready(t, cp.Client, "istio-system", credential)
		assert.Equal(t, issued, servingSerial(t, cp, credential), "the Certificate back adopts the Secret without reissuing")
	})
}

// servingSerial is the serial number of the certificate in Secret
// istio-system/name.
func servingSerial(t *testing.T, cp *framework.ControlPlane, name string) string {
	t.Helper()
	secret := &corev1.Secret{}
	require.NoError(t, cp.Client.Get(t.Context(), client.ObjectKey{Namespace: "istio-system", Name: name}, secret))
	crt, err := pki.DecodeX509CertificateBytes(secret.Data[corev1.TLSCertKey])
	require.NoError(t, err, "Secret %s", name)
	return crt.SerialNumber.String()
}

// tenantNamespace is a Namespace with tenantPolicy, as a cluster admin
// creates one for a team.
func tenantNamespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
		certs.AnnotationAllowedHosts:   "*.example.com",
		certs.AnnotationAllowedIssuers: "ClusterIssuer/gateway-ca",
	}}}
}
