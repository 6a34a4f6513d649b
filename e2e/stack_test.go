package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	istionetworking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/e2e/framework"
)

// waitTimeout bounds every wait for the control plane to act.
const waitTimeout = 60 * time.Second

// TestCertificateChainIssuesLeafInIstioSystem walks the chain a mesh uses:
// SelfSigned ClusterIssuer -> CA Certificate -> CA ClusterIssuer -> leaf
// Certificate in istio-system, and checks the leaf with crypto/x509.
func TestCertificateChainIssuesLeafInIstioSystem(t *testing.T) {
	cp := framework.Start(t)
	logStart(t, cp)
	ctx := t.Context()
	c := cp.Client

	selfSigned := &cmapi.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: "selfsigned"},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}},
	}
	require.NoError(t, c.Create(ctx, selfSigned))

	rootCA := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh-root", Namespace: framework.CertManagerNamespace},
		Spec: cmapi.CertificateSpec{
			IsCA:       true,
			CommonName: "mesh-root",
			SecretName: "mesh-root",
			PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
			IssuerRef:  cmmeta.IssuerReference{Name: selfSigned.Name, Kind: cmapi.ClusterIssuerKind, Group: "cert-manager.io"},
		},
	}
	require.NoError(t, c.Create(ctx, rootCA))
	waitCertificateReady(t, c, rootCA)

	caIssuer := &cmapi.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh-ca"},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: rootCA.Spec.SecretName}}},
	}
	require.NoError(t, c.Create(ctx, caIssuer))
	eventually(t, "ClusterIssuer mesh-ca Ready", func(ctx context.Context) error {
		current := &cmapi.ClusterIssuer{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(caIssuer), current); err != nil {
			return err
		}
		for _, condition := range current.Status.Conditions {
			if condition.Type == cmapi.IssuerConditionReady && condition.Status == cmmeta.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", current.Status.Conditions)
	})

	const host = "gateway.example.com"
	leaf := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "gateway-tls", Namespace: framework.IstioNamespace},
		Spec: cmapi.CertificateSpec{
			DNSNames:   []string{host},
			SecretName: "gateway-tls",
			PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
			IssuerRef:  cmmeta.IssuerReference{Name: caIssuer.Name, Kind: cmapi.ClusterIssuerKind, Group: "cert-manager.io"},
		},
	}
	applied := time.Now()
	require.NoError(t, c.Create(ctx, leaf))
	waitCertificateReady(t, c, leaf)
	t.Logf("leaf Certificate Ready %s after create", time.Since(applied).Round(time.Millisecond))

	secret := &corev1.Secret{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: framework.IstioNamespace, Name: leaf.Spec.SecretName}, secret))
	require.Equal(t, corev1.SecretTypeTLS, secret.Type)
	leafCert := parseCertificate(t, secret.Data[corev1.TLSCertKey])
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(secret.Data["ca.crt"]), "ca.crt holds no certificate")
	_, err := leafCert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	require.NoError(t, err, "tls.crt must verify against ca.crt for %s", host)

	// The chain goes through the CA issuer: ca.crt is the root Certificate's.
	rootSecret := &corev1.Secret{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: framework.CertManagerNamespace, Name: rootCA.Spec.SecretName}, rootSecret))
	require.Equal(t, "mesh-root", parseCertificate(t, rootSecret.Data[corev1.TLSCertKey]).Subject.CommonName)
	require.Equal(t, "mesh-root", leafCert.Issuer.CommonName)

	// A host the certificate was not issued for must not verify.
	_, err = leafCert.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	require.Error(t, err)
}

// TestIstioGatewaysOfEveryVersionAreServed creates an Istio Gateway through
// each served API version and reads every one back through every version,
// with the Go client and with the kubectl binary.
func TestIstioGatewaysOfEveryVersionAreServed(t *testing.T) {
	cp := framework.Start(t, framework.WithoutControllerManager(), framework.WithoutCertManager())
	logStart(t, cp)
	ctx := t.Context()
	c := cp.Client

	v1 := &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-v1", Namespace: framework.IstioNamespace}}
	setGatewaySpec(&v1.Spec, "v1.example.com")
	v1beta1 := &networkingv1beta1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-v1beta1", Namespace: framework.IstioNamespace}}
	setGatewaySpec(&v1beta1.Spec, "v1beta1.example.com")
	v1alpha3 := &networkingv1alpha3.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-v1alpha3", Namespace: framework.IstioNamespace}}
	setGatewaySpec(&v1alpha3.Spec, "v1alpha3.example.com")
	for _, gateway := range []client.Object{v1, v1beta1, v1alpha3} {
		require.NoError(t, c.Create(ctx, gateway), "create %s", gateway.GetName())
	}

	hosts := map[string]string{"gw-v1": "v1.example.com", "gw-v1beta1": "v1beta1.example.com", "gw-v1alpha3": "v1alpha3.example.com"}
	for name, host := range hosts {
		key := client.ObjectKey{Namespace: framework.IstioNamespace, Name: name}
		asV1 := &networkingv1.Gateway{}
		require.NoError(t, c.Get(ctx, key, asV1))
		assertGatewaySpec(t, &asV1.Spec, host)
		asV1beta1 := &networkingv1beta1.Gateway{}
		require.NoError(t, c.Get(ctx, key, asV1beta1))
		assertGatewaySpec(t, &asV1beta1.Spec, host)
		asV1alpha3 := &networkingv1alpha3.Gateway{}
		require.NoError(t, c.Get(ctx, key, asV1alpha3))
		assertGatewaySpec(t, &asV1alpha3.Spec, host)
	}

	// The schema is enforced: an unknown TLS mode is refused.
	bad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "Gateway",
		"metadata":   map[string]any{"name": "bad", "namespace": framework.IstioNamespace},
		"spec": map[string]any{"servers": []any{map[string]any{
			"hosts": []any{"bad.example.com"},
			"port":  map[string]any{"number": int64(443), "name": "https", "protocol": "HTTPS"},
			"tls":   map[string]any{"mode": "NOT_A_MODE"},
		}}},
	}}
	err := c.Create(ctx, bad)
	require.Error(t, err)
	require.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)

	out := kubectl(t, cp, "get", "gateways.networking.istio.io", "-A", "-o", "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}")
	names := strings.Fields(out)
	sort.Strings(names)
	require.Equal(t, []string{"gw-v1", "gw-v1alpha3", "gw-v1beta1"}, names)
	out = kubectl(t, cp, "get", "gateways.v1alpha3.networking.istio.io", "gw-v1", "-n", framework.IstioNamespace,
		"-o", "jsonpath={.apiVersion} {.spec.servers[0].tls.credentialName}")
	require.Equal(t, "networking.istio.io/v1alpha3 v1-example-com", out)
}

// TestNamespaceDeletionAndGarbageCollection shows kube-controller-manager at
// work: a namespace with content finishes deleting, and an object whose
// owner is deleted is collected.
func TestNamespaceDeletionAndGarbageCollection(t *testing.T) {
	cp := framework.Start(t, framework.WithoutCertManager())
	logStart(t, cp)
	ctx := t.Context()
	c := cp.Client

	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}
	require.NoError(t, c.Create(ctx, namespace))
	require.NoError(t, c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "content", Namespace: namespace.Name}}))
	gateway := &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "content", Namespace: namespace.Name}}
	setGatewaySpec(&gateway.Spec, "doomed.example.com")
	require.NoError(t, c.Create(ctx, gateway))
	require.NoError(t, c.Delete(ctx, namespace))
	eventually(t, "namespace doomed gone", func(ctx context.Context) error {
		current := &corev1.Namespace{}
		err := c.Get(ctx, client.ObjectKeyFromObject(namespace), current)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("namespace still %s, conditions %+v", current.Status.Phase, current.Status.Conditions)
	})

	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: metav1.NamespaceDefault}}
	require.NoError(t, c.Create(ctx, owner))
	dependent := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name:      "dependent",
		Namespace: metav1.NamespaceDefault,
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID,
		}},
	}}
	require.NoError(t, c.Create(ctx, dependent))
	bystander := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bystander", Namespace: metav1.NamespaceDefault}}
	require.NoError(t, c.Create(ctx, bystander))
	require.NoError(t, c.Delete(ctx, owner, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	eventually(t, "dependent Secret collected", func(ctx context.Context) error {
		err := c.Get(ctx, client.ObjectKeyFromObject(dependent), &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return errors.New("dependent Secret still exists")
	})
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(bystander), &corev1.Secret{}), "an object without owner must stay")
}

// TestTwoControlPlanesShareNothing runs two planes side by side: separate
// processes, ports, trust and data. It also records how long a start takes
// and how much memory a plane uses (written into docs/development.md).
func TestTwoControlPlanesShareNothing(t *testing.T) {
	first := framework.Start(t)
	second := framework.Start(t)
	logStart(t, first)
	logStart(t, second)
	ctx := t.Context()

	require.NotEqual(t, first.APIServerURL, second.APIServerURL)
	require.NotEqual(t, first.Dir, second.Dir)
	firstPIDs, secondPIDs := first.PIDs(), second.PIDs()
	require.Len(t, firstPIDs, 4, "etcd, kube-apiserver, kube-controller-manager, cert-manager")
	require.Len(t, secondPIDs, 4)
	for name, pid := range firstPIDs {
		require.NotEqual(t, pid, secondPIDs[name], name)
	}

	// Data: what is created in one is not in the other.
	require.NoError(t, first.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "only-in-first"}}))
	err := second.Client.Get(ctx, client.ObjectKey{Name: "only-in-first"}, &corev1.Namespace{})
	require.True(t, apierrors.IsNotFound(err), "want NotFound from the second plane, got %v", err)

	// Trust: the first plane's admin credentials mean nothing to the second.
	crossed := *first.RESTConfig
	crossed.Host = second.APIServerURL
	crossedClient, err := client.New(&crossed, client.Options{Scheme: framework.Scheme})
	require.NoError(t, err)
	err = crossedClient.List(ctx, &corev1.NamespaceList{})
	require.Error(t, err, "the second plane must not accept the first plane's CA and client certificate")

	// Each plane's cert-manager serves only its own plane.
	for i, cp := range []*framework.ControlPlane{first, second} {
		issuer := &cmapi.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("selfsigned-%d", i)},
			Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}},
		}
		require.NoError(t, cp.Client.Create(ctx, issuer))
		certificate := &cmapi.Certificate{
			ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: metav1.NamespaceDefault},
			Spec: cmapi.CertificateSpec{
				CommonName: fmt.Sprintf("plane-%d", i),
				SecretName: "probe",
				PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
				IssuerRef:  cmmeta.IssuerReference{Name: issuer.Name, Kind: cmapi.ClusterIssuerKind, Group: "cert-manager.io"},
			},
		}
		require.NoError(t, cp.Client.Create(ctx, certificate))
		waitCertificateReady(t, cp.Client, certificate)
	}
	for i, cp := range []*framework.ControlPlane{first, second} {
		secret := &corev1.Secret{}
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceDefault, Name: "probe"}, secret))
		require.Equal(t, fmt.Sprintf("plane-%d", i), parseCertificate(t, secret.Data[corev1.TLSCertKey]).Subject.CommonName)
	}

	// Stopping one leaves the other working, and leaves none of its processes.
	require.NoError(t, first.Stop())
	for name, pid := range firstPIDs {
		require.NoError(t, waitProcessGone(ctx, pid), "%s (pid %d) of the stopped plane", name, pid)
	}
	require.NoError(t, second.Client.List(ctx, &corev1.NamespaceList{}))
	for name, pid := range secondPIDs {
		require.True(t, processAlive(pid), "%s (pid %d) of the running plane", name, pid)
	}
}

// TestCRDsAndTools checks the installed APIs and that the kubectl and helm
// binaries work against the stack and know its Kubernetes version.
func TestCRDsAndTools(t *testing.T) {
	cp := framework.Start(t, framework.WithoutControllerManager())
	logStart(t, cp)
	ctx := t.Context()
	c := cp.Client

	for _, name := range []string{
		"certificates.cert-manager.io", "certificaterequests.cert-manager.io", "issuers.cert-manager.io",
		"clusterissuers.cert-manager.io", "orders.acme.cert-manager.io", "challenges.acme.cert-manager.io",
		"gateways.networking.istio.io", "virtualservices.networking.istio.io", "destinationrules.networking.istio.io",
		"istiooperators.install.istio.io",
	} {
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: name}, &apiextensionsv1.CustomResourceDefinition{}), name)
	}
	for _, name := range []string{framework.CertManagerNamespace, framework.IstioNamespace} {
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{}), name)
	}

	// The IstioOperator CRD keeps arbitrary spec content.
	operator := &unstructured.Unstructured{}
	operator.SetGroupVersionKind(schema.GroupVersionKind{Group: "install.istio.io", Version: "v1alpha1", Kind: "IstioOperator"})
	operator.SetNamespace(framework.IstioNamespace)
	operator.SetName("control-plane")
	require.NoError(t, unstructured.SetNestedField(operator.Object, "cacerts", "spec", "values", "pilot", "env", "CA_SECRET"))
	require.NoError(t, c.Create(ctx, operator))
	readBack := &unstructured.Unstructured{}
	readBack.SetGroupVersionKind(operator.GroupVersionKind())
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(operator), readBack))
	value, found, err := unstructured.NestedString(readBack.Object, "spec", "values", "pilot", "env", "CA_SECRET")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "cacerts", value)

	version := kubectl(t, cp, "version", "-o", "json")
	require.Contains(t, version, `"gitVersion": "v1.37.2"`, "client and server report the pinned version")
	require.Equal(t, 2, strings.Count(version, `"gitVersion": "v1.37.2"`), version)

	helmVersion := helm(t, cp, "version", "--short")
	require.True(t, strings.HasPrefix(helmVersion, "v3.22.0"), helmVersion)

	// A chart that needs Kubernetes 1.37: templating offline uses the version
	// built into helm (1.20 without our ldflags, which would refuse it).
	chart := writeChart(t)
	rendered := helm(t, cp, "template", "demo", chart)
	require.Contains(t, rendered, "kubeVersion: v1.37.0")
	helm(t, cp, "lint", chart)
	// And helm installs into the stack.
	helm(t, cp, "install", "demo", chart, "--namespace", metav1.NamespaceDefault, "--wait", "--timeout", "60s")
	installed := &corev1.ConfigMap{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceDefault, Name: "demo"}, installed))
	require.Equal(t, "demo", installed.Labels["app.kubernetes.io/instance"])
}

// TestCertManagerGatewayShimRuns shows the runner can also run cert-manager's
// own gateway-shim (for the later side-by-side benchmarks): a Gateway API
// Gateway annotated with a ClusterIssuer gets its Certificate, issued.
func TestCertManagerGatewayShimRuns(t *testing.T) {
	cp := framework.Start(t, framework.WithoutControllerManager(),
		framework.WithCertManagerControllers(framework.GatewayShimController))
	logStart(t, cp)
	ctx := t.Context()
	c := cp.Client

	issuer := &cmapi.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: "selfsigned"},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}},
	}
	require.NoError(t, c.Create(ctx, issuer))
	gateway := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "Gateway",
		"metadata": map[string]any{
			"name":        "shim",
			"namespace":   metav1.NamespaceDefault,
			"annotations": map[string]any{"cert-manager.io/cluster-issuer": issuer.Name},
		},
		"spec": map[string]any{
			"gatewayClassName": "example",
			"listeners": []any{map[string]any{
				"name": "https", "hostname": "shim.example.com", "port": int64(443), "protocol": "HTTPS",
				"tls": map[string]any{"mode": "Terminate", "certificateRefs": []any{map[string]any{"name": "shim-tls"}}},
			}},
		},
	}}
	require.NoError(t, c.Create(ctx, gateway))
	certificate := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Name: "shim-tls", Namespace: metav1.NamespaceDefault}}
	waitCertificateReady(t, c, certificate)
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(certificate), certificate))
	require.Equal(t, []string{"shim.example.com"}, certificate.Spec.DNSNames)
	require.Equal(t, issuer.Name, certificate.Spec.IssuerRef.Name)
}

func setGatewaySpec(spec *istionetworking.Gateway, host string) {
	spec.Selector = map[string]string{"istio": "ingressgateway"}
	spec.Servers = []*istionetworking.Server{{
		Hosts: []string{host},
		Port:  &istionetworking.Port{Number: 443, Name: "https", Protocol: "HTTPS"},
		Tls: &istionetworking.ServerTLSSettings{
			Mode:           istionetworking.ServerTLSSettings_SIMPLE,
			CredentialName: strings.ReplaceAll(host, ".", "-"),
		},
	}}
}

func assertGatewaySpec(t *testing.T, spec *istionetworking.Gateway, host string) {
	t.Helper()
	require.Len(t, spec.GetServers(), 1)
	server := spec.GetServers()[0]
	assert.Equal(t, []string{host}, server.GetHosts())
	assert.Equal(t, uint32(443), server.GetPort().GetNumber())
	assert.Equal(t, istionetworking.ServerTLSSettings_SIMPLE, server.GetTls().GetMode())
	assert.Equal(t, strings.ReplaceAll(host, ".", "-"), server.GetTls().GetCredentialName())
	assert.Equal(t, map[string]string{"istio": "ingressgateway"}, spec.GetSelector())
}

func waitCertificateReady(t *testing.T, c client.Client, certificate *cmapi.Certificate) {
	t.Helper()
	eventually(t, fmt.Sprintf("Certificate %s/%s Ready", certificate.Namespace, certificate.Name), func(ctx context.Context) error {
		current := &cmapi.Certificate{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(certificate), current); err != nil {
			return err
		}
		for _, condition := range current.Status.Conditions {
			if condition.Type == cmapi.CertificateConditionReady && condition.Status == cmmeta.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", current.Status.Conditions)
	})
}

// permanentError ends eventually at once: waiting cannot make it pass.
type permanentError struct{ error }

// permanent marks err as a failure that waiting will not fix.
func permanent(err error) error { return permanentError{err} }

// eventually polls check until it returns nil, failing the test with the
// last error after waitTimeout, or at once on a permanent error.
func eventually(t *testing.T, what string, check func(ctx context.Context) error) {
	t.Helper()
	eventuallyWithin(t, waitTimeout, what, check)
}

// eventuallyWithin is eventually with its own timeout, for what takes
// longer than waitTimeout by design (an ACME order).
func eventuallyWithin(t *testing.T, timeout time.Duration, what string, check func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return
		}
		if errors.As(err, new(permanentError)) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		case <-ticker.C:
		}
	}
}

func parseCertificate(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	require.NotNil(t, block, "no PEM block")
	certificate, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return certificate
}

func kubectl(t *testing.T, cp *framework.ControlPlane, args ...string) string {
	t.Helper()
	return runTool(t, cp.Kubectl(t.Context(), args...))
}

func helm(t *testing.T, cp *framework.ControlPlane, args ...string) string {
	t.Helper()
	return runTool(t, helmCommand(t, cp.Tools.Helm, cp.KubeconfigPath, args...))
}

// helmCommand runs the helm binary, against kubeconfig unless it is
// empty. helm keeps caches and config under HOME; they go to the test's
// temporary directory, out of the user's.
func helmCommand(t *testing.T, helm, kubeconfig string, args ...string) *exec.Cmd {
	t.Helper()
	if kubeconfig != "" {
		args = append(args, "--kubeconfig", kubeconfig)
	}
	cmd := exec.CommandContext(t.Context(), helm, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	return cmd
}

// helmOutput runs helmCommand and returns its stdout, for the commands
// that may fail: the error carries stderr.
func helmOutput(t *testing.T, helm, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := helmCommand(t, helm, kubeconfig, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func runTool(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.Output()
	var stderr string
	if exitErr, ok := err.(*exec.ExitError); ok { //nolint:errorlint // Output returns *ExitError unwrapped.
		stderr = string(exitErr.Stderr)
	}
	require.NoError(t, err, "%s: %s", strings.Join(cmd.Args, " "), stderr)
	return strings.TrimSpace(string(out))
}

func writeChart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "templates"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte(`apiVersion: v2
name: demo
description: A chart that needs a recent Kubernetes.
version: 0.1.0
kubeVersion: ">=1.37.0-0"
`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "values.yaml"), []byte("# No values.\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "configmap.yaml"), []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version }}
`), 0o600))
	return dir
}

// logStart records how long the plane took to start and what it occupies;
// the figures in docs/development.md come from these lines.
func logStart(t *testing.T, cp *framework.ControlPlane) {
	t.Helper()
	memory, err := cp.Memory()
	require.NoError(t, err)
	names := make([]string, 0, len(memory))
	var total int64
	for name, bytes := range memory {
		names = append(names, name)
		total += bytes
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s %.0f MiB", name, float64(memory[name])/(1<<20)))
	}
	t.Logf("control plane ready in %s; RSS %s; total %.0f MiB", cp.StartDuration.Round(time.Millisecond),
		strings.Join(parts, ", "), float64(total)/(1<<20))
}
