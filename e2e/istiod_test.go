package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshcert/meshcert/e2e/framework"
)

// testCA is a certificate authority made in the test.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (ca testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// newTestCA issues a CA certificate for key, signed by parent (self-signed
// when parent is nil), with what a cert-manager Certificate with isCA: true
// gets by default: key usages digital signature, key encipherment and cert
// sign, no extended key usages, no path length.
func newTestCA(t *testing.T, commonName string, key crypto.Signer, parent *testCA) testCA {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	require.NoError(t, err)
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"meshcert e2e"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	issuer, issuerKey := template, key
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer, key.Public(), issuerKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return testCA{cert: cert, key: key}
}

// TestIstiodSignsWithCacerts hands istiod (Istio's own pilot-discovery) a
// cacerts Secret in the layout cert-manager writes for a CA Certificate
// issued by a CA ClusterIssuer (tls.crt the intermediate, tls.key its
// PKCS#1 RSA key, ca.crt the root) and checks that the workload
// certificates it signs chain to that root through that intermediate.
func TestIstiodSignsWithCacerts(t *testing.T) {
	cp := framework.Start(t, framework.WithoutCertManager(), framework.WithoutControllerManager())
	ctx := t.Context()

	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	root := newTestCA(t, "meshcert e2e root", rootKey, nil)
	// RSA 2048 PKCS#1: cert-manager's default key and encoding.
	intermediateKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	intermediate := newTestCA(t, "meshcert e2e intermediate", intermediateKey, &root)

	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: framework.IstioNamespace}}
	if err := cp.Client.Create(ctx, namespace); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	require.NoError(t, cp.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: framework.IstioNamespace, Name: framework.CACertsSecret},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:              intermediate.pem(),
			corev1.TLSPrivateKeyKey:        pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(intermediateKey)}),
			corev1.ServiceAccountRootCAKey: root.pem(),
		},
	}))

	istiod := startIstiod(t, cp, framework.IstiodConfig{})

	t.Run("istiod uses cacerts", func(t *testing.T) {
		for _, line := range []string{framework.IstiodLogCACertsLoaded, framework.IstiodLogTLSLayout, framework.IstiodLogPluggedCA} {
			assert.True(t, istiod.LogContains(line), "istiod's log lacks %q", line)
		}
		assert.False(t, istiod.LogContains(framework.IstiodLogSelfSignedCA), "istiod made a self-signed CA")
		// A self-signed istiod keeps its CA in istio-ca-secret.
		err := cp.Client.Get(ctx, types.NamespacedName{Namespace: framework.IstioNamespace, Name: "istio-ca-secret"}, &corev1.Secret{})
		assert.True(t, apierrors.IsNotFound(err), "istio-ca-secret exists (err %v)", err)
		published, err := istiod.RootCertPEM(ctx)
		require.NoError(t, err)
		publishedRoot := parseCertificateChain(t, []string{string(published)})[0]
		assert.True(t, publishedRoot.Equal(root.cert), "istiod publishes %s in %s, not the cacerts root", publishedRoot.Subject, framework.IstioCARootConfigMap)
	})

	leaf, chain := requireWorkloadCertificate(t, cp, istiod, "default", "sleep")

	t.Run("the leaf chains to the cacerts root through the cacerts intermediate", func(t *testing.T) {
		roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(root.cert)
		for _, cert := range chain[1:] {
			intermediates.AddCert(cert)
		}
		verified, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		require.NoError(t, err)
		require.Len(t, verified, 1)
		require.Len(t, verified[0], 3, "leaf, intermediate, root")
		assert.True(t, verified[0][1].Equal(intermediate.cert), "verified through %s, not the cacerts intermediate", verified[0][1].Subject)
		assert.True(t, verified[0][2].Equal(root.cert), "verified to %s, not the cacerts root", verified[0][2].Subject)
	})

	t.Run("the leaf is issued by the cacerts intermediate", func(t *testing.T) {
		assert.Equal(t, intermediate.cert.RawSubject, leaf.RawIssuer, "issuer %s", leaf.Issuer)
		assert.Equal(t, intermediate.cert.SubjectKeyId, leaf.AuthorityKeyId)
		require.NoError(t, leaf.CheckSignatureFrom(intermediate.cert))
		require.GreaterOrEqual(t, len(chain), 3)
		assert.True(t, chain[1].Equal(intermediate.cert), "istiod's chain goes on with %s", chain[1].Subject)
		assert.True(t, chain[len(chain)-1].Equal(root.cert), "istiod's chain ends with %s", chain[len(chain)-1].Subject)
		assert.Equal(t, []string{"spiffe://cluster.local/ns/default/sa/sleep"}, []string{leaf.URIs[0].String()})
	})

	t.Run("an unrelated root does not verify the leaf", func(t *testing.T) {
		// Same name as the real root, another key: only the key counts.
		otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		other := newTestCA(t, root.cert.Subject.CommonName, otherKey, nil)
		roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(other.cert)
		intermediates.AddCert(intermediate.cert)
		_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		require.Error(t, err)
		var unknown x509.UnknownAuthorityError
		assert.ErrorAs(t, err, &unknown)
	})

	t.Run("the identity comes from the token, not the CSR", func(t *testing.T) {
		token, err := cp.IstioCAToken(ctx, "default", "sleep")
		require.NoError(t, err)
		_, csrPEM := newWorkloadCSR(t, spiffeID("kube-system", "admin"))
		chainPEM, err := istiod.SignWorkloadCSR(ctx, token, csrPEM, workloadCertTTL)
		require.NoError(t, err)
		signed := parseCertificateChain(t, chainPEM)[0]
		require.Len(t, signed.URIs, 1)
		assert.Equal(t, spiffeID("default", "sleep"), signed.URIs[0].String())
	})

	t.Run("a token for another audience is refused", func(t *testing.T) {
		// Valid for the API server (its default audience), not for istiod.
		token, stderr, err := kubectlRun(t, cp, "", "create", "token", "sleep", "--namespace=default")
		require.NoError(t, err, stderr)
		_, csrPEM := newWorkloadCSR(t, spiffeID("default", "sleep"))
		_, err = istiod.SignWorkloadCSR(ctx, strings.TrimSpace(token), csrPEM, workloadCertTTL)
		require.Error(t, err)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
	})

	t.Run("Stop and the end of the context leave nothing running", func(t *testing.T) {
		pid := istiod.PID()
		require.NoError(t, istiod.Stop())
		assert.False(t, processAlive(pid), "istiod (pid %d) still runs after Stop", pid)

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		second, err := cp.StartIstiod(ctx, framework.IstiodConfig{Name: "istiod-2"})
		require.NoError(t, err)
		cancel()
		require.NoError(t, waitProcessGone(t.Context(), second.PID()))
	})
}
