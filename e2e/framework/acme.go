package framework

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ACMEZone is the DNS zone the ACME stack's name server is authoritative
// for: every name in it resolves to 127.0.0.1, and its TXT records are what
// cert-manager's RFC2136 provider writes.
const ACMEZone = "acme.test"

// ACMETSIGKeyName names the TSIG key RFC2136 updates must be signed with
// (HMAC-SHA256; the secret is made per plane).
const ACMETSIGKeyName = "meshcert-e2e."

// ACMEHTTP01Port is where both Pebble and cert-manager's self-check send
// HTTP-01 requests: port 80, as a real ACME server does. Whoever plays the
// solver binds 127.0.0.1 there, which needs root or CAP_NET_BIND_SERVICE.
const ACMEHTTP01Port = 80

// ACME is the plane's ACME stack: Pebble, Let's Encrypt's test ACME server,
// validating through the DNS server that cert-manager also resolves with.
type ACME struct {
	// DNS is the zone's name server and everyone's resolver.
	DNS *DNSServer
	// DirectoryURL is Pebble's ACME directory, the issuer's spec.acme.server.
	DirectoryURL string
	// CABundle is the PEM that Pebble's API certificate chains to, for the
	// issuer's spec.acme.caBundle.
	CABundle []byte
	// TSIGSecret is the base64 HMAC-SHA256 secret of ACMETSIGKeyName.
	TSIGSecret string

	managementURL string
	httpClient    *http.Client
}

// Roots returns the PEM of the root Pebble signs certificates under. Pebble
// makes a new one on every start.
func (a *ACME) Roots(ctx context.Context) ([]byte, error) {
	return a.get(ctx, a.managementURL+"/roots/0")
}

// Intermediates returns the PEM of Pebble's intermediate.
func (a *ACME) Intermediates(ctx context.Context) ([]byte, error) {
	return a.get(ctx, a.managementURL+"/intermediates/0")
}

func (a *ACME) get(ctx context.Context, url string) ([]byte, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("failed to build a request for %s: %w", url, err)
	}
	response, err := a.httpClient.Do(request)
	if err != nil {
		return nil, fmt.Errorf("failed to get %s: %w", url, err)
	}
	defer func() { _ = response.Body.Close() }()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", url, err)
	}
	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("failed to get %s: %s: %s", url, response.Status, body)
	}
	return body, nil
}

// pebbleConfig is Pebble's configuration file (test/config/pebble-config.json
// in its repository).
type pebbleConfig struct {
	Pebble struct {
		ListenAddress           string `json:"listenAddress"`
		ManagementListenAddress string `json:"managementListenAddress"`
		Certificate             string `json:"certificate"`
		PrivateKey              string `json:"privateKey"`
		HTTPPort                int    `json:"httpPort"`
		TLSPort                 int    `json:"tlsPort"`
		OCSPResponderURL        string `json:"ocspResponderURL"`
		ExternalAccountBinding  bool   `json:"externalAccountBindingRequired"`
	} `json:"pebble"`
}

// startACME starts the DNS server and Pebble; cert-manager is then pointed
// at both (certManagerACMEArgs).
func (cp *ControlPlane) startACME(ctx context.Context, cfg Config, p ports, certs *pkiSet) error {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("failed to make a TSIG secret: %w", err)
	}
	acme := &ACME{TSIGSecret: base64.StdEncoding.EncodeToString(secret), CABundle: certs.ca.caPEM()}
	dns, err := StartDNSServer(ctx, DNSServerConfig{Zones: []string{ACMEZone}, TSIGKey: ACMETSIGKeyName, TSIGSecret: acme.TSIGSecret})
	if err != nil {
		return err
	}
	acme.DNS = dns
	cp.mu.Lock()
	cp.closers = append(cp.closers, dns.Close)
	cp.mu.Unlock()

	serving, err := certs.ca.serving("pebble", "pebble")
	if err != nil {
		return err
	}
	var config pebbleConfig
	config.Pebble.ListenAddress = "127.0.0.1:" + strconv.Itoa(p.pebble)
	config.Pebble.ManagementListenAddress = "127.0.0.1:" + strconv.Itoa(p.pebbleManagement)
	config.Pebble.Certificate = serving.certPath
	config.Pebble.PrivateKey = serving.keyPath
	config.Pebble.HTTPPort = ACMEHTTP01Port
	config.Pebble.TLSPort = 443
	configJSON, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return fmt.Errorf("failed to encode Pebble's configuration: %w", err)
	}
	configPath := filepath.Join(cfg.Dir, "pebble.json")
	if err := os.WriteFile(configPath, configJSON, 0o600); err != nil {
		return fmt.Errorf("failed to write Pebble's configuration: %w", err)
	}
	process, err := startProcessIn("pebble", cfg.Tools.Pebble,
		[]string{"-config", configPath, "-dnsserver", dns.Addr(), "-strict"},
		// No random sleep before validating, no nonces rejected at random
		// (5% by default, which tests clients' retries, not ours), and no
		// authorizations reused, so every order is validated for real.
		[]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"", filepath.Join(cfg.Dir, "pebble.log"))
	if err != nil {
		return err
	}
	cp.mu.Lock()
	cp.processes = append(cp.processes, process)
	cp.mu.Unlock()
	cfg.Logf("started pebble (pid %d)", process.pid())

	if acme.httpClient, err = certs.httpClient(keyPair{}); err != nil {
		return err
	}
	acme.DirectoryURL = "https://" + config.Pebble.ListenAddress + "/dir"
	acme.managementURL = "https://" + config.Pebble.ManagementListenAddress
	if err := cp.waitHTTP(ctx, process, acme.httpClient, acme.DirectoryURL); err != nil {
		return err
	}
	cp.ACME = acme
	return nil
}

// certManagerACMEArgs are the runner's flags for issuing from Pebble:
// the ACME controllers, and every DNS lookup of a self-check through the
// stack's name server (a resolver, as the zone's NS records point nowhere).
func (cp *ControlPlane) certManagerACMEArgs() []string {
	if cp.ACME == nil {
		return nil
	}
	dns := cp.ACME.DNS.Addr()
	return []string{
		"--dns01-recursive-nameservers=" + dns,
		"--dns01-recursive-nameservers-only",
		"--acme-http01-solver-nameservers=" + dns,
		// Upstream waits 10s between failed self-checks; the local stack
		// answers at once, so a shorter wait only speeds the tests.
		"--dns01-check-retry-period=2s",
	}
}

// certManagerControllers is the runner's --controllers value.
func certManagerControllers(cfg Config) string {
	extra := cfg.ExtraCertManagerControllers
	if cfg.ACME {
		extra = append(extra[:len(extra):len(extra)], "acme")
	}
	return "+" + strings.Join(extra, ",")
}
