package istiooperator_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/istiooperator"
	"github.com/meshcert/meshcert/offline"
)

// The Sail Operator's rules these tests hold meshcert to are cited from
// github.com/istio-ecosystem/sail-operator at tag 1.30.3 (commit 42411704,
// the CRDs in testdata/sail/crds): both kinds are cluster-scoped; istiod
// is installed in spec.namespace (default istio-system), which the operator
// copies into values.global.istioNamespace (pkg/istiovalues/overrides.go);
// spec.values are the istiod chart's Helm values, so meshConfig is
// spec.values.meshConfig and istiod's env is spec.values.pilot.env, a
// map of strings; profile remote sets values.profile: remote, with which
// the chart renders no istiod Deployment (templates/deployment.yaml).

func sail(kind, name, annotations, spec string) string {
	return fmt.Sprintf(`apiVersion: sailoperator.io/v1
kind: %s
metadata:
  name: %s
  annotations:
%s
spec:
%s
`, kind, name, annotations, spec)
}

const meshRootIssuer = `    cert-manager.io/cluster-issuer: mesh-root`

func TestSailIstioGetsIstiodsCA(t *testing.T) {
	for _, tc := range []struct {
		sentence, kind, name, spec, wantNamespace string
		wantLabel, wantAnnotation                 string
	}{
		{sentence: "an Istio without spec.namespace installs istiod in istio-system, the CRD's default",
			kind: "Istio", name: "default", spec: "  version: v1.30.3", wantNamespace: "istio-system",
			wantLabel: "meshcert.io/sail-istio-name", wantAnnotation: "meshcert.io/sail-istio"},
		{sentence: "an Istio's spec.namespace is where istiod and cacerts live",
			kind: "Istio", name: "mesh", spec: "  namespace: mesh-a\n  version: v1.30.3", wantNamespace: "mesh-a",
			wantLabel: "meshcert.io/sail-istio-name", wantAnnotation: "meshcert.io/sail-istio"},
		{sentence: "an Istio whose values.global.istioNamespace matches spec.namespace is fine",
			kind: "Istio", name: "mesh", spec: "  namespace: mesh-a\n  values: {global: {istioNamespace: mesh-a}}", wantNamespace: "mesh-a",
			wantLabel: "meshcert.io/sail-istio-name", wantAnnotation: "meshcert.io/sail-istio"},
		{sentence: "an IstioRevision made by hand gets its own cacerts Certificate, recorded by its name",
			kind: "IstioRevision", name: "canary", spec: "  namespace: istio-system\n  version: v1.30.3\n  values: {revision: canary, global: {istioNamespace: istio-system}}",
			wantNamespace: "istio-system", wantLabel: "meshcert.io/sail-istiorevision-name", wantAnnotation: "meshcert.io/sail-istiorevision"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			_, plan := planFirst(t, options(), sail(tc.kind, tc.name, meshRootIssuer, tc.spec), caIssuer)
			require.Empty(t, codes(plan.Findings))
			require.NotNil(t, plan.Certificate)
			crt := plan.Certificate
			assert.Equal(t, "cacerts", crt.Name)
			assert.Equal(t, tc.wantNamespace, crt.Namespace)
			assert.Equal(t, "cacerts", crt.Spec.SecretName)
			assert.True(t, crt.Spec.IsCA)
			assert.Equal(t, tc.name, crt.Labels[tc.wantLabel])
			assert.Equal(t, tc.name, crt.Annotations[tc.wantAnnotation])
			assert.NotContains(t, crt.Labels, istiooperator.LabelIstioOperatorNamespace, "a cluster-scoped object has no namespace to record")
			kind, ok := istiooperator.KindOf(plan.Certificate.GroupVersionKind())
			assert.False(t, ok, "a Certificate is no install kind (%v)", kind)
			sailKind := istiooperator.SailIstioKind
			if tc.kind == "IstioRevision" {
				sailKind = istiooperator.SailIstioRevisionKind
			}
			assert.True(t, sailKind.OwnsCertificate(crt, "", tc.name))
			assert.False(t, istiooperator.IstioOperatorKind.OwnsCertificate(crt, tc.wantNamespace, tc.name), "an IstioOperator of the same name does not own it")
		})
	}
}

func TestSailInstallsNoIstiod(t *testing.T) {
	for _, tc := range []struct {
		sentence, spec string
		wantField      string // "" when istiod is installed
	}{
		{sentence: "profile remote sets values.profile: remote, and the chart renders no istiod",
			spec: "  profile: remote", wantField: "spec.profile"},
		{sentence: "values.profile remote picks the chart's remote profile",
			spec: "  values: {profile: remote}", wantField: "spec.values.profile"},
		{sentence: "a user's values.profile is merged over the remote profile's, and istiod is installed",
			spec: "  profile: remote\n  values: {profile: ambient}"},
		{sentence: "values.istiodRemote.enabled drops the istiod Deployment",
			spec: "  values: {istiodRemote: {enabled: true}}", wantField: "spec.values.istiodRemote.enabled"},
		{sentence: "a remote istiod with enabledLocalInjectorIstiod still runs istiod",
			spec: "  profile: remote\n  values: {istiodRemote: {enabledLocalInjectorIstiod: true}}"},
		{sentence: "Sail's empty profile sets no values and still installs istiod, unlike istioctl's",
			spec: "  profile: empty"},
		{sentence: "the ambient profile installs istiod",
			spec: "  profile: ambient"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			_, plan := planFirst(t, options(), sail("Istio", "default", meshRootIssuer, tc.spec), caIssuer)
			if tc.wantField == "" {
				assert.Empty(t, codes(plan.Findings))
				assert.NotNil(t, plan.Certificate)
				return
			}
			assert.Equal(t, []string{"warning MC6012 " + tc.wantField}, codes(plan.Findings))
			assert.Nil(t, plan.Certificate)
			assert.Contains(t, plan.Findings[0].Message, "this Istio installs no istiod")
		})
	}
}

func TestSailPeerRootsGoIntoHelmValues(t *testing.T) {
	docs := []string{
		sail("Istio", "default", `    meshcert.io/peer-roots: roots`, "  namespace: istio-system\n  values:\n    meshConfig: {trustDomain: cluster.local}"),
		trustBundle("istio-system", "roots", pki(t, "root-b.pem")),
	}
	_, plan := planFirst(t, options(), docs...)
	require.Empty(t, codes(plan.Findings))
	mutated := plan.Mutated()
	require.NotNil(t, mutated)
	entries, found, err := unstructured.NestedSlice(mutated.Object, "spec", "values", "meshConfig", "caCertificates")
	require.NoError(t, err)
	require.True(t, found, "the roots go where the chart reads meshConfig: spec.values.meshConfig")
	require.Len(t, entries, 1)
	assert.Contains(t, entries[0].(map[string]any)["pem"], "BEGIN CERTIFICATE")
	_, found, _ = unstructured.NestedFieldNoCopy(mutated.Object, "spec", "meshConfig")
	assert.False(t, found, "a Sail Istio has no spec.meshConfig")
	env, _, _ := unstructured.NestedString(mutated.Object, "spec", "values", "pilot", "env", "ISTIO_MULTIROOT_MESH")
	assert.Equal(t, "true", env, "pilot.env is a map of strings in Sail's schema")
	xds, _, _ := unstructured.NestedString(mutated.Object, "spec", "values", "meshConfig", "defaultConfig", "proxyMetadata", "PROXY_CONFIG_XDS_AGENT")
	assert.Equal(t, "true", xds)
	trustDomain, _, _ := unstructured.NestedString(mutated.Object, "spec", "values", "meshConfig", "trustDomain")
	assert.Equal(t, "cluster.local", trustDomain, "the rest of meshConfig is kept")

	// Reinjected, nothing changes.
	again := istiooperator.PlanIstioOperator(t.Context(), mutated, indexOf(t, append([]string{}, docs[1:]...)...), options())
	assert.Nil(t, again.Mutated())
}

func TestSailChecks(t *testing.T) {
	for _, tc := range []struct {
		sentence, kind, spec string
		want                 []string
	}{
		{sentence: "an invalid trust domain in spec.values.meshConfig is reported there",
			kind: "Istio", spec: "  values: {meshConfig: {trustDomain: 'a b'}}",
			want: []string{"error MC6001 spec.values.meshConfig.trustDomain"}},
		{sentence: "an unknown meshConfig field is reported under spec.values.meshConfig",
			kind: "Istio", spec: "  values: {meshConfig: {caCertificate: []}}",
			want: []string{"error MC6001 spec.values.meshConfig.caCertificate"}},
		{sentence: "a PILOT_CERT_PROVIDER istiod does not implement, in pilot.env",
			kind: "Istio", spec: "  values: {pilot: {env: {PILOT_CERT_PROVIDER: vault}}}",
			want: []string{"error MC6003 spec.values.pilot.env.PILOT_CERT_PROVIDER"}},
		{sentence: "values.global.istioNamespace other than spec.namespace is refused by the API server",
			kind: "Istio", spec: "  namespace: mesh-a\n  values: {global: {istioNamespace: istio-system}}",
			want: []string{"error MC7004 spec.values.global.istioNamespace"}},
		{sentence: "an IstioRevision is checked the same way",
			kind: "IstioRevision", spec: "  namespace: istio-system\n  values: {global: {istioNamespace: istio-system}, meshConfig: {trustDomain: 'a b'}}",
			want: []string{"error MC6001 spec.values.meshConfig.trustDomain"}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			_, plan := planFirst(t, options(), sail(tc.kind, "default", meshRootIssuer, tc.spec), caIssuer)
			assert.Equal(t, tc.want, codes(plan.Findings))
		})
	}
}

func TestSailMultiRootSwitchNotOverwritten(t *testing.T) {
	docs := []string{
		sail("Istio", "default", `    meshcert.io/peer-roots: roots`, "  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: \"false\"}}}"),
		trustBundle("istio-system", "roots", pki(t, "root-b.pem")),
	}
	_, plan := planFirst(t, options(), docs...)
	assert.Equal(t, []string{"error MC6008 spec.values.pilot.env.ISTIO_MULTIROOT_MESH"}, codes(plan.Findings))
	assert.Nil(t, plan.Mutated(), "half a set of switches is worse than none")
}

// TestSailExamplesFromItsRepository: the Istio manifests of Sail's docs and
// samples (testdata/sail/examples, SOURCES) have nothing meshcert calls an
// error, and the one with profile remote is the one that installs no istiod.
func TestSailExamplesFromItsRepository(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "sail", "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	planned := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		// The docs' placeholders, filled in as a user would.
		filled := strings.NewReplacer("$TRUST_DOMAIN", "example.org").Replace(string(data))
		for _, obj := range objects(t, filled) {
			if !istiooperator.Is(obj.GroupVersionKind()) {
				continue
			}
			planned++
			ann := obj.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann["cert-manager.io/cluster-issuer"] = "mesh-root"
			obj.SetAnnotations(ann)
			plan := istiooperator.PlanIstioOperator(t.Context(), obj, indexOf(t, caIssuer), options())
			assert.False(t, plan.Findings.HasErrors(), "%s: %v", file, plan.Findings)
			remote := strings.Contains(string(data), "profile: remote")
			if remote {
				assert.Nil(t, plan.Certificate, "%s installs no istiod", file)
				assert.Equal(t, finding.CodeNoIstiodInstalled, plan.Findings[0].Code)
			} else {
				assert.NotNil(t, plan.Certificate, "%s: %v", file, plan.Findings)
			}
		}
	}
	assert.GreaterOrEqual(t, planned, 15)
}

func indexOf(t testing.TB, docs ...string) *offline.Index {
	t.Helper()
	index := offline.NewIndex()
	for _, obj := range objects(t, docs...) {
		require.NoError(t, index.Add(obj))
	}
	return index
}

func TestSailChartSettingsReviewedAgainstTheChart(t *testing.T) {
	roots := func(t *testing.T) string { return trustBundle("istio-system", "roots", pki(t, "root-b.pem")) }
	for _, tc := range []struct {
		sentence, annotations, spec string
		extra                       func(*testing.T) string
		want                        []string
		certificate                 bool
	}{
		{sentence: "pilot.istiodRemote.enabled is copied over the top-level values by the chart, and drops istiod",
			annotations: meshRootIssuer, spec: "  values: {pilot: {istiodRemote: {enabled: true}}}",
			want: []string{"warning MC6012 spec.values.pilot.istiodRemote.enabled"}},
		{sentence: "pilot.istiodRemote wins over istiodRemote, as the chart merges it last",
			annotations: meshRootIssuer, spec: "  values: {istiodRemote: {enabled: true}, pilot: {istiodRemote: {enabled: false}}}",
			want: []string{}, certificate: true},
		{sentence: "global.resourceScope cluster renders no istiod Deployment",
			annotations: meshRootIssuer, spec: "  values: {global: {resourceScope: cluster}}",
			want: []string{"warning MC6012 spec.values.global.resourceScope"}},
		{sentence: "global.resourceScope namespace still renders istiod",
			annotations: meshRootIssuer, spec: "  values: {global: {resourceScope: namespace}}",
			want: []string{}, certificate: true},
		{sentence: "a null values.global.istioNamespace is pruned by the API server, not refused",
			annotations: meshRootIssuer, spec: "  values: {global: {istioNamespace: null}}",
			want: []string{}, certificate: true},
		{sentence: "pilot.envVarFrom setting ISTIO_MULTIROOT_MESH is rendered after pilot.env and wins",
			annotations: `    meshcert.io/peer-roots: roots`, extra: roots,
			spec: "  values: {pilot: {envVarFrom: [{name: ISTIO_MULTIROOT_MESH, valueFrom: {configMapKeyRef: {name: x, key: y}}}]}}",
			want: []string{"error MC6008 spec.values.pilot.envVarFrom[0]"}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			docs := []string{sail("Istio", "default", tc.annotations, tc.spec), caIssuer}
			if tc.extra != nil {
				docs = append(docs, tc.extra(t))
			}
			_, plan := planFirst(t, options(), docs...)
			assert.Equal(t, tc.want, codes(plan.Findings))
			assert.Equal(t, tc.certificate, plan.Certificate != nil)
		})
	}
}

// TestIstioOperatorValuesMeshConfig: istioctl merges an IstioOperator's
// spec.meshConfig over spec.values.meshConfig (operator/pkg/render,
// translateIstioOperatorToHelm), a list replacing a list, and validates
// both.
func TestIstioOperatorValuesMeshConfig(t *testing.T) {
	t.Run("the caCertificates a user wrote in values survive the injection into spec.meshConfig", func(t *testing.T) {
		docs := []string{
			operator(`    meshcert.io/peer-roots: roots`, "  values:\n    meshConfig:\n      caCertificates: [{spiffeBundleUrl: https://example.org/bundle}]"),
			trustBundle("istio-system", "roots", pki(t, "root-b.pem")),
		}
		_, plan := planFirst(t, options(), docs...)
		require.Empty(t, codes(plan.Findings))
		require.NotNil(t, plan.Mutated())
		entries, _, _ := unstructured.NestedSlice(plan.Mutated().Object, "spec", "meshConfig", "caCertificates")
		require.Len(t, entries, 2)
		assert.Equal(t, "https://example.org/bundle", entries[0].(map[string]any)["spiffeBundleUrl"], "the user's entry first, as written")
		assert.Contains(t, entries[1].(map[string]any)["pem"], "BEGIN CERTIFICATE")
		again := istiooperator.PlanIstioOperator(t.Context(), plan.Mutated(), indexOf(t, docs[1]), options())
		assert.Nil(t, again.Mutated(), "reinjected, nothing changes")
	})
	t.Run("an invalid trust domain in spec.values.meshConfig is reported there", func(t *testing.T) {
		_, plan := planFirst(t, options(), operator(meshRootIssuer, "  values:\n    meshConfig: {trustDomain: a_b}"), caIssuer)
		assert.Equal(t, []string{"error MC6001 spec.values.meshConfig.trustDomain"}, codes(plan.Findings))
	})
}

// A Sail Istio rotates istiod's root as an IstioOperator does: the switch
// and the lifetimes are read where Sail keeps the istiod chart's values
// (spec.values.pilot.env, spec.values.meshConfig).
func TestSailIstioRootRotationSettings(t *testing.T) {
	for _, tc := range []struct {
		sentence  string
		spec      string
		multiRoot bool
		ttl       time.Duration
	}{
		{sentence: "without the switch istiod takes no new root, and proxies' certificates live Istio's default 24h",
			spec: "  version: v1.30.3", ttl: 24 * time.Hour},
		{sentence: "the switch and istiod's maximum in spec.values.pilot.env",
			spec: "  values: {pilot: {env: {ISTIO_MULTIROOT_MESH: \"true\", MAX_WORKLOAD_CERT_TTL: 2h}}}", multiRoot: true, ttl: 2 * time.Hour},
		{sentence: "what proxies ask for, in spec.values.meshConfig",
			spec: "  values: {meshConfig: {defaultConfig: {proxyMetadata: {SECRET_TTL: 6h}}}}", ttl: 6 * time.Hour},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			_, plan := planFirst(t, options(), sail("Istio", "default", meshRootIssuer, tc.spec), caIssuer)
			assert.Equal(t, tc.multiRoot, plan.MultiRoot)
			assert.Equal(t, tc.ttl, plan.WorkloadCertificateTTL)
			assert.Equal(t, istiooperator.DefaultRotationPropagation, plan.RotationPropagation)
		})
	}
}
