//go:build ignore

// gen writes the certificates the trust-bundle tests and examples use:
// go run gen.go (from this directory). Validity runs to 2126, so the
// fixtures stay valid; expired.pem expired in 2021 on purpose. The keys are
// thrown away except the CA keys the two-cluster examples sign with.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"time"
)

var serial int64

func cert(cn string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, from, to time.Time, mod func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"meshcert test"}},
		NotBefore:             from,
		NotAfter:              to,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.DNSNames = []string{cn}
	}
	if mod != nil {
		mod(tmpl)
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return c, key
}

func write(name string, c *x509.Certificate) {
	if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		panic(err)
	}
}

func writeKey(name string, k *ecdsa.PrivateKey) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		panic(err)
	}
}

func main() {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2126, 1, 1, 0, 0, 0, 0, time.UTC)
	rootA, rootAKey := cert("cluster-a root", true, nil, nil, from, to, nil)
	write("root-a.pem", rootA)
	writeKey("root-a.key", rootAKey)
	rootB, _ := cert("cluster-b root", true, nil, nil, from, to, nil)
	write("root-b.pem", rootB)
	expired, _ := cert("expired root", true, nil, nil, time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), nil)
	write("expired.pem", expired)
	future, _ := cert("future root", true, nil, nil, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), to, nil)
	write("not-yet-valid.pem", future)
	leaf, _ := cert("leaf.example.com", false, rootA, rootAKey, from, to, nil)
	write("leaf.pem", leaf)
	selfSignedLeaf, _ := cert("posing-as-root.example.com", false, nil, nil, from, to, nil)
	write("self-signed-leaf.pem", selfSignedLeaf)
	noCertSign, _ := cert("no certsign CA", true, nil, nil, from, to, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature })
	write("ca-without-certsign.pem", noCertSign)
	pathZero, pathZeroKey := cert("path length 0 CA", true, rootA, rootAKey, from, to, func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 0, true })
	write("pathlen0-ca.pem", pathZero)
	writeKey("pathlen0-ca.key", pathZeroKey)
}
