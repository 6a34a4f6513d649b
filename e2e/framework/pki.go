package framework

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// certValidity outlives any test or demo session by far.
const certValidity = 365 * 24 * time.Hour

// pki is a control plane's own certificate authority and the key material
// its components use. Every control plane gets a fresh one, so two planes
// share no trust.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  crypto.Signer
}

// keyPair is a certificate and its key, as PEM, with the paths they were
// written to.
type keyPair struct {
	certPEM, keyPEM   []byte
	certPath, keyPath string
}

func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the PKI directory: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("failed to generate the CA key: %w", err)
	}
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "meshcert-e2e-ca"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	p := &pki{dir: dir, caKey: key}
	der, err := p.sign(template, key.Public(), template, key)
	if err != nil {
		return nil, err
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("failed to parse the CA certificate: %w", err)
	}
	if err := p.write("ca", der, key); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pki) caPath() string { return filepath.Join(p.dir, "ca.crt") }

func (p *pki) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.caCert.Raw})
}

// serving issues a server certificate for 127.0.0.1 and the given names.
func (p *pki) serving(name string, dnsNames ...string) (keyPair, error) {
	return p.issue(name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    append([]string{"localhost"}, dnsNames...),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	})
}

// WriteServingCertificate writes tls.crt and tls.key, a serving
// certificate for 127.0.0.1 from a new CA of its own (kept under dir/pki),
// into dir, as a webhook server reads them, and returns the CA to trust.
func WriteServingCertificate(dir, name string) ([]byte, error) {
	ca, err := newPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, err
	}
	serving, err := ca.serving(name)
	if err != nil {
		return nil, err
	}
	for file, data := range map[string][]byte{"tls.crt": serving.certPEM, "tls.key": serving.keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
			return nil, fmt.Errorf("failed to write %s: %w", file, err)
		}
	}
	return ca.caPEM(), nil
}

// client issues a client certificate: the API server takes the user from
// the CN and the groups from O.
func (p *pki) client(name, user string, groups ...string) (keyPair, error) {
	return p.issue(name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	})
}

// serviceAccountKey writes the key pair the API server signs and verifies
// service account tokens with (the controller manager signs legacy tokens).
func (p *pki) serviceAccountKey() (privatePath, publicPath string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("failed to generate the service account key: %w", err)
	}
	privatePEM, err := keyToPEM(key)
	if err != nil {
		return "", "", err
	}
	publicDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", "", fmt.Errorf("failed to marshal the service account public key: %w", err)
	}
	privatePath = filepath.Join(p.dir, "sa.key")
	publicPath = filepath.Join(p.dir, "sa.pub")
	if err := os.WriteFile(privatePath, privatePEM, 0o600); err != nil {
		return "", "", fmt.Errorf("failed to write the service account key: %w", err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicDER})
	if err := os.WriteFile(publicPath, publicPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("failed to write the service account public key: %w", err)
	}
	return privatePath, publicPath, nil
}

func (p *pki) issue(name string, template *x509.Certificate) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("failed to generate the key for %s: %w", name, err)
	}
	der, err := p.sign(template, key.Public(), p.caCert, p.caKey)
	if err != nil {
		return keyPair{}, err
	}
	if err := p.write(name, der, key); err != nil {
		return keyPair{}, err
	}
	keyPEM, err := keyToPEM(key)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:   keyPEM,
		certPath: filepath.Join(p.dir, name+".crt"),
		keyPath:  filepath.Join(p.dir, name+".key"),
	}, nil
}

func (p *pki) sign(template *x509.Certificate, public crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("failed to generate a serial number: %w", err)
	}
	template.SerialNumber = serial
	// Backdated a little so a freshly started component never sees a
	// certificate from the future.
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(certValidity)
	der, err := x509.CreateCertificate(rand.Reader, template, parent, public, parentKey)
	if err != nil {
		return nil, fmt.Errorf("failed to sign the certificate for %s: %w", template.Subject.CommonName, err)
	}
	return der, nil
}

func (p *pki) write(name string, der []byte, key crypto.Signer) error {
	keyPEM, err := keyToPEM(key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(p.dir, name+".crt"), certPEM, 0o600); err != nil {
		return fmt.Errorf("failed to write the certificate of %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, name+".key"), keyPEM, 0o600); err != nil {
		return fmt.Errorf("failed to write the key of %s: %w", name, err)
	}
	return nil
}

func keyToPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("failed to marshal a private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeKubeconfig writes a self-contained kubeconfig (certificates inline),
// so it still works when copied elsewhere.
func writeKubeconfig(path, server string, caPEM []byte, user keyPair) error {
	config := clientcmdapi.NewConfig()
	config.Clusters["meshcert-e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	config.AuthInfos["meshcert-e2e"] = &clientcmdapi.AuthInfo{ClientCertificateData: user.certPEM, ClientKeyData: user.keyPEM}
	config.Contexts["meshcert-e2e"] = &clientcmdapi.Context{Cluster: "meshcert-e2e", AuthInfo: "meshcert-e2e"}
	config.CurrentContext = "meshcert-e2e"
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		return fmt.Errorf("failed to write kubeconfig %s: %w", path, err)
	}
	return nil
}
