package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshcert/meshcert/e2e/framework"
)

// istioTrustDomain is the trust domain of framework.DefaultIstiodMeshConfig.
const istioTrustDomain = "cluster.local"

// workloadCertTTL is what requireWorkloadCertificate asks istiod for.
const workloadCertTTL = time.Hour

// startIstiod starts istiod against cp for the rest of t: create its
// cacerts Secret first. On failure of t its log tail is printed.
func startIstiod(t *testing.T, cp *framework.ControlPlane, cfg framework.IstiodConfig) *framework.Istiod {
	t.Helper()
	began := time.Now()
	istiod, err := cp.StartIstiod(t.Context(), cfg)
	require.NoError(t, err)
	t.Logf("istiod (pid %d) ready in %s, log in %s", istiod.PID(), time.Since(began).Round(time.Millisecond), istiod.Dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("istiod log tail:\n%s", istiod.LogTail(60))
		}
		if err := istiod.Stop(); err != nil {
			t.Errorf("failed to stop istiod: %v", err)
		}
	})
	return istiod
}

// spiffeID is the identity istiod gives a workload running as the service
// account.
func spiffeID(namespace, serviceAccount string) string {
	return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", istioTrustDomain, namespace, serviceAccount)
}

// newWorkloadCSR returns a PEM CSR asking for the URI SAN, as istio-agent
// sends it (the identity istiod signs comes from the token all the same).
func newWorkloadCSR(t *testing.T, uri string) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, csr, err := workloadCSR(uri)
	require.NoError(t, err)
	return key, csr
}

// workloadCSR is newWorkloadCSR for code without a testing.T.
func workloadCSR(uri string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to generate a key: %w", err)
	}
	parsed, err := url.Parse(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to parse %q: %w", uri, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{Organization: []string{istioTrustDomain}},
		URIs:    []*url.URL{parsed},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to create a CSR: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// parseCertificateChain parses the PEM chain istiod answers, one
// certificate per element.
func parseCertificateChain(t *testing.T, chainPEM []string) []*x509.Certificate {
	t.Helper()
	chain := make([]*x509.Certificate, 0, len(chainPEM))
	for n, element := range chainPEM {
		block, rest := pem.Decode([]byte(element))
		require.NotNil(t, block, "element %d of the chain is not PEM", n)
		require.Equal(t, "CERTIFICATE", block.Type, "element %d of the chain", n)
		cert, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err, "element %d of the chain", n)
		if next, _ := pem.Decode(rest); next != nil {
			t.Fatalf("element %d of the chain holds more than one certificate", n)
		}
		chain = append(chain, cert)
	}
	return chain
}

// requireWorkloadCertificate has istiod sign a certificate for a workload
// running as namespace/serviceAccount, the way istio-agent asks for one: a
// token with audience istio-ca (the namespace and ServiceAccount are
// created if missing), a CSR with a fresh P-256 key, CreateCertificate on
// istiod's secure gRPC port. It requires that the leaf carries exactly the
// workload's SPIFFE identity (trust domain cluster.local), holds the CSR's
// key, is no CA, lasts no longer than asked and verifies, through the
// chain's other certificates, to the chain's last one (the root istiod
// serves); which root that must be is the caller's to check.
//
// chain is every certificate istiod answered, the leaf first and the root
// last.
func requireWorkloadCertificate(t *testing.T, cp *framework.ControlPlane, istiod *framework.Istiod, namespace, serviceAccount string) (leaf *x509.Certificate, chain []*x509.Certificate) {
	t.Helper()
	_, leaf, chain = requireWorkloadKeyAndCertificate(t, cp, istiod, namespace, serviceAccount)
	return leaf, chain
}

// requireWorkloadKeyAndCertificate is requireWorkloadCertificate that also
// returns the workload's private key, for a TLS handshake as the workload.
func requireWorkloadKeyAndCertificate(t *testing.T, cp *framework.ControlPlane, istiod *framework.Istiod, namespace, serviceAccount string) (key *ecdsa.PrivateKey, leaf *x509.Certificate, chain []*x509.Certificate) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := cp.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err, "creating namespace %s", namespace)
	}
	token, err := cp.IstioCAToken(ctx, namespace, serviceAccount)
	require.NoError(t, err)

	identity := spiffeID(namespace, serviceAccount)
	key, csrPEM := newWorkloadCSR(t, identity)
	requested := time.Now()
	chainPEM, err := istiod.SignWorkloadCSR(ctx, token, csrPEM, workloadCertTTL)
	require.NoError(t, err, "istiod's log:\n%s", istiod.LogTail(40))
	chain = parseCertificateChain(t, chainPEM)
	require.GreaterOrEqual(t, len(chain), 2, "istiod answers the leaf and at least its root")
	leaf = chain[0]

	uris := make([]string, 0, len(leaf.URIs))
	for _, uri := range leaf.URIs {
		uris = append(uris, uri.String())
	}
	require.Equal(t, []string{identity}, uris, "the leaf's URI SANs")
	require.False(t, leaf.IsCA, "the leaf is a CA")
	require.True(t, key.PublicKey.Equal(leaf.PublicKey), "the leaf does not hold the CSR's key")
	require.False(t, leaf.NotAfter.After(requested.Add(workloadCertTTL+time.Minute)),
		"the leaf lasts until %s, longer than the %s asked for", leaf.NotAfter, workloadCertTTL)
	require.True(t, leaf.NotAfter.After(requested.Add(workloadCertTTL-5*time.Minute)),
		"the leaf lasts until %s, much shorter than the %s asked for", leaf.NotAfter, workloadCertTTL)

	root := chain[len(chain)-1]
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, cert := range chain[1 : len(chain)-1] {
		intermediates.AddCert(cert)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	require.NoError(t, err, "the leaf does not verify to the root istiod answered")
	return key, leaf, chain
}
