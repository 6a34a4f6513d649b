package controller

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"maps"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/meshcert/meshcert/meshca"
)

// pemCA is a CA certificate and key in PEM.
type pemCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

func newPEMCA(t *testing.T, name string, parent *pemCA) pemCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	template := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	issuer, issuerKey := template, key
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer, key.Public(), issuerKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return pemCA{cert: cert, key: key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}
}

// issuedSecret is what cert-manager writes for the Certificate cacerts.
func issuedSecret(intermediate, root pemCA) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: meshca.IssuedSecret, Namespace: "istio-system", Annotations: map[string]string{"cert-manager.io/certificate-name": "cacerts"}},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": intermediate.certPEM, "tls.key": intermediate.keyPEM, "ca.crt": root.certPEM},
	}
}

func (h *harness) secret(name string) *corev1.Secret {
	h.t.Helper()
	s := &corev1.Secret{}
	require.NoError(h.t, h.client.Get(h.t.Context(), types.NamespacedName{Namespace: "istio-system", Name: name}, s))
	return s
}

// TestCACertsComposedAndRotated follows one cluster's istiod CA through the
// controller: cacerts composed from what cert-manager issued, this cluster's
// roots published, and a new root handed to istiod in the steps it accepts,
// each resumed by a fresh reconciler (as after a restart of meshcert) from
// what the cluster holds.
func TestCACertsComposedAndRotated(t *testing.T) {
	oldRoot, newRoot := newPEMCA(t, "old root", nil), newPEMCA(t, "new root", nil)
	oldCA, newCA := newPEMCA(t, "old intermediate", &oldRoot), newPEMCA(t, "new intermediate", &newRoot)
	annotated := meshOperator(map[string]string{"cert-manager.io/cluster-issuer": "mesh-root", "meshcert.io/root-rotation-propagation": "1m"})
	annotated.Object["spec"] = map[string]any{"values": map[string]any{
		"global": map[string]any{"multiCluster": map[string]any{"clusterName": "cluster-a"}},
		"pilot":  map[string]any{"env": map[string]any{"MAX_WORKLOAD_CERT_TTL": "1h", "ISTIO_MULTIROOT_MESH": "true"}},
	}}
	h := newHarness(t, annotated, meshRoot, issuedSecret(oldCA, oldRoot))
	// istiod publishes the root file it runs with.
	istiodLoads := func() {
		t.Helper()
		cacerts := h.secret(meshca.CACertsSecret)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: meshca.IstioRootConfigMap, Namespace: "istio-system"}}
		err := h.client.Get(t.Context(), types.NamespacedName{Namespace: "istio-system", Name: meshca.IstioRootConfigMap}, cm)
		cm.Data = map[string]string{meshca.IstioRootKey: string(cacerts.Data["ca.crt"])}
		if err != nil {
			require.NoError(t, h.client.Create(t.Context(), cm))
			return
		}
		require.NoError(t, h.client.Update(t.Context(), cm))
	}

	h.reconcileOperator(h.operatorReconciler())
	cacerts := h.secret(meshca.CACertsSecret)
	t.Run("cacerts holds the issued intermediate, its key and its root, and says whose it is", func(t *testing.T) {
		assert.Equal(t, oldCA.certPEM, cacerts.Data["tls.crt"])
		assert.Equal(t, oldCA.keyPEM, cacerts.Data["tls.key"])
		assert.Equal(t, oldRoot.certPEM, cacerts.Data["ca.crt"])
		assert.Equal(t, corev1.SecretTypeTLS, cacerts.Type)
		assert.Equal(t, "istio-system/mesh", cacerts.Annotations["meshcert.io/istiooperator"])
		assert.Contains(t, h.events(), "Normal RootRotation wrote istiod's CA Secret istio-system/cacerts")
	})
	t.Run("the cluster's root is published for its peers, as a trust bundle", func(t *testing.T) {
		cm := &corev1.ConfigMap{}
		require.NoError(t, h.client.Get(t.Context(), types.NamespacedName{Namespace: "istio-system", Name: "meshcert-mesh-ca-cluster-a"}, cm))
		assert.Equal(t, "cluster-a", cm.Labels["meshcert.io/mesh-ca"])
		assert.Equal(t, "true", cm.Labels["meshcert.io/trust-bundle"])
		assert.Equal(t, string(oldRoot.certPEM), cm.Data["ca.crt"])
	})
	istiodLoads()

	// A new root is issued: an issuer change, or the issuer's CA replaced.
	require.NoError(t, h.client.Update(t.Context(), issuedSecret(newCA, newRoot)))
	h.reconcileOperator(h.operatorReconciler())
	t.Run("a new root: the old intermediate keeps signing and istiod is given both roots", func(t *testing.T) {
		cacerts := h.secret(meshca.CACertsSecret)
		assert.Equal(t, oldCA.certPEM, cacerts.Data["tls.crt"])
		assert.Equal(t, append(append([]byte{}, oldRoot.certPEM...), newRoot.certPEM...), cacerts.Data["ca.crt"])
		assert.Equal(t, "trusting", cacerts.Annotations["meshcert.io/root-rotation"])
	})

	h.reconcileOperator(h.operatorReconciler())
	t.Run("nothing moves before istiod has loaded the roots", func(t *testing.T) {
		assert.Equal(t, oldCA.certPEM, h.secret(meshca.CACertsSecret).Data["tls.crt"])
	})

	istiodLoads()
	h.reconcileOperator(h.operatorReconciler())
	t.Run("once istiod trusts the new root (and no peer waits), it records when, and the old intermediate still signs", func(t *testing.T) {
		cacerts := h.secret(meshca.CACertsSecret)
		assert.Equal(t, oldCA.certPEM, cacerts.Data["tls.crt"])
		trusted, err := time.Parse(time.RFC3339, cacerts.Annotations["meshcert.io/root-rotation-trusted"])
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now(), trusted, time.Minute)
	})
	// Half the workload certificate lifetime and the propagation later.
	cacerts = h.secret(meshca.CACertsSecret)
	cacerts.Annotations["meshcert.io/root-rotation-trusted"] = time.Now().Add(-31 * time.Minute).UTC().Format(time.RFC3339)
	require.NoError(t, h.client.Update(t.Context(), cacerts))
	h.reconcileOperator(h.operatorReconciler())
	t.Run("after workloads had time to learn the new root, the new intermediate signs", func(t *testing.T) {
		cacerts := h.secret(meshca.CACertsSecret)
		assert.Equal(t, newCA.certPEM, cacerts.Data["tls.crt"])
		assert.Equal(t, newCA.keyPEM, cacerts.Data["tls.key"])
		assert.Equal(t, "switching", cacerts.Annotations["meshcert.io/root-rotation"])
		assert.Empty(t, cacerts.Annotations["meshcert.io/root-rotation-switched"], "the drain starts when istiod loaded it")
	})

	istiodLoads()
	h.reconcileOperator(h.operatorReconciler())
	cacerts = h.secret(meshca.CACertsSecret)
	events := h.events()
	t.Run("the drain is counted from when istiod loaded the switch, for the workload certificate lifetime", func(t *testing.T) {
		switched, err := time.Parse(time.RFC3339, cacerts.Annotations["meshcert.io/root-rotation-switched"])
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now(), switched, time.Minute)
		require.NotEmpty(t, events)
		assert.Contains(t, events[len(events)-1], "the workload certificate lifetime (1h0m0s, from spec.values.pilot.env.MAX_WORKLOAD_CERT_TTL)")
	})

	// An hour and the propagation later, as a restarted meshcert finds it.
	past := time.Now().Add(-time.Hour - 2*time.Minute).UTC().Format(time.RFC3339)
	cacerts.Annotations["meshcert.io/root-rotation-switched"] = past
	require.NoError(t, h.client.Update(t.Context(), cacerts))
	h.reconcileOperator(h.operatorReconciler())
	t.Run("after the drain the old root leaves istiod's roots and the rotation ends", func(t *testing.T) {
		cacerts := h.secret(meshca.CACertsSecret)
		assert.Equal(t, newRoot.certPEM, cacerts.Data["ca.crt"])
		assert.Empty(t, cacerts.Annotations["meshcert.io/root-rotation"])
		assert.Empty(t, cacerts.Annotations["meshcert.io/retiring-root"])
		cm := &corev1.ConfigMap{}
		require.NoError(t, h.client.Get(t.Context(), types.NamespacedName{Namespace: "istio-system", Name: "meshcert-mesh-ca-cluster-a"}, cm))
		assert.Equal(t, string(newRoot.certPEM), cm.Data["ca.crt"])
	})
}

// A cacerts cert-manager wrote for meshcert's Certificate before meshcert
// composed it is taken over without what tied it to that Certificate: an
// owner reference (--enable-certificate-owner-ref) would have the garbage
// collector delete istiod's CA with the Certificate, and its other outputs
// hold the old key.
func TestLegacyCACertsTakenOverCleanly(t *testing.T) {
	root := newPEMCA(t, "root", nil)
	oldCA, newCA := newPEMCA(t, "old intermediate", &root), newPEMCA(t, "new intermediate", &root)
	legacy := issuedSecret(oldCA, root)
	legacy.Name = meshca.CACertsSecret
	legacy.OwnerReferences = []metav1.OwnerReference{{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Name: "cacerts", UID: "1"}}
	legacy.Data["tls-combined.pem"] = append(append([]byte{}, oldCA.certPEM...), oldCA.keyPEM...)
	annotated := meshOperator(map[string]string{"cert-manager.io/cluster-issuer": "mesh-root"})
	h := newHarness(t, annotated, meshRoot, legacy, issuedSecret(newCA, root))
	h.reconcileOperator(h.operatorReconciler())
	cacerts := h.secret(meshca.CACertsSecret)
	assert.Equal(t, newCA.certPEM, cacerts.Data["tls.crt"], "the issued intermediate, same root")
	assert.Empty(t, cacerts.OwnerReferences)
	assert.ElementsMatch(t, []string{"tls.crt", "tls.key", "ca.crt"}, slices.Collect(maps.Keys(cacerts.Data)))
	assert.NotContains(t, cacerts.Annotations, "cert-manager.io/certificate-name")
}

// Without ISTIO_MULTIROOT_MESH istiod ignores a new root file; meshcert
// keeps istiod on its intermediate and says what to set.
func TestNewRootWithoutMultiRootIsAProblem(t *testing.T) {
	oldRoot, newRoot := newPEMCA(t, "old root", nil), newPEMCA(t, "new root", nil)
	oldCA, newCA := newPEMCA(t, "old intermediate", &oldRoot), newPEMCA(t, "new intermediate", &newRoot)
	h := newHarness(t, meshOperator(map[string]string{"cert-manager.io/cluster-issuer": "mesh-root"}), meshRoot, issuedSecret(oldCA, oldRoot))
	h.reconcileOperator(h.operatorReconciler())
	require.NoError(t, h.client.Update(t.Context(), issuedSecret(newCA, newRoot)))
	h.events()
	result, err := h.operatorReconciler().Reconcile(t.Context(), reconcile.Request{NamespacedName: mesh})
	require.NoError(t, err)
	assert.Equal(t, oldCA.certPEM, h.secret(meshca.CACertsSecret).Data["tls.crt"])
	events := h.events()
	require.NotEmpty(t, events)
	assert.Contains(t, events[0], "Warning CACertsNotComposed")
	assert.Contains(t, events[0], "ISTIO_MULTIROOT_MESH")
	assert.Equal(t, meshca.ProblemRecheck, result.RequeueAfter, "looked at again")
}
