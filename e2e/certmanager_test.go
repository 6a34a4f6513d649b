package e2e

import (
	"bytes"
	"encoding/json"
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
)

// certificateAnnotations are the cert-manager.io annotations meshcert turns
// into Certificate fields, each with values a user might write: valid ones,
// edge cases cert-manager accepts, and ones it rejects.
var certificateAnnotations = map[string][]string{
	"cert-manager.io/duration":                    {"1h", "2160h", "8760h", "1h0m0s", "59m", "0s", "-1h", "90d", ""},
	"cert-manager.io/renew-before":                {"5m", "4m", "30m", "720h", "2200h", "1h", ""},
	"cert-manager.io/renew-before-percentage":     {"1", "50", "99", "0", "100", "x", ""},
	"cert-manager.io/usages":                      {"digital signature,key encipherment", "server auth", "client auth,server auth,", "signing, server auth", "bogus", ",", ""},
	"cert-manager.io/private-key-algorithm":       {"RSA", "ECDSA", "Ed25519", "rsa", "DSA", ""},
	"cert-manager.io/private-key-size":            {"2048", "4096", "8192", "256", "384", "521", "1024", "0", "x", ""},
	"cert-manager.io/private-key-encoding":        {"PKCS1", "PKCS8", "pkcs8", ""},
	"cert-manager.io/private-key-rotation-policy": {"Always", "Never", "Sometimes", ""},
	"cert-manager.io/common-name":                 {"web.example.com", "*.example.com", strings.Repeat("a", 65), "Web Site", ""},
	"cert-manager.io/alt-names":                   {"a.example.com,b.example.com", "a.example.com,,", "A.EXAMPLE.COM,a.example.com", "10.0.0.1", "bad_name.example.com", "*.a.example.com", "a.example.com.", ""},
	"cert-manager.io/ip-sans":                     {"10.0.0.1", "10.0.0.1,10.0.0.1", "::1", "::1,0:0:0:0:0:0:0:1", "fe80::1%eth0", "999.1.1.1", "10.0.0.1,", "::ffff:10.0.0.1", ""},
	"cert-manager.io/email-sans":                  {"a@example.com", "a@example.com,,b@example.com", "Name <a@example.com>", "not-an-email", ""},
	"cert-manager.io/subject-organizations":       {"Acme", "Acme,Widgets", `"Acme, Inc"`, ""},
	"cert-manager.io/subject-countries":           {"DE", "DE,US,", ""},
	"cert-manager.io/subject-serialnumber":        {"123", ""},
	"cert-manager.io/revision-history-limit":      {"1", "10", "0", "-1", "x", ""},
	"cert-manager.io/secret-template": {
		`{"labels": {"team": "a"}}`, `{"labels": {"bad key!": "a"}}`, `{"labels": {"team": "` + strings.Repeat("v", 64) + `"}}`,
		`{"annotations": {"example.com/owner": "team-a"}}`, `{"annotations": {"cert-manager.io/x": "y"}}`, `{"labels": `, "",
	},
}

// certificateHosts are server hosts, most of them certifiable.
var certificateHosts = []string{
	"web.example.com", "team-a/api.example.com", "*/shop.example.com", "./blog.example.com", "*.example.com",
	"Web.Example.com", "web.example.com", "a-b.example.com", "xn--bcher-kva.example", strings.Repeat("l", 63) + ".example.com",
	"web.example.com.", "*", "10.0.0.1",
}

// generatedCertificateGateways is how many Gateways
// TestPlannedCertificatesPassCertManagerValidation generates;
// MESHCERT_FIDELITY_CERTIFICATES raises it (make fidelity).
func generatedCertificateGateways(t *testing.T) int {
	return envNumber(t, "MESHCERT_FIDELITY_CERTIFICATES", 1000)
}

// TestPlannedCertificatesPassCertManagerValidation generates managed
// Gateways with random cert-manager.io annotations and hosts (a fixed seed
// by default; MESHCERT_FIDELITY_SEED varies it) and runs cert-manager's own
// Certificate validation on every Certificate `meshcert inject` plans for
// them: cert-manager must accept each one. Where meshcert refuses a value
// it plans nothing for the Gateway, so nothing invalid can reach
// cert-manager through it.
func TestPlannedCertificatesPassCertManagerValidation(t *testing.T) {
	tools, meshcert := fidelityTools(t)

	r := rand.New(rand.NewPCG(envNumber(t, "MESHCERT_FIDELITY_SEED", uint64(11)), 7))
	keys := make([]string, 0, len(certificateAnnotations))
	for k := range certificateAnnotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var docs bytes.Buffer
	n := generatedCertificateGateways(t)
	for i := range n {
		annotations := map[string]any{"cert-manager.io/cluster-issuer": "ca"}
		for range r.IntN(5) {
			key := keys[r.IntN(len(keys))]
			annotations[key] = pick(r, certificateAnnotations[key]...)
		}
		var servers []any
		for s := range 1 + r.IntN(3) {
			hosts := []any{}
			for range 1 + r.IntN(3) {
				// Each Gateway its own domain, as in a cluster: host
				// conflicts are not what this test is about.
				hosts = append(hosts, strings.ReplaceAll(pick(r, certificateHosts...), "example.com", fmt.Sprintf("g%d.example.com", i)))
			}
			servers = append(servers, map[string]any{
				"port":  map[string]any{"number": 443 + s, "name": fmt.Sprintf("https-%d", s), "protocol": "HTTPS"},
				"hosts": hosts,
				"tls":   map[string]any{"mode": pick(r, "SIMPLE", "SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")},
			})
		}
		gw := map[string]any{
			"apiVersion": "networking.istio.io/v1",
			"kind":       "Gateway",
			"metadata":   map[string]any{"name": fmt.Sprintf("gen-%d", i), "namespace": "generated", "annotations": annotations},
			"spec":       map[string]any{"selector": map[string]any{"istio": "ingressgateway"}, "servers": servers},
		}
		data, err := yaml.Marshal(gw)
		require.NoError(t, err)
		docs.WriteString("---\n")
		docs.Write(data)
	}
	docs.WriteString("---\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: ca}\nspec: {ca: {secretName: ca}}\n")
	file := filepath.Join(t.TempDir(), "generated.yaml")
	require.NoError(t, os.WriteFile(file, docs.Bytes(), 0o600))

	planned := plannedCertificates(t, file, runJSONLines(t, nil, meshcert, "inject", "-f", file))
	result := checkWithCertManager(t, tools.CertManagerOracle, planned, "generated")

	var report struct {
		Findings []meshcertFinding `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(runJSONLines(t, nil, meshcert, "check", "-o", "json", "-f", file), &report))
	refused := map[string]bool{}
	for _, f := range report.Findings {
		if f.Severity == "error" && f.Code == "MC1002" {
			refused[f.Object.Name] = true
		}
	}
	// Both outcomes must occur, or the corpus tests nothing.
	require.Greater(t, result.certificates, n/4, "too few Gateways got a Certificate")
	require.Greater(t, len(refused), n/10, "too few annotation values refused")
	t.Logf("%d generated Gateways: %d Certificates planned and judged by cert-manager's validation; %d Gateways refused for an annotation value (MC1002)",
		n, result.certificates, len(refused))
	for _, d := range slices.Compact(result.disagreements) {
		t.Errorf("disagreement: %s", d)
	}
}
