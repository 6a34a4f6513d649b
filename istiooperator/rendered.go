package istiooperator

import (
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/finding"
)

// What istiod really runs with, in an install rendered from Istio's istiod
// chart (helm template, istioctl manifest generate, or what Helm and the
// Sail Operator applied): the mesh ConfigMap and the istiod Deployment
// (manifests/charts/istio-control/istio-discovery, templates/configmap.yaml
// and templates/deployment.yaml).
const (
	// meshConfigMapKey holds the mesh config YAML in the mesh ConfigMap.
	meshConfigMapKey = "mesh"
	// meshConfigMapName and istiodDeploymentName are the names for the
	// revision ""; a revision r appends "-r".
	meshConfigMapName    = "istio"
	istiodDeploymentName = "istiod"
	// istiodContainer is istiod's container in its Deployment.
	istiodContainer = "discovery"
	// meshConfigMountPath is where the chart mounts the mesh ConfigMap into
	// istiod (volume config-volume); istiod reads ./etc/istio/config/mesh.
	meshConfigMountPath = "/etc/istio/config"
)

// IsMeshConfigMap reports whether cm is a mesh ConfigMap as the istiod chart
// renders it: named istio or istio-<revision>, with the key mesh.
func IsMeshConfigMap(cm *corev1.ConfigMap) bool {
	_, hasMesh := cm.Data[meshConfigMapKey]
	return hasMesh && (cm.Name == meshConfigMapName || strings.HasPrefix(cm.Name, meshConfigMapName+"-"))
}

// IsIstiodDeployment reports whether d is istiod as the istiod chart renders
// it: named istiod or istiod-<revision>, with the container discovery.
func IsIstiodDeployment(d *appsv1.Deployment) bool {
	if d.Name != istiodDeploymentName && !strings.HasPrefix(d.Name, istiodDeploymentName+"-") {
		return false
	}
	_, ok := discoveryContainer(d)
	return ok
}

func discoveryContainer(d *appsv1.Deployment) (int, bool) {
	for i, c := range d.Spec.Template.Spec.Containers {
		if c.Name == istiodContainer {
			return i, true
		}
	}
	return 0, false
}

// MeshConfigMapOf names the ConfigMap istiod d reads its mesh config from:
// the one its chart mounts at /etc/istio/config, else istio with d's
// revision suffix.
func MeshConfigMapOf(d *appsv1.Deployment) string {
	i, ok := discoveryContainer(d)
	if ok {
		for _, m := range d.Spec.Template.Spec.Containers[i].VolumeMounts {
			if strings.TrimSuffix(m.MountPath, "/") != meshConfigMountPath {
				continue
			}
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil {
					return v.ConfigMap.Name
				}
			}
		}
	}
	return meshConfigMapName + strings.TrimPrefix(d.Name, istiodDeploymentName)
}

var meshDataPath = field.NewPath("data").Key(meshConfigMapKey)

// CheckMeshConfigMap checks a mesh ConfigMap with the rules an
// IstioOperator's or Istio's meshConfig gets, since it is what they render
// to: that it decodes as Istio's MeshConfig, a valid trust domain, and
// that peer roots in caCertificates reach the proxies
// (PROXY_CONFIG_XDS_AGENT in defaultConfig.proxyMetadata).
func CheckMeshConfigMap(cm *corev1.ConfigMap) finding.Findings {
	if !IsMeshConfigMap(cm) {
		return nil
	}
	c := &checker{Builder: finding.New(finding.ObjectRef{APIVersion: "v1", Kind: "ConfigMap", Namespace: cm.Namespace, Name: cm.Name})}
	mesh, ok := parseMesh(c, cm)
	if ok {
		c.checkMeshConfig(map[string]any{"meshConfig": mesh}, meshDataPath)
		if hasPEMRoots(mesh) {
			proxyMetadata, _ := nestedMap(mesh, "defaultConfig", "proxyMetadata")
			if v, set := proxyMetadata[proxyConfigXDSEnv]; !set || !isTrue(v) {
				c.Errorf(finding.CodeMultiRootDisabled, meshDataPath.Child("defaultConfig", "proxyMetadata", proxyConfigXDSEnv),
					"caCertificates holds roots, but proxies receive them only when %s is \"true\" here (it is %s): set meshConfig.defaultConfig.proxyMetadata.%s: \"true\" in the install's values",
					proxyConfigXDSEnv, describeSet(v, set), proxyConfigXDSEnv)
			}
		}
	}
	findings := c.Findings()
	findings.Sort()
	return findings
}

// CheckIstiodDeployment checks istiod's env as its Deployment renders it:
// the pilot certificate provider, and, when mesh (the ConfigMap istiod
// reads, nil when unknown) holds roots in caCertificates, that
// ISTIO_MULTIROOT_MESH lets istiod use them. Of two entries of one name the
// container gets the later one.
func CheckIstiodDeployment(d *appsv1.Deployment, mesh *corev1.ConfigMap) finding.Findings {
	if !IsIstiodDeployment(d) {
		return nil
	}
	c := &checker{Builder: finding.New(finding.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: d.Namespace, Name: d.Name})}
	i, _ := discoveryContainer(d)
	envPath := field.NewPath("spec", "template", "spec", "containers").Index(i).Child("env")
	env := d.Spec.Template.Spec.Containers[i].Env
	last := func(name string) (int, bool) {
		found, at := false, 0
		for j, e := range env {
			if e.Name == name {
				found, at = true, j
			}
		}
		return at, found
	}
	if j, ok := last(pilotCertProviderEnv); ok && env[j].ValueFrom == nil {
		c.checkPilotCertProvider(env[j].Value, envPath.Index(j).Child("value"))
	}
	if mesh != nil {
		if parsed, ok := parseMesh(&checker{Builder: finding.New(finding.ObjectRef{})}, mesh); ok && hasPEMRoots(parsed) {
			j, set := last(multiRootEnv)
			switch {
			case set && env[j].ValueFrom != nil:
			case !set && len(d.Spec.Template.Spec.Containers[i].EnvFrom) > 0:
				// envFrom may set it; meshcert cannot read it offline.
			case !set:
				c.Errorf(finding.CodeMultiRootDisabled, envPath,
					"ConfigMap %s holds roots in caCertificates, but istiod uses them only with %s=\"true\", which this container does not set: set pilot.env.%s: \"true\" in the install's values",
					mesh.Name, multiRootEnv, multiRootEnv)
			case !isTrue(env[j].Value):
				c.Errorf(finding.CodeMultiRootDisabled, envPath.Index(j).Child("value"),
					"is %q, but ConfigMap %s holds roots in caCertificates, which istiod uses only when it is \"true\": set pilot.env.%s: \"true\" in the install's values",
					env[j].Value, mesh.Name, multiRootEnv)
			}
		}
	}
	findings := c.Findings()
	findings.Sort()
	return findings
}

// parseMesh decodes the mesh config YAML of cm, reporting YAML istiod
// cannot read.
func parseMesh(c *checker, cm *corev1.ConfigMap) (map[string]any, bool) {
	var mesh map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data[meshConfigMapKey]), &mesh); err != nil {
		c.Errorf(finding.CodeInvalidMeshConfig, meshDataPath,
			"is not a YAML mapping istiod can read (%v), so istiod refuses to start with it: fix the mesh config", err)
		return nil, false
	}
	return mesh, true
}

// hasPEMRoots reports whether caCertificates holds an entry with a pem.
func hasPEMRoots(mesh map[string]any) bool {
	entries, _ := mesh["caCertificates"].([]any)
	for _, e := range entries {
		if len(entryFingerprints(e)) > 0 {
			return true
		}
	}
	return false
}

func nestedMap(m map[string]any, fields ...string) (map[string]any, bool) {
	for _, f := range fields {
		next, ok := m[f].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}

func describeSet(v any, set bool) string {
	if !set {
		return "unset"
	}
	return describeEnv(v)
}

// MeshConfigMapName is the mesh ConfigMap istiod installed by obj reads, in
// Plan.IstiodNamespace: istio for the revision "", else istio-<revision>.
// An IstioOperator's revision is spec.revision. Sail names the revision of
// an Istio after it (InPlace) or after it and spec.version with dots as
// dashes (RevisionBased), and the revision named default renders as ""
// (sail-operator controllers/istio/istio_controller.go and
// pkg/istiovalues/overrides.go); an IstioRevision is its own revision.
func MeshConfigMapName(obj *unstructured.Unstructured) string {
	kind, _ := KindOf(obj.GroupVersionKind())
	var revision string
	sailDefault := func(name string) string {
		if name == "default" {
			return ""
		}
		return name
	}
	switch kind.GVK {
	case SailIstioKind.GVK:
		revision = sailDefault(obj.GetName())
		if strategy, _, _ := unstructured.NestedString(obj.Object, "spec", "updateStrategy", "type"); strategy == "RevisionBased" {
			version, _, _ := unstructured.NestedString(obj.Object, "spec", "version")
			revision = obj.GetName() + "-" + strings.ReplaceAll(version, ".", "-")
		}
	case SailIstioRevisionKind.GVK:
		revision = sailDefault(obj.GetName())
	default:
		// istioctl sets values.revision from spec.revision, then merges
		// the user's spec.values over it (operator/pkg/render).
		revision, _, _ = unstructured.NestedString(obj.Object, "spec", "revision")
		if v, found, _ := unstructured.NestedString(obj.Object, "spec", "values", "revision"); found {
			revision = v
		}
	}
	if revision == "" {
		return meshConfigMapName
	}
	return meshConfigMapName + "-" + revision
}

// HoldsRoots reports whether obj's meshConfig.caCertificates holds a root.
func HoldsRoots(obj *unstructured.Unstructured) bool {
	return len(plannedRoots(obj)) > 0
}

// plannedRoots are the caCertificates entries of obj's meshConfig.
func plannedRoots(obj *unstructured.Unstructured) []any {
	kind, ok := KindOf(obj.GroupVersionKind())
	if !ok {
		return nil
	}
	spec, _ := obj.Object["spec"].(map[string]any)
	parent, _ := meshConfigParent(spec, kind)
	mc, _ := parent["meshConfig"].(map[string]any)
	planned, _ := mc["caCertificates"].([]any)
	if !hasPEMRoots(map[string]any{"caCertificates": planned}) {
		return nil
	}
	return planned
}

// RootsNotServed returns the fingerprints of the roots obj's
// meshConfig.caCertificates holds (meshcert's injected ones and anyone
// else's) that the mesh ConfigMap istiod reads does not hold, sorted; nil
// when it holds them all or its mesh config cannot be read (CheckMeshConfigMap
// says why).
func RootsNotServed(obj *unstructured.Unstructured, cm *corev1.ConfigMap) []string {
	planned := plannedRoots(obj)
	if len(planned) == 0 {
		return nil
	}
	mesh, ok := parseMesh(&checker{Builder: finding.New(finding.ObjectRef{})}, cm)
	if !ok {
		return nil
	}
	served := map[string]bool{}
	entries, _ := mesh["caCertificates"].([]any)
	for _, e := range entries {
		for _, fp := range entryFingerprints(e) {
			served[fp] = true
		}
	}
	var missing []string
	for _, e := range planned {
		for _, fp := range entryFingerprints(e) {
			if !served[fp] {
				missing = append(missing, fp)
			}
		}
	}
	slices.Sort(missing)
	return slices.Compact(missing)
}
