package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/webhook"
)

// MeshcertBinaryEnv names a prebuilt meshcert binary; unset, the framework
// builds one from this repository once per test process.
const MeshcertBinaryEnv = "MESHCERT_BINARY"

// WebhookConfigurationName names meshcert's webhook configurations.
const WebhookConfigurationName = "meshcert"

// MeshcertUser is the user meshcert runs as on the local plane.
const MeshcertUser = "meshcert"

// leaderElectionNamespace holds meshcert's leader election Lease.
const leaderElectionNamespace = "default"

// MeshcertConfig describes a meshcert serve process to start against a
// control plane.
type MeshcertConfig struct {
	// Args are extra flags for `meshcert serve`, e.g. --enforce.
	Args []string
	// LeaderElect turns leader election on (in namespace default).
	LeaderElect bool
	// WithoutWebhookConfigurations leaves the API server without meshcert's
	// webhook configurations, as when the webhook is bypassed.
	WithoutWebhookConfigurations bool
	// FailurePolicy of the webhook configurations; empty means Fail.
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// Kubeconfig meshcert runs with; empty means MeshcertKubeconfigPath,
	// the user bound to the declared RBAC (which StartMeshcert grants).
	// With a Kubeconfig, the RBAC is the caller's (the chart's, say).
	Kubeconfig string
	// ServingCertPEM and ServingKeyPEM are the webhook's serving
	// certificate; empty means one from a CA of the framework's own.
	ServingCertPEM, ServingKeyPEM []byte
	// WebhookPort is the port to serve the webhooks on; 0 means a free one.
	WebhookPort int
	// LeaderElectionNamespace holds the leader election Lease; empty means
	// "default".
	LeaderElectionNamespace string
	// Name is the directory under the plane's; empty means "meshcert". Two
	// replicas on one plane need two names.
	Name string
}

// Meshcert is a running `meshcert serve`.
type Meshcert struct {
	// Dir holds its log (meshcert.log) and serving certificate.
	Dir string
	// WebhookURL is the https base URL the API server calls.
	WebhookURL string
	// MetricsURL serves Prometheus metrics; ProbeURL /healthz and /readyz.
	MetricsURL, ProbeURL string
	// CABundle signs the webhook's serving certificate; nil when the
	// caller gave the certificate.
	CABundle []byte

	cp      *ControlPlane
	cfg     MeshcertConfig
	binary  string
	certDir string
	// pki issued the serving certificate; nil when the caller gave it.
	pki      *pki
	mu       sync.Mutex
	proc     *process
	stopOnce sync.Once
}

var (
	buildOnce   sync.Once
	builtBinary string
	errBuild    error
)

// MeshcertBinary returns MESHCERT_BINARY or a binary built from this
// repository (the e2e module's replace points at it) into a temporary
// directory, once per test process.
func MeshcertBinary(ctx context.Context) (string, error) {
	if path := os.Getenv(MeshcertBinaryEnv); path != "" {
		return path, nil
	}
	buildOnce.Do(func() {
		// One fixed place, replaced atomically, so repeated runs leave
		// nothing behind and concurrent ones do not see a half-written file.
		dir := filepath.Join(os.TempDir(), "meshcert-e2e-bin")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			errBuild = fmt.Errorf("failed to create a build directory: %w", err)
			return
		}
		builtBinary = filepath.Join(dir, "meshcert")
		tmp := fmt.Sprintf("%s.%d", builtBinary, os.Getpid())
		// Build in the product module (two levels above this file) so its
		// own go.mod and go.sum decide the dependencies.
		_, self, _, _ := runtime.Caller(0)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "./cmd/meshcert")
		cmd.Dir = filepath.Join(filepath.Dir(self), "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			errBuild = fmt.Errorf("failed to build meshcert: %w\n%s", err, out)
			return
		}
		if err := os.Rename(tmp, builtBinary); err != nil {
			errBuild = fmt.Errorf("failed to install the meshcert binary: %w", err)
		}
	})
	return builtBinary, errBuild
}

// StartMeshcert starts `meshcert serve` against the plane, on free
// 127.0.0.1 ports, registers its webhook configurations by URL (unless told
// not to) and returns once it is ready and the API server reaches it.
func (cp *ControlPlane) StartMeshcert(ctx context.Context, cfg MeshcertConfig) (*Meshcert, error) {
	binary, err := MeshcertBinary(ctx)
	if err != nil {
		return nil, err
	}
	name := cfg.Name
	if name == "" {
		name = "meshcert"
	}
	dir := filepath.Join(cp.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", dir, err)
	}
	certDir := filepath.Join(dir, "serving-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", certDir, err)
	}
	var caBundle []byte
	var ca *pki
	certPEM, keyPEM := cfg.ServingCertPEM, cfg.ServingKeyPEM
	if len(certPEM) == 0 {
		ca, err = newPKI(filepath.Join(dir, "pki"))
		if err != nil {
			return nil, err
		}
		serving, err := ca.serving("meshcert-webhook")
		if err != nil {
			return nil, err
		}
		certPEM, keyPEM, caBundle = serving.certPEM, serving.keyPEM, ca.caPEM()
	}
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
			return nil, fmt.Errorf("failed to write the serving certificate: %w", err)
		}
	}
	if cfg.Kubeconfig == "" {
		if err := grantMeshcertRBAC(ctx, cp.Client); err != nil {
			return nil, err
		}
	}
	m := &Meshcert{Dir: dir, CABundle: caBundle, cp: cp, cfg: cfg, binary: binary, certDir: certDir, pki: ca}
	if err := m.start(ctx); err != nil {
		return nil, err
	}
	if !cfg.WithoutWebhookConfigurations {
		if err := RegisterWebhooks(ctx, cp.Client, m.WebhookURL, m.CABundle, cfg.FailurePolicy); err != nil {
			_ = m.Stop()
			return nil, err
		}
	}
	return m, nil
}

// start runs the process on fresh ports and waits until it is ready.
func (m *Meshcert) start(ctx context.Context) error {
	ports, err := freeLocalPorts(ctx, 3)
	if err != nil {
		return err
	}
	webhookPort, metricsPort, probePort := ports[0], ports[1], ports[2]
	if m.cfg.WebhookPort != 0 {
		webhookPort = m.cfg.WebhookPort
	}
	kubeconfig := m.cfg.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = m.cp.MeshcertKubeconfigPath
	}
	electionNamespace := m.cfg.LeaderElectionNamespace
	if electionNamespace == "" {
		electionNamespace = leaderElectionNamespace
	}
	m.WebhookURL = "https://127.0.0.1:" + strconv.Itoa(webhookPort)
	m.MetricsURL = "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics"
	m.ProbeURL = "http://127.0.0.1:" + strconv.Itoa(probePort)
	args := append([]string{"serve",
		"--kubeconfig=" + kubeconfig,
		"--webhook-host=127.0.0.1",
		"--webhook-port=" + strconv.Itoa(webhookPort),
		"--webhook-cert-dir=" + m.certDir,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(metricsPort),
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(probePort),
		"--leader-elect=" + strconv.FormatBool(m.cfg.LeaderElect),
		"--leader-election-namespace=" + electionNamespace,
	}, m.cfg.Args...)
	proc, err := startProcess("meshcert", m.binary, args, filepath.Join(m.Dir, "meshcert.log"))
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.proc = proc
	m.mu.Unlock()
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = poll(waitCtx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := proc.exitError(); err != nil {
			return false, err
		}
		return httpOK(ctx, m.ProbeURL+"/readyz"), nil
	})
	if err != nil {
		_ = proc.stop()
		return fmt.Errorf("failed waiting for meshcert to be ready: %w\n%s", err, proc.logTail(40))
	}
	return nil
}

// Restart stops the process and starts a new one with the same settings
// (new ports, so the webhook configurations are registered again).
func (m *Meshcert) Restart(ctx context.Context) error {
	m.mu.Lock()
	proc := m.proc
	m.mu.Unlock()
	if err := proc.stop(); err != nil {
		return err
	}
	if err := m.start(ctx); err != nil {
		return err
	}
	if m.cfg.WithoutWebhookConfigurations {
		return nil
	}
	return RegisterWebhooks(ctx, m.cp.Client, m.WebhookURL, m.CABundle, m.cfg.FailurePolicy)
}

// RotateServingCertificate issues a new serving certificate from the same
// CA and replaces tls.crt and tls.key in the certificate directory, each by
// an atomic rename, as the kubelet updates a mounted Secret. It returns the
// new certificate's PEM.
func (m *Meshcert) RotateServingCertificate() ([]byte, error) {
	if m.pki == nil {
		return nil, errors.New("the serving certificate was given by the caller; rotate it yourself")
	}
	serving, err := m.pki.serving(fmt.Sprintf("meshcert-webhook-%d", time.Now().UnixNano()))
	if err != nil {
		return nil, err
	}
	// The key first: a reader between the two renames sees a key that does
	// not match the old certificate and retries; the watcher reloads on the
	// second event.
	for _, f := range []struct {
		name string
		data []byte
	}{{"tls.key", serving.keyPEM}, {"tls.crt", serving.certPEM}} {
		tmp := filepath.Join(m.certDir, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return nil, fmt.Errorf("failed to write the serving certificate: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(m.certDir, f.name)); err != nil {
			return nil, fmt.Errorf("failed to replace the serving certificate: %w", err)
		}
	}
	return serving.certPEM, nil
}

// Exited reports whether the process has ended, and how.
func (m *Meshcert) Exited() (bool, error) {
	m.mu.Lock()
	proc := m.proc
	m.mu.Unlock()
	err := proc.exitError()
	return err != nil, err
}

// Kill ends the process with SIGKILL, with no chance to clean up (no
// Lease released, work in flight lost), and waits until it is gone.
func (m *Meshcert) Kill() error {
	m.mu.Lock()
	proc := m.proc
	m.mu.Unlock()
	return proc.kill()
}

// Stop ends the process; it is safe to call more than once.
func (m *Meshcert) Stop() error {
	var err error
	m.stopOnce.Do(func() {
		m.mu.Lock()
		proc := m.proc
		m.mu.Unlock()
		if proc != nil {
			err = proc.stop()
		}
	})
	return err
}

// LogTail returns the last lines of meshcert's log.
func (m *Meshcert) LogTail(lines int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc.logTail(lines)
}

// PID is the process id of the running meshcert.
func (m *Meshcert) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc.pid()
}

// Metrics returns the Prometheus text exposition of meshcert's metrics.
func (m *Meshcert) Metrics(ctx context.Context) (string, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, m.MetricsURL, http.NoBody)
	if err != nil {
		return "", fmt.Errorf("failed to build the metrics request: %w", err)
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		return "", fmt.Errorf("failed to scrape meshcert: %w", err)
	}
	defer func() { _ = response.Body.Close() }()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		return "", fmt.Errorf("failed to read meshcert's metrics: %w", err)
	}
	return string(body), nil
}

func httpOK(ctx context.Context, url string) bool {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return false
	}
	response, err := (&http.Client{Timeout: 2 * time.Second}).Do(request)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, response.Body)
	_ = response.Body.Close()
	return response.StatusCode == http.StatusOK
}

func freeLocalPorts(ctx context.Context, n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("failed to find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// grantMeshcertRBAC gives MeshcertUser exactly the permissions meshcert
// declares (cluster.PolicyRules, cluster.LeaderElectionRules in the leader
// election namespace, cluster.IstiodNamespaceRules in istio-system) and
// nothing else.
func grantMeshcertRBAC(ctx context.Context, c client.Client) error {
	user := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: MeshcertUser}}
	for _, obj := range []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "meshcert"}, Rules: cluster.PolicyRules()},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "meshcert"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "meshcert"},
			Subjects:   user,
		},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "meshcert-leader-election", Namespace: leaderElectionNamespace}, Rules: cluster.LeaderElectionRules()},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "meshcert-leader-election", Namespace: leaderElectionNamespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "meshcert-leader-election"},
			Subjects:   user,
		},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "meshcert-istiod", Namespace: IstioNamespace}, Rules: cluster.IstiodNamespaceRules()},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "meshcert-istiod", Namespace: IstioNamespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "meshcert-istiod"},
			Subjects:   user,
		},
	} {
		if err := replace(ctx, c, obj); err != nil {
			return err
		}
	}
	return nil
}

// RegisterWebhooks creates or replaces meshcert's mutating and validating
// webhook configurations, pointing the API server at baseURL. They are built
// from the webhook package's one declaration of paths and rules.
func RegisterWebhooks(ctx context.Context, c client.Client, baseURL string, caBundle []byte, policy admissionregistrationv1.FailurePolicyType) error {
	if policy == "" {
		// The tests want to see meshcert fail, not a request let through.
		policy = admissionregistrationv1.Fail
	}
	mutating, validating := webhook.Configurations(webhook.InstallOptions{
		Name: WebhookConfigurationName,
		ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
			url := baseURL + path
			return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle}
		},
		MutatingFailurePolicy: policy, ValidatingFailurePolicy: policy,
	})
	for _, obj := range []client.Object{mutating, validating} {
		if err := replace(ctx, c, obj); err != nil {
			return err
		}
	}
	return nil
}

// UnregisterWebhooks removes meshcert's webhook configurations.
func UnregisterWebhooks(ctx context.Context, c client.Client) error {
	for _, obj := range []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigurationName}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigurationName}},
	} {
		if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to delete %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

func replace(ctx context.Context, c client.Client, obj client.Object) error {
	err := c.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		existing := obj.DeepCopyObject().(client.Object)
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
			return fmt.Errorf("failed to get %s: %w", obj.GetName(), err)
		}
		obj.SetResourceVersion(existing.GetResourceVersion())
		err = c.Update(ctx, obj)
	}
	if err != nil {
		return fmt.Errorf("failed to create or replace %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}
