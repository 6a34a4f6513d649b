package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
)

// credentialsRequest and credentialsVerdict are the Istio oracle's
// `credentials` contract (e2e/oracles/istio/credentials.go).
type credentialsRequest struct {
	ID                           string            `json:"id"`
	GatewayNamespace             string            `json:"gatewayNamespace"`
	ProxyNamespace               string            `json:"proxyNamespace"`
	ProxyServiceAccount          string            `json:"proxyServiceAccount"`
	ServiceAccountCanListSecrets bool              `json:"serviceAccountCanListSecrets"`
	TLS                          credentialsTLSReq `json:"tls"`
	Secrets                      []string          `json:"secrets"`
	ConfigMaps                   []string          `json:"configMaps"`
}

// credentialsTLSReq is the part of Istio's ServerTLSSettings (protojson)
// the corpus varies.
type credentialsTLSReq struct {
	Mode                 string   `json:"mode"`
	CredentialName       string   `json:"credentialName,omitempty"`
	CredentialNames      []string `json:"credentialNames,omitempty"`
	CACertCredentialName string   `json:"caCertCredentialName,omitempty"`
}

type credentialsVerdict struct {
	ID        string             `json:"id"`
	Error     string             `json:"error"`
	Resources []servedCredential `json:"resources"`
}

// servedCredential is one SDS resource of the server and what istiod
// serves for it: ReadFrom is "Secret ns/name", "ConfigMap ns/name" or "".
type servedCredential struct {
	Role         string `json:"role"` // "certificate" or "ca"
	ResourceName string `json:"resourceName"`
	Served       bool   `json:"served"`
	ServedAs     string `json:"servedAs"`
	ReadFrom     string `json:"readFrom"`
}

// TestCredentialResolutionAgreesWithIstiod compares meshcert's credential
// resolver (certs.ResolveCredential for each server certificate,
// certs.ClientCARefs for the client CA) with what istiod's own serving code
// serves a gateway proxy (the Istio oracle's `credentials` mode: the
// listener's TLS context, the gateway merge and the SDS generator over the
// kube credentials controller). For every reference form Istio parses,
// every TLS mode that reads credentials, credentialName and
// credentialNames, every kind of caCertCredentialName, the Gateway in the
// proxy's namespace or not, and every mix of existing objects, the object
// meshcert predicts istiod reads must be the one istiod serves, and
// "nothing" where istiod serves nothing.
func TestCredentialResolutionAgreesWithIstiod(t *testing.T) {
	tools, err := framework.ToolsFromEnv()
	require.NoError(t, err)

	const (
		proxyNS = "istio-ingress" // the gateway workload's namespace
		otherNS = "team-a"
	)
	references := []string{
		"app", "kubernetes://app", "kubernetes://" + proxyNS + "/app", "kubernetes://" + otherNS + "/app",
		"kubernetes://" + proxyNS + "/app/extra", "kubernetes:///app",
		"kubernetes-gateway://" + proxyNS + "/app", "kubernetes-gateway://" + otherNS + "/app", "kubernetes-gateway://" + proxyNS,
		"configmap://" + proxyNS + "/app", "configmap://" + proxyNS + "/app-cacert",
		"builtin://", "builtin://x", "invalid://", "sds://app", "sds://kubernetes://" + proxyNS + "/app",
		"app-cacert", "",
	}
	modes := []string{certs.ModeSimple, certs.ModeMutual, certs.ModeOptionalMutual}
	caCerts := []string{
		"", "client-ca", "client-ca-cacert", "configmap://" + otherNS + "/client-ca",
		"kubernetes-gateway://" + proxyNS + "/client-ca-cacert",
	}
	// Which of "<name>" and "<name>-cacert" exist, for the credential (app,
	// as Secrets in both namespaces and as ConfigMaps) and for the client
	// CA (client-ca); the second credentialNames entry always exists.
	existences := []struct {
		name     string
		suffixes []string
	}{{"none", nil}, {"name", []string{""}}, {"cacert", []string{"-cacert"}}, {"both", []string{"", "-cacert"}}}

	type prediction struct{ role, reference, readFrom, servedAs string }
	var requests []credentialsRequest
	predictions := map[string][]prediction{}
	kinds := map[certs.CredentialKind]bool{}
	for _, reference := range references {
		for _, mode := range modes {
			for _, many := range []bool{false, true} {
				for _, caCert := range caCerts {
					for _, gatewayNS := range []string{proxyNS, otherNS} {
						for _, existence := range existences {
							tls := certs.ServerTLS{Mode: mode, CACertCredentialName: caCert}
							req := credentialsTLSReq{Mode: mode, CACertCredentialName: caCert}
							if many {
								tls.CredentialNames = []string{reference, "other"}
								req.CredentialNames = tls.CredentialNames
							} else {
								tls.CredentialName, req.CredentialName = reference, reference
							}
							exists := map[string]bool{"Secret " + proxyNS + "/other": true}
							secrets, configMaps := []string{proxyNS + "/other"}, []string(nil)
							for _, suffix := range existence.suffixes {
								for _, ns := range []string{proxyNS, otherNS} {
									secrets = append(secrets, ns+"/app"+suffix)
								}
								secrets = append(secrets, proxyNS+"/client-ca"+suffix)
								configMaps = append(configMaps, proxyNS+"/app"+suffix, otherNS+"/client-ca"+suffix)
							}
							for _, s := range secrets {
								exists["Secret "+s] = true
							}
							for _, c := range configMaps {
								exists["ConfigMap "+c] = true
							}
							id := fmt.Sprintf("%s %s=%q caCert=%q gateway in %s, objects: %s",
								mode, map[bool]string{false: "credentialName", true: "credentialNames[0]"}[many], reference, caCert, gatewayNS, existence.name)

							// istiod reads the first served reference whose object exists.
							read := func(refs ...certs.CredentialRef) (string, string) {
								for _, r := range refs {
									kinds[r.Kind] = true
									if label := string(r.Kind) + " " + r.Key(); r.Served && r.Key() != "" && exists[label] {
										return label, r.ServedAs()
									}
								}
								return "", ""
							}
							var want []prediction
							for _, c := range tls.Credentials() {
								p := prediction{role: "certificate", reference: c}
								p.readFrom, p.servedAs = read(certs.ResolveCredential(c, proxyNS, gatewayNS).Reads()...)
								want = append(want, p)
							}
							if refs := certs.ClientCARefs(&tls, proxyNS, gatewayNS); refs != nil {
								p := prediction{role: "ca", reference: refs[0].Reference}
								p.readFrom, p.servedAs = read(refs...)
								want = append(want, p)
							}
							predictions[id] = want
							requests = append(requests, credentialsRequest{
								ID: id, GatewayNamespace: gatewayNS, ProxyNamespace: proxyNS, ProxyServiceAccount: "ingress-gateway",
								ServiceAccountCanListSecrets: true, TLS: req, Secrets: secrets, ConfigMaps: configMaps,
							})
						}
					}
				}
			}
		}
	}
	require.Len(t, predictions, len(requests), "every request has its own id")
	for _, kind := range []certs.CredentialKind{certs.CredentialNone, certs.CredentialSecret, certs.CredentialConfigMap, certs.CredentialBuiltin, certs.CredentialInvalid} {
		assert.True(t, kinds[kind], "the corpus never reaches CredentialKind %q", kind)
	}

	var stdin bytes.Buffer
	enc := json.NewEncoder(&stdin)
	for _, r := range requests {
		require.NoError(t, enc.Encode(r))
	}
	out := runJSONLines(t, stdin.Bytes(), tools.IstioOracle, "credentials")

	// disagreements by kind (the role and the reference as written), so the
	// message shows every kind before repeating one.
	var disagreements []string
	var kindsOrder []string
	byKind := map[string][]string{}
	disagree := func(kind, msg string) {
		if _, ok := byKind[kind]; !ok {
			kindsOrder = append(kindsOrder, kind)
		}
		byKind[kind] = append(byKind[kind], msg)
		disagreements = append(disagreements, msg)
	}
	served, refused, caAsKeyPair := 0, 0, 0
	var caAsKeyPairExample string
	answered := 0
	for line := range bytes.SplitSeq(bytes.TrimSpace(out), []byte("\n")) {
		var v credentialsVerdict
		require.NoError(t, json.Unmarshal(line, &v), "%s", line)
		require.Empty(t, v.Error, "the oracle could not answer %s", v.ID)
		want, ok := predictions[v.ID]
		require.True(t, ok, "the oracle answered an unknown request %q", v.ID)
		answered++

		// istiod's resources by role, in order, against meshcert's.
		got := map[string][]servedCredential{}
		for _, r := range v.Resources {
			if r.Served != (r.ReadFrom != "") {
				disagree("oracle", fmt.Sprintf("%s: the oracle says %s %s served=%t but read %q", v.ID, r.Role, r.ResourceName, r.Served, r.ReadFrom))
			}
			if r.Served {
				served++
			} else {
				refused++
			}
			if r.Role == "ca" && r.ServedAs == "tls_certificate" {
				caAsKeyPair++
				caAsKeyPairExample = v.ID
			}
			got[r.Role] = append(got[r.Role], r)
		}
		byRole := map[string][]prediction{}
		for _, p := range want {
			byRole[p.role] = append(byRole[p.role], p)
		}
		for _, role := range []string{"certificate", "ca"} {
			istiod, meshcert := got[role], byRole[role]
			for i := range max(len(istiod), len(meshcert)) {
				var is servedCredential
				var predicted prediction
				predicted.reference = "(none)"
				if i < len(istiod) {
					is = istiod[i]
				}
				if i < len(meshcert) {
					predicted = meshcert[i]
				}
				if is.ReadFrom != predicted.readFrom || is.ReadFrom != "" && is.ServedAs != predicted.servedAs {
					disagree(role+" "+predicted.reference, fmt.Sprintf("%s: %s %d (%q): meshcert predicts %q as %q, istiod serves %q as %q (resource %q)",
						v.ID, role, i, predicted.reference, predicted.readFrom, predicted.servedAs, is.ReadFrom, is.ServedAs, is.ResourceName))
				}
			}
		}
	}
	require.Equal(t, len(requests), answered, "the oracle answers one line per request")
	t.Logf("compared %d requests with istiod: %d resources served, %d not", len(requests), served, refused)
	// Both outcomes occur, so the comparison can fail either way.
	assert.Positive(t, served)
	assert.Positive(t, refused)
	if caAsKeyPair > 0 {
		t.Logf("istiod serves %d client-CA resources as a tls_certificate (a caCertCredentialName Secret without -cacert), e.g. %s", caAsKeyPair, caAsKeyPairExample)
	}
	if len(disagreements) > 0 {
		var shown []string
		for round := 0; len(shown) < min(30, len(disagreements)); round++ {
			for _, kind := range kindsOrder {
				if round < len(byKind[kind]) && len(shown) < 30 {
					shown = append(shown, byKind[kind][round])
				}
			}
		}
		t.Errorf("meshcert's credential resolver disagrees with istiod on %d resources (first %d):\n%s",
			len(disagreements), len(shown), strings.Join(shown, "\n"))
	}
}
