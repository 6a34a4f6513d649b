package istiooperator

import (
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// Kind is one API that installs istiod from the istiod chart's Helm values:
// istioctl's IstioOperator, and the Sail Operator's Istio and
// IstioRevision. meshcert plans the same things for each (istiod's cacerts,
// peer roots, the checks); a Kind says where each one keeps them.
type Kind struct {
	GVK schema.GroupVersionKind
	// Resource is the plural the API server serves it under.
	Resource string
	// Namespaced is false for the Sail kinds, which are cluster-scoped.
	Namespaced bool
	// meshConfigParent is the path below spec of the map that holds
	// meshConfig: spec itself for an IstioOperator (spec.meshConfig), the
	// Helm values for Sail (spec.values.meshConfig).
	meshConfigParent []string
	// components says spec.components exists (IstioOperator only): gateway
	// components, and pilot's k8s.env patched over the chart's env.
	components bool
	// ownerAnnotation records, on a mesh CA Certificate, which object of
	// this kind it was made for; ownerLabel finds it by label.
	ownerAnnotation string
	ownerLabel      string
}

// Sail's API group and version (github.com/istio-ecosystem/sail-operator,
// api/v1).
const (
	SailGroup   = "sailoperator.io"
	SailVersion = "v1"
)

// The Kinds meshcert plans for.
var (
	IstioOperatorKind = Kind{
		GVK:        GVK,
		Resource:   "istiooperators",
		Namespaced: true,
		components: true,
		// Kept from before Sail: Certificates made for IstioOperators carry
		// these, and the controller finds them by them.
		ownerAnnotation: AnnotationIstioOperator,
		ownerLabel:      LabelIstioOperatorName,
	}
	SailIstioKind = Kind{
		GVK:              schema.GroupVersionKind{Group: SailGroup, Version: SailVersion, Kind: "Istio"},
		Resource:         "istios",
		meshConfigParent: []string{"values"},
		ownerAnnotation:  AnnotationSailIstio,
		ownerLabel:       LabelSailIstioName,
	}
	SailIstioRevisionKind = Kind{
		GVK:              schema.GroupVersionKind{Group: SailGroup, Version: SailVersion, Kind: "IstioRevision"},
		Resource:         "istiorevisions",
		meshConfigParent: []string{"values"},
		ownerAnnotation:  AnnotationSailIstioRevision,
		ownerLabel:       LabelSailIstioRevisionName,
	}
	// Kinds lists them, IstioOperator first.
	Kinds = []Kind{IstioOperatorKind, SailIstioKind, SailIstioRevisionKind}
)

// Annotations and labels of the mesh CA Certificates made for Sail's
// objects: the object's name (they are cluster-scoped).
const (
	AnnotationSailIstio         = "meshcert.io/sail-istio"
	AnnotationSailIstioRevision = "meshcert.io/sail-istiorevision"
	LabelSailIstioName          = "meshcert.io/sail-istio-name"
	LabelSailIstioRevisionName  = "meshcert.io/sail-istiorevision-name"
)

// KindOf returns the Kind of gvk, if meshcert plans for it.
func KindOf(gvk schema.GroupVersionKind) (Kind, bool) {
	for _, k := range Kinds {
		if k.GVK == gvk {
			return k, true
		}
	}
	return Kind{}, false
}

// Is reports whether gvk is a kind that installs istiod: an IstioOperator
// or a Sail Istio or IstioRevision. It is the only such test meshcert uses.
func Is(gvk schema.GroupVersionKind) bool {
	_, ok := KindOf(gvk)
	return ok
}

// IsSail reports whether k is one of the Sail Operator's kinds.
func (k Kind) IsSail() bool { return k.GVK.Group == SailGroup }

// Key is how a mesh CA Certificate records the object namespace/name of
// this kind: "namespace/name", or the name of a cluster-scoped object.
func (k Kind) Key(namespace, name string) string {
	if !k.Namespaced {
		return name
	}
	return Key(namespace, name)
}

// ParseKey is Key's inverse; false when key is not one.
func (k Kind) ParseKey(key string) (namespace, name string, ok bool) {
	if !k.Namespaced {
		return "", key, key != "" && !strings.Contains(key, "/")
	}
	namespace, name, found := strings.Cut(key, "/")
	return namespace, name, found && namespace != "" && name != "" && !strings.Contains(name, "/")
}

// OwnerAnnotation is the annotation a mesh CA Certificate records this
// kind's object in.
func (k Kind) OwnerAnnotation() string { return k.ownerAnnotation }

// CertificateLabels are the labels of the mesh CA Certificate meshcert makes
// for the object namespace/name of this kind: the controller lists by them
// to find it. Values longer than a label allows are hashed.
func (k Kind) CertificateLabels(namespace, name string) map[string]string {
	if k.Namespaced {
		return CertificateLabels(namespace, name)
	}
	return map[string]string{
		certs.LabelManagedBy: certs.ManagedByValue,
		k.ownerLabel:         certs.LabelValue(name),
	}
}

// OwnsCertificate reports whether crt is meshcert's mesh CA Certificate for
// the object namespace/name of this kind.
func (k Kind) OwnsCertificate(crt *cmapi.Certificate, namespace, name string) bool {
	kind, owner, ok := ownerOf(crt)
	return ok && kind.GVK == k.GVK && owner == k.Key(namespace, name)
}

// MeshConfigPath is the field path of meshConfig.
func (k Kind) MeshConfigPath() *field.Path {
	path := specPath
	for _, f := range k.meshConfigParent {
		path = path.Child(f)
	}
	return path.Child("meshConfig")
}

// meshConfigFields are the fields from spec to meshConfig.
func (k Kind) meshConfigFields(more ...string) []string {
	return append(append(append([]string{}, k.meshConfigParent...), "meshConfig"), more...)
}

// ownerOf returns the Kind and key of the object a mesh CA Certificate was
// made for, and false when meshcert made crt for no such object.
func ownerOf(crt *cmapi.Certificate) (Kind, string, bool) {
	if !certs.ManagedByMeshcert(crt) {
		return Kind{}, "", false
	}
	for _, k := range Kinds {
		if owner := crt.Annotations[k.ownerAnnotation]; owner != "" {
			return k, owner, true
		}
	}
	return Kind{}, "", false
}

// describe names the object key of this kind in a message.
func (k Kind) describe(key string) string { return k.GVK.Kind + " " + key }

// Ref is how findings name obj.
func (k Kind) Ref(obj *unstructured.Unstructured) finding.ObjectRef {
	ref := finding.ObjectRef{APIVersion: k.GVK.GroupVersion().String(), Kind: k.GVK.Kind, Name: obj.GetName()}
	if k.Namespaced {
		ref.Namespace = obj.GetNamespace()
	}
	return ref
}

// PolicyNamespace is the namespace whose labels (meshcert.io/enforce) and
// policy apply to obj: its own, or for a cluster-scoped Sail object the
// namespace it installs istiod in.
func PolicyNamespace(obj *unstructured.Unstructured) string {
	kind, ok := KindOf(obj.GroupVersionKind())
	if !ok || kind.Namespaced {
		return obj.GetNamespace()
	}
	ns, _, _ := unstructured.NestedString(obj.Object, "spec", "namespace")
	if ns == "" {
		ns = DefaultIstiodNamespace
	}
	return ns
}
