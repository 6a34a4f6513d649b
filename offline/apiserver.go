package offline

import (
	"encoding/json"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/meshcert/meshcert/finding"
)

// What the API server refuses of any object before a webhook sees it, so
// `meshcert check` fails where `kubectl apply` would: its metadata, checked
// with apimachinery's own ObjectMeta validation, and fields ObjectMeta does
// not have.

// dnsLabelKinds are the kinds whose names must be DNS-1123 labels (no
// dots); Services' are DNS-1035 labels. Every other kind takes a DNS-1123
// subdomain.
var dnsLabelKinds = map[string]bool{"/Namespace": true}

func metadataFindings(obj *unstructured.Unstructured, namespaced bool, skipUnknownFields bool) finding.Findings {
	gvk := obj.GroupVersionKind()
	b := finding.New(finding.ObjectRef{APIVersion: obj.GetAPIVersion(), Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()})
	metaPath := field.NewPath("metadata")
	raw, err := json.Marshal(obj.Object["metadata"])
	if err != nil {
		return nil
	}
	var meta metav1.ObjectMeta
	strictErrs, err := sigsjson.UnmarshalStrict(raw, &meta)
	if err != nil {
		// The shape of metadata itself is wrong; the decoder that read
		// the manifest has said so already.
		return nil
	}
	if !skipUnknownFields {
		for _, e := range strictErrs {
			name, ok := unknownFieldName(e.Error())
			if !ok {
				continue
			}
			b.Errorf(finding.CodeAPIServerRejects, metaPath.Child(name),
				"unknown field %q in the metadata of a %s, and the API server rejects objects with unknown fields: correct or remove it", name, gvk.Kind)
		}
	}
	nameFn := apivalidation.NameIsDNSSubdomain
	switch {
	case dnsLabelKinds[gvk.Group+"/"+gvk.Kind]:
		nameFn = apivalidation.NameIsDNSLabel
	case gvk.Group == "" && gvk.Kind == "Service":
		nameFn = apivalidation.NameIsDNS1035Label
	}
	for _, e := range apivalidation.ValidateObjectMeta(&meta, namespaced, nameFn, metaPath) {
		if e.Type == field.ErrorTypeRequired {
			// A name or namespace left to generateName or `-n`.
			continue
		}
		b.Errorf(finding.CodeAPIServerRejects, fieldPathOf(e.Field), "%s, so the API server rejects the %s: fix it", e.ErrorBody(), gvk.Kind)
	}
	return b.Findings()
}

// unknownFieldName reads the field name out of sigs.k8s.io/json's strict
// error, `unknown field "labelz"`.
func unknownFieldName(msg string) (string, bool) {
	_, rest, ok := strings.Cut(msg, `unknown field "`)
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, `"`)
	return name, ok && !strings.Contains(name, ".")
}

// fieldPathOf turns a field.Error's dotted path back into a field.Path.
func fieldPathOf(p string) *field.Path {
	parts := strings.Split(p, ".")
	return field.NewPath(parts[0], parts[1:]...)
}
