package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
)

// statusRow mirrors the documented `meshcert status -o json` rows.
type statusRow struct {
	Gateway struct {
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"gateway"`
	Server      string   `json:"server"`
	Credential  string   `json:"credential"`
	Certificate string   `json:"certificate"`
	Ready       string   `json:"ready"`
	Reason      string   `json:"reason"`
	NotAfter    string   `json:"notAfter"`
	RenewalTime string   `json:"renewalTime"`
	Issuer      string   `json:"issuer"`
	Findings    []string `json:"findings"`
}

type statusOutput struct {
	Rows     []statusRow `json:"rows"`
	Findings []struct {
		Code string `json:"code"`
	} `json:"findings"`
}

func (s statusOutput) row(t *testing.T, gateway string) statusRow {
	t.Helper()
	for _, r := range s.Rows {
		if r.Gateway.Namespace+"/"+r.Gateway.Name == gateway {
			return r
		}
	}
	t.Fatalf("no row for Gateway %s in %+v", gateway, s.Rows)
	return statusRow{}
}

// TestStatusShowsTheClusterAsTheUserSeesIt runs `meshcert status` against
// the real stack: Certificates cert-manager issued, one it cannot issue, a
// user who may read only two namespaces, and kubectl running it as a
// plugin.
func TestStatusShowsTheClusterAsTheUserSeesIt(t *testing.T) {
	cp := framework.Start(t)
	m := startMeshcert(t, cp, framework.MeshcertConfig{})
	applyExamples(t, cp)
	shopCredential := certs.CredentialName("team-a", "shop", "shop-https")
	waitManagedCertificateReady(t, cp.Client, shopCredential)
	binary, err := framework.MeshcertBinary(t.Context())
	require.NoError(t, err)

	status := func(env []string, name string, args ...string) (string, string, int) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		code := exitCode(cmd.Run())
		return stdout.String(), stderr.String(), code
	}
	decode := func(t *testing.T, stdout string) statusOutput {
		t.Helper()
		var out statusOutput
		require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
		return out
	}

	t.Run("every Certificate Ready exits 0 and shows its expiry, renewal and issuer", func(t *testing.T) {
		stdout, stderr, code := status(os.Environ(), binary, "status", "--kubeconfig", cp.KubeconfigPath, "-n", "team-a", "-o", "json")
		require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
		out := decode(t, stdout)
		shop := out.row(t, "team-a/shop")
		assert.Equal(t, "Gateway", shop.Gateway.Kind)
		assert.Equal(t, "istio-system/"+shopCredential, shop.Credential, "the Secret lives where the gateway Pods run")
		assert.Equal(t, "istio-system/"+shopCredential, shop.Certificate)
		assert.Equal(t, "True", shop.Ready)
		assert.Equal(t, "ClusterIssuer/gateway-ca", shop.Issuer)
		crt := &cmapi.Certificate{}
		require.NoError(t, cp.Client.Get(t.Context(), types.NamespacedName{Namespace: "istio-system", Name: shopCredential}, crt))
		assert.Equal(t, crt.Status.NotAfter.UTC().Format("2006-01-02T15:04:05Z"), shop.NotAfter, "cert-manager's status, as written")
		assert.Equal(t, crt.Status.RenewalTime.UTC().Format("2006-01-02T15:04:05Z"), shop.RenewalTime)
		assert.Empty(t, shop.Findings)
	})

	// An issuer that does not exist: the namespace's policy allows it, so
	// meshcert makes the Certificate, and cert-manager cannot issue it.
	broken := strings.NewReplacer("name: shop\n", "name: broken\n", "shop.example.com", "broken.example.com", "cert-manager.io/cluster-issuer: gateway-ca", "cert-manager.io/cluster-issuer: no-such-issuer").
		Replace(readFile(t, "examples/30-gateway.yaml"))
	require.Contains(t, broken, "no-such-issuer")
	allowMissingIssuer(t, cp, broken)
	_, stderr, err := kubectlRun(t, cp, broken, "apply", "-f", "-")
	require.NoError(t, err, stderr)
	brokenCredential := certs.CredentialName("team-a", "broken", "shop-https")
	eventually(t, "meshcert creates the Certificate of the broken Gateway", func(ctx context.Context) error {
		return cp.Client.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: brokenCredential}, &cmapi.Certificate{})
	})

	t.Run("a Certificate that cannot be issued exits 1 and says why", func(t *testing.T) {
		eventually(t, "status reports the broken Certificate not Ready", func(context.Context) error {
			stdout, stderr, code := status(os.Environ(), binary, "status", "--kubeconfig", cp.KubeconfigPath, "-n", "team-a", "-o", "json")
			if code != 1 {
				return fmt.Errorf("exit %d: %s%s", code, stdout, stderr)
			}
			row := decode(t, stdout).row(t, "team-a/broken")
			if row.Ready == "True" || row.Certificate != "istio-system/"+brokenCredential {
				return fmt.Errorf("row %+v", row)
			}
			return nil
		})
		stdout, _, _ := status(os.Environ(), binary, "status", "--kubeconfig", cp.KubeconfigPath, "-n", "team-a", "-o", "json")
		assert.Contains(t, decode(t, stdout).row(t, "team-a/broken").Findings, "MC5002", "the issuer is not found")
		stdout, _, code := status(os.Environ(), binary, "status", "--kubeconfig", cp.KubeconfigPath, "-n", "team-a")
		assert.Equal(t, 1, code)
		t.Logf("meshcert status -n team-a:\n%s", stdout)
		assert.Regexp(t, `(?m)^GATEWAY\s+SERVER\s+CREDENTIAL\s+CERTIFICATE\s+READY\s+NOT AFTER\s+RENEWAL\s+ISSUER\s+FINDINGS$`, stdout)
		assert.Regexp(t, `(?m)^Gateway team-a/shop\s+shop-https:443\s+istio-system/`+shopCredential+`\s+istio-system/`+shopCredential+`\s+True\s`, stdout)
		assert.Regexp(t, `(?m)^Gateway team-a/broken .* ClusterIssuer/no-such-issuer\s+MC5002`, stdout)
		assert.Contains(t, stdout, "Findings:\nwarning MC5002 Gateway team-a/broken")
	})

	// The broken Gateway was admitted with a finding and its Certificate is
	// not Ready: every series the dashboard and the alerts query exists.
	t.Run("every metric the dashboard and the alerts query is one meshcert exposes", func(t *testing.T) {
		queried := queriedMetrics(t)
		require.NotEmpty(t, queried)
		exposed, err := m.Metrics(t.Context())
		require.NoError(t, err)
		for _, name := range queried {
			assert.Regexp(t, `(?m)^`+name+`[{ ]`, exposed, "meshcert's /metrics has %s", name)
		}
		// MeshcertAdmissionSlow's 2.5 s needs buckets above it to be reachable.
		assert.Regexp(t, `(?m)^meshcert_admission_duration_seconds_bucket\{[^}]*le="5"\}`, exposed)
	})

	t.Run("a user who may read two namespaces sees what they may, and is told what not", func(t *testing.T) {
		for _, cmd := range [][]string{
			{"create", "serviceaccount", "viewer", "-n", "team-a"},
			{"create", "role", "gateways", "-n", "team-a", "--verb=list", "--resource=gateways.networking.istio.io,certificates.cert-manager.io,issuers.cert-manager.io"},
			{"create", "rolebinding", "viewer", "-n", "team-a", "--role=gateways", "--serviceaccount=team-a:viewer"},
			{"create", "role", "certificates", "-n", "istio-system", "--verb=list", "--resource=certificates.cert-manager.io"},
			{"create", "rolebinding", "viewer", "-n", "istio-system", "--role=certificates", "--serviceaccount=team-a:viewer"},
		} {
			_, stderr, err := kubectlRun(t, cp, "", cmd...)
			require.NoError(t, err, stderr)
		}
		kubeconfig := serviceAccountKubeconfig(t, cp, "team-a", "viewer")
		stdout, stderr, code := status(os.Environ(), binary, "status", "--kubeconfig", kubeconfig, "-n", "team-a", "-o", "json")
		require.Equal(t, 1, code, "the broken Certificate is still not Ready: %s%s", stdout, stderr)
		out := decode(t, stdout)
		assert.Equal(t, "True", out.row(t, "team-a/shop").Ready, "Certificates are read in istio-system, where the user may")
		assert.Contains(t, stderr, "Note: cannot list ClusterIssuers (forbidden)")
		assert.Contains(t, stderr, "Note: cannot list Issuers in istio-system", "where the credentials live, the user may not list Issuers")
		assert.NotContains(t, out.row(t, "team-a/broken").Findings, "MC5002", "with ClusterIssuers unreadable, not found is a guess and left out")

		_, stderr, code = status(os.Environ(), binary, "status", "--kubeconfig", kubeconfig, "-n", "team-b")
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "failed to list the Gateways of networking.istio.io", "the user may not read team-b")
		assert.Contains(t, stderr, "forbidden")
	})

	t.Run("kubectl runs it as the plugin kubectl meshcert", func(t *testing.T) {
		plugins := t.TempDir()
		require.NoError(t, os.Symlink(binary, filepath.Join(plugins, "kubectl-meshcert")))
		env := append(os.Environ(), "PATH="+plugins+string(os.PathListSeparator)+os.Getenv("PATH"))
		stdout, stderr, code := status(env, cp.Tools.Kubectl, "meshcert", "status", "--kubeconfig", cp.KubeconfigPath, "-n", "team-a", "-o", "json")
		assert.Equal(t, 1, code, "kubectl passes the plugin's exit code on: %s", stderr)
		assert.Equal(t, "True", decode(t, stdout).row(t, "team-a/shop").Ready)

		stdout, _, code = status(env, cp.Tools.Kubectl, "meshcert", "status", "--help")
		assert.Equal(t, 0, code)
		assert.Contains(t, stdout, "kubectl meshcert status [GATEWAY]", "help speaks kubectl's name")
	})
}
