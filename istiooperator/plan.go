package istiooperator

import (
	"context"
	"fmt"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/internal/jsonvalue"
	"github.com/meshcert/meshcert/meshca"
)

// Annotations and labels meshcert reads on IstioOperators and writes on
// what it makes for them.
const (
	// AnnotationPeerRoots names the ConfigMaps holding other clusters'
	// roots: comma-separated [namespace/]name[:key] entries, the namespace
	// defaulting to istiod's and the key to DefaultTrustBundleKey.
	AnnotationPeerRoots = "meshcert.io/peer-roots"
	// AnnotationInjectedRoots records the SHA-256 fingerprints of the
	// caCertificates entries meshcert added, so it can replace them when the
	// roots change without touching entries anyone else wrote.
	AnnotationInjectedRoots = "meshcert.io/injected-peer-roots"
	// AnnotationRotationPropagation is how long a change istiod published
	// takes to reach every Pod and istiod replica (a Go duration): a root
	// rotation waits that long on top of the workload certificate lifetime.
	AnnotationRotationPropagation = "meshcert.io/root-rotation-propagation"
	// DefaultRotationPropagation covers the kubelet's refresh of mounted
	// ConfigMaps and Secrets (about a minute by default) with a margin.
	DefaultRotationPropagation = 2 * time.Minute
	// AnnotationIstioOperator holds "namespace/name" of the IstioOperator a
	// mesh CA Certificate was made for.
	AnnotationIstioOperator = "meshcert.io/istiooperator"
	// LabelIstioOperatorNamespace and LabelIstioOperatorName find the mesh
	// CA Certificate of an IstioOperator by label; long values are hashed.
	LabelIstioOperatorNamespace = "meshcert.io/istiooperator-namespace"
	LabelIstioOperatorName      = "meshcert.io/istiooperator-name"

	// CACertsSecret is the Secret istiod loads its signing CA from, and the
	// name of the Certificate whose intermediate meshcert puts there.
	CACertsSecret = meshca.CACertsSecret
	// DefaultIstiodNamespace is where istiod runs unless told otherwise.
	DefaultIstiodNamespace = "istio-system"
	// DefaultTrustBundleKey is the key a trust bundle's PEM is read from;
	// trust-manager Bundles and cert-manager CA Secrets both use it.
	DefaultTrustBundleKey = "ca.crt"
)

// Plan is everything meshcert does for one IstioOperator: the mesh CA
// Certificate it wants, what it injects and what it found.
type Plan struct {
	// Certificate is the Certificate for istiod's cacerts Secret, nil when
	// the IstioOperator names no issuer or something prevents it.
	Certificate *cmapi.Certificate
	// MeshCA reports whether the IstioOperator asks for a mesh CA (names an
	// issuer), even when errors prevent the Certificate.
	MeshCA bool
	// IstiodNamespace is where istiod and its cacerts live.
	IstiodNamespace string
	// ClusterName is values.global.multiCluster.clusterName: what this
	// cluster's mesh CA is published for its peers as.
	ClusterName string
	// WorkloadCertificateTTL is the longest a workload certificate lives
	// (see workloadCertificateTTL): a root rotation's drain.
	WorkloadCertificateTTL time.Duration
	// WorkloadCertificateTTLFrom says where WorkloadCertificateTTL was read.
	WorkloadCertificateTTLFrom string
	// RotationPropagation is AnnotationRotationPropagation, or its default.
	RotationPropagation time.Duration
	// MultiRoot says istiod runs with ISTIO_MULTIROOT_MESH=true, as the
	// object (with meshcert's injection) configures it.
	MultiRoot bool
	Findings  finding.Findings
	// mutated is the IstioOperator with the peer roots injected, or nil
	// when injection changes nothing.
	mutated *unstructured.Unstructured
}

// Mutated returns the IstioOperator as meshcert injects it, or nil when
// there is nothing to change. It must not be modified.
func (p *Plan) Mutated() *unstructured.Unstructured { return p.mutated }

// planner holds the state of one PlanIstioOperator call.
type planner struct {
	*checker
	kind   Kind
	obj    *unstructured.Unstructured
	spec   map[string]any
	lookup certs.Lookup
	opts   certs.Options
}

// PlanIstioOperator decides what meshcert does for an object that installs
// istiod (an IstioOperator, a Sail Istio or IstioRevision: see Kinds):
// Check's findings, the mesh CA Certificate when an issuer annotation asks
// for one, and the peer roots injected into meshConfig.caCertificates.
// Anything else gives an empty plan. Like the Gateway planner it is pure:
// the lookup answers from memory, nothing is written.
func PlanIstioOperator(ctx context.Context, obj *unstructured.Unstructured, lookup certs.Lookup, opts certs.Options) *Plan {
	plan := &Plan{}
	if obj == nil || obj.Object == nil {
		return plan
	}
	kind, ok := KindOf(obj.GroupVersionKind())
	if !ok {
		return plan
	}
	plan.Findings = Check(obj)
	spec, _ := obj.Object["spec"].(map[string]any)
	pl := &planner{
		checker: &checker{Builder: finding.New(kind.Ref(obj))},
		kind:    kind,
		obj:     obj,
		spec:    spec,
		lookup:  lookup,
		opts:    opts,
	}
	plan.IstiodNamespace = pl.istiodNamespace()
	plan.ClusterName = pl.clusterName()
	plan.WorkloadCertificateTTL, plan.WorkloadCertificateTTLFrom = pl.workloadCertificateTTL()
	ann := obj.GetAnnotations()
	if certs.HasIssuerAnnotation(ann) {
		plan.MeshCA = true
		if field, why := pl.installsNoIstiod(); field != nil {
			pl.Warningf(finding.CodeNoIstiodInstalled, field,
				"this %[1]s installs no istiod (%[2]s), so meshcert makes no cacerts for it: put the issuer annotation on the %[1]s that installs istiod, or remove it", kind.GVK.Kind, why)
		} else {
			plan.Certificate = pl.meshCA(ctx, plan.IstiodNamespace)
		}
	}
	plan.mutated = pl.injectPeerRoots(ctx, plan.IstiodNamespace)
	plan.RotationPropagation = pl.rotationPropagation()
	effective := obj
	if plan.mutated != nil {
		effective = plan.mutated
	}
	plan.MultiRoot = multiRootEnabled(effective)
	plan.Findings = append(plan.Findings, pl.Findings()...)
	plan.Findings.Sort()
	return plan
}

var (
	specPath          = field.NewPath("spec")
	istioNamespaceKey = []string{"values", "global", "istioNamespace"}
)

// istiodNamespace is where istioctl installs istiod for this IstioOperator,
// as its renderer (operator/pkg/render, component.Get) decides:
// spec.components.pilot.namespace, else values.global.istioNamespace (which
// Istio's default profile sets to istio-system; an explicit "" leaves the
// IstioOperator's own metadata.namespace), else istio-system.
// spec.namespace is read by nothing in current istioctl.
func (pl *planner) istiodNamespace() string {
	if pl.kind.IsSail() {
		return pl.sailNamespace()
	}
	ns, from := DefaultIstiodNamespace, "Istio's default profile"
	istioNS, istioNSSet, _ := unstructured.NestedFieldNoCopy(pl.spec, istioNamespaceKey...)
	if s, ok := istioNS.(string); ok && s != "" {
		ns, from = s, "values.global.istioNamespace"
	} else if istioNSSet && (istioNS == nil || istioNS == "") && pl.obj.GetNamespace() != "" {
		ns, from = pl.obj.GetNamespace(), "metadata.namespace (values.global.istioNamespace is empty)"
	}
	if pilotNS, _, _ := unstructured.NestedString(pl.spec, "components", "pilot", "namespace"); pilotNS != "" {
		ns, from = pilotNS, "spec.components.pilot.namespace"
	}
	if fromSpec, _, _ := unstructured.NestedString(pl.spec, "namespace"); fromSpec != "" && fromSpec != ns {
		pl.Warningf(finding.CodeIstiodNamespaceUnclear, specPath.Child("namespace"),
			"spec.namespace is %q, but istioctl ignores it and installs istiod in %q (from %s), so meshcert puts cacerts there: set values.global.istioNamespace to %q to install istiod there, or remove spec.namespace",
			fromSpec, ns, from, fromSpec)
	}
	return ns
}

// clusterName is values.global.multiCluster.clusterName, or "".
func (pl *planner) clusterName() string {
	name, _, _ := unstructured.NestedString(pl.spec, "values", "global", "multiCluster", "clusterName")
	return strings.TrimSpace(name)
}

// changed reports whether mutated differs from the original object.
func changed(original, mutated *unstructured.Unstructured) bool {
	return !equality.Semantic.DeepEqual(original.Object, mutated.Object)
}

// installsNoIstiod says why istioctl would render no istiod Deployment for
// this IstioOperator, and where, or returns nil. istioctl merges the user's
// spec over the profile's, a null included (which then reads as enabled),
// and the istiod chart skips its Deployment for a remote istiod:
//   - the pilot component is disabled, explicitly or by the empty profile;
//   - istiodRemote.enabled is true (Helm's truth: any non-empty string),
//     set by the user or by the chart's remote profile, picked by
//     values.profile, else values.global.profile (the remote profile sets
//     values.profile: remote), unless enabledLocalInjectorIstiod is true.
//
// When a value has a shape istioctl refuses, nothing is said: istioctl's
// own error comes first.
func (pl *planner) installsNoIstiod() (*field.Path, string) {
	if !pl.kind.IsSail() {
		path, why, decided := pl.pilotDisabled()
		if decided {
			return path, why
		}
	}
	return pl.remoteChart()
}

// specValue is the value at a path below spec, and whether the key is
// there at all, a null included.
func (pl *planner) specValue(path ...string) (any, bool) {
	v, found, _ := unstructured.NestedFieldNoCopy(pl.spec, path...)
	return v, found
}

// pilotDisabled reports an IstioOperator whose pilot component istioctl
// does not render; decided is true when that settles it either way (a
// shape istioctl refuses settles it too: istioctl's own error comes first).
func (pl *planner) pilotDisabled() (path *field.Path, why string, decided bool) {
	profile, _, _ := unstructured.NestedString(pl.spec, "profile")
	enabled, enabledSet := pl.specValue("components", "pilot", "enabled")
	pilot, pilotSet := pl.specValue("components", "pilot")
	components, componentsSet := pl.specValue("components")
	switch {
	case enabledSet && enabled != nil:
		on, isBool := enabled.(bool)
		if !isBool {
			return nil, "", true
		}
		if !on {
			return specPath.Child("components", "pilot", "enabled"), "spec.components.pilot.enabled is false", true
		}
	case enabledSet, pilotSet && pilot == nil, componentsSet && components == nil:
		// A null written over the profile's setting reads as enabled.
	case profile == "empty":
		return specPath.Child("profile"), "the empty profile disables the pilot component; set spec.components.pilot.enabled: true to install it", true
	}
	return nil, "", false
}

// remoteChart reports values with which the istiod chart renders no istiod
// Deployment: a remote istiod, picked by the chart's remote profile or
// istiodRemote.enabled. The chart's profile is values.profile, else
// values.global.profile; spec.profile remote sets values.profile: remote
// (istioctl's and Sail's remote profiles both do, and a user's
// values.profile is merged over it). Sail's empty profile, unlike
// istioctl's, sets no values and still installs istiod.
func (pl *planner) remoteChart() (*field.Path, string) {
	profile, _, _ := unstructured.NestedString(pl.spec, "profile")
	chartProfile, path := "", specPath.Child("profile")
	if profile == "remote" {
		chartProfile = "remote"
	}
	if v, set := pl.specValue("values", "profile"); set {
		chartProfile, _ = v.(string)
		path = specPath.Child("values", "profile")
	}
	if chartProfile == "" {
		chartProfile, _, _ = unstructured.NestedString(pl.spec, "values", "global", "profile")
		path = specPath.Child("values", "global", "profile")
	}
	remote, why := chartProfile == "remote", "the remote profile consumes an istiod running elsewhere"
	// The chart copies pilot.* over the top-level values
	// (templates/zzy_descope_legacy.yaml), so pilot.istiodRemote wins.
	for _, at := range [][]string{{"values", "istiodRemote"}, {"values", "pilot", "istiodRemote"}} {
		if v, set := pl.specValue(append(at, "enabled")...); set {
			remote, path = helmTrue(v), specPath.Child(at[0], at[1:]...).Child("enabled")
			why = strings.TrimPrefix(path.String(), "spec.") + " consumes an istiod running elsewhere"
		}
	}
	local, _ := pl.specValue("values", "istiodRemote", "enabledLocalInjectorIstiod")
	if v, set := pl.specValue("values", "pilot", "istiodRemote", "enabledLocalInjectorIstiod"); set {
		local = v
	}
	if remote && !helmTrue(local) {
		return path, why
	}
	// templates/deployment.yaml renders istiod only for the resource scopes
	// all (the default) and namespace.
	if scope, set := pl.specValue("values", "global", "resourceScope"); set && scope != nil && scope != "all" && scope != "namespace" {
		return specPath.Child("values", "global", "resourceScope"), fmt.Sprintf("values.global.resourceScope %v renders only the cluster-wide resources", scope)
	}
	return nil, ""
}

// sailNamespace is where Sail installs istiod: spec.namespace, which the
// Istio CRD defaults to istio-system and the operator copies into
// values.global.istioNamespace. The API server refuses a different
// values.global.istioNamespace (a CEL rule of both CRDs).
func (pl *planner) sailNamespace() string {
	ns, _, _ := unstructured.NestedString(pl.spec, "namespace")
	if ns == "" {
		ns = DefaultIstiodNamespace
	}
	// A null is pruned by the API server before its rules run.
	if v, ok := pl.specValue(istioNamespaceKey...); ok && v != nil {
		if s, _ := v.(string); s != ns {
			pl.Errorf(finding.CodeAPIServerRejects, specPath.Child(istioNamespaceKey[0], istioNamespaceKey[1:]...),
				"is %s, but the API server refuses a %s whose values.global.istioNamespace differs from spec.namespace (%q): remove it, the operator sets it from spec.namespace",
				jsonvalue.Describe(v), pl.kind.GVK.Kind, ns)
		}
	}
	return ns
}

// helmTrue is a value's truth in a Helm template's if: false, zero, empty
// and null are false; anything else, the string "false" included, is true.
func helmTrue(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case int64:
		return v != 0
	case float64:
		return v != 0
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}
