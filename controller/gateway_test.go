package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/meshcert/meshcert/certs"
)

func TestReconcileCreatesCertificatesInTheWorkloadNamespace(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)

	assert.ElementsMatch(t, []string{"create istio-system/" + webTLS, "create istio-system/" + adminTLS}, h.writes)
	crt, ok := h.certificate(webTLS)
	require.True(t, ok)
	assert.Equal(t, []string{"web.example.com"}, crt.Spec.DNSNames)
	assert.Equal(t, "ca", crt.Spec.IssuerRef.Name)
	assert.Equal(t, "2160h0m0s", crt.Spec.Duration.Duration.String())
	assert.Equal(t, "team-a/web", crt.Annotations[certs.AnnotationGateway])
	assert.Empty(t, crt.OwnerReferences, "no owner reference across namespaces")
	evs := h.events()
	require.Len(t, evs, 2)
	assert.Contains(t, evs[0], "Normal CreateCertificate")

	h.writes = nil
	h.reconcile(web)
	assert.Empty(t, h.writes, "a second reconcile with nothing changed makes no write")
	assert.Empty(t, h.events())
}

func TestReconcileUpdatesEverySpecFieldItOwns(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)
	h.events()

	h.updateGateway(func(u *unstructured.Unstructured) {
		servers, _, _ := unstructured.NestedSlice(u.Object, "spec", "servers")
		servers[0].(map[string]any)["hosts"] = []any{"web.example.com", "www.example.com"}
		require.NoError(t, unstructured.SetNestedSlice(u.Object, servers, "spec", "servers"))
		ann := u.GetAnnotations()
		delete(ann, "cert-manager.io/duration")
		ann["cert-manager.io/private-key-algorithm"] = "ECDSA"
		u.SetAnnotations(ann)
	})
	h.reconcile(web)

	assert.ElementsMatch(t, []string{"patch istio-system/" + webTLS, "apply " + webTLS, "patch istio-system/" + adminTLS, "apply " + adminTLS}, h.writes)
	crt, _ := h.certificate(webTLS)
	assert.Equal(t, []string{"web.example.com", "www.example.com"}, crt.Spec.DNSNames)
	assert.Nil(t, crt.Spec.Duration, "a field meshcert no longer sets is removed")
	require.NotNil(t, crt.Spec.PrivateKey)
	assert.Equal(t, cmapi.ECDSAKeyAlgorithm, crt.Spec.PrivateKey.Algorithm)
	assert.Contains(t, strings.Join(h.events(), "\n"), "Normal UpdateCertificate")
}

func TestReconcileDeletesWhatIsNoLongerNeededAndNeverSecrets(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: adminTLS, Namespace: "istio-system"}}
	h := newHarness(t, append(decode(t, background+"\n---\n"+gatewayYAML), secret)...)
	h.reconcile(web)
	h.events()

	h.updateGateway(func(u *unstructured.Unstructured) {
		servers, _, _ := unstructured.NestedSlice(u.Object, "spec", "servers")
		require.NoError(t, unstructured.SetNestedSlice(u.Object, servers[:1], "spec", "servers"))
	})
	h.reconcile(web)
	assert.Equal(t, []string{"delete istio-system/" + adminTLS}, h.writes)
	_, ok := h.certificate(adminTLS)
	assert.False(t, ok)
	assert.Contains(t, strings.Join(h.events(), "\n"), "Normal DeleteCertificate")
	require.NoError(t, h.client.Get(h.t.Context(), client.ObjectKeyFromObject(secret), &corev1.Secret{}), "Secrets are never deleted")

	// The Gateway goes: its Certificate in another namespace goes too.
	gw := &unstructured.Unstructured{}
	gw.SetGroupVersionKind(certs.GatewayGVK)
	gw.SetNamespace(web.Namespace)
	gw.SetName(web.Name)
	require.NoError(t, h.client.Delete(h.t.Context(), gw))
	h.writes = nil
	h.reconcile(web)
	assert.Equal(t, []string{"delete istio-system/" + webTLS}, h.writes)
}

func TestReconcileKeepsCertificatesOfAGatewayTheCacheDoesNotHoldYet(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)
	before := h.writes
	require.NotEmpty(t, before)

	// The cache's first list came from a watch cache behind the API
	// server: it holds the Certificates but not the Gateway yet.
	lagging := interceptor.NewClient(h.client.(client.WithWatch), interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if u, ok := list.(*unstructured.UnstructuredList); ok && certs.IsGateway(u.GroupVersionKind().GroupVersion().WithKind("Gateway")) {
				return nil
			}
			return c.List(ctx, list, opts...)
		},
	})
	r := h.reconciler()
	r.Lookup = h.lookupOf(lagging)
	_, found := r.Lookup.Gateway(t.Context(), web.Namespace, web.Name)
	require.False(t, found, "the lagging cache does not hold the Gateway")
	h.writes = nil
	result, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: web})
	require.NoError(t, err)
	assert.Empty(t, h.writes, "nothing is deleted while the API server still has the Gateway")
	assert.Positive(t, result.RequeueAfter, "the Gateway is reconciled again once the cache has it")

	// The API server cannot answer: nothing is deleted either.
	failing := interceptor.NewClient(h.client.(client.WithWatch), interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return errors.New("connection refused")
		},
	})
	r.APIReader = failing
	_, err = r.Reconcile(t.Context(), ctrl.Request{NamespacedName: web})
	require.ErrorContains(t, err, "failed to confirm that Gateway team-a/web is gone: connection refused")
	assert.Empty(t, h.writes)
}

func TestReconcileLeavesCertificatesItDoesNotOwnAlone(t *testing.T) {
	theirs := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: webTLS, Namespace: "istio-system", Labels: map[string]string{"team": "platform"}},
		Spec:       cmapi.CertificateSpec{SecretName: webTLS, DNSNames: []string{"other.example.com"}},
	}
	// Someone else's Certificate even labelled like meshcert's but for
	// another Gateway is not pruned either.
	lookalike := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "istio-system",
			Labels:      map[string]string{certs.LabelManagedBy: certs.ManagedByValue, certs.LabelGatewayNamespace: "team-a", certs.LabelGatewayName: "web"},
			Annotations: map[string]string{certs.AnnotationGateway: "team-a/other"}},
		Spec: cmapi.CertificateSpec{SecretName: "old"},
	}
	h := newHarness(t, append(decode(t, background+"\n---\n"+gatewayYAML), theirs, lookalike)...)
	h.reconcile(web)

	assert.Equal(t, []string{"create istio-system/" + adminTLS}, h.writes)
	crt, _ := h.certificate(webTLS)
	assert.Equal(t, []string{"other.example.com"}, crt.Spec.DNSNames)
	assert.Equal(t, theirs.Labels, crt.Labels)
	_, ok := h.certificate("old")
	assert.True(t, ok)
}

func TestReconcileWhenTheWebhookWasBypassed(t *testing.T) {
	bypassed := strings.ReplaceAll(gatewayYAML, ", credentialName: "+webTLS, "")
	h := newHarness(t, decode(t, background+"\n---\n"+bypassed)...)
	h.reconcile(web)

	name := certs.CredentialName("team-a", "web", "https")
	assert.ElementsMatch(t, []string{"create istio-system/" + name, "create istio-system/" + adminTLS}, h.writes,
		"the Certificate is created under the name the webhook would inject")
	evs := strings.Join(h.events(), "\n")
	assert.Contains(t, evs, "Warning WebhookBypassed")
	assert.Contains(t, evs, "spec.servers[0].tls.credentialName: "+name)

	gw := &unstructured.Unstructured{}
	gw.SetGroupVersionKind(certs.GatewayGVK)
	require.NoError(t, h.client.Get(h.t.Context(), web, gw))
	_, found, _ := unstructured.NestedString(gw.Object, "spec", "servers", "0", "tls", "credentialName")
	assert.False(t, found, "the controller never writes Gateways")
}

func TestReconcileKeepsCertificatesOfAManagedGatewayWithErrors(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)
	h.events()
	h.updateGateway(func(u *unstructured.Unstructured) {
		ann := u.GetAnnotations()
		ann["cert-manager.io/duration"] = "ninety days"
		u.SetAnnotations(ann)
	})
	h.reconcile(web)
	assert.Empty(t, h.writes, "a bad annotation deletes nothing")
	assert.Contains(t, strings.Join(h.events(), "\n"), "Warning BadConfig")

	h.updateGateway(func(u *unstructured.Unstructured) { u.SetAnnotations(nil) })
	h.reconcile(web)
	assert.ElementsMatch(t, []string{"delete istio-system/" + webTLS, "delete istio-system/" + adminTLS}, h.writes,
		"an unmanaged Gateway keeps no meshcert Certificates")
}

// setPolicy sets team-a's allowed-hosts annotation, as a cluster admin would.
func (h *harness) setPolicy(allowedHosts string) {
	h.t.Helper()
	ns := &corev1.Namespace{}
	require.NoError(h.t, h.client.Get(h.t.Context(), client.ObjectKey{Name: "team-a"}, ns))
	ns.Annotations[certs.AnnotationAllowedHosts] = allowedHosts
	require.NoError(h.t, h.client.Update(h.t.Context(), ns))
	h.writes = nil
}

func TestReconcileWithdrawsCertificatesThePolicyNoLongerAllows(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: webTLS, Namespace: "istio-system"}}
	h := newHarness(t, append(decode(t, background+"\n---\n"+gatewayYAML), secret)...)
	h.reconcile(web)
	h.events()

	h.setPolicy("web.example.com")
	h.reconcile(web)
	assert.ElementsMatch(t, []string{"delete istio-system/" + webTLS, "delete istio-system/" + adminTLS}, h.writes,
		"a Gateway outside its policy keeps no Certificate, not even for the host still allowed")
	evs := strings.Join(h.events(), "\n")
	assert.Contains(t, evs, "Warning OutsidePolicy")
	assert.Contains(t, evs, `MC8003 spec.servers[1].hosts[0]: "admin.example.com" is outside the hosts Namespace team-a may claim`)
	require.NoError(t, h.client.Get(h.t.Context(), client.ObjectKeyFromObject(secret), &corev1.Secret{}),
		"the Secret stays: it serves until it expires, and is adopted again if the policy comes back")

	h.setPolicy("*.example.com")
	h.reconcile(web)
	assert.ElementsMatch(t, []string{"create istio-system/" + webTLS, "create istio-system/" + adminTLS}, h.writes)
}

func TestReconcileMakesNothingForANamespaceWithoutPolicy(t *testing.T) {
	unpoliced := strings.Replace(background, "  annotations: {meshcert.io/allowed-hosts: \"*.example.com\", meshcert.io/allowed-issuers: ClusterIssuer/ca}\n", "", 1)
	require.NotEqual(t, background, unpoliced)
	h := newHarness(t, decode(t, unpoliced+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)
	assert.Empty(t, h.writes, "the secure default: no policy, no Certificate")
	evs := strings.Join(h.events(), "\n")
	assert.Contains(t, evs, "Warning OutsidePolicy")
	assert.Contains(t, evs, "MC8004")
}

func TestReconcilePutsBackAnEditedCertificate(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	h.reconcile(web)
	crt, _ := h.certificate(webTLS)
	crt.Spec.DNSNames = []string{"evil.example.com"}
	require.NoError(t, h.client.Update(h.t.Context(), crt))
	h.writes = nil
	h.reconcile(web)
	assert.Equal(t, []string{"patch istio-system/" + webTLS, "apply " + webTLS}, h.writes)
	crt, _ = h.certificate(webTLS)
	assert.Equal(t, []string{"web.example.com"}, crt.Spec.DNSNames)
}

func TestReconcileRemovesTheOverrideOfARemovedShimAnnotation(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML)...)
	const shimKey, overrideKey = "acme.cert-manager.io/http01-ingress-class", "acme.cert-manager.io/http01-override-ingress-class"
	h.updateGateway(func(u *unstructured.Unstructured) {
		ann := u.GetAnnotations()
		ann[shimKey] = "istio"
		u.SetAnnotations(ann)
	})
	h.reconcile(web)
	crt, _ := h.certificate(webTLS)
	require.Equal(t, "istio", crt.Annotations[overrideKey])

	h.updateGateway(func(u *unstructured.Unstructured) {
		ann := u.GetAnnotations()
		delete(ann, shimKey)
		u.SetAnnotations(ann)
	})
	h.writes = nil
	h.reconcile(web)
	assert.ElementsMatch(t, []string{"patch istio-system/" + webTLS, "apply " + webTLS, "patch istio-system/" + adminTLS, "apply " + adminTLS}, h.writes, "the Certificates are applied again although everything meshcert wants is on them")
	crt, _ = h.certificate(webTLS)
	assert.NotContains(t, crt.Annotations, overrideKey)

	h.writes = nil
	h.reconcile(web)
	assert.Empty(t, h.writes, "nothing left to change, nothing written")
}

func TestReconcilePutsBackARemovedOwnerReference(t *testing.T) {
	// A gateway deployed in team-a itself: its Certificates live next to
	// the Gateway, which owns them, so they go with it.
	const teamAGateway = `
apiVersion: v1
kind: Pod
metadata: {name: gateway, namespace: team-a, labels: {istio: team-a-gateway}}
`
	own := strings.Replace(gatewayYAML, "selector: {istio: ingressgateway}", "selector: {istio: team-a-gateway}", 1)
	require.NotEqual(t, gatewayYAML, own)
	h := newHarness(t, decode(t, background+"\n---\n"+teamAGateway+"\n---\n"+own)...)
	h.reconcile(web)
	require.ElementsMatch(t, []string{"create team-a/" + webTLS, "create team-a/" + adminTLS}, h.writes)
	key := types.NamespacedName{Namespace: "team-a", Name: webTLS}
	crt := &cmapi.Certificate{}
	require.NoError(t, h.client.Get(t.Context(), key, crt))
	want := []metav1.OwnerReference{{APIVersion: "networking.istio.io/v1", Kind: "Gateway", Name: "web", UID: "gw-uid", Controller: new(true)}}
	require.Equal(t, want, crt.OwnerReferences)

	crt.OwnerReferences = nil
	require.NoError(t, h.client.Update(t.Context(), crt, client.FieldOwner("kubectl-edit")))
	require.NoError(t, h.client.Get(t.Context(), key, crt))
	require.Empty(t, crt.OwnerReferences)
	h.writes = nil
	h.events()

	h.reconcile(web)
	assert.Equal(t, []string{"patch team-a/" + webTLS, "apply " + webTLS}, h.writes, "only the Certificate that lost it is written")
	require.NoError(t, h.client.Get(t.Context(), key, crt))
	assert.Equal(t, want, crt.OwnerReferences, "the owner reference is back, so the Certificate goes with its Gateway")
	assert.Contains(t, strings.Join(h.events(), "\n"), "Normal UpdateCertificate")

	h.writes = nil
	h.reconcile(web)
	assert.Empty(t, h.writes, "nothing left to change, nothing written")
}

func TestReconcileAppliesAShimAnnotationAddedToAManagedGateway(t *testing.T) {
	noDuration := strings.Replace(gatewayYAML, "    cert-manager.io/duration: 2160h\n", "", 1)
	require.NotEqual(t, gatewayYAML, noDuration)
	for _, tc := range []struct {
		name       string
		key, value string
		check      func(t *testing.T, spec cmapi.CertificateSpec)
	}{
		{"a duration sets spec.duration", "cert-manager.io/duration", "720h", func(t *testing.T, spec cmapi.CertificateSpec) {
			require.NotNil(t, spec.Duration)
			assert.Equal(t, 720*time.Hour, spec.Duration.Duration)
		}},
		{"usages set spec.usages", "cert-manager.io/usages", "server auth,digital signature", func(t *testing.T, spec cmapi.CertificateSpec) {
			assert.Equal(t, []cmapi.KeyUsage{cmapi.UsageServerAuth, cmapi.UsageDigitalSignature}, spec.Usages)
		}},
		{"a revision history limit sets spec.revisionHistoryLimit", "cert-manager.io/revision-history-limit", "3", func(t *testing.T, spec cmapi.CertificateSpec) {
			require.NotNil(t, spec.RevisionHistoryLimit)
			assert.Equal(t, int32(3), *spec.RevisionHistoryLimit)
		}},
		{"a renew-before sets spec.renewBefore", "cert-manager.io/renew-before", "360h", func(t *testing.T, spec cmapi.CertificateSpec) {
			require.NotNil(t, spec.RenewBefore)
			assert.Equal(t, 360*time.Hour, spec.RenewBefore.Duration)
		}},
		{"a rotation policy sets spec.privateKey.rotationPolicy", "cert-manager.io/private-key-rotation-policy", "Always", func(t *testing.T, spec cmapi.CertificateSpec) {
			require.NotNil(t, spec.PrivateKey)
			assert.Equal(t, cmapi.RotationPolicyAlways, spec.PrivateKey.RotationPolicy)
		}},
		{"subject organizations set spec.subject.organizations", "cert-manager.io/subject-organizations", "Example Inc", func(t *testing.T, spec cmapi.CertificateSpec) {
			require.NotNil(t, spec.Subject)
			assert.Equal(t, []string{"Example Inc"}, spec.Subject.Organizations)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, decode(t, background+"\n---\n"+noDuration)...)
			h.reconcile(web)
			require.ElementsMatch(t, []string{"create istio-system/" + webTLS, "create istio-system/" + adminTLS}, h.writes)
			h.events()

			h.updateGateway(func(u *unstructured.Unstructured) {
				ann := u.GetAnnotations()
				ann[tc.key] = tc.value
				u.SetAnnotations(ann)
			})
			h.reconcile(web)
			assert.ElementsMatch(t, []string{"patch istio-system/" + webTLS, "apply " + webTLS, "patch istio-system/" + adminTLS, "apply " + adminTLS}, h.writes)
			for _, name := range []string{webTLS, adminTLS} {
				crt, ok := h.certificate(name)
				require.True(t, ok)
				tc.check(t, crt.Spec)
			}
			assert.Contains(t, strings.Join(h.events(), "\n"), "Normal UpdateCertificate")

			h.writes = nil
			h.reconcile(web)
			assert.Empty(t, h.writes, "nothing left to change, nothing written")
		})
	}
}
