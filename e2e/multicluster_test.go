package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/istiooperator"
)

// offlineCA is a CA made outside any cluster, as a mesh's root is.
type offlineCA struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
}

func newOfflineCA(t *testing.T, name string) offlineCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"meshcert e2e"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return offlineCA{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// meshCluster is one cluster of the mesh: its control plane with
// cert-manager and meshcert.
type meshCluster struct {
	name string
	cp   *framework.ControlPlane
	host string
}

// clusterManifests is what an operator applies in each cluster, as in
// docs/multicluster.md: the shared root imported as a CA ClusterIssuer (in
// real life an intermediate per cluster; here the root, as the issue asks),
// the other clusters' roots as a trust bundle (what trust-manager would
// write), the IstioOperator asking for istiod's CA and the peer roots, the
// gateway workload and a MUTUAL Gateway trusting the peer roots for clients.
func clusterManifests(name, host string, root offlineCA, peerRoots []byte) string {
	return meshRootManifests(root, peerRoots) + fmt.Sprintf(`---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: %[1]s
  namespace: istio-system
  annotations:
    cert-manager.io/cluster-issuer: mesh-root
    cert-manager.io/duration: 8760h
    meshcert.io/peer-roots: peer-roots
spec:
  meshConfig:
    trustDomain: cluster.local
  values:
    global:
      meshID: mesh1
      multiCluster: {clusterName: %[1]s}
      network: %[1]s-network
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/mesh-root}
---
apiVersion: v1
kind: Pod
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {istio: ingressgateway}
spec:
  containers: [{name: istio-proxy, image: docker.io/istio/proxyv2:1.28.0}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: partner
  namespace: team-a
  annotations:
    cert-manager.io/cluster-issuer: mesh-root
    meshcert.io/client-ca: peer-roots
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-mtls, protocol: HTTPS}
    hosts: [%[2]s]
    tls: {mode: MUTUAL}
`, name, host)
}

// ready waits for Certificate namespace/name to be Ready.
func ready(t *testing.T, c client.Client, namespace, name string) *cmapi.Certificate {
	t.Helper()
	return readyWithin(t, waitTimeout, c, namespace, name)
}

// readyWithin is ready with its own timeout.
func readyWithin(t *testing.T, timeout time.Duration, c client.Client, namespace, name string) *cmapi.Certificate {
	t.Helper()
	crt := &cmapi.Certificate{}
	eventuallyWithin(t, timeout, "Certificate "+namespace+"/"+name+" Ready", func(ctx context.Context) error {
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, crt); err != nil {
			return err
		}
		for _, cond := range crt.Status.Conditions {
			if cond.Type == cmapi.CertificateConditionReady && cond.Status == cmmeta.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", crt.Status.Conditions)
	})
	return crt
}

func parsePEMChain(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		out = append(out, cert)
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

// TestTwoClustersShareOneRoot is the two-cluster setup of
// docs/multicluster.md on the real stack: two control planes, each with
// cert-manager and meshcert, one root made offline and imported into both.
// In each, the annotated IstioOperator gets a Ready cacerts chaining to the
// shared root and the peer roots injected, and a Gateway gets its
// certificate. Then istiod (pilot-discovery) in cluster B signs a workload
// certificate with meshcert's cacerts, and that workload completes a
// mutual-TLS handshake with cluster A's gateway certificate, each side
// trusting exactly what meshcert computed.
func TestTwoClustersShareOneRoot(t *testing.T) {
	root := newOfflineCA(t, "mesh root")
	clusters := []*meshCluster{{name: "cluster-a", host: "partner.cluster-a.example.com"}, {name: "cluster-b", host: "partner.cluster-b.example.com"}}
	for _, mc := range clusters {
		mc.cp = framework.Start(t)
		startMeshcert(t, mc.cp, framework.MeshcertConfig{})
	}
	// Each trusts the other's root; with one shared root that is the root.
	for _, mc := range clusters {
		manifests := clusterManifests(mc.name, mc.host, root, root.certPEM)
		eventually(t, mc.name+" manifests applied", func(context.Context) error {
			if _, stderr, err := kubectlRun(t, mc.cp, manifests, "apply", "-f", "-"); err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			return nil
		})
	}

	cacerts := map[string][]*x509.Certificate{}
	for _, mc := range clusters {
		c := mc.cp.Client
		t.Run(mc.name+": the IstioOperator gets a Ready cacerts that chains to the shared root", func(t *testing.T) {
			crt := ready(t, c, framework.IstioNamespace, istiooperator.CACertsSecret)
			assert.True(t, crt.Spec.IsCA)
			assert.Equal(t, istiooperator.Key(framework.IstioNamespace, mc.name), crt.Annotations[istiooperator.AnnotationIstioOperator])
			secret := composedCACerts(t, c)
			for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
				assert.NotEmpty(t, secret.Data[key], "istiod reads %s from cacerts", key)
			}
			chain := parsePEMChain(t, secret.Data["tls.crt"])
			require.NotEmpty(t, chain)
			ca := chain[0]
			assert.True(t, ca.IsCA, "cacerts holds a CA")
			assert.NotZero(t, ca.KeyUsage&x509.KeyUsageCertSign)
			assert.Contains(t, ca.Subject.CommonName, mc.name, "the subject names the cluster")
			_, err := ca.Verify(x509.VerifyOptions{Roots: poolOf(root.cert), Intermediates: poolOf(chain[1:]...), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			require.NoError(t, err, "cacerts chains to the shared root")
			_, err = ca.Verify(x509.VerifyOptions{Roots: poolOf(newOfflineCA(t, "stranger").cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			require.Error(t, err, "and not to any other root")
			assert.Equal(t, root.certPEM, secret.Data["ca.crt"], "ca.crt is the shared root")
			cacerts[mc.name] = chain
		})
		t.Run(mc.name+": the peer roots are injected into the stored IstioOperator", func(t *testing.T) {
			io := &unstructured.Unstructured{}
			io.SetGroupVersionKind(istiooperator.GVK)
			require.NoError(t, c.Get(t.Context(), types.NamespacedName{Namespace: framework.IstioNamespace, Name: mc.name}, io))
			assert.Equal(t, []string{string(root.certPEM)}, injectedRoots(t, io))
			env, _, _ := unstructured.NestedString(io.Object, "spec", "values", "pilot", "env", "ISTIO_MULTIROOT_MESH")
			assert.Equal(t, "true", env)
			// Applying it again changes nothing.
			out, stderr, err := kubectlRun(t, mc.cp, clusterManifests(mc.name, mc.host, root, root.certPEM), "apply", "-f", "-")
			require.NoError(t, err, stderr)
			assert.Contains(t, out, "istiooperator.install.istio.io/"+mc.name+" unchanged")
		})
		t.Run(mc.name+": the Gateway gets its certificate and the peer roots as its client CA", func(t *testing.T) {
			gw := gatewayObject("team-a", "partner")
			require.NoError(t, c.Get(t.Context(), client.ObjectKeyFromObject(gw), gw))
			credential := certs.CredentialName("team-a", "partner", "https-mtls")
			tlsSettings := gw.Object["spec"].(map[string]any)["servers"].([]any)[0].(map[string]any)["tls"].(map[string]any)
			assert.Equal(t, credential, tlsSettings["credentialName"])
			assert.Equal(t, "configmap://istio-system/peer-roots", tlsSettings["caCertCredentialName"])
			crt := ready(t, c, framework.IstioNamespace, credential)
			assert.Equal(t, []string{mc.host}, crt.Spec.DNSNames)
		})
	}
	if t.Failed() {
		return
	}

	a, b := clusters[0], clusters[1]
	// istiod in cluster B signs with meshcert's cacerts.
	istiod := startIstiod(t, b.cp, framework.IstiodConfig{ClusterID: b.name})
	assert.True(t, istiod.LogContains(framework.IstiodLogPluggedCA), "istiod uses the plugged-in CA from cacerts, not a self-signed one")
	workloadKey, leaf, chain := requireWorkloadKeyAndCertificate(t, b.cp, istiod, "payments", "client")
	require.Equal(t, cacerts[b.name][0].Raw, chain[1].Raw, "istiod signed with the intermediate meshcert's Certificate put in cacerts")
	require.Equal(t, root.cert.Raw, chain[len(chain)-1].Raw, "and serves the shared root")

	// The trust meshcert computed, read back from what it wrote: cluster A's
	// gateway verifies clients with the ConfigMap its caCertCredentialName
	// names (Istio's key order: cacert, then ca.crt); cluster B's workloads
	// verify servers with the caCertificates injected into B's IstioOperator.
	clientCAs := clientCAOf(t, a.cp)
	serverRoots := x509.NewCertPool()
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(istiooperator.GVK)
	require.NoError(t, b.cp.Client.Get(t.Context(), types.NamespacedName{Namespace: framework.IstioNamespace, Name: b.name}, stored))
	for _, p := range injectedRoots(t, stored) {
		require.True(t, serverRoots.AppendCertsFromPEM([]byte(p)))
	}

	gatewaySecret := &corev1.Secret{}
	credential := certs.CredentialName("team-a", "partner", "https-mtls")
	require.NoError(t, a.cp.Client.Get(t.Context(), types.NamespacedName{Namespace: framework.IstioNamespace, Name: credential}, gatewaySecret))
	serverPair, err := tls.X509KeyPair(gatewaySecret.Data["tls.crt"], gatewaySecret.Data["tls.key"])
	require.NoError(t, err)
	clientPair := tls.Certificate{PrivateKey: workloadKey, Leaf: leaf}
	for _, c := range chain[:len(chain)-1] {
		clientPair.Certificate = append(clientPair.Certificate, c.Raw)
	}

	t.Run("cluster B's workload and cluster A's gateway complete a mutual-TLS handshake", func(t *testing.T) {
		require.NoError(t, mutualTLS(t, serverPair, clientCAs, clientPair, serverRoots, a.host))
	})
	stranger := newOfflineCA(t, "mesh root")
	t.Run("a client trusting a root meshcert did not inject refuses cluster A's gateway", func(t *testing.T) {
		err := mutualTLS(t, serverPair, clientCAs, clientPair, poolOf(stranger.cert), a.host)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "certificate signed by unknown authority")
	})
	t.Run("a gateway trusting a root meshcert did not inject refuses cluster B's workload", func(t *testing.T) {
		err := mutualTLS(t, serverPair, poolOf(stranger.cert), clientPair, serverRoots, a.host)
		require.Error(t, err)
	})
}

// clientCAOf reads the client CA pool cluster's partner Gateway verifies
// clients with: the ConfigMap meshcert put in its caCertCredentialName.
func clientCAOf(t *testing.T, cp *framework.ControlPlane) *x509.CertPool {
	t.Helper()
	gw := gatewayObject("team-a", "partner")
	require.NoError(t, cp.Client.Get(t.Context(), client.ObjectKeyFromObject(gw), gw))
	ref, _, _ := unstructured.NestedString(gw.Object["spec"].(map[string]any)["servers"].([]any)[0].(map[string]any), "tls", "caCertCredentialName")
	nsName, ok := strings.CutPrefix(ref, "configmap://")
	require.True(t, ok, "caCertCredentialName %q names a ConfigMap", ref)
	namespace, name, ok := strings.Cut(nsName, "/")
	require.True(t, ok)
	cm := &corev1.ConfigMap{}
	require.NoError(t, cp.Client.Get(t.Context(), types.NamespacedName{Namespace: namespace, Name: name}, cm))
	data := cm.Data["cacert"]
	if data == "" {
		data = cm.Data["ca.crt"]
	}
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(data)), "the client CA ConfigMap holds PEM")
	return pool
}

// mutualTLS runs one TLS 1.3 handshake on 127.0.0.1 between a server that
// requires and verifies a client certificate against clientCAs and a client
// that verifies the server against roots for serverName. It returns the
// first error either side saw.
func mutualTLS(t *testing.T, server tls.Certificate, clientCAs *x509.CertPool, clientCert tls.Certificate, roots *x509.CertPool, serverName string) error {
	t.Helper()
	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS12,
	})
	require.NoError(t, err)
	defer func() { _ = listener.Close() }()
	serverErr := make(chan error, 1)
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer func() { _ = conn.Close() }()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		serverErr <- conn.(*tls.Conn).Handshake()
	}()
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{
		ServerName: serverName,
		RootCAs:    roots,
		// Sent whatever CAs the server names, as Envoy does: the server's
		// verification is the verdict.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &clientCert, nil },
		MinVersion:           tls.VersionTLS12,
	}}
	conn, clientErr := dialer.DialContext(t.Context(), "tcp", listener.Addr().String())
	if clientErr == nil {
		// In TLS 1.3 the client finishes before the server has judged its
		// certificate: the server's own handshake result is that verdict.
		defer func() { _ = conn.Close() }()
	} else {
		_ = listener.Close()
	}
	if err := <-serverErr; err != nil && clientErr == nil {
		return fmt.Errorf("server: %w", err)
	}
	if clientErr != nil {
		return fmt.Errorf("client: %w", clientErr)
	}
	return nil
}

// injectedRoots returns the pem entries of spec.meshConfig.caCertificates.
func injectedRoots(t *testing.T, io *unstructured.Unstructured) []string {
	t.Helper()
	entries, _, err := unstructured.NestedSlice(io.Object, "spec", "meshConfig", "caCertificates")
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if p, ok := e.(map[string]any)["pem"].(string); ok {
			out = append(out, p)
		}
	}
	return out
}
