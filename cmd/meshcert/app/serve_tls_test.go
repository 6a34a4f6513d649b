package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"

	mcwebhook "github.com/meshcert/meshcert/webhook"
)

// testCA is a CA with a key, issuing serving and client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a leaf signed by the CA, as PEM certificate and key.
func (ca testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// startWebhookServer runs the webhook server exactly as `meshcert serve`
// builds it (flags, manager options, handlers) on 127.0.0.1 with a serving
// certificate from serving, plus extra flags, and returns its address.
func startWebhookServer(t *testing.T, serving testCA, files map[string][]byte, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	crt, key := serving.issue(t, "meshcert", x509.ExtKeyUsageServerAuth)
	files["tls.crt"], files["tls.key"] = crt, key
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	api := httptest.NewServer(&fakeAPIServer{})
	t.Cleanup(api.Close)
	mgr := newServeManager(t, api.URL, append([]string{"--webhook-host=127.0.0.1", "--webhook-port=" + strconv.Itoa(port), "--webhook-cert-dir=" + dir}, extra...)...)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- mgr.GetWebhookServer().Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	require.Eventually(t, func() bool {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			_ = conn.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the webhook server listens")
	return addr
}

// handshake dials addr with cfg and returns the negotiated state; with
// TLS 1.3 a refused client certificate shows on the first read, so it
// sends a request and reads the answer too.
func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: meshcert\r\nConnection: close\r\n\r\n"); err != nil {
		return conn.ConnectionState(), err
	}
	var buf [64]byte
	if _, err := conn.Read(buf[:]); err != nil {
		return conn.ConnectionState(), err
	}
	return conn.ConnectionState(), nil
}

// reviewBody is an AdmissionReview of object. It is a status update, which
// meshcert answers without planning: these
// tests are about the connection, and the server they run has caches that
// never sync (a read would wait for its deadline).
func reviewBody(t *testing.T, object []byte) []byte {
	t.Helper()
	review := admissionv1.AdmissionReview{
		TypeMeta: metaType(),
		Request: &admissionv1.AdmissionRequest{
			UID: "uid", Operation: admissionv1.Update, SubResource: "status",
			Kind:      metaGVK("networking.istio.io", "v1", "Gateway"),
			Namespace: "team-a", Name: "web",
			Object: runtime.RawExtension{Raw: object},
		},
	}
	body, err := json.Marshal(review)
	require.NoError(t, err)
	return body
}

// TestWebhookServerTLS tries what an attacker or a misconfigured client
// would, against the server `meshcert serve` builds: old protocol
// versions, a weak cipher suite and HTTP/2 are refused; a modern client
// gets an answer.
func TestWebhookServerTLS(t *testing.T) {
	serving := newTestCA(t, "serving CA")
	addr := startWebhookServer(t, serving, map[string][]byte{})
	roots := x509.NewCertPool()
	roots.AddCert(serving.cert)
	base := func() *tls.Config { return &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"} }

	tests := []struct {
		name    string
		config  func(*tls.Config)
		refused string
	}{
		{"TLS 1.0 is refused", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10 }, "protocol version"},
		{"TLS 1.1 is refused", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS11, tls.VersionTLS11 }, "protocol version"},
		{"a CBC cipher suite is refused", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
		}, "handshake failure"},
		{"HTTP/2 is refused", func(c *tls.Config) { c.NextProtos = []string{"h2"} }, "no application protocol"},
		{"TLS 1.2 with an AEAD suite is accepted", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		}, ""},
		{"TLS 1.3 is accepted, over HTTP/1.1", func(c *tls.Config) { c.NextProtos = []string{"h2", "http/1.1"} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.config(cfg)
			state, err := handshake(addr, cfg)
			if tc.refused != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.refused)
				return
			}
			require.NoError(t, err)
			assert.NotEqual(t, "h2", state.NegotiatedProtocol)
		})
	}

	t.Run("an AdmissionReview over the hardened connection is answered", func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: base()}, Timeout: 10 * time.Second}
		resp, err := client.Post("https://"+addr+mcwebhook.PathValidateGateway, "application/json", bytes.NewReader(reviewBody(t, []byte(gatewayJSON))))
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var answer admissionv1.AdmissionReview
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
		require.NotNil(t, answer.Response)
		assert.Equal(t, "uid", string(answer.Response.UID))
		assert.Equal(t, "HTTP/1.1", resp.Proto)
	})

	t.Run("a body over 7 MiB is refused before it is decoded", func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: base()}, Timeout: 30 * time.Second}
		huge := reviewBody(t, []byte(`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"web","annotations":{"x":"`+strings.Repeat("a", 8<<20)+`"}}}`))
		resp, err := client.Post("https://"+addr+mcwebhook.PathValidateGateway, "application/json", bytes.NewReader(huge))
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		var answer admissionv1.AdmissionReview
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
		require.NotNil(t, answer.Response)
		assert.False(t, answer.Response.Allowed)
		assert.Equal(t, int32(http.StatusRequestEntityTooLarge), answer.Response.Result.Code)
		assert.Contains(t, answer.Response.Result.Message, "too large")
	})
}

// TestWebhookServerVerifiesTheAPIServer: with --webhook-client-ca-name the
// server takes requests only from a client holding a certificate from that
// CA, as the API server does when its AdmissionConfiguration gives it one.
func TestWebhookServerVerifiesTheAPIServer(t *testing.T) {
	serving := newTestCA(t, "serving CA")
	apiServerCA := newTestCA(t, "API server client CA")
	addr := startWebhookServer(t, serving, map[string][]byte{"client-ca.crt": apiServerCA.pem}, "--webhook-client-ca-name=client-ca.crt")
	roots := x509.NewCertPool()
	roots.AddCert(serving.cert)
	cfg := func(ca *testCA) *tls.Config {
		c := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		if ca != nil {
			crt, key := ca.issue(t, "kube-apiserver", x509.ExtKeyUsageClientAuth)
			pair, err := tls.X509KeyPair(crt, key)
			require.NoError(t, err)
			c.Certificates = []tls.Certificate{pair}
		}
		return c
	}

	_, err := handshake(addr, cfg(nil))
	require.Error(t, err, "a client without a certificate is refused")
	stranger := newTestCA(t, "some other CA")
	_, err = handshake(addr, cfg(&stranger))
	require.Error(t, err, "a client with a certificate from another CA is refused")
	_, err = handshake(addr, cfg(&apiServerCA))
	require.NoError(t, err, "the API server's certificate is accepted")
}
