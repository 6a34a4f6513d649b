package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

// The problems name what to fix: which PEM block, and which keys a
// ConfigMap has when it lacks the one named.
func TestTrustBundleProblemsSayWhere(t *testing.T) {
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	bundle := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})...)

	anchors, problems := certs.ParseTrustAnchors(bundle, now)
	assert.Len(t, anchors, 1)
	require.Len(t, problems, 1)
	assert.Contains(t, problems[0], "PEM block 2 is")

	_, found, problems := certs.ReadTrustBundle(t.Context(), indexOf(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: roots, namespace: istio-system, labels: {meshcert.io/trust-bundle: "true"}}
`), certs.TrustBundleRef{Namespace: "istio-system", Name: "roots", Key: "ca.crt"}, now)
	assert.True(t, found)
	assert.Contains(t, problems, `has no key "ca.crt" (it has no keys)`)
}
