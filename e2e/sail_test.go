package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/meshca"
)

// The Sail Operator's API (github.com/istio-ecosystem/sail-operator api/v1),
// spelled here from its CRDs, not from meshcert's code.
var sailIstioGVK = schema.GroupVersionKind{Group: "sailoperator.io", Version: "v1", Kind: "Istio"}

// sailCRDFiles are Sail's CRDs as fixtures (testdata/sail/SOURCES: tag
// 1.30.3, chart/crds).
var sailCRDFiles = []string{
	filepath.Join(repoRoot, "testdata", "sail", "crds", "sailoperator.io_istios.yaml"),
	filepath.Join(repoRoot, "testdata", "sail", "crds", "sailoperator.io_istiorevisions.yaml"),
}

// The manifests the test applies with kubectl (e2e/testdata/sail).
var (
	sailIstioManifest              = filepath.Join("testdata", "sail", "istio.yaml")
	sailInvalidTrustDomainManifest = filepath.Join("testdata", "sail", "istio-invalid-trust-domain.yaml")
	sailEnforcedManifest           = filepath.Join("testdata", "sail", "istio-enforced.yaml")
)

// istiodChartPath is Istio's istiod chart inside the istio.io/istio module:
// what Sail embeds as resources/<version>/charts/istiod (its
// hack/download-charts.sh copies manifests/charts/istio-control/istio-discovery).
const istiodChartPath = "manifests/charts/istio-control/istio-discovery"

// meshRootManifests are what the operator applies besides the Istio or
// IstioOperator: the
// mesh root, made offline, imported as a CA ClusterIssuer (the Secret in
// cert-manager's cluster resource namespace), and the peer clusters' roots
// as a trust bundle ConfigMap in istiod's namespace, as trust-manager would
// write it.
func meshRootManifests(root offlineCA, peerRoots []byte) string {
	indent := func(b []byte) string {
		return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n    ")
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: mesh-root, namespace: %[1]s}
type: kubernetes.io/tls
stringData:
  tls.crt: |
    %[2]s
  tls.key: |
    %[3]s
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: mesh-root}
spec:
  ca: {secretName: mesh-root}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: peer-roots
  namespace: istio-system
  labels: {meshcert.io/trust-bundle: "true"}
data:
  ca.crt: |
    %[4]s
`, framework.CertManagerNamespace, indent(root.certPEM), indent(root.keyPEM), indent(peerRoots))
}

// TestSailIstioOnTheRealStack installs the Sail Operator's CRDs into the
// real API server, has meshcert (webhooks and controller) act on an Istio
// applied with kubectl, and then follows that Istio the way Sail would:
// its stored spec.values, with Sail's forced overrides, rendered by Istio's
// own istiod chart with helm, and the rendered mesh config and istiod env
// run by the real istiod, which signs a workload certificate with the
// cacerts meshcert asked cert-manager for.
//
// What is expected comes from Sail and Istio: where Sail's schema keeps
// the mesh config (spec.values.meshConfig, typed: the API server prunes
// what it does not know), the two multi-root switches as Sail's plug-in CA
// guide sets them (testdata/sail/examples/06-plugin-ca-multiroot-patch.yaml),
// and what Istio's chart and istiod make of them.
func TestSailIstioOnTheRealStack(t *testing.T) {
	began := time.Now()
	cp := framework.Start(t)
	// meshcert's controller watches only the kinds whose CRDs are served
	// when it starts: the CRDs first.
	require.NoError(t, cp.InstallCRDFiles(t.Context(), sailCRDFiles...))
	startMeshcert(t, cp, framework.MeshcertConfig{})
	c := cp.Client

	root := newOfflineCA(t, "mesh root")
	peer := newOfflineCA(t, "peer cluster root")
	issuer := meshRootManifests(root, peer.certPEM)
	eventually(t, "issuer and trust bundle applied", func(context.Context) error {
		if _, stderr, err := kubectlRun(t, cp, issuer, "apply", "-f", "-"); err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		return nil
	})
	// The mutating webhook reads the trust bundle from meshcert's cache: a
	// server-side dry run shows when it is there (meshcert records what it
	// injected in an annotation, which no schema prunes), so the real apply
	// is the one that injects. Where the roots land is checked below.
	eventually(t, "the peer roots injected on a dry run", func(context.Context) error {
		out, stderr, err := kubectlRun(t, cp, "", "apply", "--dry-run=server", "-o", "json", "-f", sailIstioManifest)
		if err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		if !strings.Contains(out, `"meshcert.io/injected-peer-roots"`) {
			return fmt.Errorf("nothing injected yet (%s)", strings.TrimSpace(stderr))
		}
		return nil
	})
	out, stderr, err := kubectlRun(t, cp, "", "apply", "-f", sailIstioManifest)
	require.NoError(t, err, stderr)
	require.Contains(t, out, "istio.sailoperator.io/default created")
	assert.Empty(t, strings.TrimSpace(stderr), "kubectl printed warnings")

	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(sailIstioGVK)
	require.NoError(t, c.Get(t.Context(), types.NamespacedName{Name: "default"}, stored))

	t.Run("the stored Istio holds the peer root and the multi-root switches where Sail's schema has them", func(t *testing.T) {
		values, found, err := unstructured.NestedMap(stored.Object, "spec", "values")
		require.NoError(t, err)
		require.True(t, found, "spec.values")
		mesh, _, _ := unstructured.NestedMap(values, "meshConfig")
		assert.Equal(t, []any{map[string]any{"pem": string(peer.certPEM)}}, mesh["caCertificates"],
			"spec.values.meshConfig.caCertificates is the peer root, as a pem entry")
		assert.Equal(t, "cluster.local", mesh["trustDomain"], "the operator's own values stay")
		multiRoot, _, _ := unstructured.NestedString(values, "pilot", "env", "ISTIO_MULTIROOT_MESH")
		assert.Equal(t, "true", multiRoot, "spec.values.pilot.env.ISTIO_MULTIROOT_MESH")
		xdsAgent, _, _ := unstructured.NestedString(mesh, "defaultConfig", "proxyMetadata", "PROXY_CONFIG_XDS_AGENT")
		assert.Equal(t, "true", xdsAgent, "spec.values.meshConfig.defaultConfig.proxyMetadata.PROXY_CONFIG_XDS_AGENT")
		// Sail's schema has no spec.meshConfig: the API server would have
		// pruned it, as everything outside the schema.
		_, found, _ = unstructured.NestedFieldNoCopy(stored.Object, "spec", "meshConfig")
		assert.False(t, found, "spec.meshConfig")

		out, stderr, err := kubectlRun(t, cp, "", "apply", "-f", sailIstioManifest)
		require.NoError(t, err, stderr)
		assert.Contains(t, out, "istio.sailoperator.io/default unchanged", "applying the same manifest again")
	})

	var cacerts []*x509.Certificate
	t.Run("the Istio gets a Ready cacerts in spec.namespace that chains to the issuer's root", func(t *testing.T) {
		crt := ready(t, c, framework.IstioNamespace, framework.CACertsSecret)
		assert.True(t, crt.Spec.IsCA)
		assert.Equal(t, "default", crt.Annotations["meshcert.io/sail-istio"])
		assert.Equal(t, "default", crt.Labels["meshcert.io/sail-istio-name"])
		assert.Equal(t, "mesh-root", crt.Spec.IssuerRef.Name)
		assert.Equal(t, "ClusterIssuer", crt.Spec.IssuerRef.Kind)
		// cert-manager writes the intermediate beside cacerts, which
		// meshcert composes from it. The chart mounts Secret cacerts
		// (deployment.yaml); the local istiod reads it through the API
		// server.
		assert.Equal(t, meshca.IssuedSecret, crt.Spec.SecretName)

		secret := composedCACerts(t, c)
		chain := parsePEMChain(t, secret.Data[corev1.TLSCertKey])
		require.NotEmpty(t, chain)
		ca := chain[0]
		assert.True(t, ca.IsCA, "cacerts holds a CA")
		assert.NotZero(t, ca.KeyUsage&x509.KeyUsageCertSign, "that may sign certificates")
		_, err := ca.Verify(x509.VerifyOptions{Roots: poolOf(root.cert), Intermediates: poolOf(chain[1:]...), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		require.NoError(t, err, "cacerts chains to the issuer's root")
		_, err = ca.Verify(x509.VerifyOptions{Roots: poolOf(peer.cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		require.Error(t, err, "and not to the peer root")
		assert.Equal(t, root.certPEM, secret.Data[corev1.ServiceAccountRootCAKey], "ca.crt is the issuer's root")
		cacerts = chain
	})

	t.Run("an Istio with a trust domain Istio refuses is denied, naming the field", func(t *testing.T) {
		// An error, so denied without enforcement; no namespace is labelled.
		_, stderr, err := kubectlRun(t, cp, "", "apply", "-f", sailInvalidTrustDomainManifest)
		require.Error(t, err, "kubectl applied it")
		t.Logf("kubectl: %s", strings.TrimSpace(stderr))
		assert.Contains(t, stderr, `admission webhook "sail.validate.meshcert.io" denied the request: spec.values.meshConfig.trustDomain: `)
		assert.Contains(t, stderr, `"mesh_one.example.com"`)
		assert.Contains(t, stderr, "(MC6001)")
		err = c.Get(t.Context(), types.NamespacedName{Name: "invalid-trust-domain"}, stored.DeepCopy())
		assert.True(t, apierrors.IsNotFound(err), "the denied Istio is not stored (err %v)", err)
	})

	t.Run("a missing peer-roots ConfigMap warns, and is denied once spec.namespace is labelled meshcert.io/enforce", func(t *testing.T) {
		_, stderr, err := kubectlRun(t, cp, "", "create", "namespace", "mesh-enforced")
		require.NoError(t, err, stderr)
		const missing = `ConfigMap mesh-enforced/not-there-yet not found`
		_, stderr, err = kubectlRun(t, cp, "", "apply", "--dry-run=server", "-f", sailEnforcedManifest)
		require.NoError(t, err, "without the label a missing ConfigMap is a warning: %s", stderr)
		assert.Contains(t, stderr, "Warning: MC6006 meshcert.io/peer-roots: "+missing)

		_, stderr, err = kubectlRun(t, cp, "", "label", "namespace", "mesh-enforced", "meshcert.io/enforce=true")
		require.NoError(t, err, stderr)
		eventually(t, "the enforce label in meshcert's cache, and the apply denied", func(context.Context) error {
			_, stderr, err := kubectlRun(t, cp, "", "apply", "--dry-run=server", "-f", sailEnforcedManifest)
			if err == nil {
				return errors.New("not denied yet")
			}
			if !strings.Contains(stderr, `admission webhook "sail.validate.meshcert.io" denied the request: metadata.annotations[meshcert.io/peer-roots]: `+missing) ||
				!strings.Contains(stderr, "(MC6006)") {
				return permanent(fmt.Errorf("unexpected denial: %s", stderr))
			}
			t.Logf("kubectl: %s", strings.TrimSpace(stderr))
			return nil
		})
	})
	if t.Failed() {
		return
	}

	// What Sail installs for this Istio: the istiod chart of its version,
	// with the IstioRevision's values, which are the Istio's spec.values
	// merged over its profiles, then Sail's forced overrides
	// (pkg/istiovalues/overrides.go:21-41): revision "" for the revision
	// named default (InPlace: the IstioRevision is named as the Istio),
	// global.istioNamespace = spec.namespace, defaultRevision removed. The
	// default profile's values (resources/v1.30.3/profiles/default.yaml)
	// touch neither the mesh config nor the env compared here and are left
	// out. The release is <revision>-istiod (pkg/reconcile/istiod.go:136-138)
	// in spec.namespace.
	rendered := renderSailIstiod(t, cp, stored)

	t.Run("Istio's chart renders the peer root into istiod's mesh config and the switches into its env", func(t *testing.T) {
		mesh := map[string]any{}
		require.NoError(t, yaml.Unmarshal([]byte(rendered.mesh), &mesh), rendered.mesh)
		// configmap.yaml:79 merges .Values.meshConfig over the chart's mesh,
		// :106-108 writes it to key mesh of ConfigMap istio (:86, revision "").
		assert.Equal(t, []any{map[string]any{"pem": string(peer.certPEM)}}, mesh["caCertificates"], "caCertificates in the rendered mesh")
		xdsAgent, _, _ := unstructured.NestedString(mesh, "defaultConfig", "proxyMetadata", "PROXY_CONFIG_XDS_AGENT")
		assert.Equal(t, "true", xdsAgent, "defaultConfig.proxyMetadata.PROXY_CONFIG_XDS_AGENT in the rendered mesh")
		assert.Equal(t, "cluster.local", mesh["trustDomain"])
		// zzy_descope_legacy.yaml:3 lifts pilot.* to the top; deployment.yaml
		// :185-190 writes .Values.env into container discovery (:97) of
		// Deployment istiod (:7).
		assert.Contains(t, rendered.env, corev1.EnvVar{Name: "ISTIO_MULTIROOT_MESH", Value: "true"}, "istiod's env")
	})
	if t.Failed() {
		return
	}

	// istiod as the chart runs it: the rendered mesh config in ConfigMap
	// istio, the rendered env (see istiodEnvOutsideACluster).
	env, skipped := istiodEnvOutsideACluster(rendered.env)
	t.Logf("istiod env from the chart: %v; skipped (valueFrom): %v", env, skipped)
	istiod := startIstiod(t, cp, framework.IstiodConfig{MeshConfig: rendered.mesh, Env: env})

	t.Run("istiod signs a workload certificate with meshcert's cacerts", func(t *testing.T) {
		assert.True(t, istiod.LogContains(framework.IstiodLogPluggedCA), "istiod uses the plugged-in CA from cacerts, not a self-signed one")
		assert.False(t, istiod.LogContains(framework.IstiodLogSelfSignedCA), "istiod made a self-signed CA")
		_, _, chain := requireWorkloadKeyAndCertificate(t, cp, istiod, "payments", "client")
		require.Equal(t, cacerts[0].Raw, chain[1].Raw, "istiod signed with the CA meshcert's Certificate put in cacerts")
		require.Equal(t, root.cert.Raw, chain[len(chain)-1].Raw, "and serves the issuer's root")
	})

	t.Run("istiod runs with the mesh config meshcert's injection produced", func(t *testing.T) {
		active := istiodActiveMesh(t, istiod)
		var pems []string
		for _, entry := range active.CACertificates {
			pems = append(pems, entry.PEM)
		}
		assert.Equal(t, []string{string(peer.certPEM)}, pems, "caCertificates istiod loaded")
		assert.Equal(t, "true", active.DefaultConfig.ProxyMetadata["PROXY_CONFIG_XDS_AGENT"], "proxies get PROXY_CONFIG_XDS_AGENT")
		assert.Equal(t, "cluster.local", active.TrustDomain)
	})
	t.Run("a mesh ConfigMap that lost the peer root is reported on the Istio", func(t *testing.T) {
		// As after a helm upgrade without the values: istiod's ConfigMap
		// keeps its mesh config but no caCertificates. The ConfigMap is not
		// watched, so an update of the Istio makes meshcert look now.
		cm := &corev1.ConfigMap{}
		require.NoError(t, cp.Client.Get(t.Context(), types.NamespacedName{Namespace: framework.IstioNamespace, Name: framework.IstioMeshConfigMap}, cm))
		cm.Data["mesh"] = "trustDomain: cluster.local\n"
		require.NoError(t, cp.Client.Update(t.Context(), cm))
		_, stderr, err := kubectlRun(t, cp, "", "annotate", "--overwrite", "istio.sailoperator.io/default", "example.com/touched=1")
		require.NoError(t, err, stderr)
		events, err := eventsv1client.NewForConfig(cp.RESTConfig)
		require.NoError(t, err)
		eventually(t, "a RootsNotServed Event on Istio default", func(ctx context.Context) error {
			list, err := events.Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			for _, e := range list.Items {
				if e.Reason == "RootsNotServed" && e.Regarding.Kind == "Istio" && e.Regarding.Name == "default" {
					assert.Equal(t, corev1.EventTypeWarning, e.Type)
					assert.Contains(t, e.Note, "istiod's mesh ConfigMap istio-system/istio does not hold 1 of the roots in spec.values.meshConfig.caCertificates")
					return nil
				}
			}
			return errors.New("no RootsNotServed Event yet")
		})
	})
	t.Logf("TestSailIstioOnTheRealStack took %s", time.Since(began).Round(time.Millisecond))
}

// renderedIstiod is what Istio's chart renders for istiod: the mesh key of
// ConfigMap istio and the env of Deployment istiod's container discovery.
type renderedIstiod struct {
	mesh string
	env  []corev1.EnvVar
}

// renderSailIstiod renders Istio's istiod chart, at the istio.io/istio
// version the oracles pin, with helm template, for the stored Istio as
// Sail would (see the caller), and returns istiod's mesh config and env.
// Sail 1.30.3 embeds the 1.30.3 chart (resources/v1.30.3/charts/istiod at
// the commit of testdata/sail/SOURCES): its configmap.yaml differs from the
// pinned one only in quoting and a label, its env lines only by a FIPS
// GODEBUG entry; for these values both render the same mesh and env
// (compared by hand when this test was written).
func renderSailIstiod(t *testing.T, cp *framework.ControlPlane, istio *unstructured.Unstructured) renderedIstiod {
	t.Helper()
	values, _, err := unstructured.NestedMap(istio.Object, "spec", "values")
	require.NoError(t, err)
	namespace, _, _ := unstructured.NestedString(istio.Object, "spec", "namespace")
	require.NotEmpty(t, namespace, "spec.namespace (the CRD defaults it)")
	// Sail's forced overrides (pkg/istiovalues/overrides.go:21-41).
	values["revision"] = ""
	require.NoError(t, unstructured.SetNestedField(values, namespace, "global", "istioNamespace"))
	delete(values, "defaultRevision")
	data, err := yaml.Marshal(values)
	require.NoError(t, err)
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, os.WriteFile(valuesFile, data, 0o600))
	t.Logf("values for the istiod chart:\n%s", data)

	chart := filepath.Join(istioModuleDir(t), istiodChartPath)
	out, err := helmOutput(t, cp.Tools.Helm, "", "template", "default-istiod", chart, "--namespace", namespace, "--values", valuesFile)
	require.NoError(t, err)

	var r renderedIstiod
	var meshFound, envFound bool
	for _, obj := range yamlObjects(t, []byte(out)) {
		switch {
		case obj.GetKind() == "ConfigMap" && obj.GetName() == framework.IstioMeshConfigMap:
			assert.Equal(t, namespace, obj.GetNamespace())
			r.mesh, meshFound, _ = unstructured.NestedString(obj.Object, "data", "mesh")
		case obj.GetKind() == "Deployment" && obj.GetName() == "istiod":
			assert.Equal(t, namespace, obj.GetNamespace())
			containers, _, err := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
			require.NoError(t, err)
			for _, container := range containers {
				raw, ok := container.(map[string]any)
				if !ok || raw["name"] != "discovery" {
					continue
				}
				typed := corev1.Container{}
				require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &typed))
				r.env, envFound = typed.Env, true
			}
		default:
		}
	}
	require.True(t, meshFound, "the chart rendered no ConfigMap %s with key mesh:\n%s", framework.IstioMeshConfigMap, out)
	require.True(t, envFound, "the chart rendered no Deployment istiod with container discovery")
	return r
}

// istioModuleDir is where the go command keeps istio.io/istio at the
// version the Istio oracle module requires (e2e/oracles/istio/go.mod),
// downloading it if this machine lacks it.
func istioModuleDir(t *testing.T) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Version}}", "istio.io/istio")
	cmd.Dir = filepath.Join("oracles", "istio")
	version := runTool(t, cmd)
	require.NotEmpty(t, version)
	dir, err := framework.ModuleDir(t.Context(), "istio.io/istio", version)
	require.NoError(t, err)
	return dir
}

// istiodEnvOutsideACluster returns the chart's env for container discovery
// as KEY=value, for StartIstiod to set after its own (later wins), and the
// names it leaves out. Only valueFrom entries are left out: they need a
// Pod (the framework sets POD_NAME and POD_NAMESPACE itself; the chart's
// SERVICE_ACCOUNT and GOMAXPROCS stay unset). Nothing with a literal value
// had to be dropped or changed for istiod to run here:
//   - KUBECONFIG=/var/run/secrets/remote/config, the chart's mount of an
//     external control plane's kubeconfig, does not exist here and is
//     passed all the same: the framework's --kubeconfig is an explicit
//     path, which wins over $KUBECONFIG in client-go's loading rules.
//   - REVISION=default and CLUSTER_ID=Kubernetes override the framework's
//     own values with the same values.
func istiodEnvOutsideACluster(rendered []corev1.EnvVar) (env, skipped []string) {
	for _, e := range rendered {
		if e.ValueFrom != nil {
			skipped = append(skipped, e.Name)
			continue
		}
		env = append(env, e.Name+"="+e.Value)
	}
	return env, skipped
}

// istiodMesh is the part of istiod's active mesh config (/debug/mesh,
// MeshConfig as JSON) the test reads.
type istiodMesh struct {
	TrustDomain    string `json:"trustDomain"`
	CACertificates []struct {
		PEM string `json:"pem"`
	} `json:"caCertificates"`
	DefaultConfig struct {
		ProxyMetadata map[string]string `json:"proxyMetadata"`
	} `json:"defaultConfig"`
}

// istiodActiveMesh reads the mesh config istiod runs with from its debug
// endpoint (open to localhost).
func istiodActiveMesh(t *testing.T, istiod *framework.Istiod) istiodMesh {
	t.Helper()
	request, err := http.NewRequestWithContext(t.Context(), http.MethodGet, istiod.HTTPURL+"/debug/mesh", http.NoBody)
	require.NoError(t, err)
	response, err := http.DefaultClient.Do(request)
	require.NoError(t, err)
	defer func() { _ = response.Body.Close() }()
	body, err := io.ReadAll(response.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, response.StatusCode, "%s", body)
	var mesh istiodMesh
	require.NoError(t, json.Unmarshal(body, &mesh), "%s", body)
	return mesh
}
