package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/controller"
	"github.com/meshcert/meshcert/e2e/framework"
)

// repoRoot is the product repository, for examples/ and testdata/.
const repoRoot = ".."

// kubectlRun runs the real kubectl against the plane; stdin may be empty.
func kubectlRun(t *testing.T, cp *framework.ControlPlane, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := cp.Kubectl(t.Context(), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func gatewayObject(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("networking.istio.io/v1")
	u.SetKind("Gateway")
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// getCertificate reads a Certificate from istio-system.
func getCertificate(ctx context.Context, c client.Client, name string) (*cmapi.Certificate, error) {
	crt := &cmapi.Certificate{}
	err := c.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: name}, crt)
	return crt, err
}

// waitManagedCertificateReady waits for a Certificate in istio-system, where
// the test Gateways' workload runs.
func waitManagedCertificateReady(t *testing.T, c client.Client, name string) *cmapi.Certificate {
	t.Helper()
	return ready(t, c, "istio-system", name)
}

// verifyTLS serves the Secret's certificate on 127.0.0.1 and handshakes as a
// client for each host, trusting only the Secret's ca.crt.
func verifyTLS(t *testing.T, secret *corev1.Secret, hosts []string) {
	t.Helper()
	pair, err := tls.X509KeyPair(secret.Data["tls.crt"], secret.Data["tls.key"])
	require.NoError(t, err)
	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer func() { _ = listener.Close() }()
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(secret.Data["ca.crt"]), "ca.crt holds the issuer's CA")
	for _, host := range hosts {
		dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12}}
		conn, err := dialer.DialContext(t.Context(), "tcp", listener.Addr().String())
		require.NoError(t, err, "a TLS client for %s verifies the gateway certificate", host)
		_ = conn.Close()
	}
	// And a host the Gateway does not list is rejected, so the check can fail.
	dialer := &tls.Dialer{Config: &tls.Config{ServerName: "not-listed.example.org", RootCAs: roots, MinVersion: tls.VersionTLS12}}
	_, err = dialer.DialContext(t.Context(), "tcp", listener.Addr().String())
	require.Error(t, err)
}

func startMeshcert(t *testing.T, cp *framework.ControlPlane, cfg framework.MeshcertConfig) *framework.Meshcert {
	t.Helper()
	m, err := cp.StartMeshcert(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("meshcert log (%s):\n%s", m.Dir, m.LogTail(60))
		}
		assert.NoError(t, m.Stop())
	})
	return m
}

// TestMeshcertInTheCluster runs the product on the real stack: kube-apiserver
// calls meshcert's webhooks by URL, meshcert's controller writes
// Certificates, cert-manager issues them.
func TestMeshcertInTheCluster(t *testing.T) {
	cp := framework.Start(t)
	ctx := t.Context()
	c := cp.Client
	m := startMeshcert(t, cp, framework.MeshcertConfig{LeaderElect: true})

	applyExamples(t, cp)

	credential := certs.CredentialName("team-a", "shop", "shop-https")
	t.Run("the annotated Gateway gets its credential and a working certificate", func(t *testing.T) {
		out, _, err := kubectlRun(t, cp, "", "get", "gateways.networking.istio.io", "-n", "team-a", "shop", "-o", "jsonpath={.spec.servers[0].tls.credentialName}")
		require.NoError(t, err)
		assert.Equal(t, credential, out, "the mutating webhook injected the credentialName")

		crt := waitManagedCertificateReady(t, c, credential)
		assert.Equal(t, []string{"shop.example.com", "www.shop.example.com"}, crt.Spec.DNSNames)
		assert.Equal(t, "gateway-ca", crt.Spec.IssuerRef.Name)
		assert.Equal(t, "team-a/shop", crt.Annotations[certs.AnnotationGateway])

		secret := &corev1.Secret{}
		require.NoError(t, c.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: credential}, secret))
		verifyTLS(t, secret, crt.Spec.DNSNames)
	})

	t.Run("a field meshcert stops setting goes from the Certificate it created", func(t *testing.T) {
		// meshcert creates Certificates with a plain create and updates them
		// with server-side apply, which removes only what an apply set: its
		// ownership must be converted first, on the real API server.
		gw := strings.NewReplacer("name: shop\n", "name: fields\n", "shop.example.com", "fields.example.com").
			Replace(readFile(t, "examples/30-gateway.yaml"))
		_, stderr, err := kubectlRun(t, cp, gw, "apply", "-f", "-")
		require.NoError(t, err, stderr)
		name := certs.CredentialName("team-a", "fields", "shop-https")
		crt := waitManagedCertificateReady(t, c, name)
		require.NotNil(t, crt.Spec.Duration, "the duration annotation is on the Certificate")
		assert.Equal(t, 2160*time.Hour, crt.Spec.Duration.Duration)

		_, stderr, err = kubectlRun(t, cp, "", "annotate", "gateways.networking.istio.io", "-n", "team-a", "fields", "cert-manager.io/duration-")
		require.NoError(t, err, stderr)
		eventually(t, "the duration gone from the Certificate", func(ctx context.Context) error {
			got := &cmapi.Certificate{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: name}, got); err != nil {
				return err
			}
			if got.Spec.Duration != nil {
				return fmt.Errorf("spec.duration is still %s", got.Spec.Duration.Duration)
			}
			for _, mf := range got.ManagedFields {
				if mf.Manager == controller.FieldManager && mf.Operation != metav1.ManagedFieldsOperationApply {
					return fmt.Errorf("meshcert still owns fields by %s", mf.Operation)
				}
			}
			return nil
		})
		_, stderr, err = kubectlRun(t, cp, "", "delete", "gateways.networking.istio.io", "-n", "team-a", "fields")
		require.NoError(t, err, stderr)
	})

	t.Run("the API server sends meshcert only the Gateways that can matter to it", func(t *testing.T) {
		decisions := func() float64 {
			metrics, err := m.Metrics(ctx)
			require.NoError(t, err)
			return framework.MetricValue(metrics, "meshcert_admission_decisions_total", `webhook="mutate-gateway"`) +
				framework.MetricValue(metrics, "meshcert_admission_decisions_total", `webhook="validate-gateway"`)
		}
		_, stderr, err := kubectlRun(t, cp, "", "create", "namespace", "team-labelled")
		require.NoError(t, err, stderr)
		_, stderr, err = kubectlRun(t, cp, "", "label", "namespace", "team-labelled", "meshcert.io/inject=enabled")
		require.NoError(t, err, stderr)
		_, stderr, err = kubectlRun(t, cp, "", "annotate", "namespace", "team-labelled",
			certs.AnnotationAllowedHosts+"=*.example.com", certs.AnnotationAllowedIssuers+"=ClusterIssuer/gateway-ca")
		require.NoError(t, err, stderr)
		// Valid Gateways of their own names and hosts, so each apply is a
		// request and is admitted.
		annotated := strings.NewReplacer("name: shop\n", "name: annotated\n", "shop.example.com", "annotated.example.com").
			Replace(readFile(t, "examples/30-gateway.yaml"))
		plain := strings.NewReplacer("name: shop\n", "name: plain\n", "shop.example.com", "plain.example.com",
			"    cert-manager.io/cluster-issuer: gateway-ca\n    cert-manager.io/duration: 2160h\n", "    example.com/owner: team\n",
			"      mode: SIMPLE\n", "      mode: SIMPLE\n      credentialName: plain-tls\n").
			Replace(readFile(t, "examples/30-gateway.yaml"))
		require.NotContains(t, plain, "cert-manager.io/", "the plain Gateway has no meshcert-relevant annotation")
		plainHTTP := strings.NewReplacer("name: shop\n", "name: plain-http\n", "shop.example.com", "plain-http.example.com",
			"    cert-manager.io/cluster-issuer: gateway-ca\n    cert-manager.io/duration: 2160h\n", "    example.com/owner: team\n",
			"      mode: SIMPLE\n", "      mode: SIMPLE\n      serverCertificate: /etc/certs/tls.crt\n      privateKey: /etc/certs/tls.key\n").
			Replace(readFile(t, "examples/30-gateway.yaml"))
		require.NotContains(t, plainHTTP, "credentialName:", "this one reads no credential by name")
		for _, tc := range []struct {
			name, doc, namespace string
			calls                float64
		}{
			{"an unannotated Gateway that reads no credential by name, in an unlabelled namespace, is sent to validation only (it could take another namespace's host)", plainHTTP, "team-a", 1},
			{"an unannotated Gateway reading a credential by name is sent to validation only (it could be another Gateway's)", plain, "team-a", 1},
			{"an annotated Gateway in an unlabelled namespace is mutated and validated", annotated, "team-a", 2},
			{"an unannotated Gateway in a namespace labelled for injection is mutated and validated", plain, "team-labelled", 2},
		} {
			before := decisions()
			doc := strings.Replace(tc.doc, "namespace: team-a\n", "namespace: "+tc.namespace+"\n", 1)
			_, stderr, err := kubectlRun(t, cp, doc, "apply", "--dry-run=server", "-f", "-")
			require.NoError(t, err, "%s: %s", tc.name, stderr)
			assert.InDelta(t, tc.calls, decisions()-before, 0, tc.name)
		}
	})

	t.Run("a Gateway whose workload runs outside istio-system gets its Certificate in the workload's namespace", func(t *testing.T) {
		const workload = `
apiVersion: v1
kind: Namespace
metadata: {name: edge-gateways}
---
apiVersion: v1
kind: Pod
metadata:
  name: edge-gateway
  namespace: edge-gateways
  labels: {istio: edge}
spec:
  containers: [{name: istio-proxy, image: docker.io/istio/proxyv2:1.28.0}]
`
		eventually(t, "the edge gateway Pod applied", func(context.Context) error {
			if _, stderr, err := kubectlRun(t, cp, workload, "apply", "-f", "-"); err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			return nil
		})
		gw := strings.NewReplacer("name: shop\n", "name: edge\n", "istio: ingressgateway", "istio: edge",
			"name: shop-https", "name: edge-https", "shop.example.com", "edge.example.com").Replace(readFile(t, "examples/30-gateway.yaml"))
		_, stderr, err := kubectlRun(t, cp, gw, "apply", "-f", "-")
		require.NoError(t, err, stderr)
		// Pinned from the README's naming rule, not from the code:
		// sha256("6:team-a4:edgeedge-https")[:10].
		const edgeCredential = "team-a-edge-edge-https-6e64900a98"
		out, _, err := kubectlRun(t, cp, "", "get", "gateways.networking.istio.io", "-n", "team-a", "edge", "-o", "jsonpath={.spec.servers[0].tls.credentialName}")
		require.NoError(t, err)
		assert.Equal(t, edgeCredential, out)
		crt := &cmapi.Certificate{}
		eventually(t, "Certificate edge-gateways/"+edgeCredential+" Ready", func(ctx context.Context) error {
			if _, err := getCertificate(ctx, c, edgeCredential); err == nil {
				return permanent(errors.New("the Certificate was created in istio-system, where the workload does not run"))
			}
			if err := c.Get(ctx, types.NamespacedName{Namespace: "edge-gateways", Name: edgeCredential}, crt); err != nil {
				return err
			}
			for _, cond := range crt.Status.Conditions {
				if cond.Type == cmapi.CertificateConditionReady && cond.Status == cmmeta.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("conditions %+v", crt.Status.Conditions)
		})
		assert.Equal(t, []string{"edge.example.com", "www.edge.example.com"}, crt.Spec.DNSNames)
		_, err = getCertificate(ctx, c, edgeCredential)
		assert.True(t, apierrors.IsNotFound(err), "nothing in istio-system, where the workload does not run: %v", err)
	})

	t.Run("a server-side dry run prints the warning and creates nothing", func(t *testing.T) {
		gw := strings.NewReplacer("name: shop\n", "name: dry\n", "shop.example.com", "dry.example.com", "gateway-ca", "no-such-issuer").Replace(readFile(t, "examples/30-gateway.yaml"))
		stderr := allowMissingIssuer(t, cp, gw)
		assert.Regexp(t, `Warning: MC5002 cert-manager.io/cluster-issuer: ClusterIssuer "no-such-issuer" not found`, stderr)

		// Barrier: a real Gateway applied after it is processed; by then the
		// controller would have acted on the dry run too, had it seen it.
		barrier := strings.NewReplacer("name: shop\n", "name: barrier\n", "shop.example.com", "barrier.example.com").Replace(readFile(t, "examples/30-gateway.yaml"))
		_, stderr, err := kubectlRun(t, cp, barrier, "apply", "-f", "-")
		require.NoError(t, err, stderr)
		waitManagedCertificateReady(t, c, certs.CredentialName("team-a", "barrier", "shop-https"))
		_, err = getCertificate(ctx, c, certs.CredentialName("team-a", "dry", "shop-https"))
		assert.True(t, apierrors.IsNotFound(err), "the dry run created no Certificate: %v", err)
		require.True(t, apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(gatewayObject("team-a", "dry")), gatewayObject("team-a", "dry"))))
	})

	t.Run("changing hosts updates the Certificate, removing servers and Gateways deletes them, Secrets stay", func(t *testing.T) {
		name := "lifecycle"
		gw := func(hosts string, servers int) string {
			doc := fmt.Sprintf(`apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: %s
  namespace: team-a
  annotations: {cert-manager.io/cluster-issuer: gateway-ca}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [%s]
    tls: {mode: SIMPLE}
`, name, hosts)
			if servers > 1 {
				doc += `  - port: {number: 8443, name: admin, protocol: HTTPS}
    hosts: [admin.lifecycle.example.com]
    tls: {mode: SIMPLE}
`
			}
			return doc
		}
		https := certs.CredentialName("team-a", name, "https")
		admin := certs.CredentialName("team-a", name, "admin")
		_, stderr, err := kubectlRun(t, cp, gw("a.lifecycle.example.com", 2), "apply", "-f", "-")
		require.NoError(t, err, stderr)
		waitManagedCertificateReady(t, c, https)
		waitManagedCertificateReady(t, c, admin)

		_, stderr, err = kubectlRun(t, cp, gw("a.lifecycle.example.com, b.lifecycle.example.com", 2), "apply", "-f", "-")
		require.NoError(t, err, stderr)
		eventually(t, "dnsNames updated", func(ctx context.Context) error {
			crt, err := getCertificate(ctx, c, https)
			if err != nil {
				return err
			}
			if !slices.Equal(crt.Spec.DNSNames, []string{"a.lifecycle.example.com", "b.lifecycle.example.com"}) {
				return fmt.Errorf("dnsNames %v", crt.Spec.DNSNames)
			}
			return nil
		})

		_, stderr, err = kubectlRun(t, cp, gw("a.lifecycle.example.com, b.lifecycle.example.com", 1), "apply", "-f", "-")
		require.NoError(t, err, stderr)
		eventually(t, "the removed server's Certificate deleted", func(ctx context.Context) error {
			if _, err := getCertificate(ctx, c, admin); !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there: %w", err)
			}
			return nil
		})

		_, stderr, err = kubectlRun(t, cp, "", "delete", "gateways.networking.istio.io", "-n", "team-a", name)
		require.NoError(t, err, stderr)
		eventually(t, "the Gateway's Certificate in istio-system deleted", func(ctx context.Context) error {
			if _, err := getCertificate(ctx, c, https); !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there: %w", err)
			}
			return nil
		})
		for _, secret := range []string{https, admin} {
			require.NoError(t, c.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: secret}, &corev1.Secret{}), "Secret %s is kept", secret)
		}
	})

	t.Run("a Certificate meshcert does not own is left untouched and the warning says so", func(t *testing.T) {
		theirs := `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: partner-tls, namespace: istio-system, labels: {owner: partner-team}}
spec:
  secretName: partner-tls
  dnsNames: [partner.example.com]
  issuerRef: {name: gateway-ca, kind: ClusterIssuer}
`
		_, stderr, err := kubectlRun(t, cp, theirs, "apply", "-f", "-")
		require.NoError(t, err, stderr)
		before := waitManagedCertificateReady(t, c, "partner-tls")

		gw := `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: partner
  namespace: team-a
  annotations: {cert-manager.io/cluster-issuer: gateway-ca}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [partner.example.com, extra.example.com]
    tls: {mode: SIMPLE, credentialName: partner-tls}
`
		_, stderr, err = kubectlRun(t, cp, gw, "apply", "-f", "-")
		require.NoError(t, err, stderr)
		assert.Contains(t, stderr, "Warning: MC4002")
		assert.Contains(t, stderr, "Warning: MC3002", "and that it does not cover extra.example.com")

		// Barrier, then compare: nothing of the partner's Certificate changed.
		barrier := strings.NewReplacer("name: shop\n", "name: barrier2\n", "shop.example.com", "barrier2.example.com").Replace(readFile(t, "examples/30-gateway.yaml"))
		_, stderr, err = kubectlRun(t, cp, barrier, "apply", "-f", "-")
		require.NoError(t, err, stderr)
		waitManagedCertificateReady(t, c, certs.CredentialName("team-a", "barrier2", "shop-https"))
		after, err := getCertificate(ctx, c, "partner-tls")
		require.NoError(t, err)
		assert.Equal(t, before.Spec, after.Spec)
		assert.Equal(t, before.Labels, after.Labels)
		assert.Equal(t, before.Annotations, after.Annotations)
		assert.Equal(t, before.Generation, after.Generation)
	})

	t.Run("a missing issuer warns, and is denied where enforcement is on", func(t *testing.T) {
		_, stderr, err := kubectlRun(t, cp, "", "apply", "-f", filepath.Join(repoRoot, "testdata", "seed", "certificate-cluster-a.yaml"))
		require.NoError(t, err, stderr)
		assert.Contains(t, stderr, `Warning: MC5002 spec.issuerRef: ClusterIssuer "letsencrypt-staging-cluster-b" not found in this cluster`)
		assert.Contains(t, stderr, "Warning: MC4004")

		_, stderr, err = kubectlRun(t, cp, "", "label", "namespace", "istio-system", "meshcert.io/enforce=true")
		require.NoError(t, err, stderr)
		t.Cleanup(func() {
			// t.Context() is over by now; later subtests need the label gone.
			out, err := cp.Kubectl(context.Background(), "label", "namespace", "istio-system", "meshcert.io/enforce-").CombinedOutput()
			assert.NoError(t, err, string(out))
		})
		// A new object, so kubectl sends a request (an unchanged one it skips).
		renamed := strings.Replace(readFile(t, "testdata/seed/certificate-cluster-a.yaml"), "name: istio-ingress-gateway-cert", "name: enforced", 1)
		eventually(t, "the enforce label in meshcert's cache, and the apply denied", func(context.Context) error {
			_, stderr, err := kubectlRun(t, cp, renamed, "apply", "--dry-run=server", "-f", "-")
			if err == nil {
				return errors.New("not denied yet")
			}
			if !strings.Contains(stderr, "denied the request") || !strings.Contains(stderr, "an issuerRef can only name an issuer in the same cluster") || !strings.Contains(stderr, "(MC5002)") {
				return fmt.Errorf("unexpected denial: %s", stderr)
			}
			return nil
		})
	})

	t.Run("the enforce label on a Gateway's namespace turns a missing issuer into a denial", func(t *testing.T) {
		gw := strings.NewReplacer("name: shop\n", "name: enforced\n", "shop.example.com", "enforced.example.com", "gateway-ca", "no-such-issuer").Replace(readFile(t, "examples/30-gateway.yaml"))
		stderr := allowMissingIssuer(t, cp, gw) // without the label a missing issuer is a warning
		assert.Contains(t, stderr, `Warning: MC5002 cert-manager.io/cluster-issuer: ClusterIssuer "no-such-issuer" not found`)

		_, stderr, err := kubectlRun(t, cp, "", "label", "namespace", "team-a", "meshcert.io/enforce=true")
		require.NoError(t, err, stderr)
		t.Cleanup(func() {
			out, err := cp.Kubectl(context.Background(), "label", "namespace", "team-a", "meshcert.io/enforce-").CombinedOutput()
			assert.NoError(t, err, string(out))
		})
		eventually(t, "the Gateway denied in the labelled namespace", func(context.Context) error {
			_, stderr, err := kubectlRun(t, cp, gw, "apply", "--dry-run=server", "-f", "-")
			if err == nil {
				return errors.New("not denied yet")
			}
			if !strings.Contains(stderr, "denied the request") ||
				!strings.Contains(stderr, `metadata.annotations[cert-manager.io/cluster-issuer]: ClusterIssuer "no-such-issuer" not found in this cluster`) ||
				!strings.Contains(stderr, "(MC5002)") {
				return fmt.Errorf("unexpected denial: %s", stderr)
			}
			return nil
		})
	})

	t.Run("restarting meshcert with nothing changed makes zero writes", func(t *testing.T) {
		managed := &cmapi.CertificateList{}
		require.NoError(t, c.List(ctx, managed, client.MatchingLabels{certs.LabelManagedBy: certs.ManagedByValue}))
		require.NotEmpty(t, managed.Items)
		gateways := &unstructured.UnstructuredList{}
		gateways.SetAPIVersion("networking.istio.io/v1")
		gateways.SetKind("GatewayList")
		require.NoError(t, c.List(ctx, gateways))

		writesBefore := certificateWrites(t, cp)
		require.Positive(t, writesBefore, "the API server counted the Certificates meshcert created so far")
		require.NoError(t, m.Restart(ctx))
		// Every Gateway is reconciled once after the caches sync.
		eventually(t, "every Gateway reconciled after the restart", func(ctx context.Context) error {
			metrics, err := m.Metrics(ctx)
			if err != nil {
				return err
			}
			done := framework.MetricValue(metrics, "controller_runtime_reconcile_total", `controller="gateway-certificates"`)
			if done < float64(len(gateways.Items)) {
				return fmt.Errorf("%v of %d reconciled", done, len(gateways.Items))
			}
			return nil
		})
		metrics, err := m.Metrics(ctx)
		require.NoError(t, err)
		// Counted by the API server, whoever in meshcert writes.
		assert.Zero(t, certificateWrites(t, cp)-writesBefore, "the API server saw no Certificate write")
		assert.Zero(t, framework.MetricValue(metrics, "meshcert_certificate_writes_total"), "meshcert counted no Certificate write")
		assert.InDelta(t, float64(len(managed.Items)), framework.MetricValue(metrics, "meshcert_managed_certificates"), 0)
		after := &cmapi.CertificateList{}
		require.NoError(t, c.List(ctx, after, client.MatchingLabels{certs.LabelManagedBy: certs.ManagedByValue}))
		for _, crt := range after.Items {
			i := slices.IndexFunc(managed.Items, func(b cmapi.Certificate) bool { return b.UID == crt.UID })
			require.GreaterOrEqual(t, i, 0, "Certificate %s/%s was recreated", crt.Namespace, crt.Name)
			assert.Equal(t, managed.Items[i].Generation, crt.Generation, "Certificate %s/%s spec rewritten", crt.Namespace, crt.Name)
		}
	})

	t.Run("a Gateway stored while the webhook was bypassed behaves as documented", func(t *testing.T) {
		require.NoError(t, framework.UnregisterWebhooks(ctx, c))
		gw := strings.NewReplacer("name: shop\n", "name: bypassed\n", "shop.example.com", "bypassed.example.com").Replace(readFile(t, "examples/30-gateway.yaml"))
		_, stderr, err := kubectlRun(t, cp, gw, "apply", "-f", "-")
		require.NoError(t, err, stderr)
		out, _, err := kubectlRun(t, cp, "", "get", "gateways.networking.istio.io", "-n", "team-a", "bypassed", "-o", "jsonpath={.spec.servers[0].tls.credentialName}")
		require.NoError(t, err)
		require.Empty(t, out, "stored without a credentialName")

		// The controller prepares the Certificate under the name the webhook
		// would inject, and says so in a Warning Event on the Gateway.
		name := certs.CredentialName("team-a", "bypassed", "shop-https")
		waitManagedCertificateReady(t, c, name)
		eventually(t, "a WebhookBypassed event", func(ctx context.Context) error {
			evs := &eventsv1.EventList{}
			if err := c.List(ctx, evs, client.InNamespace("team-a")); err != nil {
				return err
			}
			for _, e := range evs.Items {
				if e.Regarding.Name == "bypassed" && e.Reason == "WebhookBypassed" && strings.Contains(e.Note, name) {
					return nil
				}
			}
			return errors.New("no WebhookBypassed event yet")
		})

		// An IstioOperator stored meanwhile still gets its findings, as a
		// Warning Event from the controller.
		io := strings.Replace(readFile(t, "testdata/seed/istiooperator-gateway.yaml"), "kind: IstioOperator\n",
			"kind: IstioOperator\nmetadata:\n  name: seed-gateway\n  namespace: istio-system\n", 1)
		_, stderr, err = kubectlRun(t, cp, io, "apply", "-f", "-")
		require.NoError(t, err, stderr)
		eventually(t, "a BadConfig event on the IstioOperator", func(ctx context.Context) error {
			evs := &eventsv1.EventList{}
			if err := c.List(ctx, evs, client.InNamespace("istio-system")); err != nil {
				return err
			}
			for _, e := range evs.Items {
				if e.Regarding.Name == "seed-gateway" && e.Reason == "BadConfig" && strings.Contains(e.Note, "MC6002") {
					return nil
				}
			}
			return errors.New("no BadConfig event yet")
		})

		// With the webhook back, any update of the Gateway (kubectl skips an
		// unchanged apply, so the event suggests an annotation) injects
		// exactly that name.
		require.NoError(t, framework.RegisterWebhooks(ctx, c, m.WebhookURL, m.CABundle, ""))
		_, stderr, err = kubectlRun(t, cp, "", "annotate", "--overwrite", "gateways.networking.istio.io", "-n", "team-a", "bypassed", "meshcert.io/reinject=1")
		require.NoError(t, err, stderr)
		out, _, err = kubectlRun(t, cp, "", "get", "gateways.networking.istio.io", "-n", "team-a", "bypassed", "-o", "jsonpath={.spec.servers[0].tls.credentialName}")
		require.NoError(t, err)
		assert.Equal(t, name, out)
	})

	t.Run("admission makes zero API calls", func(t *testing.T) {
		// Without leader election the process makes no periodic requests,
		// so any request during the dry runs would be the webhooks'.
		require.NoError(t, m.Stop())
		quiet := startMeshcert(t, cp, framework.MeshcertConfig{})
		eventually(t, "the restarted controller settled", func(ctx context.Context) error {
			metrics, err := quiet.Metrics(ctx)
			if err != nil {
				return err
			}
			if framework.MetricValue(metrics, "controller_runtime_reconcile_total", `controller="gateway-certificates"`) == 0 {
				return errors.New("not reconciled yet")
			}
			return nil
		})
		requests := func() float64 {
			metrics, err := quiet.Metrics(ctx)
			require.NoError(t, err)
			return framework.MetricValue(metrics, "rest_client_requests_total")
		}
		// Start from a quiet client: the startup reconciles are done when
		// the count holds still for a second.
		eventually(t, "meshcert's client quiet", func(ctx context.Context) error {
			first := requests()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			if now := requests(); now != first {
				return fmt.Errorf("%v requests, then %v", first, now)
			}
			return nil
		})
		decisions := func() float64 {
			metrics, err := quiet.Metrics(ctx)
			require.NoError(t, err)
			return framework.MetricValue(metrics, "meshcert_admission_decisions_total")
		}
		before, decidedBefore := requests(), decisions()
		gw := readFile(t, "examples/30-gateway.yaml")
		for i := range 10 {
			doc := strings.NewReplacer("name: shop\n", "name: probe-"+strconv.Itoa(i)+"\n", "shop.example.com", "probe-"+strconv.Itoa(i)+".example.com").Replace(gw)
			_, stderr, err := kubectlRun(t, cp, doc, "apply", "--dry-run=server", "-f", "-")
			require.NoError(t, err, stderr)
			crt := strings.Replace(readFile(t, "testdata/seed/certificate-cluster-a.yaml"), "name: istio-ingress-gateway-cert", "name: probe-"+strconv.Itoa(i), 1)
			_, stderr, err = kubectlRun(t, cp, crt, "apply", "--dry-run=server", "-f", "-")
			require.NoError(t, err, stderr)
		}
		assert.GreaterOrEqual(t, decisions()-decidedBefore, 30.0, "the webhooks answered every dry run")
		assert.InDelta(t, before, requests(), 0, "no API request while answering admissions")
	})
}

// certificateWrites is the number of writes to Certificates (not their
// status, which cert-manager writes) the API server has served, from its
// own apiserver_request_total.
func certificateWrites(t *testing.T, cp *framework.ControlPlane) float64 {
	t.Helper()
	out, err := cp.Kubectl(t.Context(), "get", "--raw", "/metrics").Output()
	require.NoError(t, err)
	sum := 0.0
	for _, verb := range []string{"CREATE", "POST", "PUT", "UPDATE", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"} {
		sum += framework.MetricValue(string(out), "apiserver_request_total",
			`group="cert-manager.io"`, `resource="certificates"`, `subresource=""`, `verb="`+verb+`"`)
	}
	return sum
}

// applyExamples applies examples/ (the issuer chain, a gateway Pod in
// istio-system and an annotated Gateway in team-a). Pods wait for their
// namespace's default ServiceAccount, so it applies until all is accepted.
// allowMissingIssuer has a cluster admin let team-a use ClusterIssuer
// no-such-issuer, as one allows an issuer before creating it, and returns
// the stderr of a server-side dry run of gw once meshcert admits it: then
// gw meets the "not found" finding, not the namespace policy.
func allowMissingIssuer(t *testing.T, cp *framework.ControlPlane, gw string) string {
	t.Helper()
	_, stderr, err := kubectlRun(t, cp, "", "annotate", "--overwrite", "namespace", "team-a",
		certs.AnnotationAllowedIssuers+"=ClusterIssuer/gateway-ca, ClusterIssuer/no-such-issuer")
	require.NoError(t, err, stderr)
	eventually(t, "meshcert sees team-a's wider policy", func(context.Context) error {
		_, stderr, err = kubectlRun(t, cp, gw, "apply", "--dry-run=server", "-f", "-")
		if err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		return nil
	})
	return stderr
}

func applyExamples(t *testing.T, cp *framework.ControlPlane) {
	t.Helper()
	eventually(t, "kubectl apply -f examples/", func(context.Context) error {
		_, stderr, err := kubectlRun(t, cp, "", "apply", "-f", filepath.Join(repoRoot, "examples"))
		if err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		return nil
	})
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	require.NoError(t, err)
	return string(data)
}
