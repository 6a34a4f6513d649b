package offline

import (
	"encoding/json"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/manifest"
)

func TestPlanObjects(t *testing.T) {
	sharedCred := certs.CredentialName("ns", "a", "https")
	tests := []struct {
		name         string
		input        string
		wantCerts    []string
		wantFindings map[int][]string
	}{
		{
			name: "objects without a namespace are planned in the default namespace",
			input: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, annotations: {cert-manager.io/issuer: ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE}
---
apiVersion: v1
kind: Pod
metadata: {name: gw, labels: {istio: ingressgateway}}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: ca}
spec: {selfSigned: {}}
`,
			wantCerts: []string{"apps/" + certs.CredentialName("apps", "web", "https")},
		},
		{
			name: "two managed Gateways on one workload claiming one host conflict both ways",
			input: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a, namespace: ns, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: b, namespace: ns, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {selfSigned: {}}
`,
			wantCerts: []string{
				"istio-system/" + certs.CredentialName("ns", "a", "https"),
				"istio-system/" + certs.CredentialName("ns", "b", "https"),
			},
			wantFindings: map[int][]string{
				0: {"error MC3003 spec.servers[0].hosts[0]"},
				1: {"error MC3003 spec.servers[0].hosts[0]"},
			},
		},
		{
			name: "a credential provided by another namespace's Gateway's Certificate is found, and reading it is a credential hijack",
			input: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a, namespace: ns, creationTimestamp: "2026-01-01T00:00:00Z", annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [a.example.com, b.example.com]
    tls: {mode: SIMPLE, credentialName: ` + sharedCred + `}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: b, namespace: other}
spec:
  selector: {istio: other}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [b.example.com]
    tls: {mode: SIMPLE, credentialName: ` + sharedCred + `}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {selfSigned: {}}
`,
			wantCerts:    []string{"istio-system/" + sharedCred},
			wantFindings: map[int][]string{1: {"error MC8001 spec.servers[0].tls.credentialName"}},
		},
		{
			name: "a Certificate planned from dated files is as old as its Gateway, so a later Gateway of another namespace reading its Secret is the hijacker",
			input: `
apiVersion: v1
kind: Pod
metadata: {name: gw-1, namespace: team-a, labels: {istio: team-a-gateway}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: team-a, creationTimestamp: "2023-01-01T00:00:00Z", annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: {istio: team-a-gateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.a.example.com]
    tls: {mode: SIMPLE, credentialName: shop-tls}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: legacy, namespace: team-b, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  selector: {istio: team-a-gateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [evil.b.example.com]
    tls: {mode: SIMPLE, credentialName: shop-tls}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {selfSigned: {}}
`,
			wantCerts:    []string{"team-a/shop-tls"},
			wantFindings: map[int][]string{1: {"warning MC4003 spec.servers[0].tls.credentialName"}, 2: {"warning MC4003 spec.servers[0].tls.credentialName", "error MC8001 spec.servers[0].tls.credentialName"}},
		},
		{
			name:         "a copy of another namespace's derived credential, in files without timestamps, is the copier's hijack",
			input:        copiedDerivedCredential("", ""),
			wantCerts:    []string{"istio-system/" + certs.CredentialName("team-a", "shop", "https")},
			wantFindings: map[int][]string{0: {"warning MC4003 spec.servers[0].tls.credentialName"}, 1: {"warning MC4003 spec.servers[0].tls.credentialName", "error MC8001 spec.servers[0].tls.credentialName"}},
		},
		{
			name:         "a copy of another namespace's derived credential made later is the copier's hijack",
			input:        copiedDerivedCredential("2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
			wantCerts:    []string{"istio-system/" + certs.CredentialName("team-a", "shop", "https")},
			wantFindings: map[int][]string{0: {"warning MC4003 spec.servers[0].tls.credentialName"}, 1: {"warning MC4003 spec.servers[0].tls.credentialName", "error MC8001 spec.servers[0].tls.credentialName"}},
		},
		{
			name:         "a derived credential is its Gateway's even when the copier's Gateway is older",
			input:        copiedDerivedCredential("2023-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
			wantCerts:    []string{"istio-system/" + certs.CredentialName("team-a", "shop", "https")},
			wantFindings: map[int][]string{0: {"warning MC4003 spec.servers[0].tls.credentialName"}, 1: {"warning MC4003 spec.servers[0].tls.credentialName", "error MC8001 spec.servers[0].tls.credentialName"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := objectsFromYAML(t, tc.input)
			res, err := PlanObjects(t.Context(), objs, certs.DefaultOptions(), "apps")
			require.NoError(t, err)
			require.Len(t, res.Objects, len(objs))
			var got []string
			for _, crt := range res.Certificates {
				got = append(got, crt.Namespace+"/"+crt.Name)
			}
			assert.Equal(t, tc.wantCerts, got)
			findings := map[int][]string{}
			for _, f := range res.Findings {
				findings[f.Index] = append(findings[f.Index], summary(finding.Findings{f.Finding})...)
			}
			if tc.wantFindings == nil {
				tc.wantFindings = map[int][]string{}
			}
			assert.Equal(t, tc.wantFindings, findings)
			for i, obj := range objs {
				assert.Equal(t, obj.GetNamespace(), res.Objects[i].GetNamespace(), "the printed object keeps the namespace it had")
			}
		})
	}
}

func TestPlanObjectsReportsFieldsOfTheWrongTypeAndChecksTheRest(t *testing.T) {
	objs := objectsFromYAML(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: fine}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: bad, namespace: ns}
spec: {dnsNames: not-a-list}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: acme, namespace: ns}
spec: {acme: {email: [ops@example.com], server: https://acme.example/directory, privateKeySecretRef: {name: k}, solvers: []}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: ns}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE}
`)
	res, err := PlanObjects(t.Context(), objs, certs.DefaultOptions(), "default")
	require.NoError(t, err, "a field of the wrong type is a finding, not an input that cannot be read")
	got := map[int][]string{}
	for _, f := range res.Findings {
		got[f.Index] = append(got[f.Index], summary(finding.Findings{f.Finding})...)
	}
	assert.Equal(t, []string{"error MC7003 spec.dnsNames"}, got[1], "the Certificate's dnsNames written as a string")
	assert.Equal(t, []string{"error MC7003 spec.acme.email"}, got[2], "the Issuer's email written as a list")
	assert.Equal(t, []string{"error MC2005 spec.servers[0].tls.credentialName"}, got[3], "the Gateway is still checked")
	assert.Len(t, res.Objects, len(objs), "every object is printed")
}

// The API server decodes metadata into ObjectMeta before any webhook sees
// the object: label and annotation values are strings, uid a string.
func TestPlanObjectsReportsMetadataTheAPIServerCannotDecode(t *testing.T) {
	objs := objectsFromYAML(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
  namespace: ns
  labels: {tier: 1}
  annotations: {cert-manager.io/cluster-issuer: ca, cert-manager.io/private-key-size: 4096, enabled: true}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [web.example.com]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other, namespace: ns, uid: 5}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [other.example.com]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: read, namespace: ns, labels: {meshcert.io/trust-bundle: true}}
`)
	res, err := PlanObjects(t.Context(), objs, certs.DefaultOptions(), "default")
	require.NoError(t, err)
	got := map[int][]string{}
	for _, f := range res.Findings {
		got[f.Index] = append(got[f.Index], summary(finding.Findings{f.Finding})...)
	}
	assert.Equal(t, []string{
		"error MC7004 metadata.labels[tier]",
		"error MC7004 metadata.annotations[cert-manager.io/private-key-size]",
		"error MC7004 metadata.annotations[enabled]",
	}, got[0])
	assert.Equal(t, []string{"error MC7004 metadata.uid"}, got[1])
	assert.Equal(t, []string{"error MC7003 metadata.labels"}, got[2], "a kind meshcert reads reports it once, as MC7003")
}

func TestPlanObjectsPlansTheLastCopyOfARepeatedObject(t *testing.T) {
	gateway := `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [HOST]
    tls: {mode: SIMPLE}
`
	objs := objectsFromYAML(t, strings.Replace(gateway, "HOST", "old.example.com", 1)+"\n---\n"+
		strings.Replace(gateway, "HOST", "new.example.com", 1)+"\n---\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: ca}\nspec: {selfSigned: {}}\n")
	res, err := PlanObjects(t.Context(), objs, certs.DefaultOptions(), "default")
	require.NoError(t, err)
	require.Len(t, res.Certificates, 1, "one Certificate, not one per copy")
	assert.Equal(t, []string{"new.example.com"}, res.Certificates[0].Spec.DNSNames, "the last copy wins, as with kubectl")
	require.Len(t, res.Findings, 1)
	assert.Equal(t, 1, res.Findings[0].Index, "reported on the later copy")
	assert.Equal(t, finding.CodeDuplicateObject, res.Findings[0].Code)
}

func TestJSONSizeBoundIsAnUpperBound(t *testing.T) {
	for name, v := range map[string]any{
		"a Gateway":                   objectsFromYAML(t, "apiVersion: v1\nkind: X\nmetadata: {name: a, annotations: {k: v}}\nspec: {servers: [{port: {number: 443}, hosts: [a.example.com]}]}\n")[0].Object,
		"control characters escape":   map[string]any{"s": "\x00\x01\x1f<>&\u2028"},
		"numbers, booleans and nulls": []any{1.5e300, int64(-9223372036854775808), true, nil},
		"nested empty maps and lists": map[string]any{"a": map[string]any{}, "b": []any{}},
	} {
		data, err := json.Marshal(v)
		require.NoError(t, err, name)
		assert.GreaterOrEqual(t, jsonSizeBound(v), len(data), name)
	}
}

func TestPlanObjectsGivesIstiodsCACertsToOneIstioOperator(t *testing.T) {
	operator := func(name, created string) string {
		meta := "{name: " + name + ", namespace: istio-system, annotations: {cert-manager.io/cluster-issuer: mesh-root}"
		if created != "" {
			meta += ", creationTimestamp: \"" + created + "\""
		}
		return "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: " + meta + "}\nspec: {}\n"
	}
	issuer := "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: mesh-root}\nspec: {selfSigned: {}}\n"
	for _, tc := range []struct {
		name, input string
		wantError   int // index of the IstioOperator that gets MC6010
	}{
		{"without timestamps the first in the input keeps cacerts", operator("a", "") + "---\n" + operator("b", "") + "---\n" + issuer, 1},
		{"the one stored first keeps cacerts, wherever it is in the input", operator("a", "2026-06-01T00:00:00Z") + "---\n" + operator("b", "2026-01-01T00:00:00Z") + "---\n" + issuer, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := PlanObjects(t.Context(), objectsFromYAML(t, tc.input), certs.DefaultOptions(), "default")
			require.NoError(t, err)
			var contested []int
			for _, f := range res.Findings {
				if f.Code == finding.CodeCACertsContested {
					contested = append(contested, f.Index)
				}
			}
			assert.Equal(t, []int{tc.wantError}, contested)
			var cacerts int
			for _, crt := range res.Certificates {
				if crt.Spec.SecretName == "cacerts" {
					cacerts++
				}
			}
			assert.Equal(t, 1, cacerts, "one Certificate writes cacerts")
		})
	}
}

func copiedDerivedCredential(shopCreated, legacyCreated string) string {
	meta := func(created string) string {
		if created == "" {
			return ""
		}
		return ", creationTimestamp: \"" + created + "\""
	}
	return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: team-a` + meta(shopCreated) + `, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.a.example.com]
    tls: {mode: SIMPLE}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: legacy, namespace: team-b` + meta(legacyCreated) + `}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [evil.b.example.com]
    tls: {mode: SIMPLE, credentialName: ` + certs.CredentialName("team-a", "shop", "https") + `}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {selfSigned: {}}
`
}

// What check reads of a plan is what inject reads, over every manifest the
// repository's tests feed the planner: the findings catalogue, the seed,
// rendered charts, the Sail and upstream samples.
func TestCheckObjectsIsPlanObjectsWithoutTheObjects(t *testing.T) {
	var files []string
	for _, dir := range []string{"findings", "seed", "rendered", "sail", "upstream"} {
		err := filepath.WalkDir(filepath.Join("..", "testdata", dir), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				files = append(files, path)
			}
			return err
		})
		require.NoError(t, err)
	}
	require.Greater(t, len(files), 100)
	planned := 0
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			objs, err := manifest.Read([]string{file}, nil)
			if err != nil {
				// Some findings are about input that does not decode.
				return
			}
			// compare checks input both ways and returns inject's output,
			// nil when planning failed (both the same way).
			compare := func(input []*unstructured.Unstructured, what string) []*unstructured.Unstructured {
				want, wantErr := PlanObjects(t.Context(), input, certs.DefaultOptions(), "default")
				got, err := CheckObjects(t.Context(), input, certs.DefaultOptions(), "default")
				if wantErr != nil {
					assert.EqualError(t, err, wantErr.Error(), what)
					return nil
				}
				require.NoError(t, err, what)
				assert.Nil(t, got.Objects, what)
				// inject's output read again: its Certificates are the
				// input's now, replaced in place rather than planned anew.
				output := slices.Clone(want.Objects)
				for _, crt := range want.Certificates {
					u, err := certs.CertificateObject(crt)
					require.NoError(t, err)
					output = append(output, u)
				}
				want.Objects = nil
				assert.Equal(t, want, got, what)
				return output
			}
			if output := compare(manifest.Unstructured(objs), "the input"); output != nil {
				planned++
				compare(output, "inject's output")
			}
		})
	}
	assert.Greater(t, planned, 100, "most of the files are planned, not skipped")
}
