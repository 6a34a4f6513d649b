package istiooperator_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/istiooperator"
	"github.com/meshcert/meshcert/offline"
)

// now is when the fixtures are judged: testdata/pki certificates are valid
// from 2026 to 2126, expired.pem ended in 2021.
var now = time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)

func options() certs.Options {
	opts := certs.DefaultOptions()
	opts.Now = func() time.Time { return now }
	return opts
}

// pki reads a testdata/pki file (see gen.go there).
func pki(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "pki", name))
	require.NoError(t, err)
	return string(data)
}

// block indents text as a YAML literal block at indent spaces.
func block(text string, indent int) string {
	pad := strings.Repeat(" ", indent)
	return "|\n" + pad + strings.ReplaceAll(strings.TrimRight(text, "\n"), "\n", "\n"+pad)
}

// trustBundle is a labelled ConfigMap holding pemData under ca.crt.
func trustBundle(namespace, name, pemData string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
  namespace: %s
  labels: {meshcert.io/trust-bundle: "true"}
data:
  ca.crt: %s
`, name, namespace, block(pemData, 4))
}

const caIssuer = `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: mesh-root}
spec:
  ca: {secretName: mesh-root}
`

const acmeIssuer = `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: letsencrypt-staging-cluster-b
spec:
  acme:
    server: https://acme-staging-v02.api.letsencrypt.org/directory
    email: your-email@example.com
    privateKeySecretRef:
      name: letsencrypt-staging-cluster-b-private-key
    solvers:
    - http01:
        ingress:
          class: nginx
`

func objects(t testing.TB, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, stream := range docs {
		for doc := range strings.SplitSeq(stream, "\n---\n") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			m := map[string]any{}
			require.NoError(t, yaml.Unmarshal([]byte(doc), &m), "%s", doc)
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out
}

// planFirst plans the first object (the IstioOperator) against all of them.
func planFirst(t testing.TB, opts certs.Options, docs ...string) (*unstructured.Unstructured, *istiooperator.Plan) {
	t.Helper()
	objs := objects(t, docs...)
	index := offline.NewIndex()
	for _, obj := range objs {
		require.NoError(t, index.Add(obj))
	}
	return objs[0], istiooperator.PlanIstioOperator(t.Context(), objs[0], index, opts)
}

func codes(fs finding.Findings) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s", f.Severity, f.Code, f.Field))
	}
	return out
}

func operator(annotations, spec string) string {
	return fmt.Sprintf(`apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: mesh
  namespace: istio-system
  annotations:
%s
spec:
%s
`, annotations, spec)
}

// In the cluster, cert-manager writes the intermediate beside cacerts and
// the controller composes cacerts from it, so a new root reaches istiod in
// steps it accepts (package meshca).
func TestMeshCACertificateWhereCACertsIsComposed(t *testing.T) {
	opts := options()
	opts.ComposeCACerts = true
	_, plan := planFirst(t, opts, operator(`    cert-manager.io/cluster-issuer: mesh-root`, `  values: {}`), caIssuer)
	require.NotNil(t, plan.Certificate)
	assert.Equal(t, "cacerts", plan.Certificate.Name, "the Certificate keeps its name")
	assert.Equal(t, "cacerts-issued", plan.Certificate.Spec.SecretName)
}

func TestMeshCACertificate(t *testing.T) {
	_, plan := planFirst(t, options(), operator(`    cert-manager.io/cluster-issuer: mesh-root
    cert-manager.io/duration: 8760h
    cert-manager.io/renew-before: 720h`, `  values:
    global:
      multiCluster: {clusterName: cluster-a}`), caIssuer)
	require.Empty(t, codes(plan.Findings))
	require.NotNil(t, plan.Certificate)
	crt := plan.Certificate
	// What istiod loads (DESIGN.md §2: cacerts in istiod's namespace, a CA)
	// and what the issue asks for: CA usages, a documented key, the
	// annotations' duration and renew-before, a subject naming the cluster.
	assert.Equal(t, "cacerts", crt.Name)
	assert.Equal(t, "istio-system", crt.Namespace)
	assert.Equal(t, "cacerts", crt.Spec.SecretName, "outside a cluster nothing composes cacerts: the Certificate writes it")
	assert.True(t, crt.Spec.IsCA)
	assert.ElementsMatch(t, []cmapi.KeyUsage{cmapi.UsageCertSign, cmapi.UsageCRLSign, cmapi.UsageDigitalSignature}, crt.Spec.Usages)
	assert.Equal(t, cmmeta.IssuerReference{Name: "mesh-root", Kind: "ClusterIssuer"}, crt.Spec.IssuerRef)
	require.NotNil(t, crt.Spec.PrivateKey)
	assert.Equal(t, cmapi.RSAKeyAlgorithm, crt.Spec.PrivateKey.Algorithm)
	assert.Equal(t, 4096, crt.Spec.PrivateKey.Size)
	require.NotNil(t, crt.Spec.Duration)
	assert.Equal(t, 8760*time.Hour, crt.Spec.Duration.Duration)
	require.NotNil(t, crt.Spec.RenewBefore)
	assert.Equal(t, 720*time.Hour, crt.Spec.RenewBefore.Duration)
	assert.Contains(t, crt.Spec.CommonName, "cluster-a")
	assert.Empty(t, crt.Spec.DNSNames)
	assert.True(t, istiooperator.OwnsCertificate(crt, "istio-system", "mesh"))
	assert.False(t, istiooperator.OwnsCertificate(crt, "istio-system", "other"))
	assert.Nil(t, plan.Mutated(), "an issuer annotation alone injects nothing")
}

func TestMeshCAKeyFromAnnotations(t *testing.T) {
	_, plan := planFirst(t, options(), operator(`    cert-manager.io/cluster-issuer: mesh-root
    cert-manager.io/private-key-algorithm: ECDSA
    cert-manager.io/private-key-size: "384"`, `  {}`), caIssuer)
	require.NotNil(t, plan.Certificate)
	assert.Equal(t, cmapi.ECDSAKeyAlgorithm, plan.Certificate.Spec.PrivateKey.Algorithm)
	assert.Equal(t, 384, plan.Certificate.Spec.PrivateKey.Size)
	assert.Equal(t, "istiod CA", plan.Certificate.Spec.CommonName, "no clusterName, no cluster in the name")
}

func TestMeshCAFindings(t *testing.T) {
	pathZeroSecret := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: mesh-root, namespace: cert-manager}
type: kubernetes.io/tls
stringData:
  tls.crt: %s
  tls.key: unused
`, block(pki(t, "pathlen0-ca.pem"), 4))
	leafSecret := strings.Replace(pathZeroSecret, block(pki(t, "pathlen0-ca.pem"), 4), block(pki(t, "leaf.pem"), 4), 1)
	rootSecret := strings.Replace(pathZeroSecret, block(pki(t, "pathlen0-ca.pem"), 4), block(pki(t, "root-a.pem"), 4), 1)
	handMade := `apiVersion: v1
kind: Secret
metadata: {name: cacerts, namespace: istio-system}
data: {ca-cert.pem: "", ca-key.pem: "", root-cert.pem: "", cert-chain.pem: ""}
`
	issuedByCertManager := `apiVersion: v1
kind: Secret
metadata:
  name: cacerts
  namespace: istio-system
  annotations: {cert-manager.io/certificate-name: cacerts}
type: kubernetes.io/tls
data: {tls.crt: "", tls.key: "", ca.crt: ""}
`
	othersCertificate := `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: istiod-ca, namespace: istio-system}
spec:
  secretName: cacerts
  isCA: true
  commonName: theirs
  issuerRef: {name: mesh-root, kind: ClusterIssuer}
`
	tests := []struct {
		name            string
		annotations     string
		spec            string
		others          []string
		opts            func(*certs.Options)
		want            []string
		wantCertificate bool
		wantNamespace   string
		message         string
	}{
		{
			name:        "an ACME ClusterIssuer (the seed's) cannot sign istiod's CA",
			annotations: `    cert-manager.io/cluster-issuer: letsencrypt-staging-cluster-b`,
			others:      []string{acmeIssuer},
			want:        []string{"error MC6004 metadata.annotations[cert-manager.io/cluster-issuer]"},
			message:     "ACME",
		},
		{
			name:        "a CA issuer whose CA has path length 0 cannot sign a CA",
			annotations: `    cert-manager.io/cluster-issuer: mesh-root`,
			others:      []string{caIssuer, pathZeroSecret},
			want:        []string{"error MC6004 metadata.annotations[cert-manager.io/cluster-issuer]"},
			message:     "path length is 0",
		},
		{
			name:        "a CA issuer whose Secret holds a leaf cannot sign a CA",
			annotations: `    cert-manager.io/cluster-issuer: mesh-root`,
			others:      []string{caIssuer, leafSecret},
			want:        []string{"error MC6004 metadata.annotations[cert-manager.io/cluster-issuer]"},
			message:     "not a CA certificate",
		},
		{
			name:            "a CA issuer holding a root may sign a CA",
			annotations:     `    cert-manager.io/cluster-issuer: mesh-root`,
			others:          []string{caIssuer, rootSecret},
			want:            []string{},
			wantCertificate: true,
		},
		{
			name:        "the ClusterIssuer's Secret is looked up in cert-manager's cluster resource namespace",
			annotations: `    cert-manager.io/cluster-issuer: mesh-root`,
			others:      []string{caIssuer, strings.Replace(pathZeroSecret, "namespace: cert-manager", "namespace: cm", 1)},
			opts:        func(o *certs.Options) { o.ClusterResourceNamespace = "cm" },
			want:        []string{"error MC6004 metadata.annotations[cert-manager.io/cluster-issuer]"},
		},
		{
			name:        "a hand-made cacerts Secret is reported and left alone",
			annotations: `    cert-manager.io/cluster-issuer: mesh-root`,
			others:      []string{caIssuer, handMade},
			want:        []string{"warning MC6005 metadata.annotations"},
			message:     "plugged-in CA",
		},
		{
			name:            "a cacerts Secret cert-manager wrote for a Certificate cacerts is meshcert's to keep",
			annotations:     `    cert-manager.io/cluster-issuer: mesh-root`,
			others:          []string{caIssuer, issuedByCertManager},
			want:            []string{},
			wantCertificate: true,
		},
		{
			name:        "another Certificate writing cacerts is reported and left alone",
			annotations: `    cert-manager.io/cluster-issuer: mesh-root`,
			others:      []string{caIssuer, othersCertificate},
			want:        []string{"warning MC6005 metadata.annotations"},
			message:     "istio-system/istiod-ca",
		},
		{
			name: "alt-names and usages have no place on a CA",
			annotations: `    cert-manager.io/cluster-issuer: mesh-root
    cert-manager.io/alt-names: istiod.example.com
    cert-manager.io/usages: server auth`,
			others: []string{caIssuer},
			want: []string{
				"error MC1002 metadata.annotations[cert-manager.io/alt-names]",
				"error MC1002 metadata.annotations[cert-manager.io/usages]",
			},
		},
		{
			name: "issuer and cluster-issuer together are cert-manager's configuration error",
			annotations: `    cert-manager.io/cluster-issuer: mesh-root
    cert-manager.io/issuer: mesh-root`,
			others: []string{caIssuer},
			want:   []string{"error MC1001 metadata.annotations[cert-manager.io/cluster-issuer]"},
		},
		{
			name:            "an Issuer must be in istiod's namespace, where the Certificate is",
			annotations:     `    cert-manager.io/issuer: mesh-ca`,
			others:          []string{"apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: mesh-ca, namespace: default}\nspec: {selfSigned: {}}\n"},
			want:            []string{"warning MC5003 metadata.annotations[cert-manager.io/issuer]"},
			wantCertificate: true,
		},
		{
			name:            "another cluster's issuer cannot be named (the seed's mistake)",
			annotations:     `    cert-manager.io/cluster-issuer: letsencrypt-staging-cluster-b`,
			want:            []string{"warning MC5002 metadata.annotations[cert-manager.io/cluster-issuer]"},
			message:         "same cluster",
			wantCertificate: true,
		},
		{
			name:            "values.global.istioNamespace is where istiod and cacerts are",
			annotations:     `    cert-manager.io/cluster-issuer: mesh-root`,
			spec:            "  values: {global: {istioNamespace: mesh-system}}",
			others:          []string{caIssuer},
			want:            []string{},
			wantCertificate: true,
			wantNamespace:   "mesh-system",
		},
		{
			name:            "spec.namespace alone is ignored by istioctl, so cacerts goes to istio-system, with a warning",
			annotations:     `    cert-manager.io/cluster-issuer: mesh-root`,
			spec:            "  namespace: mesh-system",
			others:          []string{caIssuer},
			want:            []string{"warning MC6009 spec.namespace"},
			wantCertificate: true,
			wantNamespace:   "istio-system",
		},
		{
			name:            "no issuer annotation, no Certificate",
			annotations:     `    example.com/other: "x"`,
			others:          []string{caIssuer},
			want:            []string{},
			wantCertificate: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := options()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			spec := tt.spec
			if spec == "" {
				spec = "  {}"
			}
			_, plan := planFirst(t, opts, append([]string{operator(tt.annotations, spec)}, tt.others...)...)
			assert.Equal(t, tt.want, codes(plan.Findings))
			assert.Equal(t, tt.wantCertificate, plan.Certificate != nil, "Certificate planned")
			if tt.message != "" {
				require.NotEmpty(t, plan.Findings)
				assert.Contains(t, plan.Findings[0].Message, tt.message)
			}
			if tt.wantNamespace != "" && plan.Certificate != nil {
				assert.Equal(t, tt.wantNamespace, plan.Certificate.Namespace)
			}
		})
	}
}

// caCertificates returns the pem entries of the injected IstioOperator.
func caCertificates(t testing.TB, obj *unstructured.Unstructured) []any {
	t.Helper()
	list, _, err := unstructured.NestedSlice(obj.Object, "spec", "meshConfig", "caCertificates")
	require.NoError(t, err)
	return list
}

func TestPeerRootsInjected(t *testing.T) {
	rootA, rootB := pki(t, "root-a.pem"), pki(t, "root-b.pem")
	_, plan := planFirst(t, options(),
		operator(`    meshcert.io/peer-roots: "cluster-a-root, istio-system/cluster-b-root:ca.crt, istio-system/both"`, "  {}"),
		trustBundle("istio-system", "cluster-a-root", rootA),
		trustBundle("istio-system", "cluster-b-root", rootB),
		// The same roots again, in the other order: de-duplicated.
		trustBundle("istio-system", "both", rootB+rootA))
	require.Empty(t, codes(plan.Findings))
	mutated := plan.Mutated()
	require.NotNil(t, mutated)

	entries := caCertificates(t, mutated)
	require.Len(t, entries, 2, "each root once")
	var got []string
	for _, e := range entries {
		m := e.(map[string]any)
		assert.Len(t, m, 1, "a pem entry only")
		got = append(got, m["pem"].(string))
	}
	assert.ElementsMatch(t, []string{rootA, rootB}, got)
	// Stable: sorted by fingerprint, whatever the order of the sources.
	fp := func(s string) string { return fingerprintOf(t, s) }
	assert.Less(t, fp(got[0]), fp(got[1]))
	assert.Equal(t, fp(got[0])+","+fp(got[1]), mutated.GetAnnotations()[istiooperator.AnnotationInjectedRoots])

	// What multi-root trust needs in the targeted Istio.
	env, _, _ := unstructured.NestedString(mutated.Object, "spec", "values", "pilot", "env", "ISTIO_MULTIROOT_MESH")
	assert.Equal(t, "true", env)
	agent, _, _ := unstructured.NestedString(mutated.Object, "spec", "meshConfig", "defaultConfig", "proxyMetadata", "PROXY_CONFIG_XDS_AGENT")
	assert.Equal(t, "true", agent)

	// Injecting again with the same roots changes nothing.
	index := offline.NewIndex()
	for _, obj := range objects(t, trustBundle("istio-system", "cluster-a-root", rootA), trustBundle("istio-system", "cluster-b-root", rootB), trustBundle("istio-system", "both", rootB+rootA)) {
		require.NoError(t, index.Add(obj))
	}
	again := istiooperator.PlanIstioOperator(t.Context(), mutated, index, options())
	assert.Nil(t, again.Mutated(), "re-injection must change nothing")
	assert.Empty(t, codes(again.Findings))
}

func fingerprintOf(t testing.TB, pemData string) string {
	t.Helper()
	anchors, problems := certs.ParseTrustAnchors([]byte(pemData), now)
	require.Empty(t, problems)
	require.Len(t, anchors, 1)
	return anchors[0].Fingerprint
}

func TestPeerRootsKeepOthersEntriesAndReplaceOwn(t *testing.T) {
	rootA, rootB := pki(t, "root-a.pem"), pki(t, "root-b.pem")
	userEntry := fmt.Sprintf(`    - pem: %s
      trustDomains: [cluster-b.local]`, block(rootB, 8))
	spiffe := `    - spiffeBundleUrl: https://bundles.example.com/td`
	oldInjected := `    - pem: ` + block(rootA, 8)
	spec := "  meshConfig:\n    caCertificates:\n" + spiffe + "\n" + userEntry + "\n" + oldInjected

	t.Run("a root someone already trusts is not added again, and theirs stay", func(t *testing.T) {
		_, plan := planFirst(t, options(),
			operator(`    meshcert.io/peer-roots: roots`, "  meshConfig:\n    caCertificates:\n"+spiffe+"\n"+userEntry),
			trustBundle("istio-system", "roots", rootA+rootB))
		require.Empty(t, codes(plan.Findings))
		entries := caCertificates(t, plan.Mutated())
		require.Len(t, entries, 3)
		assert.Equal(t, "https://bundles.example.com/td", entries[0].(map[string]any)["spiffeBundleUrl"])
		assert.Equal(t, []any{"cluster-b.local"}, entries[1].(map[string]any)["trustDomains"])
		assert.Equal(t, rootA, entries[2].(map[string]any)["pem"])
		assert.Equal(t, fingerprintOf(t, rootA), plan.Mutated().GetAnnotations()[istiooperator.AnnotationInjectedRoots],
			"only what meshcert added is recorded")
	})
	t.Run("a pem beside a spiffeBundleUrl is no trust, since Istio keeps the URL, so meshcert adds the root", func(t *testing.T) {
		both := "    - spiffeBundleUrl: https://bundles.example.com/td\n      pem: " + block(rootB, 8)
		_, plan := planFirst(t, options(),
			operator(`    meshcert.io/peer-roots: roots`, "  meshConfig:\n    caCertificates:\n"+both),
			trustBundle("istio-system", "roots", rootB))
		require.Equal(t, []string{"warning MC6011 spec.meshConfig.caCertificates[0].spiffeBundleUrl"}, codes(plan.Findings))
		entries := caCertificates(t, plan.Mutated())
		require.Len(t, entries, 2)
		assert.Equal(t, rootB, entries[1].(map[string]any)["pem"])
	})
	t.Run("a rotated root replaces the one meshcert injected", func(t *testing.T) {
		rootC := pki(t, "pathlen0-ca.pem")
		_, plan := planFirst(t, options(),
			operator(`    meshcert.io/peer-roots: roots
    meshcert.io/injected-peer-roots: `+fingerprintOf(t, rootA), spec),
			trustBundle("istio-system", "roots", rootC))
		require.Empty(t, codes(plan.Findings))
		entries := caCertificates(t, plan.Mutated())
		require.Len(t, entries, 3)
		assert.Equal(t, rootC, entries[2].(map[string]any)["pem"])
		for _, e := range entries {
			assert.NotEqual(t, rootA, e.(map[string]any)["pem"], "the old root must go")
		}
	})
	t.Run("without the annotation meshcert removes what it injected, nothing else", func(t *testing.T) {
		_, plan := planFirst(t, options(),
			operator(`    meshcert.io/injected-peer-roots: `+fingerprintOf(t, rootA), spec))
		require.Empty(t, codes(plan.Findings))
		mutated := plan.Mutated()
		require.NotNil(t, mutated)
		assert.Len(t, caCertificates(t, mutated), 2)
		assert.NotContains(t, mutated.GetAnnotations(), istiooperator.AnnotationInjectedRoots)
	})
}

func TestPeerRootsProblems(t *testing.T) {
	rootA := pki(t, "root-a.pem")
	key := "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
	tests := []struct {
		name    string
		value   string
		bundles []string
		strict  bool
		want    []string
		message string
	}{
		{"an expired root is refused", "roots", []string{trustBundle("istio-system", "roots", rootA+pki(t, "expired.pem"))},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, "expired on 2021-01-01"},
		{"a root not valid yet is refused", "roots", []string{trustBundle("istio-system", "roots", pki(t, "not-yet-valid.pem"))},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, "not valid before 2100"},
		{"a leaf issued by a CA is not a root", "roots", []string{trustBundle("istio-system", "roots", pki(t, "leaf.pem"))},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, "not a CA certificate"},
		{"a self-signed leaf posing as a root is not a root", "roots", []string{trustBundle("istio-system", "roots", pki(t, "self-signed-leaf.pem"))},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, "not a CA certificate"},
		{"a CA that may not sign certificates is refused", "roots", []string{trustBundle("istio-system", "roots", pki(t, "ca-without-certsign.pem"))},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, "keyCertSign"},
		{"garbage is not PEM", "roots", []string{trustBundle("istio-system", "roots", "this is not a certificate")},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, "holds no PEM block"},
		{"garbage after a root is not PEM", "roots", []string{trustBundle("istio-system", "roots", rootA+"trailing words")},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, "after the last PEM block are not PEM"},
		{"a PEM block that is not a certificate is refused", "roots", []string{trustBundle("istio-system", "roots", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, "not a valid X.509 certificate"},
		{"a private key in a trust bundle is called out", "roots", []string{trustBundle("istio-system", "roots", rootA+key)},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, "private key must never"},
		{"an unlabelled ConfigMap is refused, as the server could not see it", "roots",
			[]string{strings.Replace(trustBundle("istio-system", "roots", rootA), `  labels: {meshcert.io/trust-bundle: "true"}`+"\n", "", 1)},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, "not labelled meshcert.io/trust-bundle"},
		{"a missing key is named", "roots:root.pem", []string{trustBundle("istio-system", "roots", rootA)},
			false, []string{"error MC6007 metadata.annotations[meshcert.io/peer-roots]"}, `has no key "root.pem" (it has "ca.crt")`},
		{"a missing ConfigMap may not be applied yet", "other-ns/roots", []string{trustBundle("istio-system", "roots", rootA)},
			false, []string{"warning MC6006 metadata.annotations[meshcert.io/peer-roots]"}, "ConfigMap other-ns/roots"},
		{"a missing ConfigMap is an error when strict", "other-ns/roots", nil,
			true, []string{"error MC6006 metadata.annotations[meshcert.io/peer-roots]"}, ""},
		{"an entry that is not [namespace/]name[:key] is malformed", "Not_A_Name", nil,
			false, []string{"error MC1003 metadata.annotations[meshcert.io/peer-roots]"}, "Not_A_Name"},
		{"an empty list names nothing", " , ", nil,
			false, []string{"error MC1003 metadata.annotations[meshcert.io/peer-roots]"}, "names no ConfigMap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := options()
			opts.Strict = tt.strict
			docs := append([]string{operator(fmt.Sprintf("    meshcert.io/peer-roots: %q", tt.value), "  {}")}, tt.bundles...)
			_, plan := planFirst(t, opts, docs...)
			assert.Equal(t, tt.want, codes(plan.Findings))
			assert.Nil(t, plan.Mutated(), "with a bad source nothing is injected")
			if tt.message != "" {
				require.NotEmpty(t, plan.Findings)
				assert.Contains(t, plan.Findings[0].Message, tt.message)
			}
		})
	}
}

func TestPeerRootsRespectMultiRootSettings(t *testing.T) {
	rootA := pki(t, "root-a.pem")
	t.Run("ISTIO_MULTIROOT_MESH set to false is reported, not overwritten", func(t *testing.T) {
		_, plan := planFirst(t, options(),
			operator(`    meshcert.io/peer-roots: roots`, `  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: "false"}}}`),
			trustBundle("istio-system", "roots", rootA))
		assert.Equal(t, []string{"error MC6008 spec.values.pilot.env.ISTIO_MULTIROOT_MESH"}, codes(plan.Findings))
		assert.Nil(t, plan.Mutated())
	})
	t.Run("settings already true are kept as written", func(t *testing.T) {
		_, plan := planFirst(t, options(),
			operator(`    meshcert.io/peer-roots: roots`, `  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: true}}}
  meshConfig: {defaultConfig: {proxyMetadata: {PROXY_CONFIG_XDS_AGENT: "True"}}}`),
			trustBundle("istio-system", "roots", rootA))
		require.Empty(t, codes(plan.Findings))
		v, _, _ := unstructured.NestedFieldNoCopy(plan.Mutated().Object, "spec", "values", "pilot", "env", "ISTIO_MULTIROOT_MESH")
		assert.Equal(t, true, v)
	})
	t.Run("a values.pilot that is not a map cannot take the setting", func(t *testing.T) {
		_, plan := planFirst(t, options(),
			operator(`    meshcert.io/peer-roots: roots`, `  values: {pilot: "x"}`),
			trustBundle("istio-system", "roots", rootA))
		assert.Contains(t, codes(plan.Findings), "error MC6008 spec.values.pilot.env.ISTIO_MULTIROOT_MESH")
		assert.Nil(t, plan.Mutated())
	})
}

func TestPlanIgnoresOtherObjects(t *testing.T) {
	plan := istiooperator.PlanIstioOperator(t.Context(), &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}, offline.NewIndex(), options())
	assert.Nil(t, plan.Certificate)
	assert.Nil(t, plan.Mutated())
	assert.Empty(t, plan.Findings)
	assert.NotNil(t, istiooperator.PlanIstioOperator(t.Context(), nil, offline.NewIndex(), options()))
}

// The seed's two IstioOperators keep their findings through the planner,
// and neither gets a Certificate or an injection: neither names an issuer.
func TestSeedIstioOperatorsPlanned(t *testing.T) {
	for file, want := range map[string][]string{
		"istiooperator-ca.yaml": {
			"error MC6001 spec.meshConfig.caCertificates[0].certs",
			"error MC6001 spec.meshConfig.caCertificates[0].name",
		},
		"istiooperator-gateway.yaml": {"error MC6002 spec.components.ingressGateways[0].k8s.env[0]"},
	} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "testdata", "seed", file))
			require.NoError(t, err)
			_, plan := planFirst(t, options(), string(data))
			assert.Equal(t, want, codes(plan.Findings))
			assert.Nil(t, plan.Certificate)
			assert.Nil(t, plan.Mutated())
		})
	}
}

// The drain of a root rotation is the longest a workload certificate lives:
// istiod refuses longer than MAX_WORKLOAD_CERT_TTL (the k8s.env entry
// istioctl renders over values.pilot.env), proxies ask for SECRET_TTL, and
// Istio's default for that is 24h.
func TestWorkloadCertificateTTL(t *testing.T) {
	tests := []struct {
		name     string
		spec     string
		want     time.Duration
		wantFrom string
	}{
		{name: "nothing set: Istio's default SECRET_TTL", spec: `{}`, want: 24 * time.Hour, wantFrom: "Istio's default SECRET_TTL"},
		{name: "istiod's maximum bounds every workload certificate",
			spec: `{values: {pilot: {env: {MAX_WORKLOAD_CERT_TTL: 45s}}}, meshConfig: {defaultConfig: {proxyMetadata: {SECRET_TTL: 12h}}}}`,
			want: 45 * time.Second, wantFrom: "spec.values.pilot.env.MAX_WORKLOAD_CERT_TTL"},
		{name: "the component's env entry is what istiod runs with",
			spec: `{values: {pilot: {env: {MAX_WORKLOAD_CERT_TTL: 45s}}}, components: {pilot: {k8s: {env: [{name: MAX_WORKLOAD_CERT_TTL, value: 2h}]}}}}`,
			want: 2 * time.Hour, wantFrom: "spec.components.pilot.k8s.env[0]"},
		{name: "without a maximum, what proxies ask for by default",
			spec: `{meshConfig: {defaultConfig: {proxyMetadata: {SECRET_TTL: 12h}}}}`,
			want: 12 * time.Hour, wantFrom: "spec.meshConfig.defaultConfig.proxyMetadata.SECRET_TTL"},
		{name: "a value istiod cannot parse is skipped",
			spec: `{values: {pilot: {env: {MAX_WORKLOAD_CERT_TTL: forever}}}}`,
			want: 24 * time.Hour, wantFrom: "Istio's default SECRET_TTL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{}
			require.NoError(t, yaml.Unmarshal([]byte("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: mesh, namespace: istio-system}\nspec: "+tc.spec), &obj.Object))
			plan := istiooperator.PlanIstioOperator(t.Context(), obj, offline.NewIndex(), certs.Options{})
			assert.Equal(t, tc.want, plan.WorkloadCertificateTTL)
			assert.Equal(t, tc.wantFrom, plan.WorkloadCertificateTTLFrom)
		})
	}
}
