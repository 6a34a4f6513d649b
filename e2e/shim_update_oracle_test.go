package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
)

// TestShimUpdatesAgreeWithCertManager runs cert-manager's own gateway-shim
// (the certmanager-oracle's shim mode, synced again while it writes, as
// its Certificate events requeue the Gateway in a cluster) on Gateways
// whose Certificate already exists, differing from what the shim writes in
// one field at a time, and compares the Certificate the shim settles on
// with what `meshcert inject` prints in its place (offline.PlanObjects,
// through gatewayapi.ShimPlan.Update): whether it is written, and its
// name, labels, annotations, owner and spec. Certificates the Gateway does
// not control are left alone by both.
func TestShimUpdatesAgreeWithCertManager(t *testing.T) {
	tools, _ := fidelityTools(t)
	// The Gateways' labels (nil: none) and annotations.
	gateways := []struct {
		labels      map[string]any
		annotations map[string]any
	}{
		{map[string]any{"app": "web"}, map[string]any{"cert-manager.io/cluster-issuer": "ca"}},
		{nil, map[string]any{"cert-manager.io/issuer": "ca"}},
		{map[string]any{}, map[string]any{
			"cert-manager.io/cluster-issuer": "ca", "cert-manager.io/common-name": "a.example.com",
			"cert-manager.io/duration": "2160h", "cert-manager.io/renew-before": "360h",
			"cert-manager.io/private-key-algorithm": "Ed25519", "cert-manager.io/revision-history-limit": "2",
		}},
	}
	d := func(s string) *metav1.Duration {
		v, err := time.ParseDuration(s)
		require.NoError(t, err)
		return &metav1.Duration{Duration: v}
	}
	key := func(c *cmapi.Certificate) *cmapi.CertificatePrivateKey {
		if c.Spec.PrivateKey == nil {
			c.Spec.PrivateKey = &cmapi.CertificatePrivateKey{}
		}
		return c.Spec.PrivateKey
	}
	mutations := []struct {
		name string
		edit func(*cmapi.Certificate)
	}{
		{"as the shim writes it", func(*cmapi.Certificate) {}},
		{"other DNS names", func(c *cmapi.Certificate) { c.Spec.DNSNames = []string{"old.example.com"} }},
		{"DNS names in another order", func(c *cmapi.Certificate) { c.Spec.DNSNames = []string{"b.example.com", "a.example.com"} }},
		{"no labels", func(c *cmapi.Certificate) { c.Labels = nil }},
		{"empty labels", func(c *cmapi.Certificate) { c.Labels = map[string]string{} }},
		{"other labels", func(c *cmapi.Certificate) { c.Labels = map[string]string{"app": "old"} }},
		{"a common name", func(c *cmapi.Certificate) { c.Spec.CommonName = "old.example.com" }},
		{"other usages", func(c *cmapi.Certificate) { c.Spec.Usages = []cmapi.KeyUsage{cmapi.UsageServerAuth} }},
		{"IP addresses", func(c *cmapi.Certificate) { c.Spec.IPAddresses = []string{"10.0.0.1"} }},
		{"a subject", func(c *cmapi.Certificate) { c.Spec.Subject = &cmapi.X509Subject{Organizations: []string{"old"}} }},
		{"another issuer group", func(c *cmapi.Certificate) { c.Spec.IssuerRef.Group = "example.com" }},
		{"another issuer kind", func(c *cmapi.Certificate) { c.Spec.IssuerRef.Kind = "Other" }},
		{"another issuer name", func(c *cmapi.Certificate) { c.Spec.IssuerRef.Name = "old" }},
		{"another secret name", func(c *cmapi.Certificate) { c.Spec.SecretName = "old" }},
		{"another secret name and other annotations", func(c *cmapi.Certificate) {
			c.Spec.SecretName = "old"
			c.Annotations = map[string]string{"example.com/note": "dropped"}
		}},
		{"a duration", func(c *cmapi.Certificate) { c.Spec.Duration = d("720h") }},
		{"a renewBefore", func(c *cmapi.Certificate) { c.Spec.RenewBefore = d("24h") }},
		{"a revision history limit", func(c *cmapi.Certificate) { c.Spec.RevisionHistoryLimit = new(int32(5)) }},
		{"an RSA key", func(c *cmapi.Certificate) { key(c).Algorithm = cmapi.RSAKeyAlgorithm }},
		{"a key size", func(c *cmapi.Certificate) { key(c).Size = 4096 }},
		{"a PKCS8 key encoding", func(c *cmapi.Certificate) { key(c).Encoding = cmapi.PKCS8 }},
		{"a Never rotation policy", func(c *cmapi.Certificate) { key(c).RotationPolicy = cmapi.RotationPolicyNever }},
		{"no annotations", func(c *cmapi.Certificate) { c.Annotations = nil }},
		{"other annotations and DNS names", func(c *cmapi.Certificate) {
			c.Annotations = map[string]string{"example.com/note": "kept"}
			c.Spec.DNSNames = []string{"old.example.com"}
		}},
		{"no controller", func(c *cmapi.Certificate) {
			c.OwnerReferences = nil
			c.Spec.DNSNames = []string{"old.example.com"}
		}},
		{"another object's", func(c *cmapi.Certificate) {
			c.OwnerReferences[0].UID = "someone-else"
			c.Spec.DNSNames = []string{"old.example.com"}
		}},
	}

	type testCase struct {
		name, namespace string
		certificate     int // its index in the input
	}
	var cases []testCase
	var docs []string
	listener := func(name string, port int64, host string) map[string]any {
		return map[string]any{"name": name, "port": port, "protocol": "HTTPS", "hostname": host, "tls": map[string]any{
			"mode": "Terminate", "certificateRefs": []any{map[string]any{"name": "web", "group": "", "kind": "Secret"}},
		}}
	}
	for g, gw := range gateways {
		for m, mutation := range mutations {
			namespace := fmt.Sprintf("g%d-m%d", g, m)
			metadata := map[string]any{"name": "web", "namespace": namespace, "uid": "uid-" + namespace, "annotations": gw.annotations}
			if gw.labels != nil {
				metadata["labels"] = gw.labels
			}
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": gatewayapi.Group + "/v1", "kind": gatewayapi.KindGateway, "metadata": metadata,
				"spec": map[string]any{"gatewayClassName": "istio", "listeners": []any{
					listener("a", 443, "a.example.com"), listener("b", 8443, "b.example.com"),
				}},
			}}
			gateway, err := yaml.Marshal(obj.Object)
			require.NoError(t, err)
			parsed, err := gatewayapi.Parse(obj)
			require.NoError(t, err)
			plan := gatewayapi.PlanShim(parsed, nil, gatewayapi.DefaultShimOptions())
			require.Len(t, plan.Certificates, 1, "%s: %v", gateway, plan.Findings)
			existing := plan.Certificates[0].DeepCopy()
			mutation.edit(existing)
			u, err := certs.CertificateObject(existing)
			require.NoError(t, err)
			data, err := yaml.Marshal(u.Object)
			require.NoError(t, err)
			docs = append(docs, string(gateway), string(data))
			cases = append(cases, testCase{name: fmt.Sprintf("gateway %d, %s", g, mutation.name), namespace: namespace, certificate: len(docs) - 1})
		}
	}
	input := strings.Join(docs, "---\n")
	file := filepath.Join(t.TempDir(), "shim-updates.yaml")
	require.NoError(t, os.WriteFile(file, []byte(input), 0o600))

	// What meshcert inject prints for each existing Certificate.
	objs, err := manifest.Decode(file, []byte(input))
	require.NoError(t, err)
	res, err := offline.PlanObjects(t.Context(), manifest.Unstructured(objs), certs.DefaultOptions(), "default")
	require.NoError(t, err)
	for _, crt := range res.ShimCertificates {
		t.Errorf("meshcert predicts Certificate %s/%s, which the input already holds", crt.Namespace, crt.Name)
	}

	// What the shim leaves or updates it to.
	verdicts := map[string]shimVerdict{}
	for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, nil, tools.CertManagerOracle, "shim", "--settle", file)), []byte("\n")) {
		var v shimVerdict
		require.NoError(t, json.Unmarshal(line, &v), "%s", line)
		verdicts[v.Namespace] = v
	}
	require.Len(t, verdicts, len(cases), "one verdict per Gateway")

	updated := 0
	for _, tc := range cases {
		v := verdicts[tc.namespace]
		require.Empty(t, v.Error, tc.name)
		shimUpdated := false
		for _, e := range v.Events {
			shimUpdated = shimUpdated || strings.HasPrefix(e, "Normal UpdateCertificate ") || strings.HasPrefix(e, "Normal DeleteCertificate ")
		}
		require.Len(t, v.Certificates, 1, "%s: the shim creates no other Certificate (events %q)", tc.name, v.Events)
		want := certificateJSON(v.Certificates[0].Certificate)

		printed := &cmapi.Certificate{}
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(res.Objects[tc.certificate].Object, printed))
		meshcertUpdated := !equality.Semantic.DeepEqual(res.Objects[tc.certificate].Object, objs[tc.certificate].Object.Object)
		assert.Equal(t, shimUpdated, meshcertUpdated, "%s: the shim writes the Certificate (events %q)", tc.name, v.Events)
		assert.Equal(t, want, certificateJSON(printed), "%s: the Certificate after the shim's sync, and as meshcert inject prints it", tc.name)
		if shimUpdated {
			updated++
		}
	}
	t.Logf("%d existing Certificates compared with cert-manager's gateway-shim, %d of them written", len(cases), updated)
	require.Positive(t, updated)
	require.Less(t, updated, len(cases))
}
