package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/controller"
	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/meshca"
)

// Workload certificates live rotationWorkloadTTL (istio-agent renews at
// half of it); istiod refuses longer than rotationMaxTTL, which is what
// meshcert drains the old root for. Short, so the rotation's waits are
// short; no step is skipped.
const (
	rotationWorkloadTTL = 10 * time.Second
	rotationMaxTTL      = "12s"
)

// rotationCluster is one cluster of the mesh: a plane with cert-manager,
// meshcert and istiod (reading cacerts as a mounted volume), and a
// workload stand-in.
type rotationCluster struct {
	name     string
	cp       *framework.ControlPlane
	meshcert *framework.Meshcert
	istiod   *framework.Istiod
	workload *meshWorkload
}

// rotationIssuer imports a root made offline as ClusterIssuer name.
func rotationIssuer(name string, root offlineCA) string {
	indent := func(b []byte) string { return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n    ") }
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %[1]s, namespace: %[2]s}
type: kubernetes.io/tls
stringData:
  tls.crt: |
    %[3]s
  tls.key: |
    %[4]s
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: %[1]s}
spec:
  ca: {secretName: %[1]s}
`, name, framework.CertManagerNamespace, indent(root.certPEM), indent(root.keyPEM))
}

// rotationOperator is the cluster's IstioOperator: istiod's CA from issuer,
// multi-root trust on (istiod accepts a changed root file only with it),
// workload certificates bounded by rotationMaxTTL, and the propagation of
// what istiod publishes as this stack has it.
func rotationOperator(cluster, issuer string) string {
	return fmt.Sprintf(`apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: %[1]s
  namespace: istio-system
  annotations:
    cert-manager.io/cluster-issuer: %[2]s
    cert-manager.io/duration: 8760h
    # No kubelet here: istiod's mount follows the Secret within 200 ms and
    # the workloads read istio-ca-root-cert live.
    meshcert.io/root-rotation-propagation: 1s
spec:
  meshConfig:
    trustDomain: cluster.local
  values:
    global:
      meshID: mesh1
      multiCluster: {clusterName: %[1]s}
      network: %[1]s-network
    pilot:
      env:
        ISTIO_MULTIROOT_MESH: "true"
        MAX_WORKLOAD_CERT_TTL: %[3]s
`, cluster, issuer, rotationMaxTTL)
}

func applyManifest(t *testing.T, cp *framework.ControlPlane, what, manifest string) {
	t.Helper()
	eventually(t, what, func(context.Context) error {
		if _, stderr, err := kubectlRun(t, cp, manifest, "apply", "-f", "-"); err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		return nil
	})
}

// cacertsRoots reads the roots of istiod's cacerts and its rotation step.
func cacertsRoots(ctx context.Context, cp *framework.ControlPlane) ([]byte, string, error) {
	secret := &corev1.Secret{}
	if err := cp.Client.Get(ctx, types.NamespacedName{Namespace: framework.IstioNamespace, Name: meshca.CACertsSecret}, secret); err != nil {
		return nil, "", err
	}
	return secret.Data["ca.crt"], secret.Annotations[meshca.AnnotationPhase], nil
}

// composedCACerts waits for the Secret cacerts meshcert composes and
// returns it.
func composedCACerts(t *testing.T, c client.Client) *corev1.Secret {
	t.Helper()
	secret := &corev1.Secret{}
	eventually(t, "Secret cacerts composed by meshcert", func(ctx context.Context) error {
		return c.Get(ctx, types.NamespacedName{Namespace: framework.IstioNamespace, Name: meshca.CACertsSecret}, secret)
	})
	return secret
}

// istiodRoots reads the root file istiod publishes.
func istiodRoots(ctx context.Context, cp *framework.ControlPlane) ([]byte, error) {
	cm := &corev1.ConfigMap{}
	if err := cp.Client.Get(ctx, types.NamespacedName{Namespace: framework.IstioNamespace, Name: meshca.IstioRootConfigMap}, cm); err != nil {
		return nil, err
	}
	return []byte(cm.Data[meshca.IstioRootKey]), nil
}

// syncPublishedRoots copies each cluster's published mesh CA ConfigMap
// into the others, as GitOps or a script would, until ctx ends or stop is
// closed.
func syncPublishedRoots(ctx context.Context, clusters []*rotationCluster, stop <-chan struct{}) {
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for {
		for _, from := range clusters {
			cm := &corev1.ConfigMap{}
			name := controller.PublishedConfigMapName(from.name)
			if err := from.cp.Client.Get(ctx, types.NamespacedName{Namespace: framework.IstioNamespace, Name: name}, cm); err != nil {
				continue
			}
			for _, to := range clusters {
				if to != from {
					_ = copyConfigMap(ctx, to.cp.Client, cm)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-ticker.C:
		}
	}
}

// copyConfigMap creates or updates a copy of cm: name, labels, data.
func copyConfigMap(ctx context.Context, c client.Client, cm *corev1.ConfigMap) error {
	existing := &corev1.ConfigMap{}
	err := c.Get(ctx, client.ObjectKeyFromObject(cm), existing)
	if apierrors.IsNotFound(err) {
		return c.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: cm.Namespace, Name: cm.Name, Labels: cm.Labels, Annotations: cm.Annotations},
			Data:       cm.Data,
		})
	}
	if err != nil {
		return err
	}
	if fmt.Sprint(existing.Data) == fmt.Sprint(cm.Data) {
		return nil
	}
	existing.Data = cm.Data
	return c.Update(ctx, existing)
}

// meshWorkload stands in for istio-agent of one workload: it holds a
// certificate from its istiod (renewed at half its life, and at once when
// its trust changes, as istio-agent does) and the trust istio-agent gives
// Envoy: the roots ending the CA's answer, and the trust bundle istiod
// pushes over PCDS.
type meshWorkload struct {
	cp     *framework.ControlPlane
	istiod *framework.Istiod
	id     string
	token  string
	proxy  *framework.XDSClient

	mu          sync.Mutex
	certificate tls.Certificate
	caRoots     []*x509.Certificate
	bundle      []*x509.Certificate
	bundleRaw   string
	renewAt     time.Time
}

func newMeshWorkload(t *testing.T, cp *framework.ControlPlane, istiod *framework.Istiod, namespace, account string) *meshWorkload {
	t.Helper()
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := cp.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	token, err := cp.IstioCAToken(ctx, namespace, account)
	require.NoError(t, err)
	w := &meshWorkload{cp: cp, istiod: istiod, id: spiffeID(namespace, account), token: token}
	proxy, err := istiod.ConnectProxy(ctx, framework.ProxyIdentity{
		Type: "sidecar", Namespace: namespace, ServiceAccount: account, PodName: account + "-0", IP: "10.244.1.10", Token: token,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	w.proxy = proxy
	require.NoError(t, proxy.Subscribe(framework.ProxyConfigType))
	require.NoError(t, w.refresh(ctx, true))
	return w
}

// refresh reads the latest trust bundle and renews the certificate when it
// is due or the bundle changed.
func (w *meshWorkload) refresh(ctx context.Context, force bool) error {
	bundle, raw, err := w.pushedBundle()
	if err != nil {
		return err
	}
	w.mu.Lock()
	due := force || time.Now().After(w.renewAt) || raw != w.bundleRaw
	w.bundle, w.bundleRaw = bundle, raw
	w.mu.Unlock()
	if !due {
		return nil
	}
	key, csr, err := workloadCSR(w.id)
	if err != nil {
		return err
	}
	chainPEM, err := w.istiod.SignWorkloadCSR(ctx, w.token, csr, rotationWorkloadTTL)
	if err != nil {
		return err
	}
	certificate := tls.Certificate{PrivateKey: key}
	var chain []*x509.Certificate
	for _, p := range chainPEM {
		chain = append(chain, certsOf([]byte(p))...)
	}
	if len(chain) < 2 {
		return fmt.Errorf("istiod answered a chain of %d certificates", len(chain))
	}
	// The last element is istiod's whole root file.
	roots := certsOf([]byte(chainPEM[len(chainPEM)-1]))
	for _, c := range chain[:len(chain)-len(roots)] {
		certificate.Certificate = append(certificate.Certificate, c.Raw)
	}
	certificate.Leaf = chain[0]
	w.mu.Lock()
	w.certificate, w.caRoots = certificate, roots
	w.renewAt = time.Now().Add(rotationWorkloadTTL / 2)
	w.mu.Unlock()
	return nil
}

// pushedBundle is the trust bundle istiod last pushed over PCDS.
func (w *meshWorkload) pushedBundle() ([]*x509.Certificate, string, error) {
	resource, ok := w.proxy.Resources(framework.ProxyConfigType)[""]
	if !ok {
		return nil, "", nil
	}
	pc := &meshv1alpha1.ProxyConfig{}
	if err := resource.UnmarshalTo(pc); err != nil {
		return nil, "", fmt.Errorf("failed to decode istiod's ProxyConfig: %w", err)
	}
	var out []*x509.Certificate
	for _, p := range pc.GetCaCertificatesPem() {
		out = append(out, certsOf([]byte(p))...)
	}
	return out, strings.Join(pc.GetCaCertificatesPem(), ""), nil
}

// trust is the pool istio-agent hands Envoy: the CA's roots and the bundle.
func (w *meshWorkload) trust() (tls.Certificate, *x509.CertPool, []*x509.Certificate) {
	w.mu.Lock()
	defer w.mu.Unlock()
	pool := x509.NewCertPool()
	var all []*x509.Certificate
	for _, c := range append(append([]*x509.Certificate{}, w.caRoots...), w.bundle...) {
		pool.AddCert(c)
		all = append(all, c)
	}
	return w.certificate, pool, all
}

func certsOf(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

func commonNames(certificates []*x509.Certificate) []string {
	out := make([]string, 0, len(certificates))
	for _, c := range certificates {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

// rotationEvents are the notes of meshcert's RootRotation Events on the
// cluster's IstioOperator, oldest first.
func rotationEvents(t *testing.T, cp *framework.ControlPlane, name string) []string {
	t.Helper()
	events, err := eventsv1client.NewForConfig(cp.RESTConfig)
	require.NoError(t, err)
	list, err := events.Events(framework.IstioNamespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	slices.SortFunc(list.Items, func(a, b eventsv1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
	var out, others []string
	for _, e := range list.Items {
		if (e.Reason == controller.ReasonRootRotation || e.Reason == controller.ReasonRootRotationWaiting) && e.Regarding.Name == name {
			out = append(out, e.EventTime.Format("15:04:05.000")+" "+e.Note)
			continue
		}
		others = append(others, e.Reason+" on "+e.Regarding.Kind+" "+e.Regarding.Name)
	}
	if len(out) == 0 {
		t.Logf("no rotation Events on %s among %d: %v", name, len(list.Items), others)
	}
	return out
}

// handshake is one mutual-TLS handshake between two workloads: what
// failed, and the roots each side's chain verified to.
type handshake struct {
	at                     time.Time
	err                    error
	clientRoot, serverRoot string
}

// mtls runs one TLS 1.3 handshake on 127.0.0.1, client and server each
// presenting its workload certificate and verifying the other's chain with
// its own trust, as Envoy between sidecars does (the SPIFFE name aside).
func mtls(ctx context.Context, client, server *meshWorkload) handshake {
	h := handshake{at: time.Now()}
	serverCert, serverTrust, _ := server.trust()
	clientCert, clientTrust, _ := client.trust()
	verify := func(trust *x509.CertPool, root *string) func([][]byte, [][]*x509.Certificate) error {
		return func(raw [][]byte, _ [][]*x509.Certificate) error {
			var chain []*x509.Certificate
			for _, r := range raw {
				c, err := x509.ParseCertificate(r)
				if err != nil {
					return err
				}
				chain = append(chain, c)
			}
			if len(chain) == 0 {
				return errors.New("no certificate")
			}
			intermediates := x509.NewCertPool()
			for _, c := range chain[1:] {
				intermediates.AddCert(c)
			}
			verified, err := chain[0].Verify(x509.VerifyOptions{Roots: trust, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if err != nil {
				return err
			}
			*root = verified[0][len(verified[0])-1].Subject.CommonName
			return nil
		}
	}
	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAnyClientCert,
		VerifyPeerCertificate: verify(serverTrust, &h.clientRoot), MinVersion: tls.VersionTLS13,
	})
	if err != nil {
		h.err = err
		return h
	}
	defer func() { _ = listener.Close() }()
	serverErr := make(chan error, 1)
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer func() { _ = conn.Close() }()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		serverErr <- conn.(*tls.Conn).HandshakeContext(ctx)
	}()
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{
		InsecureSkipVerify:    true, // verified below with the workload's own trust, as Envoy does
		VerifyPeerCertificate: verify(clientTrust, &h.serverRoot),
		GetClientCertificate:  func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &clientCert, nil },
		MinVersion:            tls.VersionTLS13,
	}}
	conn, clientErr := dialer.DialContext(ctx, "tcp", listener.Addr().String())
	if clientErr == nil {
		// The server's verdict on the client's certificate comes after the
		// client finished; a byte read waits for it.
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = conn.Write([]byte{0})
		_ = conn.Close()
	} else {
		_ = listener.Close()
	}
	if err := <-serverErr; err != nil && clientErr == nil {
		h.err = fmt.Errorf("server: %w", err)
	}
	if clientErr != nil {
		h.err = fmt.Errorf("client: %w", clientErr)
	}
	return h
}

// handshakeLoop runs cross-cluster handshakes both ways until stop, the
// workloads refreshing their certificates and trust between rounds.
func handshakeLoop(ctx context.Context, a, b *meshWorkload, stop <-chan struct{}, record func(handshake)) {
	for {
		for _, w := range []*meshWorkload{a, b} {
			if err := w.refresh(ctx, false); err != nil {
				record(handshake{at: time.Now(), err: fmt.Errorf("refresh: %w", err)})
			}
		}
		record(mtls(ctx, a, b))
		record(mtls(ctx, b, a))
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestRootRotationWithoutFailedHandshakes rotates a two-cluster mesh from
// one root to another while workloads of each cluster, with certificates
// their istiod signs and the trust it hands out, handshake across the
// clusters without pause. The operator imports the new root as an issuer
// and points each cluster's IstioOperator at it; meshcert does the rest:
// it trusts the new root everywhere first, switches each istiod once every
// peer trusts it, waits out the certificates signed before, and drops the
// old root. No handshake fails; at the end every handshake chains to the
// new root and the old root is in no bundle. Then a second rotation is
// broken on purpose: cluster A is told, falsely, that cluster B trusts the
// next root, and switches before it does; handshakes fail, so the test
// can.
func TestRootRotationWithoutFailedHandshakes(t *testing.T) {
	ctx := t.Context()
	oldRoot, newRoot := newOfflineCA(t, "mesh root 1"), newOfflineCA(t, "mesh root 2")
	clusters := []*rotationCluster{{name: "cluster-a"}, {name: "cluster-b"}}
	for _, c := range clusters {
		c.cp = framework.Start(t)
		c.meshcert = startMeshcert(t, c.cp, framework.MeshcertConfig{})
		applyManifest(t, c.cp, c.name+" issuer and IstioOperator", rotationIssuer("mesh-root-1", oldRoot)+"---\n"+rotationOperator(c.name, "mesh-root-1"))
	}
	stopSync := make(chan struct{})
	syncDone := make(chan struct{})
	go func() { defer close(syncDone); syncPublishedRoots(ctx, clusters, stopSync) }()
	defer func() {
		select {
		case <-stopSync:
		default:
			close(stopSync)
		}
		<-syncDone
	}()
	for _, c := range clusters {
		eventually(t, c.name+": cacerts composed with the first root", func(ctx context.Context) error {
			roots, _, err := cacertsRoots(ctx, c.cp)
			if err != nil {
				return err
			}
			if !bytes.Equal(roots, oldRoot.certPEM) {
				return fmt.Errorf("ca.crt holds %d certificates", len(certsOf(roots)))
			}
			return nil
		})
		c.istiod = startIstiod(t, c.cp, framework.IstiodConfig{
			ClusterID: c.name, MountCACerts: true,
			Env: []string{"ISTIO_MULTIROOT_MESH=true", "MAX_WORKLOAD_CERT_TTL=" + rotationMaxTTL},
		})
		require.True(t, c.istiod.LogContains(framework.IstiodLogPluggedCA), "istiod signs with the mounted cacerts")
		c.workload = newMeshWorkload(t, c.cp, c.istiod, "payments", "workload")
	}
	a, b := clusters[0], clusters[1]
	// A cluster knows a peer once the peer's published roots are copied
	// into it; one that has heard of none has nobody to wait for. Each must
	// know the other, on the first root, before the rotation starts.
	for _, c := range clusters {
		for _, peer := range clusters {
			if peer == c {
				continue
			}
			eventually(t, c.name+" knows that "+peer.name+" is on the first root", func(ctx context.Context) error {
				cm := &corev1.ConfigMap{}
				if err := c.cp.Client.Get(ctx, types.NamespacedName{Namespace: framework.IstioNamespace, Name: controller.PublishedConfigMapName(peer.name)}, cm); err != nil {
					return err
				}
				if cm.Data[meshca.PublishedRootsKey] != string(oldRoot.certPEM) {
					return fmt.Errorf("%s's copy of %s's published roots holds %d certificates", c.name, peer.name, len(certsOf([]byte(cm.Data[meshca.PublishedRootsKey]))))
				}
				return nil
			})
		}
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, c := range clusters {
			roots, phase, err := cacertsRoots(context.Background(), c.cp)
			loaded, _ := istiodRoots(context.Background(), c.cp)
			t.Logf("%s: cacerts step %q with %d roots (%v), istiod publishes %d roots; events:\n%s", c.name, phase, len(certsOf(roots)), err, len(certsOf(loaded)), strings.Join(rotationEvents(t, c.cp, c.name), "\n"))
		}
	})

	var mu sync.Mutex
	var rounds []handshake
	record := func(h handshake) { mu.Lock(); rounds = append(rounds, h); mu.Unlock() }
	stopLoop := make(chan struct{})
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); handshakeLoop(ctx, a.workload, b.workload, stopLoop, record) }()
	stop := func() {
		select {
		case <-stopLoop:
		default:
			close(stopLoop)
		}
		<-loopDone
	}
	defer stop()

	// The operator's part: the new root as an issuer, and the switch of the
	// mesh-CA configuration; cluster A first.
	began := time.Now()
	// The steps as meshcert's metric shows them, sampled.
	phasesSeen := map[string][]string{}
	stopSampling, samplingDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(samplingDone)
		for {
			for _, c := range clusters {
				metrics, err := c.meshcert.Metrics(ctx)
				if err != nil {
					continue
				}
				for _, phase := range []string{"steady", "trusting", "switching"} {
					seen := phasesSeen[c.name]
					if framework.MetricValue(metrics, "meshcert_root_rotation_phase", `name="`+c.name+`"`, `phase="`+phase+`"`) == 1 && (len(seen) == 0 || seen[len(seen)-1] != phase) {
						phasesSeen[c.name] = append(seen, phase)
					}
				}
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	applyManifest(t, a.cp, a.name+" new issuer", rotationIssuer("mesh-root-2", newRoot)+"---\n"+rotationOperator(a.name, "mesh-root-2"))
	t.Run("cluster A trusts the new root and waits for cluster B to trust it before it switches", func(t *testing.T) {
		eventually(t, "cluster A waiting for cluster B", func(ctx context.Context) error {
			cm := &corev1.ConfigMap{}
			if err := a.cp.Client.Get(ctx, types.NamespacedName{Namespace: framework.IstioNamespace, Name: controller.PublishedConfigMapName(a.name)}, cm); err != nil {
				return err
			}
			if !strings.Contains(cm.Data[meshca.PublishedWaitingKey], "peer clusters cluster-b to trust the new root") {
				return fmt.Errorf("step %q, waiting for %q", cm.Data[meshca.PublishedStepKey], cm.Data[meshca.PublishedWaitingKey])
			}
			return nil
		})
		roots, phase, err := cacertsRoots(ctx, a.cp)
		require.NoError(t, err)
		assert.Equal(t, "trusting", phase)
		assert.Equal(t, []string{"mesh root 1", "mesh root 2"}, commonNames(certsOf(roots)), "the signing root first")
		loaded, err := istiodRoots(ctx, a.cp)
		require.NoError(t, err)
		assert.Equal(t, roots, loaded, "istiod took both roots")
	})
	applyManifest(t, b.cp, b.name+" new issuer", rotationIssuer("mesh-root-2", newRoot)+"---\n"+rotationOperator(b.name, "mesh-root-2"))
	eventuallyWithin(t, 3*time.Minute, "both clusters rotated to the new root", func(ctx context.Context) error {
		for _, c := range clusters {
			roots, phase, err := cacertsRoots(ctx, c.cp)
			if err != nil {
				return err
			}
			loaded, err := istiodRoots(ctx, c.cp)
			if err != nil {
				return err
			}
			if phase != "" || !bytes.Equal(roots, newRoot.certPEM) || !bytes.Equal(loaded, newRoot.certPEM) {
				return fmt.Errorf("%s: step %q, cacerts %d roots, istiod %d roots", c.name, phase, len(certsOf(roots)), len(certsOf(loaded)))
			}
		}
		return nil
	})
	ended := time.Now()
	close(stopSampling)
	<-samplingDone
	t.Logf("rotation took %s; steps seen: %v", ended.Sub(began).Round(time.Second), phasesSeen)
	// Every workload certificate from before has expired by now; keep
	// handshaking for a renewal round more.
	time.Sleep(rotationWorkloadTTL)
	stop()

	mu.Lock()
	all := append([]handshake{}, rounds...)
	mu.Unlock()
	t.Run("no cross-cluster handshake failed during the rotation", func(t *testing.T) {
		var failed []string
		for _, h := range all {
			if h.err != nil {
				failed = append(failed, h.at.Format("15:04:05.000")+" "+h.err.Error())
			}
		}
		assert.Empty(t, failed)
		assert.Greater(t, len(all), 100, "handshakes ran throughout")
		t.Logf("%d handshakes, %d failed", len(all), len(failed))
	})
	t.Run("each cluster went through every step, shown by its metric and its Events", func(t *testing.T) {
		for _, c := range clusters {
			// Cluster B already trusts the new root when it starts (cluster A
			// published it): its trusting step is too short to sample.
			want := []string{"steady", "trusting", "switching", "steady"}
			if c == b {
				want = slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == "trusting" && !slices.Contains(phasesSeen[c.name], s) })
			}
			assert.Equal(t, want, phasesSeen[c.name], c.name)
			notes := rotationEvents(t, c.cp, c.name)
			require.NotEmpty(t, notes, c.name)
			joined := strings.Join(notes, "\n")
			trusting := strings.Index(joined, "trusting the new root beside the old one")
			switching := strings.Index(joined, "istiod signing with the new intermediate")
			assert.True(t, trusting >= 0 && switching > trusting, "%s: Events in order:\n%s", c.name, joined)
			if c == a {
				assert.Contains(t, joined, "waiting for peer clusters cluster-b to trust the new root", "cluster A waited for cluster B")
			}
		}
	})
	t.Run("after the last step every handshake chains to the new root", func(t *testing.T) {
		after := 0
		for _, h := range all {
			if h.at.After(ended.Add(rotationWorkloadTTL/2)) && h.err == nil {
				after++
				assert.Equal(t, "mesh root 2", h.clientRoot)
				assert.Equal(t, "mesh root 2", h.serverRoot)
			}
		}
		assert.Positive(t, after)
	})
	t.Run("the old root is gone from every bundle", func(t *testing.T) {
		for _, c := range clusters {
			roots, _, err := cacertsRoots(ctx, c.cp)
			require.NoError(t, err)
			assert.Equal(t, newRoot.certPEM, roots, "%s cacerts", c.name)
			loaded, err := istiodRoots(ctx, c.cp)
			require.NoError(t, err)
			assert.Equal(t, newRoot.certPEM, loaded, "%s istio-ca-root-cert", c.name)
			_, _, trust := c.workload.trust()
			for _, root := range trust {
				assert.Equal(t, "mesh root 2", root.Subject.CommonName, "%s: what istiod hands workloads", c.name)
			}
			for _, peer := range clusters {
				cm := &corev1.ConfigMap{}
				require.NoError(t, c.cp.Client.Get(ctx, types.NamespacedName{Namespace: framework.IstioNamespace, Name: controller.PublishedConfigMapName(peer.name)}, cm))
				assert.Equal(t, string(newRoot.certPEM), cm.Data[meshca.PublishedRootsKey], "%s: published roots of %s", c.name, peer.name)
			}
		}
	})
	if t.Failed() {
		return
	}

	// Broken on purpose: cluster A is told cluster B trusts a third root it
	// has never seen, and the copies between the clusters stop.
	close(stopSync)
	<-syncDone
	thirdRoot := newOfflineCA(t, "mesh root 3")
	forged := &corev1.ConfigMap{}
	require.NoError(t, a.cp.Client.Get(ctx, types.NamespacedName{Namespace: framework.IstioNamespace, Name: controller.PublishedConfigMapName(b.name)}, forged))
	forged.Data[meshca.PublishedTrustedKey] = string(newRoot.certPEM) + string(thirdRoot.certPEM)
	require.NoError(t, a.cp.Client.Update(ctx, forged))
	rounds = nil
	stopLoop, loopDone = make(chan struct{}), make(chan struct{})
	go func() { defer close(loopDone); handshakeLoop(ctx, a.workload, b.workload, stopLoop, record) }()
	applyManifest(t, a.cp, "cluster-a third issuer", rotationIssuer("mesh-root-3", thirdRoot)+"---\n"+rotationOperator(a.name, "mesh-root-3"))
	t.Run("switching before the peer trusts the new root makes handshakes fail", func(t *testing.T) {
		eventuallyWithin(t, time.Minute, "a failed handshake", func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			for _, h := range rounds {
				if h.err != nil {
					t.Logf("as expected: %v", h.err)
					return nil
				}
			}
			return fmt.Errorf("%d handshakes, none failed", len(rounds))
		})
	})
	stop()
}
