package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
)

var teamGatewayChart = filepath.Join(repoRoot, "examples", "helm", "team-gateway")

// gatewayState is what an applier must not churn: the injected name, the
// Gateway's generation and the Certificate's resourceVersion and UID.
type gatewayState struct {
	credential, generation, certificateVersion, certificateUID string
}

func stateOf(t *testing.T, cp *framework.ControlPlane, namespace, name string) gatewayState {
	t.Helper()
	out, stderr, err := kubectlRun(t, cp, "", "get", "gateways.networking.istio.io", "-n", namespace, name,
		"-o", "jsonpath={.spec.servers[0].tls.credentialName} {.metadata.generation}")
	require.NoError(t, err, stderr)
	credential, generation, _ := strings.Cut(out, " ")
	s := gatewayState{credential: credential, generation: generation}
	if crt, err := getCertificate(t.Context(), cp.Client, credential); err == nil {
		s.certificateVersion, s.certificateUID = crt.ResourceVersion, string(crt.UID)
	}
	return s
}

// TestHelmAndGitOpsInstalledGateways shows that Gateways arriving through
// Helm and GitOps appliers get their credentials as transparently as with
// kubectl apply, and that re-applying an unchanged Gateway churns nothing.
func TestHelmAndGitOpsInstalledGateways(t *testing.T) {
	cp := framework.Start(t)
	c := cp.Client
	startMeshcert(t, cp, framework.MeshcertConfig{})
	applyExamples(t, cp)

	t.Run("helm install, upgrade and uninstall of a chart with an annotated Gateway", func(t *testing.T) {
		out, err := helmRun(t, cp, "install", "chart", teamGatewayChart, "-n", "team-a", "--set", "hosts={chart.example.com}")
		require.NoError(t, err, out)
		credential := certs.CredentialName("team-a", "chart", "https")
		// The controller creates the Certificate once admissions pause
		// (--max-write-deferral), so the state is read after it is Ready.
		crt := waitManagedCertificateReady(t, c, credential)
		installed := stateOf(t, cp, "team-a", "chart")
		assert.Equal(t, credential, installed.credential, "helm install got the credentialName injected")
		require.NotEmpty(t, installed.certificateUID)
		assert.Equal(t, []string{"chart.example.com"}, crt.Spec.DNSNames)
		secret := &corev1.Secret{}
		require.NoError(t, c.Get(t.Context(), types.NamespacedName{Namespace: "istio-system", Name: credential}, secret))

		out, err = helmRun(t, cp, "upgrade", "chart", teamGatewayChart, "-n", "team-a", "--set", "hosts={chart.example.com,www.chart.example.com}")
		require.NoError(t, err, out)
		upgraded := stateOf(t, cp, "team-a", "chart")
		assert.Equal(t, credential, upgraded.credential, "the same credentialName after helm upgrade")
		eventually(t, "the Certificate updated in place", func(ctx context.Context) error {
			crt, err := getCertificate(ctx, c, credential)
			if err != nil {
				return err
			}
			if crt.UID != types.UID(installed.certificateUID) {
				return permanent(fmt.Errorf("the Certificate was recreated: UID %s, was %s", crt.UID, installed.certificateUID))
			}
			if strings.Join(crt.Spec.DNSNames, ",") != "chart.example.com,www.chart.example.com" {
				return fmt.Errorf("dnsNames %v", crt.Spec.DNSNames)
			}
			return nil
		})
		waitManagedCertificateReady(t, c, credential)
		after := &corev1.Secret{}
		require.NoError(t, c.Get(t.Context(), types.NamespacedName{Namespace: "istio-system", Name: credential}, after))
		assert.Equal(t, secret.UID, after.UID, "the same Secret, renewed in place, no new one")

		out, err = helmRun(t, cp, "uninstall", "chart", "-n", "team-a", "--wait")
		require.NoError(t, err, out)
		eventually(t, "meshcert deleting the Certificate of the uninstalled Gateway", func(ctx context.Context) error {
			_, err := getCertificate(ctx, c, credential)
			switch {
			case apierrors.IsNotFound(err):
				return nil
			case err != nil:
				return err
			}
			return errors.New("the Certificate is still there")
		})
		require.NoError(t, c.Get(t.Context(), types.NamespacedName{Namespace: "istio-system", Name: credential}, &corev1.Secret{}),
			"the Secret stays: gateways may still serve it")
	})

	t.Run("server-side dry runs of a chart with a broken Gateway print meshcert's denial", func(t *testing.T) {
		// Helm 3's --dry-run=server only lets templates look objects up on
		// the server; it never submits the release's objects, so no
		// admission webhook sees them (docs/gitops.md). This pins that
		// fact: if a Helm release starts submitting them, this fails and
		// the docs change.
		out, err := helmRun(t, cp, "install", "broken", teamGatewayChart, "-n", "team-a", "--set", "hosts={web}", "--dry-run=server")
		require.NoError(t, err, out)
		assert.NotContains(t, out, "denied the request")
		assert.Contains(t, out, "- team-a/web", "the broken Gateway was rendered")

		// What does reach admission: the rendered chart, applied as a
		// server-side dry run.
		rendered, err := helmRun(t, cp, "template", "broken", teamGatewayChart, "-n", "team-a", "--set", "hosts={web}")
		require.NoError(t, err, rendered)
		_, stderr, err := kubectlRun(t, cp, rendered, "apply", "--dry-run=server", "-f", "-")
		require.Error(t, err)
		assert.Contains(t, stderr, "denied the request")
		assert.Contains(t, stderr, "(MC2017)")

		rendered, err = helmRun(t, cp, "template", "warned", teamGatewayChart, "-n", "team-a", "--set", "clusterIssuer=no-such-issuer", "--set", "hosts={warned.example.com}")
		require.NoError(t, err, rendered)
		stderr = allowMissingIssuer(t, cp, rendered)
		assert.Contains(t, stderr, `Warning: MC5002`, "kubectl prints meshcert's warnings")
	})

	for _, applier := range []struct {
		name string
		args []string
	}{
		{"kubectl apply --server-side (Flux, Argo CD's server-side mode)", []string{"apply", "--server-side", "--field-manager=gitops"}},
		{"client-side kubectl apply", []string{"apply"}},
	} {
		t.Run(applier.name+" twice unchanged, then changed", func(t *testing.T) {
			name := "gitops-client"
			if strings.Contains(applier.name, "server-side") {
				name = "gitops-server"
			}
			rendered, err := helmRun(t, cp, "template", name, teamGatewayChart, "-n", "team-a", "--set", "hosts={"+name+".example.com}")
			require.NoError(t, err, rendered)
			apply := func(doc string) {
				t.Helper()
				_, stderr, err := kubectlRun(t, cp, doc, append(applier.args, "-f", "-")...)
				require.NoError(t, err, stderr)
			}
			apply(rendered)
			credential := certs.CredentialName("team-a", name, "https")
			waitManagedCertificateReady(t, c, credential)
			first := stateOf(t, cp, "team-a", name)
			require.Equal(t, credential, first.credential)

			apply(rendered)
			apply(rendered)
			again := stateOf(t, cp, "team-a", name)
			assert.Equal(t, first, again, "an unchanged re-apply moves neither the Gateway's generation nor the Certificate")

			changed := strings.Replace(rendered, "- team-a/"+name+".example.com", "- team-a/"+name+".example.com\n    - team-a/www."+name+".example.com", 1)
			require.NotEqual(t, rendered, changed)
			apply(changed)
			after := stateOf(t, cp, "team-a", name)
			assert.Equal(t, credential, after.credential, "the same credentialName after a change")
			assert.NotEqual(t, first.generation, after.generation, "the change is a new generation")
			eventually(t, "the Certificate updated in place", func(ctx context.Context) error {
				crt, err := getCertificate(ctx, c, credential)
				if err != nil {
					return err
				}
				if string(crt.UID) != first.certificateUID {
					return permanent(errors.New("the Certificate was recreated"))
				}
				if len(crt.Spec.DNSNames) != 2 {
					return fmt.Errorf("dnsNames %v", crt.Spec.DNSNames)
				}
				return nil
			})
		})
	}
}
