package framework

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// ClusterIssuerYAML is an ACME ClusterIssuer of this Pebble, trusting its
// API certificate through caBundle, with solvers (the YAML list of
// spec.acme.solvers, indented by four spaces).
func (a *ACME) ClusterIssuerYAML(name, solvers string) string {
	return fmt.Sprintf(`apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: %s}
spec:
  acme:
    server: %s
    caBundle: %s
    privateKeySecretRef: {name: %s-account}
    solvers:
%s`, name, a.DirectoryURL, base64.StdEncoding.EncodeToString(a.CABundle), name, solvers)
}

// DNS01ClusterIssuerYAML is a ClusterIssuer of this Pebble solving DNS-01
// with RFC2136 updates to the stack's name server, signed with the TSIG key
// in Secret <name>-tsig of cert-manager's namespace, which comes first.
func (a *ACME) DNS01ClusterIssuerYAML(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %[1]s-tsig, namespace: %[2]s}
stringData: {secret: %[3]s}
---
`, name, CertManagerNamespace, a.TSIGSecret) + a.ClusterIssuerYAML(name, fmt.Sprintf(`    - dns01:
        rfc2136:
          nameserver: %s
          tsigKeyName: %s
          tsigAlgorithm: HMACSHA256
          tsigSecretSecretRef: {name: %s-tsig, key: secret}
`, a.DNS.Addr(), ACMETSIGKeyName, name))
}

// HTTP01ClusterIssuerYAML is a ClusterIssuer of this Pebble solving HTTP-01
// with an Ingress of IngressClass istio, which comes first: the class
// Istio serves (controller istio.io/ingress-controller).
func (a *ACME) HTTP01ClusterIssuerYAML(name string) string {
	return `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: istio}
spec: {controller: istio.io/ingress-controller}
---
` + a.ClusterIssuerYAML(name, `    - http01:
        ingress: {ingressClassName: istio}
`)
}

// GatewayYAML is a namespace whose cluster admin allows names under
// ACMEZone from ClusterIssuer issuer, and in it a managed Gateway serving
// hosts on port 443 from issuer.
func (a *ACME) GatewayYAML(namespace, name, issuer string, hosts ...string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
  annotations: {meshcert.io/allowed-hosts: "*.%[4]s", meshcert.io/allowed-issuers: ClusterIssuer/%[3]s}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: %[2]s, namespace: %[1]s, annotations: {cert-manager.io/cluster-issuer: %[3]s}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [%[5]s]
    tls: {mode: SIMPLE}
`, namespace, name, issuer, ACMEZone, strings.Join(hosts, ", "))
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

// ServeHTTP01Solvers plays the kubelet for cert-manager's HTTP-01 solver
// Pods, which nothing runs on this stack: it serves on 127.0.0.1:80, where
// every name of ACMEZone resolves, what a solver Pod serves, read from the
// Pod's own arguments (--domain, --token, --key), for the given hosts only.
// So a token is answered only once cert-manager has created its Pod. stop
// ends serving and returns how many requests each host was answered.
func (cp *ControlPlane) ServeHTTP01Solvers(ctx context.Context, hosts ...string) (stop func() map[string]int, err error) {
	listener, err := (&net.ListenConfig{}).Listen(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", ACMEHTTP01Port))
	if err != nil {
		return nil, fmt.Errorf("failed to listen on port %d, where HTTP-01 is validated (it needs root or CAP_NET_BIND_SERVICE): %w", ACMEHTTP01Port, err)
	}
	var mu sync.Mutex
	served := map[string]int{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !ok || !slices.Contains(hosts, host) {
			http.NotFound(w, r)
			return
		}
		var pods corev1.PodList
		if err := cp.Client.List(r.Context(), &pods, client.MatchingLabels{"acme.cert-manager.io/http01-solver": "true"}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, pod := range pods.Items {
			if args := solverArgs(pod); args["domain"] == host && args["token"] == token {
				mu.Lock()
				served[host]++
				mu.Unlock()
				_, _ = w.Write([]byte(args["key"]))
				return
			}
		}
		http.NotFound(w, r)
	})
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = server.Serve(listener) }()
	return func() map[string]int {
		_ = server.Close()
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(served)
	}, nil
}

// solverArgs reads the --name=value arguments of a solver Pod's container.
func solverArgs(pod corev1.Pod) map[string]string {
	args := map[string]string{}
	for _, c := range pod.Spec.Containers {
		for _, arg := range c.Args {
			if name, value, ok := strings.Cut(strings.TrimPrefix(arg, "--"), "="); ok {
				args[name] = value
			}
		}
	}
	return args
}
