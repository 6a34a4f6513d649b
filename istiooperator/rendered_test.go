package istiooperator_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/istiooperator"
)

const rootsMesh = "caCertificates:\n- pem: |\n    -----BEGIN CERTIFICATE-----\n    MIIBlTCCATugAwIBAgIBAjAKBggqhkjOPQQDAjAx\n    -----END CERTIFICATE-----\ndefaultConfig:\n  proxyMetadata:\n    PROXY_CONFIG_XDS_AGENT: \"true\"\n"

func meshConfigMap(name, mesh string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system"},
		Data:       map[string]string{"mesh": mesh},
	}
}

func istiod(name string, env []corev1.EnvVar, mounts []corev1.VolumeMount, volumes []corev1.Volume) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system"}}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "discovery", Env: env, VolumeMounts: mounts}}
	d.Spec.Template.Spec.Volumes = volumes
	return d
}

func TestRenderedMeshConfigMap(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		cm       *corev1.ConfigMap
		want     []string
	}{
		{"the mesh ConfigMap of revision canary is istio-canary",
			meshConfigMap("istio-canary", "trustDomain: 'a b'"), []string{"error MC6001 data[mesh].trustDomain"}},
		{"a ConfigMap without the key mesh is not a mesh ConfigMap",
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector"}, Data: map[string]string{"config": "x: ["}}, []string{}},
		{"a ConfigMap named otherwise is not istiod's",
			meshConfigMap("istiod-settings", "trustDomain: 'a b'"), []string{}},
		{"mesh YAML istiod cannot read",
			meshConfigMap("istio", "trustDomain: [unclosed"), []string{"error MC6001 data[mesh]"}},
		{"an unknown mesh config field is named under data[mesh]",
			meshConfigMap("istio", "caCertificate: []"), []string{"error MC6001 data[mesh].caCertificate"}},
		{"roots with PROXY_CONFIG_XDS_AGENT true are fine",
			meshConfigMap("istio", rootsMesh), []string{}},
		{"roots with PROXY_CONFIG_XDS_AGENT false never reach the proxies",
			meshConfigMap("istio", rootsMesh[:len(rootsMesh)-len("\"true\"\n")]+"\"false\"\n"),
			[]string{"error MC6008 data[mesh].defaultConfig.proxyMetadata.PROXY_CONFIG_XDS_AGENT"}},
		{"a spiffeBundleUrl entry holds no roots to switch on",
			meshConfigMap("istio", "caCertificates: [{spiffeBundleUrl: https://example.com/bundle}]"), []string{}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			assert.Equal(t, tc.want, codes(istiooperator.CheckMeshConfigMap(tc.cm)))
		})
	}
}

func TestRenderedIstiodDeployment(t *testing.T) {
	env := func(pairs ...string) []corev1.EnvVar {
		var out []corev1.EnvVar
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, corev1.EnvVar{Name: pairs[i], Value: pairs[i+1]})
		}
		return out
	}
	withRoots := meshConfigMap("istio", rootsMesh)
	for _, tc := range []struct {
		sentence string
		d        *appsv1.Deployment
		mesh     *corev1.ConfigMap
		want     []string
	}{
		{"roots in the mesh config and ISTIO_MULTIROOT_MESH unset", istiod("istiod", env("A", "b"), nil, nil), withRoots,
			[]string{"error MC6008 spec.template.spec.containers[0].env"}},
		{"the later of two entries is what the container gets", istiod("istiod", env(multiRoot, "true", multiRoot, "false"), nil, nil), withRoots,
			[]string{"error MC6008 spec.template.spec.containers[0].env[1].value"}},
		{"strconv.ParseBool's truth: True is true", istiod("istiod", env(multiRoot, "True"), nil, nil), withRoots, []string{}},
		{"envFrom may set it, which cannot be read offline, so an unset entry is not judged",
			func() *appsv1.Deployment {
				d := istiod("istiod", env("A", "b"), nil, nil)
				d.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "istiod-extra"}}}}
				return d
			}(), withRoots, []string{}},
		{"a valueFrom cannot be read and is not judged",
			istiod("istiod", []corev1.EnvVar{{Name: multiRoot, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}, nil, nil), withRoots, []string{}},
		{"without a known mesh ConfigMap only the env is checked", istiod("istiod", env("PILOT_CERT_PROVIDER", "vault"), nil, nil), nil,
			[]string{"error MC6003 spec.template.spec.containers[0].env[0].value"}},
		{"a Deployment without the discovery container is not istiod",
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "istiod"}}, withRoots, []string{}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			assert.Equal(t, tc.want, codes(istiooperator.CheckIstiodDeployment(tc.d, tc.mesh)))
		})
	}
}

const multiRoot = "ISTIO_MULTIROOT_MESH"

func TestMeshConfigMapOf(t *testing.T) {
	mounted := istiod("istiod-canary", nil,
		[]corev1.VolumeMount{{Name: "config-volume", MountPath: "/etc/istio/config"}},
		[]corev1.Volume{{Name: "config-volume", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "mesh-from-elsewhere"}}}}})
	assert.Equal(t, "mesh-from-elsewhere", istiooperator.MeshConfigMapOf(mounted), "the ConfigMap mounted where istiod reads its mesh config")
	assert.Equal(t, "istio-canary", istiooperator.MeshConfigMapOf(istiod("istiod-canary", nil, nil, nil)), "else the chart's name for the revision")
	assert.Equal(t, "istio", istiooperator.MeshConfigMapOf(istiod("istiod", nil, nil, nil)))
}

// FuzzCheckRenderedInstall feeds arbitrary text as a mesh ConfigMap's mesh
// key and an env value to istiod's Deployment: `meshcert check` reads both
// from any file, so neither check may panic or answer twice differently.
func FuzzCheckRenderedInstall(f *testing.F) {
	f.Add(rootsMesh, "true")
	f.Add("trustDomain: [", "")
	f.Add("caCertificates: [{pem: x}, 3, {spiffeBundleUrl: 1}]\ndefaultConfig: {proxyMetadata: 7}", "k8s.io/")
	f.Fuzz(func(t *testing.T, mesh, value string) {
		cm := meshConfigMap("istio", mesh)
		d := istiod("istiod", []corev1.EnvVar{{Name: multiRoot, Value: value}, {Name: "PILOT_CERT_PROVIDER", Value: value}}, nil, nil)
		first, second := istiooperator.CheckMeshConfigMap(cm), istiooperator.CheckMeshConfigMap(cm)
		assert.Equal(t, first, second)
		env, envAgain := istiooperator.CheckIstiodDeployment(d, cm), istiooperator.CheckIstiodDeployment(d, cm)
		assert.Equal(t, env, envAgain)
		for _, f := range append(first, env...) {
			assert.NotEmpty(t, f.Message)
		}
	})
}

func TestMeshConfigMapName(t *testing.T) {
	obj := func(kind istiooperator.Kind, name, spec string) *unstructured.Unstructured {
		u := objects(t, "spec:\n"+spec)[0]
		u.SetGroupVersionKind(kind.GVK)
		u.SetName(name)
		return u
	}
	for _, tc := range []struct {
		sentence string
		obj      *unstructured.Unstructured
		want     string
	}{
		{"an IstioOperator without a revision renders istio", obj(istiooperator.IstioOperatorKind, "mesh", "  {}"), "istio"},
		{"an IstioOperator's spec.revision names it", obj(istiooperator.IstioOperatorKind, "mesh", "  revision: canary"), "istio-canary"},
		{"an IstioOperator's values.revision is merged over spec.revision by istioctl",
			obj(istiooperator.IstioOperatorKind, "mesh", "  revision: canary\n  values: {revision: blue}"), "istio-blue"},
		{"an IstioOperator's values.revision alone names it", obj(istiooperator.IstioOperatorKind, "mesh", "  values: {revision: blue}"), "istio-blue"},
		{"Sail's Istio named default, in place, is the revision \"\"", obj(istiooperator.SailIstioKind, "default", "  version: v1.30.3"), "istio"},
		{"Sail's Istio named otherwise, in place, is its name", obj(istiooperator.SailIstioKind, "mesh", "  version: v1.30.3"), "istio-mesh"},
		{"Sail's revision-based Istio appends the version with dashes",
			obj(istiooperator.SailIstioKind, "default", "  version: v1.30.3\n  updateStrategy: {type: RevisionBased}"), "istio-default-v1-30-3"},
		{"an IstioRevision named default is the revision \"\"", obj(istiooperator.SailIstioRevisionKind, "default", "  version: v1.30.3"), "istio"},
		{"an IstioRevision is its own revision", obj(istiooperator.SailIstioRevisionKind, "default-v1-30-3", "  version: v1.30.3"), "istio-default-v1-30-3"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			assert.Equal(t, tc.want, istiooperator.MeshConfigMapName(tc.obj))
		})
	}
}
