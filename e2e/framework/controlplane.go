// Package framework starts real local Kubernetes control planes for the e2e
// tests and the demo: etcd, kube-apiserver (TLS, RBAC, client-certificate
// admin), kube-controller-manager and a cert-manager controller runner, each a
// process of its own bound to 127.0.0.1 on free ports, with the cert-manager,
// Istio and IstioOperator CRDs installed. Several planes can run side by side
// in one process; each has its own PKI, ports and directory.
package framework

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Namespaces every control plane starts with: where cert-manager keeps
// ClusterIssuer secrets (as in a standard install) and where Istio's gateways
// and istiod live.
const (
	CertManagerNamespace = "cert-manager"
	IstioNamespace       = "istio-system"
)

// GatewayShimController and ListenerSetShimController are cert-manager's
// controllers that create Certificates from Gateway API Gateways and
// ListenerSets; adding either also installs the Gateway API CRDs.
const (
	GatewayShimController     = "gateway-shim"
	ListenerSetShimController = "listenerset"
)

// startAttempts bounds retries when a port picked as free was taken by
// someone else before the component bound it.
const startAttempts = 3

// Config describes a control plane to start.
type Config struct {
	// Dir holds the plane's logs, certificates and kubeconfigs. Required.
	Dir string
	// Tools are the binaries to run; zero means ToolsFromEnv.
	Tools Tools
	// WithoutControllerManager skips kube-controller-manager (no garbage
	// collection, namespaces never finish deleting, no default
	// ServiceAccounts so Pods cannot be created).
	WithoutControllerManager bool
	// WithoutCertManager skips the cert-manager controllers (the CRDs are
	// installed all the same).
	WithoutCertManager bool
	// ExtraCertManagerControllers are added to the runner's default set, e.g.
	// GatewayShimController.
	ExtraCertManagerControllers []string
	// CertManagerArgs are extra flags for the cert-manager runner, after
	// the framework's own (a repeated flag's last value wins), e.g.
	// "--controllers=gateway-shim" to run the shim alone.
	CertManagerArgs []string
	// APIServerArgs are extra kube-apiserver flags, after the framework's
	// own, e.g. an admission plugin to enable.
	APIServerArgs []string
	// APIServerProfiling serves the API server's /debug/pprof (to
	// cluster-admins), for the bench's profiles; off by default, as in a
	// hardened cluster.
	APIServerProfiling bool
	// ACME also runs Pebble and a DNS server (ControlPlane.ACME), and
	// cert-manager's ACME controllers resolving through it.
	ACME bool
	// Logf, if set, receives progress messages.
	Logf func(format string, args ...any)
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	// Dir holds the logs (<component>.log), certificates and kubeconfigs.
	Dir string
	// KubeconfigPath is an admin (system:masters) kubeconfig with the
	// certificates inline.
	KubeconfigPath string
	// MeshcertKubeconfigPath is the kubeconfig of the user meshcert runs
	// as (MeshcertUser), who holds only the permissions meshcert declares
	// (see StartMeshcert), so a missing RBAC rule fails the tests.
	MeshcertKubeconfigPath string
	// RESTConfig is the admin's client configuration.
	RESTConfig *rest.Config
	// Client is an admin controller-runtime client whose scheme knows the
	// Kubernetes, CRD, cert-manager and Istio networking types.
	Client client.Client
	// APIServerURL is the https URL of kube-apiserver.
	APIServerURL string
	// Tools are the binaries the plane runs (kubectl and helm included).
	Tools Tools
	// StartDuration is the time from StartContext to everything ready.
	StartDuration time.Duration
	// ACME is the ACME stack, with Config.ACME.
	ACME *ACME

	// cfg and ports are what the plane was started with, for components
	// started later (StartCertManager).
	cfg   Config
	ports ports
	// adminHTTP is an admin HTTP client of the API server.
	adminHTTP *http.Client

	mu        sync.Mutex
	processes []*process
	// closers stop what runs in the test process (the DNS server).
	closers  []func() error
	dataDir  string
	stopOnce sync.Once
	stopErr  error
}

// ports are the listening ports of one start attempt.
type ports struct {
	etcdClient, etcdPeer, apiServer, controllerManager, certManagerHealth int
	pebble, pebbleManagement                                              int
}

// StartContext starts a control plane in cfg.Dir and returns once every
// component is ready. On error nothing it started is left running.
func StartContext(ctx context.Context, cfg Config) (*ControlPlane, error) {
	began := time.Now()
	if cfg.Dir == "" {
		return nil, errors.New("config.Dir is required")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Tools == (Tools{}) {
		tools, err := ToolsFromEnv()
		if err != nil {
			return nil, err
		}
		cfg.Tools = tools
	}
	if err := cfg.Tools.validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("failed to resolve %s: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", dir, err)
	}
	cfg.Dir = dir

	for attempt := 1; ; attempt++ {
		cp, err := startOnce(ctx, cfg)
		if err == nil {
			cp.StartDuration = time.Since(began)
			cfg.Logf("control plane in %s ready in %s", dir, cp.StartDuration.Round(time.Millisecond))
			return cp, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == startAttempts {
			return nil, err
		}
		cfg.Logf("a port was taken during start, retrying (%d/%d): %v", attempt, startAttempts, err)
	}
}

var errPortTaken = errors.New("a listening port was taken")

func startOnce(ctx context.Context, cfg Config) (*ControlPlane, error) {
	p, err := freePorts(ctx)
	if err != nil {
		return nil, err
	}
	// Inside the plane's directory, so whatever a hard-killed run leaves is
	// cleared with the directory; removed on Stop as nobody reads it after.
	dataDir := filepath.Join(cfg.Dir, "etcd-data")
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, fmt.Errorf("failed to clear the etcd data directory: %w", err)
	}
	cp := &ControlPlane{
		Dir:          cfg.Dir,
		Tools:        cfg.Tools,
		APIServerURL: "https://127.0.0.1:" + strconv.Itoa(p.apiServer),
		dataDir:      dataDir,
	}
	if err := cp.start(ctx, cfg, p); err != nil {
		// Port clashes show up as a component exiting with this in its log.
		portTaken := false
		for _, process := range cp.processes {
			portTaken = portTaken || process.logContains("address already in use")
		}
		err = fmt.Errorf("failed to start the control plane in %s: %w%s", cfg.Dir, err, cp.logTails(30))
		if stopErr := cp.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		if portTaken {
			err = errors.Join(errPortTaken, err)
		}
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) start(ctx context.Context, cfg Config, p ports) error {
	cp.cfg, cp.ports = cfg, p
	phase := time.Now()
	lap := func(what string) {
		cfg.Logf("%s in %s", what, time.Since(phase).Round(time.Millisecond))
		phase = time.Now()
	}
	certs, err := newPKISet(filepath.Join(cfg.Dir, "pki"))
	if err != nil {
		return err
	}
	lap("certificates")

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(p.etcdClient)
	etcd, err := cp.run(cfg, "etcd", cfg.Tools.Etcd,
		"--name=default",
		"--data-dir="+cp.dataDir,
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls=http://127.0.0.1:"+strconv.Itoa(p.etcdPeer),
		"--initial-advertise-peer-urls=http://127.0.0.1:"+strconv.Itoa(p.etcdPeer),
		"--initial-cluster=default=http://127.0.0.1:"+strconv.Itoa(p.etcdPeer),
		// Throwaway data: durability buys nothing and fsync costs time.
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	if err := cp.waitHTTP(ctx, etcd, &http.Client{}, etcdURL+"/health"); err != nil {
		return err
	}
	lap("etcd ready")

	apiServer, err := cp.run(cfg, "kube-apiserver", cfg.Tools.KubeAPIServer, append([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.apiServer),
		// No kubernetes Service endpoints to maintain for a lone local server.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + certs.apiServer.certPath,
		"--tls-private-key-file=" + certs.apiServer.keyPath,
		"--client-ca-file=" + certs.ca.caPath(),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + certs.serviceAccountPublic,
		"--service-account-signing-key-file=" + certs.serviceAccountPrivate,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--cert-dir=" + filepath.Join(cfg.Dir, "pki", "kube-apiserver"),
		"--profiling=" + strconv.FormatBool(cfg.APIServerProfiling),
	}, cfg.APIServerArgs...)...)
	if err != nil {
		return err
	}
	adminHTTP, err := certs.httpClient(certs.admin)
	if err != nil {
		return err
	}
	cp.adminHTTP = adminHTTP
	if err := cp.waitHTTP(ctx, apiServer, adminHTTP, cp.APIServerURL+"/readyz"); err != nil {
		return err
	}
	lap("kube-apiserver ready")

	if err := cp.writeKubeconfigs(certs); err != nil {
		return err
	}
	if err := cp.buildClients(); err != nil {
		return err
	}

	if cfg.ACME {
		if err := cp.startACME(ctx, cfg, p, certs); err != nil {
			return err
		}
		lap("Pebble and DNS ready")
	}

	group, groupCtx := errgroup.WithContext(ctx)
	if !cfg.WithoutControllerManager {
		group.Go(func() error { return cp.startControllerManager(groupCtx, cfg, p, certs) })
	}
	group.Go(func() error {
		if err := cp.installAPIs(groupCtx, cfg); err != nil {
			return err
		}
		lap("CRDs and namespaces")
		if cfg.WithoutCertManager {
			return nil
		}
		return cp.startCertManager(groupCtx, cfg, p)
	})
	if err := group.Wait(); err != nil {
		return err
	}
	lap("controllers ready")
	return cp.writeComponentPIDs()
}

// pkiSet is the key material of one plane.
type pkiSet struct {
	ca                                          *pki
	apiServer, controllerManagerServing         keyPair
	admin, controllerManager, certManager       keyPair
	meshcert                                    keyPair
	serviceAccountPrivate, serviceAccountPublic string
}

func newPKISet(dir string) (*pkiSet, error) {
	ca, err := newPKI(dir)
	if err != nil {
		return nil, err
	}
	set := &pkiSet{ca: ca}
	if set.apiServer, err = ca.serving("kube-apiserver",
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"); err != nil {
		return nil, err
	}
	if set.controllerManagerServing, err = ca.serving("kube-controller-manager-serving"); err != nil {
		return nil, err
	}
	// The admin is in system:masters, as kubeadm's admin.conf.
	if set.admin, err = ca.client("admin", "meshcert-e2e-admin", "system:masters"); err != nil {
		return nil, err
	}
	// The controller manager's own identity, bound by the bootstrap RBAC
	// policy; each controller then uses its own service account.
	if set.controllerManager, err = ca.client("kube-controller-manager", "system:kube-controller-manager"); err != nil {
		return nil, err
	}
	// cert-manager's chart grants it broad ClusterRoles; the runner skips
	// installing those and is an admin instead.
	if set.certManager, err = ca.client("cert-manager", "cert-manager", "system:masters"); err != nil {
		return nil, err
	}
	// meshcert is an ordinary user, bound to the rules it declares.
	if set.meshcert, err = ca.client("meshcert", MeshcertUser); err != nil {
		return nil, err
	}
	if set.serviceAccountPrivate, set.serviceAccountPublic, err = ca.serviceAccountKey(); err != nil {
		return nil, err
	}
	return set, nil
}

func (s *pkiSet) httpClient(user keyPair) (*http.Client, error) {
	roots := x509.NewCertPool()
	roots.AddCert(s.ca.caCert)
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if user.certPEM != nil {
		certificate, err := tls.X509KeyPair(user.certPEM, user.keyPEM)
		if err != nil {
			return nil, fmt.Errorf("failed to load a client certificate: %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{certificate}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 5 * time.Second}, nil
}

func (cp *ControlPlane) writeKubeconfigs(certs *pkiSet) error {
	cp.KubeconfigPath = filepath.Join(cp.Dir, "kubeconfig")
	cp.MeshcertKubeconfigPath = filepath.Join(cp.Dir, "pki", "meshcert.kubeconfig")
	for path, user := range map[string]keyPair{
		cp.KubeconfigPath:         certs.admin,
		cp.MeshcertKubeconfigPath: certs.meshcert,
		filepath.Join(cp.Dir, "pki", "kube-controller-manager.kubeconfig"): certs.controllerManager,
		filepath.Join(cp.Dir, "pki", "cert-manager.kubeconfig"):            certs.certManager,
	} {
		if err := writeKubeconfig(path, cp.APIServerURL, certs.ca.caPEM(), user); err != nil {
			return err
		}
	}
	return nil
}

func (cp *ControlPlane) buildClients() error {
	config, err := clientcmd.BuildConfigFromFlags("", cp.KubeconfigPath)
	if err != nil {
		return fmt.Errorf("failed to load %s: %w", cp.KubeconfigPath, err)
	}
	// Tests create objects in bursts; client-side throttling would only
	// measure itself.
	config.QPS = 200
	config.Burst = 400
	cp.RESTConfig = config
	c, err := client.New(config, client.Options{Scheme: Scheme})
	if err != nil {
		return fmt.Errorf("failed to create the client: %w", err)
	}
	cp.Client = c
	return nil
}

func (cp *ControlPlane) startControllerManager(ctx context.Context, cfg Config, p ports, certs *pkiSet) error {
	kubeconfig := filepath.Join(cp.Dir, "pki", "kube-controller-manager.kubeconfig")
	process, err := cp.run(cfg, "kube-controller-manager", cfg.Tools.KubeControllerManager,
		"--kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(p.controllerManager),
		"--tls-cert-file="+certs.controllerManagerServing.certPath,
		"--tls-private-key-file="+certs.controllerManagerServing.keyPath,
		"--leader-elect=false",
		// Every controller a real cluster runs by default, each with its own
		// service account as kubeadm sets it up.
		"--controllers=*",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+certs.serviceAccountPrivate,
		"--root-ca-file="+certs.ca.caPath(),
		"--cluster-signing-cert-file="+filepath.Join(cp.Dir, "pki", "ca.crt"),
		"--cluster-signing-key-file="+filepath.Join(cp.Dir, "pki", "ca.key"),
		"--profiling=false",
	)
	if err != nil {
		return err
	}
	probe, err := certs.httpClient(keyPair{})
	if err != nil {
		return err
	}
	if err := cp.waitHTTP(ctx, process, probe, "https://127.0.0.1:"+strconv.Itoa(p.controllerManager)+"/healthz"); err != nil {
		return err
	}
	// Healthy is not working: the serviceaccount controller filling in
	// the default ServiceAccount shows the controllers run with their
	// credentials.
	return cp.poll(ctx, process, func(ctx context.Context) (bool, error) {
		err := cp.Client.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceDefault, Name: "default"}, &corev1.ServiceAccount{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

func (cp *ControlPlane) installAPIs(ctx context.Context, cfg Config) error {
	var crds []*apiextensionsv1.CustomResourceDefinition
	sources := []crdSource{certManagerCRDs, istioCRDs}
	if slices.Contains(cfg.ExtraCertManagerControllers, GatewayShimController) || slices.Contains(cfg.ExtraCertManagerControllers, ListenerSetShimController) {
		sources = append(sources, gatewayAPICRDs)
	}
	for _, source := range sources {
		loaded, err := source.load(ctx)
		if err != nil {
			return err
		}
		crds = append(crds, loaded...)
	}
	istioOperator, err := parseCRDs(istioOperatorCRD)
	if err != nil {
		return fmt.Errorf("failed to parse the IstioOperator CRD: %w", err)
	}
	crds = append(crds, istioOperator...)
	if err := installCRDs(ctx, cp.Client, crds); err != nil {
		return err
	}
	for _, name := range []string{CertManagerNamespace, IstioNamespace} {
		namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := cp.Client.Create(ctx, namespace); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("failed to create namespace %s: %w", name, err)
		}
	}
	return nil
}

// RestartAPIServer stops kube-apiserver (SIGTERM, as a rolling update
// does) and starts it again with the same flags and ports, returning once
// it is ready. Its clients see connections drop and come back.
func (cp *ControlPlane) RestartAPIServer(ctx context.Context) error {
	cp.mu.Lock()
	i := slices.IndexFunc(cp.processes, func(p *process) bool { return p.name == "kube-apiserver" })
	var old *process
	if i >= 0 {
		old = cp.processes[i]
	}
	cp.mu.Unlock()
	if old == nil {
		return errors.New("no kube-apiserver on this plane")
	}
	if err := old.stop(); err != nil {
		return err
	}
	restarted, err := startProcess(old.name, old.cmd.Path, old.cmd.Args[1:], old.logPath)
	if err != nil {
		return err
	}
	cp.mu.Lock()
	cp.processes[i] = restarted
	cp.mu.Unlock()
	cp.cfg.Logf("restarted kube-apiserver (pid %d)", restarted.pid())
	return cp.waitHTTP(ctx, restarted, cp.adminHTTP, cp.APIServerURL+"/readyz")
}

// StartCertManager starts the cert-manager runner on a plane started
// WithoutCertManager: cert-manager coming back after an outage. It is
// stopped with the plane.
func (cp *ControlPlane) StartCertManager(ctx context.Context) error {
	if !cp.cfg.WithoutCertManager {
		return errors.New("cert-manager already runs on this plane")
	}
	return cp.startCertManager(ctx, cp.cfg, cp.ports)
}

func (cp *ControlPlane) startCertManager(ctx context.Context, cfg Config, p ports) error {
	healthAddress := "127.0.0.1:" + strconv.Itoa(p.certManagerHealth)
	process, err := cp.run(cfg, "cert-manager", cfg.Tools.CertManager, append([]string{
		"--kubeconfig=" + filepath.Join(cp.Dir, "pki", "cert-manager.kubeconfig"),
		"--cluster-resource-namespace=" + CertManagerNamespace,
		"--controllers=" + certManagerControllers(cfg),
		"--health-listen-address=" + healthAddress,
	}, append(cp.certManagerACMEArgs(), cfg.CertManagerArgs...)...)...)
	if err != nil {
		return err
	}
	return cp.waitHTTP(ctx, process, &http.Client{Timeout: 5 * time.Second}, "http://"+healthAddress+"/readyz")
}

// run starts a component with its log in Dir/<name>.log.
func (cp *ControlPlane) run(cfg Config, name, binary string, args ...string) (*process, error) {
	p, err := startProcess(name, binary, args, filepath.Join(cfg.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cp.mu.Lock()
	cp.processes = append(cp.processes, p)
	cp.mu.Unlock()
	cfg.Logf("started %s (pid %d)", name, p.pid())
	return p, nil
}

// waitHTTP polls url until it answers 200, failing early if the component
// exits.
func (cp *ControlPlane) waitHTTP(ctx context.Context, p *process, httpClient *http.Client, url string) error {
	return cp.poll(ctx, p, func(ctx context.Context) (bool, error) {
		request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		if err != nil {
			return false, fmt.Errorf("failed to build a request for %s: %w", url, err)
		}
		response, err := httpClient.Do(request)
		if err != nil {
			return false, nil //nolint:nilerr // Not listening yet is what we are waiting out.
		}
		_, _ = io.Copy(io.Discard, response.Body)
		_ = response.Body.Close()
		return response.StatusCode == http.StatusOK, nil
	})
}

// poll runs check until it reports done, the component exits or ctx ends.
func (cp *ControlPlane) poll(ctx context.Context, p *process, check func(context.Context) (bool, error)) error {
	err := poll(ctx, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := p.exitError(); err != nil {
			return false, err
		}
		return check(ctx)
	})
	if err != nil {
		return fmt.Errorf("failed waiting for %s: %w", p.name, err)
	}
	return nil
}

// poll calls check every interval until it is done, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, check func(context.Context) (bool, error)) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		done, err := check(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up: %w", context.Cause(ctx))
		case <-ticker.C:
		}
	}
}

// Stop ends every process the plane started (SIGTERM, then SIGKILL after a
// grace period), newest first, waits for them, and removes etcd's data. It is
// safe to call more than once and from several goroutines.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() {
		cp.mu.Lock()
		processes := slices.Clone(cp.processes)
		closers := slices.Clone(cp.closers)
		cp.mu.Unlock()
		var errs []error
		for _, p := range slices.Backward(processes) {
			if err := p.stop(); err != nil {
				errs = append(errs, err)
			}
		}
		for _, closeFn := range closers {
			if err := closeFn(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.RemoveAll(cp.dataDir); err != nil {
			errs = append(errs, fmt.Errorf("failed to remove the etcd data: %w", err))
		}
		cp.stopErr = errors.Join(errs...)
	})
	return cp.stopErr
}

// PIDs returns the process id of every running component by name.
func (cp *ControlPlane) PIDs() map[string]int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	pids := make(map[string]int, len(cp.processes))
	for _, p := range cp.processes {
		if p.exitError() == nil {
			pids[p.name] = p.pid()
		}
	}
	return pids
}

// Memory returns the resident memory (VmRSS) of every component, in bytes.
func (cp *ControlPlane) Memory() (map[string]int64, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	usage := make(map[string]int64, len(cp.processes))
	for _, p := range cp.processes {
		rss, err := p.rssBytes()
		if err != nil {
			return nil, err
		}
		usage[p.name] = rss
	}
	return usage, nil
}

// LogTails returns the last lines of every component's log, for failure
// reports.
func (cp *ControlPlane) LogTails(lines int) string { return cp.logTails(lines) }

func (cp *ControlPlane) logTails(lines int) string {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var report strings.Builder
	for _, p := range cp.processes {
		fmt.Fprintf(&report, "\n===== %s (last %d lines of %s) =====\n%s\n", p.name, lines, p.logPath, p.logTail(lines))
	}
	return report.String()
}

// Kubectl returns a kubectl command against this plane.
func (cp *ControlPlane) Kubectl(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, cp.Tools.Kubectl, append([]string{"--kubeconfig=" + cp.KubeconfigPath}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cp.KubeconfigPath)
	return cmd
}

// writeComponentPIDs records the component pids next to the logs so
// `make cluster-down` can check that none is left behind.
func (cp *ControlPlane) writeComponentPIDs() error {
	var lines []string
	for _, pid := range cp.PIDs() {
		lines = append(lines, strconv.Itoa(pid))
	}
	path := filepath.Join(cp.Dir, "component-pids")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}

// freePorts picks distinct ports that are free right now. They are released
// before the components bind them, so a start can still lose a race; the
// caller retries.
func freePorts(ctx context.Context) (ports, error) {
	var listeners []net.Listener
	defer func() {
		for _, listener := range listeners {
			_ = listener.Close()
		}
	}()
	next := func() (int, error) {
		listener, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("failed to find a free port: %w", err)
		}
		listeners = append(listeners, listener)
		return listener.Addr().(*net.TCPAddr).Port, nil
	}
	var p ports
	for _, port := range []*int{&p.etcdClient, &p.etcdPeer, &p.apiServer, &p.controllerManager, &p.certManagerHealth, &p.pebble, &p.pebbleManagement} {
		var err error
		if *port, err = next(); err != nil {
			return ports{}, err
		}
	}
	return p, nil
}
