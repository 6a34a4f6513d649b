package framework

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Names istiod uses for what it reads and publishes (istio.io/istio
// security/pkg/pki/ca and pilot/pkg/bootstrap).
const (
	// CACertsSecret is the Secret with a plugged-in CA that istiod signs
	// workload certificates with, in istiod's namespace.
	CACertsSecret = "cacerts"
	// IstioCARootConfigMap is the ConfigMap istiod writes its root to, in
	// every namespace, under key IstioCARootKey.
	IstioCARootConfigMap = "istio-ca-root-cert"
	IstioCARootKey       = "root-cert.pem"
	// IstioCATokenAudience is the audience istiod's CA requires of a
	// workload's token (TOKEN_AUDIENCES).
	IstioCATokenAudience = "istio-ca"
	// IstioMeshConfigMap holds the mesh config (key "mesh") of the default
	// revision.
	IstioMeshConfigMap = "istio"
)

// Log lines by which istiod tells where its CA comes from.
const (
	// IstiodLogCACertsLoaded: USE_REMOTE_CERTS found the cacerts Secret
	// and wrote it to ROOT_CA_DIR.
	IstiodLogCACertsLoaded = "cacerts Secret found in config cluster"
	// IstiodLogTLSLayout: the files are in kubernetes.io/tls layout
	// (tls.crt, tls.key, ca.crt), as cert-manager writes them.
	IstiodLogTLSLayout = "Using kubernetes.io/tls secret type for signing ca files"
	// IstiodLogPluggedCA: istiod signs with the files, not a self-signed CA.
	IstiodLogPluggedCA = "Use local CA certificate"
	// IstiodLogSelfSignedCA: no usable cacerts, istiod made its own CA.
	IstiodLogSelfSignedCA = "Use self-signed certificate as the CA certificate"
)

// DefaultIstiodMeshConfig is the mesh config StartIstiod puts in the
// ConfigMap "istio" when there is none: the trust domain a default install
// has.
const DefaultIstiodMeshConfig = "trustDomain: cluster.local\n"

// istiodReadyTimeout bounds the wait for istiod's /ready; it reaches it in
// seconds, but a loaded 2-core machine is slower.
const istiodReadyTimeout = 2 * time.Minute

// IstiodConfig describes an istiod (Istio's pilot-discovery) to run outside
// the cluster against a control plane.
type IstiodConfig struct {
	// Name of its directory under the plane's (logs, ROOT_CA_DIR, working
	// directory) and the start of POD_NAME; empty means "istiod". Two
	// istiods on one plane need two names.
	Name string
	// Namespace istiod lives in (POD_NAMESPACE): where it reads cacerts
	// and the mesh config. Empty means IstioNamespace; it must exist.
	Namespace string
	// ClusterID (CLUSTER_ID); empty means "Kubernetes", Istio's default.
	ClusterID string
	// MeshConfig is the YAML StartIstiod writes to ConfigMap "istio" (key
	// mesh), replacing one that exists. Empty keeps an existing ConfigMap
	// and otherwise creates one with DefaultIstiodMeshConfig.
	MeshConfig string
	// CARootsPEM are the roots SignWorkloadCSR trusts for istiod's serving
	// certificate; empty means the root istiod publishes in ConfigMap
	// istio-ca-root-cert of its namespace.
	CARootsPEM []byte
	// Env are extra environment variables (KEY=value), after the ones
	// StartIstiod sets, so they override them.
	Env []string
	// Args are extra flags for `pilot-discovery discovery`.
	Args []string
	// MountCACerts has istiod read its CA from ROOT_CA_DIR kept in step
	// with Secret cacerts as kubelet keeps a secret volume (the keys as
	// links into a ..data directory swapped atomically on change), as
	// istiod in a cluster does, instead of fetching the Secret once at
	// start (USE_REMOTE_CERTS). istiod then reloads a changed cacerts by
	// its file watcher. The Secret must exist before StartIstiod.
	MountCACerts bool
}

// Istiod is a running pilot-discovery.
type Istiod struct {
	// Dir holds istiod.log, cacerts/ (ROOT_CA_DIR: what istiod read from
	// the cacerts Secret) and work/ (its working directory, against which
	// it resolves ./etc/... and ./var/... paths; left empty here).
	Dir string
	// Namespace, ClusterID and PodName are what istiod was started with.
	Namespace, ClusterID, PodName string
	// RootCADir is ROOT_CA_DIR.
	RootCADir string
	// HTTPURL serves /ready, /debug; MonitoringURL /metrics.
	HTTPURL, MonitoringURL string
	// GRPCAddr is plaintext xDS; SecureGRPCAddr serves xDS and the CA
	// (IstioCertificateService) over TLS; HTTPSAddr the webhooks.
	GRPCAddr, SecureGRPCAddr, HTTPSAddr string
	// ServerName is the name istiod's serving certificate has
	// (istiod.<namespace>.svc).
	ServerName string

	cp       *ControlPlane
	cfg      IstiodConfig
	proc     *process
	stopped  chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// StartIstiod runs pilot-discovery against the plane (admin kubeconfig) on
// free 127.0.0.1 ports and returns once its /ready answers 200. istiod
// reads the cacerts Secret of its namespace at start (USE_REMOTE_CERTS), so
// create it first; without it istiod makes a self-signed CA.
//
// ctx bounds istiod's life, not only its start: when ctx ends istiod is
// stopped, as it is by Stop. On error nothing is left running.
func (cp *ControlPlane) StartIstiod(ctx context.Context, cfg IstiodConfig) (*Istiod, error) {
	if cp.Tools.PilotDiscovery == "" {
		return nil, fmt.Errorf("no pilot-discovery binary: run `make tools` (%s)", ToolsPathEnv)
	}
	if cfg.Name == "" {
		cfg.Name = "istiod"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = IstioNamespace
	}
	if cfg.ClusterID == "" {
		cfg.ClusterID = "Kubernetes"
	}
	dir := filepath.Join(cp.Dir, cfg.Name)
	i := &Istiod{
		Dir:        dir,
		Namespace:  cfg.Namespace,
		ClusterID:  cfg.ClusterID,
		PodName:    cfg.Name + "-0",
		RootCADir:  filepath.Join(dir, "cacerts"),
		ServerName: "istiod." + cfg.Namespace + ".svc",
		cp:         cp,
		cfg:        cfg,
		stopped:    make(chan struct{}),
	}
	// Fresh directories: istiod must read cacerts from the Secret, not
	// find files an earlier start left.
	for _, d := range []string{i.RootCADir, filepath.Join(dir, "work")} {
		if err := os.RemoveAll(d); err != nil {
			return nil, fmt.Errorf("failed to clear %s: %w", d, err)
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("failed to create %s: %w", d, err)
		}
	}
	if err := ensureMeshConfig(ctx, cp.Client, cfg.Namespace, cfg.MeshConfig); err != nil {
		return nil, err
	}
	var mount *secretVolume
	if cfg.MountCACerts {
		mount = &secretVolume{client: cp.Client, key: client.ObjectKey{Namespace: cfg.Namespace, Name: CACertsSecret}, dir: i.RootCADir}
		if err := mount.sync(ctx); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		err := i.start(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || attempt == startAttempts {
			return nil, err
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = i.Stop()
		case <-i.stopped:
		}
	}()
	if mount != nil {
		go mount.follow(ctx, i.stopped)
	}
	return i, nil
}

// ensureMeshConfig writes the mesh config ConfigMap, or creates the default
// one if there is none.
func ensureMeshConfig(ctx context.Context, c client.Client, namespace, mesh string) error {
	configMap := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: IstioMeshConfigMap, Namespace: namespace},
		Data:       map[string]string{"mesh": mesh},
	}
	if mesh != "" {
		return replace(ctx, c, configMap)
	}
	configMap.Data["mesh"] = DefaultIstiodMeshConfig
	if err := c.Create(ctx, configMap); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to create ConfigMap %s/%s: %w", namespace, IstioMeshConfigMap, err)
	}
	return nil
}

// start runs the process on fresh ports and waits until it is ready.
func (i *Istiod) start(ctx context.Context) error {
	ports, err := freeLocalPorts(ctx, 5)
	if err != nil {
		return err
	}
	address := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	httpAddr, monitoringAddr := address(ports[0]), address(ports[1])
	i.GRPCAddr, i.SecureGRPCAddr, i.HTTPSAddr = address(ports[2]), address(ports[3]), address(ports[4])
	i.HTTPURL, i.MonitoringURL = "http://"+httpAddr, "http://"+monitoringAddr+"/metrics"
	args := append([]string{"discovery",
		"--kubeconfig=" + i.cp.KubeconfigPath,
		"--httpAddr=" + httpAddr,
		"--monitoringAddr=" + monitoringAddr,
		"--grpcAddr=" + i.GRPCAddr,
		"--secureGRPCAddr=" + i.SecureGRPCAddr,
		"--httpsAddr=" + i.HTTPSAddr,
		// ControlZ listens on localhost:9876 unless told: a free port on
		// 127.0.0.1 instead, so several istiods can run.
		"--ctrlz_address=127.0.0.1",
		"--ctrlz_port=0",
		// istiod drains for 10 s on SIGTERM by default; nothing connects
		// here that would need it.
		"--shutdownDuration=1s",
	}, i.cfg.Args...)
	env := append([]string{
		"POD_NAMESPACE=" + i.Namespace,
		"POD_NAME=" + i.PodName,
		"REVISION=default",
		"CLUSTER_ID=" + i.ClusterID,
		// Read the cacerts Secret through the API server (as an external
		// istiod does) instead of from a mounted volume...
		"USE_REMOTE_CERTS=" + strconv.FormatBool(!i.cfg.MountCACerts),
		// ...and write it here, not to ./etc/cacerts.
		"ROOT_CA_DIR=" + i.RootCADir,
		// Outside a pod: no in-cluster config, whatever the environment
		// of the test says.
		"KUBERNETES_SERVICE_HOST=",
		"KUBERNETES_SERVICE_PORT=",
	}, i.cfg.Env...)
	proc, err := startProcessIn(i.cfg.Name, i.cp.Tools.PilotDiscovery, args, env, filepath.Join(i.Dir, "work"), filepath.Join(i.Dir, "istiod.log"))
	if err != nil {
		return err
	}
	i.proc = proc
	waitCtx, cancel := context.WithTimeout(ctx, istiodReadyTimeout)
	defer cancel()
	err = poll(waitCtx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := proc.exitError(); err != nil {
			return false, err
		}
		return httpOK(ctx, i.HTTPURL+"/ready"), nil
	})
	if err != nil {
		stopErr := proc.stop()
		err = fmt.Errorf("failed waiting for istiod to be ready: %w\n%s", err, proc.logTail(40))
		if proc.logContains("address already in use") {
			err = errors.Join(errPortTaken, err)
		}
		return errors.Join(err, stopErr)
	}
	return nil
}

// Stop ends istiod (SIGTERM, SIGKILL after a grace period) and waits for
// it; it is safe to call more than once.
func (i *Istiod) Stop() error {
	i.stopOnce.Do(func() {
		close(i.stopped)
		i.stopErr = i.proc.stop()
	})
	return i.stopErr
}

// PID is istiod's process id.
func (i *Istiod) PID() int { return i.proc.pid() }

// LogTail returns the last lines of istiod's log.
func (i *Istiod) LogTail(lines int) string { return i.proc.logTail(lines) }

// LogContains reports whether istiod's log contains text, e.g.
// IstiodLogPluggedCA.
func (i *Istiod) LogContains(text string) bool { return i.proc.logContains(text) }

// RootCertPEM waits for the root istiod publishes in ConfigMap
// istio-ca-root-cert of its namespace and returns it.
func (i *Istiod) RootCertPEM(ctx context.Context) ([]byte, error) {
	var root []byte
	err := poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := i.proc.exitError(); err != nil {
			return false, err
		}
		configMap := &corev1.ConfigMap{}
		err := i.cp.Client.Get(ctx, client.ObjectKey{Namespace: i.Namespace, Name: IstioCARootConfigMap}, configMap)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("failed to get ConfigMap %s/%s: %w", i.Namespace, IstioCARootConfigMap, err)
		}
		root = []byte(configMap.Data[IstioCARootKey])
		return len(root) > 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed waiting for istiod to publish its root: %w", err)
	}
	return root, nil
}

// SignWorkloadCSR asks istiod's CA (IstioCertificateService/CreateCertificate
// on the secure gRPC port) to sign csrPEM for ttl, as a workload holding
// token (see IstioCAToken) would, and returns the PEM chain istiod answers:
// the leaf first, the root last. istiod's serving certificate is checked
// against IstiodConfig.CARootsPEM or, without them, the root istiod
// publishes.
func (i *Istiod) SignWorkloadCSR(ctx context.Context, token string, csrPEM []byte, ttl time.Duration) ([]string, error) {
	roots, err := i.servingRoots(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(i.SecureGRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		ServerName: i.ServerName,
		RootCAs:    roots,
		MinVersion: tls.VersionTLS12,
	})))
	if err != nil {
		return nil, fmt.Errorf("failed to create a client for istiod at %s: %w", i.SecureGRPCAddr, err)
	}
	defer func() { _ = conn.Close() }()
	// What istio-agent sends: the token, and the cluster it comes from.
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token, "ClusterID", i.ClusterID)
	response, err := securityv1alpha1.NewIstioCertificateServiceClient(conn).CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{
		Csr:              string(csrPEM),
		ValidityDuration: int64(ttl / time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("istiod did not sign the CSR: %w", err)
	}
	return response.GetCertChain(), nil
}

// IstioCAToken creates ServiceAccount namespace/name unless it exists and
// returns a token for it with audience istio-ca, valid for an hour: what
// `kubectl create token name --audience istio-ca` prints and what
// istio-agent sends istiod's CA.
func (cp *ControlPlane) IstioCAToken(ctx context.Context, namespace, name string) (string, error) {
	serviceAccount := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := cp.Client.Create(ctx, serviceAccount); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("failed to create ServiceAccount %s/%s: %w", namespace, name, err)
	}
	expiration := int64(time.Hour / time.Second)
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{IstioCATokenAudience},
		ExpirationSeconds: &expiration,
	}}
	if err := cp.Client.SubResource("token").Create(ctx, serviceAccount, request); err != nil {
		return "", fmt.Errorf("failed to request a token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	if request.Status.Token == "" {
		return "", fmt.Errorf("the API server returned no token for ServiceAccount %s/%s", namespace, name)
	}
	return request.Status.Token, nil
}
