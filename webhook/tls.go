package webhook

import "crypto/tls"

// secureCipherSuites are the TLS 1.2 suites the webhook server offers:
// forward-secret key exchange and AEAD ciphers only (TLS 1.3's suites are
// not configurable and all qualify). No CBC, no RSA key exchange, no 3DES.
var secureCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSOptions harden the webhook server: TLS 1.2 or later with modern cipher
// suites only, and HTTP/1.1 only (HTTP/2 off, as advised after
// CVE-2023-44487 "rapid reset").
func TLSOptions() []func(*tls.Config) {
	return []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS12
		c.CipherSuites = secureCipherSuites
		c.NextProtos = []string{"http/1.1"}
	}}
}
