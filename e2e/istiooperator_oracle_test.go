package e2e

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// operatorVerdict is the Istio oracle's judgement of one IstioOperator
// (e2e/oracles/istio/istiooperator.go).
type operatorVerdict struct {
	Name                string   `json:"name"`
	Errors              []string `json:"errors"`
	TrustAnchors        []string `json:"trustAnchors"`
	TrustBundleError    string   `json:"trustBundleError"`
	MultiRootMesh       string   `json:"multiRootMesh"`
	ProxyConfigXDSAgent string   `json:"proxyConfigXdsAgent"`
}

func judgeOperators(t *testing.T, oracle string, manifests []byte) map[string]operatorVerdict {
	t.Helper()
	out := map[string]operatorVerdict{}
	for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, manifests, oracle, "istiooperator")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var v operatorVerdict
		require.NoError(t, json.Unmarshal(line, &v), "%s", line)
		out[v.Name] = v
	}
	return out
}

func fingerprints(t *testing.T, pems []string) []string {
	t.Helper()
	var out []string
	for _, p := range pems {
		rest := []byte(p)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			require.NoError(t, err)
			sum := sha256.Sum256(cert.Raw)
			out = append(out, hex.EncodeToString(sum[:]))
		}
	}
	return out
}

// TestIstioOperatorsAgreeWithIstio checks meshcert's IstioOperator output
// against Istio's own code (the Istio oracle): what `meshcert inject`
// prints passes istioctl's IstioOperator validation, and istiod's trust
// bundle built from it holds exactly the peer roots meshcert injected, with
// the multi-root switches on. For every kind of trust-bundle content,
// meshcert injects it only if istiod's trust bundle takes it; where meshcert
// is stricter than Istio, the reason is pinned here and in
// docs/fidelity.md.
func TestIstioOperatorsAgreeWithIstio(t *testing.T) {
	tools, meshcert := fidelityTools(t)
	pki := func(name string) string {
		data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "pki", name))
		require.NoError(t, err)
		return string(data)
	}
	indent := func(s string) string {
		return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
	}
	operator := func(name, annotations, meshConfig string) string {
		return fmt.Sprintf(`apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: %s
  namespace: istio-system
  annotations: {%s}
spec:
  meshConfig: %s
`, name, annotations, meshConfig)
	}
	bundle := func(name, content string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: %s, namespace: istio-system, labels: {meshcert.io/trust-bundle: "true"}}
data:
  ca.crt: |
    %s
`, name, indent(content))
	}

	t.Run("what meshcert injects is what istiod trusts", func(t *testing.T) {
		docs := []string{
			operator("one-root", `meshcert.io/peer-roots: a`, `{trustDomain: cluster.local}`),
			operator("two-roots-twice", `meshcert.io/peer-roots: "a, ab, b"`, `{}`),
			operator("keeps-theirs", `meshcert.io/peer-roots: b`, fmt.Sprintf(`{caCertificates: [{pem: %q, trustDomains: [other.local]}]}`, pki("root-a.pem"))),
			bundle("a", pki("root-a.pem")), bundle("b", pki("root-b.pem")), bundle("ab", pki("root-a.pem")+pki("root-b.pem")),
		}
		input := strings.Join(docs, "---\n")
		injected := runJSONLines(t, []byte(input), meshcert, "inject", "-f", "-")
		verdicts := judgeOperators(t, tools.IstioOracle, injected)
		want := map[string][]string{
			"one-root":        {pki("root-a.pem")},
			"two-roots-twice": {pki("root-a.pem"), pki("root-b.pem")},
			"keeps-theirs":    {pki("root-a.pem"), pki("root-b.pem")},
		}
		require.Len(t, verdicts, len(want))
		for name, roots := range want {
			v := verdicts[name]
			assert.Empty(t, v.Errors, "%s: istioctl rejects meshcert's output", name)
			assert.Empty(t, v.TrustBundleError, "%s: istiod's trust bundle refuses meshcert's output", name)
			assert.ElementsMatch(t, fingerprints(t, roots), fingerprints(t, v.TrustAnchors), "%s: istiod's trust anchors", name)
			assert.Equal(t, "true", v.MultiRootMesh, "%s: istiod needs ISTIO_MULTIROOT_MESH to use them", name)
			assert.Equal(t, "true", v.ProxyConfigXDSAgent, "%s: proxies need PROXY_CONFIG_XDS_AGENT to receive them", name)
		}
	})

	t.Run("meshcert injects a trust bundle only if istiod's trust bundle takes it", func(t *testing.T) {
		tests := []struct {
			name, content string
			// stricter: meshcert refuses what Istio takes, and why.
			stricter string
		}{
			{name: "a root", content: pki("root-a.pem")},
			{name: "two roots", content: pki("root-a.pem") + pki("root-b.pem")},
			{name: "a leaf issued by a CA", content: pki("leaf.pem")},
			{name: "a self-signed leaf posing as a root", content: pki("self-signed-leaf.pem")},
			{name: "garbage", content: "not a certificate"},
			{name: "a certificate block that is not a certificate", content: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
			{name: "an expired root", content: pki("expired.pem"),
				stricter: "istiod does not check validity periods; an expired root verifies nothing"},
			{name: "a root not valid yet", content: pki("not-yet-valid.pem"),
				stricter: "istiod does not check validity periods; a root from the future verifies nothing yet"},
			{name: "a CA without keyCertSign", content: pki("ca-without-certsign.pem"),
				stricter: "istiod checks only basicConstraints; Go and Envoy reject chains through a CA whose key usage forbids signing"},
			{name: "a root followed by a private key", content: pki("root-a.pem") + pki("pathlen0-ca.key"),
				stricter: "istiod reads only the first PEM block of an entry; meshcert refuses to copy a key anywhere"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				// meshcert: the content as a peer-roots source.
				input := operator("mesh", `meshcert.io/peer-roots: source`, `{}`) + "---\n" + bundle("source", tc.content)
				out := runJSONLines(t, []byte(input), meshcert, "inject", "-f", "-")
				meshcertInjects := judgeOperators(t, tools.IstioOracle, out)["mesh"].TrustAnchors
				// Istio: the same content written straight into caCertificates.
				direct := operator("mesh", ``, fmt.Sprintf(`{caCertificates: [{pem: %q}]}`, tc.content))
				istio := judgeOperators(t, tools.IstioOracle, []byte(direct))["mesh"]
				istioTakes := istio.TrustBundleError == "" && len(istio.TrustAnchors) > 0

				if len(meshcertInjects) > 0 {
					assert.True(t, istioTakes, "meshcert injected what istiod refuses: %s", istio.TrustBundleError)
					assert.Empty(t, tc.stricter)
					return
				}
				if istioTakes {
					assert.NotEmpty(t, tc.stricter, "meshcert refuses what istiod takes, with no reason written down")
				} else {
					assert.Empty(t, tc.stricter, "istiod refuses it too: %s", istio.TrustBundleError)
				}
			})
		}
	})

	t.Run("the seed's caCertificates keys configure nothing in Istio, which is why meshcert calls them errors", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "seed", "istiooperator-ca.yaml"))
		require.NoError(t, err)
		data = bytes.Replace(data, []byte("kind: IstioOperator\n"), []byte("kind: IstioOperator\nmetadata: {name: seed}\n"), 1)
		v := judgeOperators(t, tools.IstioOracle, data)["seed"]
		assert.Empty(t, v.Errors, "istioctl accepts it ...")
		assert.Empty(t, v.TrustAnchors, "... and istiod trusts nothing from it")
		out := runJSONLines(t, data, meshcert, "check", "-f", "-")
		assert.Contains(t, string(out), "MC6001")
	})
}
