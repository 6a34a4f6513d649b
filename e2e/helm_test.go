package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
)

// canIGolden is what the chart's ServiceAccount may do, as `kubectl auth
// can-i --list` prints it (UPDATE_GOLDEN=1 rewrites it).
var canIGolden = filepath.Join(repoRoot, "e2e", "testdata", "can-i-meshcert.txt")

// helmRun runs helm against the plane as its admin and returns its stdout
// (a rendered chart stays clean of helm's warnings); the error carries
// stderr.
func helmRun(t *testing.T, cp *framework.ControlPlane, args ...string) (string, error) {
	t.Helper()
	return helmOutput(t, cp.Tools.Helm, cp.KubeconfigPath, args...)
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as
// ServiceAccount namespace/name with a token from the TokenRequest API.
func serviceAccountKubeconfig(t *testing.T, cp *framework.ControlPlane, namespace, name string) string {
	t.Helper()
	token, stderr, err := kubectlRun(t, cp, "", "create", "token", name, "-n", namespace, "--duration=2h")
	require.NoError(t, err, stderr)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["plane"] = &clientcmdapi.Cluster{Server: cp.RESTConfig.Host, CertificateAuthorityData: cp.RESTConfig.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: strings.TrimSpace(token)}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "plane", AuthInfo: name}
	cfg.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), "serviceaccount.kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// TestHelmInstalledMeshcert installs the chart on the real stack in
// external-URL mode (no Pods run here, so meshcert runs as a process, as
// the chart's ServiceAccount), with cert-manager issuing the serving
// certificate and its cainjector filling the CA bundle, then runs the
// in-cluster scenarios through the chart's webhook configurations,
// upgrades and uninstalls.
func TestHelmInstalledMeshcert(t *testing.T) {
	cp := framework.Start(t, framework.WithCertManagerControllers("cainjector"))
	c := cp.Client
	ctx := t.Context()
	port := freePort(t)
	values := []string{
		"--set", "webhook.url=https://127.0.0.1:" + strconv.Itoa(port),
		"--set", "webhook.tls.certManager.ipAddresses={127.0.0.1}",
		"--set", "webhook.validatingFailurePolicy=Fail",
	}
	out, err := helmRun(t, cp, append([]string{"install", "meshcert", chartPath, "--namespace", "meshcert", "--create-namespace"}, values...)...)
	require.NoError(t, err, out)

	// cert-manager issues the serving certificate; cainjector puts its CA
	// into both webhook configurations.
	secret := &corev1.Secret{}
	eventually(t, "the serving certificate issued", func(ctx context.Context) error {
		if err := c.Get(ctx, types.NamespacedName{Namespace: "meshcert", Name: "meshcert-serving-cert"}, secret); err != nil {
			return err
		}
		if len(secret.Data["tls.crt"]) == 0 || len(secret.Data["ca.crt"]) == 0 {
			return errors.New("no tls.crt or ca.crt yet")
		}
		return nil
	})
	caInjected := func(ctx context.Context) error {
		mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := c.Get(ctx, types.NamespacedName{Name: "meshcert"}, mutating); err != nil {
			return err
		}
		validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := c.Get(ctx, types.NamespacedName{Name: "meshcert"}, validating); err != nil {
			return err
		}
		var bundles [][]byte
		for _, w := range mutating.Webhooks {
			bundles = append(bundles, w.ClientConfig.CABundle)
		}
		for _, w := range validating.Webhooks {
			bundles = append(bundles, w.ClientConfig.CABundle)
		}
		for _, b := range bundles {
			if !bytes.Equal(b, secret.Data["ca.crt"]) {
				return fmt.Errorf("a webhook's CA bundle is %d bytes, not the serving certificate's CA", len(b))
			}
		}
		return nil
	}
	eventually(t, "cainjector's CA bundle in every webhook", caInjected)

	t.Run("the chart's ServiceAccount may do exactly what the golden list says", func(t *testing.T) {
		out, stderr, err := kubectlRun(t, cp, "", "auth", "can-i", "--list", "--as=system:serviceaccount:meshcert:meshcert", "-n", "team-a")
		require.NoError(t, err, stderr)
		outMeshcertNS, stderr, err := kubectlRun(t, cp, "", "auth", "can-i", "--list", "--as=system:serviceaccount:meshcert:meshcert", "-n", "meshcert")
		require.NoError(t, err, stderr)
		outIstiod, stderr, err := kubectlRun(t, cp, "", "auth", "can-i", "--list", "--as=system:serviceaccount:meshcert:meshcert", "-n", "istio-system")
		require.NoError(t, err, stderr)
		got := "# kubectl auth can-i --list --as=system:serviceaccount:meshcert:meshcert -n team-a\n" + out +
			"# the same in meshcert's own namespace (-n meshcert)\n" + outMeshcertNS +
			"# the same in istiod's namespace (-n istio-system)\n" + outIstiod
		if os.Getenv("UPDATE_GOLDEN") != "" {
			require.NoError(t, os.MkdirAll(filepath.Dir(canIGolden), 0o755))
			require.NoError(t, os.WriteFile(canIGolden, []byte(got), 0o644))
		}
		want, err := os.ReadFile(canIGolden)
		require.NoError(t, err)
		assert.Equal(t, string(want), got, "the ServiceAccount's permissions changed: review, then make golden")
		assert.NotContains(t, out, "secrets", "no Secrets outside istiod's namespace")
		assert.NotContains(t, outMeshcertNS, "secrets", "no Secrets outside istiod's namespace")
		assert.Regexp(t, `secrets\s+\[\]\s+\[cacerts\]\s+\[get update\]`, outIstiod, "in istiod's namespace: cacerts, which meshcert composes")
		assert.Regexp(t, `secrets\s+\[\]\s+\[cacerts-issued\]\s+\[get\]`, outIstiod, "and the intermediate cert-manager issued, read only")
		assert.NotRegexp(t, `secrets\s+\[\]\s+\[\S*\]\s+\[[^\]]*(list|watch|delete|patch)`, outIstiod, "never list, watch, patch or delete Secrets")
		assert.NotContains(t, out, "leases", "Leases only in meshcert's namespace")
		assert.Contains(t, outMeshcertNS, "leases.coordination.k8s.io")
	})

	m, err := cp.StartMeshcert(ctx, framework.MeshcertConfig{
		Kubeconfig:     serviceAccountKubeconfig(t, cp, "meshcert", "meshcert"),
		ServingCertPEM: secret.Data["tls.crt"], ServingKeyPEM: secret.Data["tls.key"],
		WebhookPort: port, LeaderElect: true, LeaderElectionNamespace: "meshcert",
		WithoutWebhookConfigurations: true,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("meshcert log:\n%s", m.LogTail(60))
		}
	})

	applyExamples(t, cp)
	credential := certs.CredentialName("team-a", "shop", "shop-https")
	t.Run("through the chart's webhooks an annotated Gateway gets its credential and certificate", func(t *testing.T) {
		out, _, err := kubectlRun(t, cp, "", "get", "gateways.networking.istio.io", "-n", "team-a", "shop", "-o", "jsonpath={.spec.servers[0].tls.credentialName}")
		require.NoError(t, err)
		assert.Equal(t, credential, out)
		waitManagedCertificateReady(t, c, credential)
	})
	t.Run("through the chart's validating webhook a broken Gateway is denied", func(t *testing.T) {
		broken := strings.NewReplacer("name: shop\n", "name: broken\n", "shop.example.com", "broken.example.com",
			"      protocol: HTTPS\n", "      protocol: HTTP\n").Replace(readFile(t, "examples/30-gateway.yaml"))
		_, stderr, err := kubectlRun(t, cp, broken, "apply", "-f", "-")
		require.Error(t, err)
		assert.Contains(t, stderr, `admission webhook "gateways.validate.meshcert.io" denied the request`)
		assert.Contains(t, stderr, "(MC2010)")
	})
	t.Run("helm upgrade of a value makes no admission fail", func(t *testing.T) {
		out, err := helmRun(t, cp, append([]string{"upgrade", "meshcert", chartPath, "--namespace", "meshcert", "--set", "config.logLevel=debug"}, values...)...)
		require.NoError(t, err, out)
		require.NoError(t, caInjected(ctx), "the upgrade keeps the injected CA bundle")
		for i := range 5 {
			doc := strings.NewReplacer("name: shop\n", "name: after-upgrade-"+strconv.Itoa(i)+"\n", "shop.example.com", "upgrade-"+strconv.Itoa(i)+".example.com").
				Replace(readFile(t, "examples/30-gateway.yaml"))
			_, stderr, err := kubectlRun(t, cp, doc, "apply", "--dry-run=server", "-f", "-")
			require.NoError(t, err, stderr)
		}
	})
	t.Run("helm uninstall leaves nothing the chart created", func(t *testing.T) {
		require.NoError(t, m.Stop())
		out, err := helmRun(t, cp, "uninstall", "meshcert", "--namespace", "meshcert", "--wait")
		require.NoError(t, err, out)
		for _, gvk := range []struct{ group, version, kind string }{
			{"", "v1", "ServiceAccount"}, {"rbac.authorization.k8s.io", "v1", "ClusterRole"}, {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"},
			{"rbac.authorization.k8s.io", "v1", "Role"}, {"rbac.authorization.k8s.io", "v1", "RoleBinding"},
			{"admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration"}, {"admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration"},
			{"cert-manager.io", "v1", "Certificate"}, {"cert-manager.io", "v1", "Issuer"},
		} {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion(strings.TrimPrefix(gvk.group+"/"+gvk.version, "/"))
			list.SetKind(gvk.kind + "List")
			require.NoError(t, c.List(ctx, list, client.MatchingLabels{"app.kubernetes.io/instance": "meshcert"}))
			var left []string
			for _, item := range list.Items {
				left = append(left, item.GetNamespace()+"/"+item.GetName())
			}
			assert.Empty(t, left, "%s left behind", gvk.kind)
		}
		// What meshcert created for Gateways is the users' and stays.
		crt, err := getCertificate(ctx, c, credential)
		require.NoError(t, err, "the Gateway's Certificate stays")
		assert.Equal(t, "meshcert", crt.Labels["app.kubernetes.io/managed-by"])
		assert.False(t, slices.Contains([]string{"Helm"}, crt.Labels["app.kubernetes.io/managed-by"]))
	})
}
