package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/e2e/framework"
)

// generatedGateways is how many Gateways TestGeneratedGatewaysAgreeWithIstio
// derives from Istio's samples. MESHCERT_FIDELITY_GATEWAYS raises it, and
// MESHCERT_FIDELITY_SEED varies it, for a longer run (make fidelity).
func generatedGateways(t *testing.T) int {
	return envNumber(t, "MESHCERT_FIDELITY_GATEWAYS", 2000)
}

// istioVersion is the istio.io/istio version the oracle module requires.
func istioVersion(t testing.TB) string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "e2e", "oracles", "istio", "go.mod"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "istio.io/istio" {
			return fields[1]
		}
	}
	t.Fatal("istio.io/istio not required by the oracle module")
	return ""
}

// sampleGateways are the Istio Gateways of Istio's own samples.
func sampleGateways(t testing.TB) []map[string]any {
	t.Helper()
	dir, err := framework.ModuleDir(t.Context(), "istio.io/istio", istioVersion(t))
	require.NoError(t, err)
	var out []map[string]any
	require.NoError(t, filepath.WalkDir(filepath.Join(dir, "samples"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for doc := range strings.SplitSeq(string(data), "\n---") {
			var obj map[string]any
			if yaml.Unmarshal([]byte(doc), &obj) != nil || obj["kind"] != "Gateway" ||
				!strings.HasPrefix(fmt.Sprint(obj["apiVersion"]), "networking.istio.io/") {
				continue
			}
			out = append(out, obj)
		}
		return nil
	}))
	require.NotEmpty(t, out, "no Gateway in Istio's samples")
	return out
}

// mutation changes one thing of a Gateway the way users get it wrong or
// right; values come from the edges of Istio's rules.
type gatewayMutation func(r *rand.Rand, gw map[string]any, servers []any)

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func randomServer(r *rand.Rand, servers []any) map[string]any {
	if len(servers) == 0 {
		return map[string]any{}
	}
	s, _ := servers[r.IntN(len(servers))].(map[string]any)
	if s == nil {
		return map[string]any{}
	}
	return s
}

func port(s map[string]any) map[string]any {
	p, _ := s["port"].(map[string]any)
	if p == nil {
		p = map[string]any{}
		s["port"] = p
	}
	return p
}

var gatewayMutations = []gatewayMutation{
	func(r *rand.Rand, _ map[string]any, servers []any) {
		port(randomServer(r, servers))["protocol"] = pick(r, "HTTP", "HTTPS", "TLS", "TCP", "GRPC", "http2", "https", "MONGO", "SMTP", "")
	},
	func(r *rand.Rand, _ map[string]any, servers []any) {
		port(randomServer(r, servers))["number"] = pick(r, 0, 80, 443, 8443, 15443, 65535, 65536)
	},
	func(r *rand.Rand, _ map[string]any, servers []any) {
		port(randomServer(r, servers))["name"] = pick(r, "", "http", "https", "dup")
	},
	func(r *rand.Rand, _ map[string]any, servers []any) {
		s := randomServer(r, servers)
		switch r.IntN(9) {
		case 0:
			delete(s, "tls")
		case 1:
			s["tls"] = map[string]any{"httpsRedirect": true}
		case 2:
			s["tls"] = map[string]any{"mode": "SIMPLE", "credentialName": "web-tls"}
		case 3:
			s["tls"] = map[string]any{"mode": pick(r, "PASSTHROUGH", "AUTO_PASSTHROUGH")}
		case 4:
			s["tls"] = map[string]any{"mode": "ISTIO_MUTUAL"}
		case 5:
			s["tls"] = map[string]any{"mode": pick(r, "SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")}
		case 6:
			s["tls"] = map[string]any{"mode": "SIMPLE", "credentialName": "web-tls", "serverCertificate": "/etc/c/tls.crt", "privateKey": "/etc/c/tls.key"}
		case 7:
			s["tls"] = map[string]any{"mode": "SIMPLE", "credentialNames": []any{"web-rsa", "web-ecdsa"}}
		default:
			s["tls"] = map[string]any{"mode": "SIMPLE", "credentialName": "web-tls", "credentialNmae": "typo"}
		}
	},
	func(r *rand.Rand, _ map[string]any, servers []any) {
		s := randomServer(r, servers)
		s["hosts"] = []any{pick(r, "web.example.com", "team-a/web.example.com", "*/web.example.com", "./web.example.com",
			"web", "*", "*.example.com", "*foo.example.com", "foo*.example.com", "10.0.0.1", "::1", "web.example.123",
			"web.example.com.", "web.example.com..", "Web.Example.com", "/web.example.com", "team_a/web.example.com", "web..example.com")}
	},
	func(r *rand.Rand, _ map[string]any, servers []any) {
		randomServer(r, servers)["bind"] = pick(r, "0.0.0.0", "::", "localhost", "unix:///var/run/gw.sock", "unix://gw.sock", "unix://@gw")
	},
	func(r *rand.Rand, _ map[string]any, servers []any) {
		delete(randomServer(r, servers), "hosts")
	},
	func(r *rand.Rand, gw map[string]any, _ []any) {
		md, _ := gw["metadata"].(map[string]any)
		md["annotations"] = map[string]any{"cert-manager.io/cluster-issuer": "ca"}
	},
	func(r *rand.Rand, gw map[string]any, servers []any) {
		spec, _ := gw["spec"].(map[string]any)
		// A copy of a server: duplicate port names, repeated hosts.
		spec["servers"] = append(servers, randomServer(r, servers))
	},
}

// TestGeneratedGatewaysAgreeWithIstio derives Gateways from Istio's own
// sample Gateways by one to three mutations each (a fixed seed by default,
// so a failure repeats), and compares meshcert with Istio's validation on all of
// them, as TestGatewayValidityAgreesWithIstio does for the repository's
// inputs.
func TestGeneratedGatewaysAgreeWithIstio(t *testing.T) {
	tools, meshcert := fidelityTools(t)
	samples := sampleGateways(t)

	r := rand.New(rand.NewPCG(envNumber(t, "MESHCERT_FIDELITY_SEED", uint64(7)), 42))
	var docs bytes.Buffer
	n := generatedGateways(t)
	for i := range n {
		gw := deepCopy(t, samples[r.IntN(len(samples))])
		gw["metadata"] = map[string]any{"name": fmt.Sprintf("gen-%d", i), "namespace": "generated"}
		spec, _ := gw["spec"].(map[string]any)
		if spec == nil {
			spec = map[string]any{}
			gw["spec"] = spec
		}
		for range 1 + r.IntN(3) {
			servers, _ := spec["servers"].([]any)
			gatewayMutations[r.IntN(len(gatewayMutations))](r, gw, servers)
		}
		data, err := yaml.Marshal(gw)
		require.NoError(t, err)
		docs.WriteString("---\n")
		docs.Write(data)
	}
	docs.WriteString("---\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: ca}\nspec: {selfSigned: {}}\n")
	file := filepath.Join(t.TempDir(), "generated.yaml")
	require.NoError(t, os.WriteFile(file, docs.Bytes(), 0o600))

	result := compareWithIstio(t, tools, meshcert, file, "generated")
	require.Equal(t, n, result.gateways, "every generated Gateway was judged by Istio")
	require.Positive(t, result.certificates, "no planned Certificate judged by cert-manager")
	sort.Strings(result.disagreements)
	t.Logf("%d Gateways derived from %d Istio samples compared with Istio's validation; %d Certificates meshcert plans for them judged by cert-manager's", result.gateways, len(samples), result.certificates)
	for _, d := range slices.Compact(result.disagreements) {
		t.Errorf("disagreement: %s", d)
	}
}

func deepCopy(t testing.TB, obj map[string]any) map[string]any {
	t.Helper()
	data, err := yaml.Marshal(obj)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, yaml.Unmarshal(data, &out))
	return out
}
