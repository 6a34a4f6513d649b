package offline

import (
	"encoding/json"
	"strconv"
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

// DuplicateKeyFinding reports a key written more than once in one mapping
// (manifest.Object.DuplicateKeys): kubectl and the API server keep the last
// value and drop the others without a word.
func DuplicateKeyFinding(obj *unstructured.Unstructured, path string, lines []int) finding.Finding {
	b := finding.New(finding.ObjectRef{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()})
	where := "more than once on one line"
	if first, last := lines[0], lines[len(lines)-1]; first != last {
		where = "on lines " + joinLines(lines)
	}
	b.Warningf(finding.CodeDuplicateKey, field.NewPath(path),
		"the key is written %s, and kubectl keeps only the last value: remove the copies you do not mean", where)
	return b.Findings()[0]
}

func joinLines(lines []int) string {
	parts := make([]string, len(lines))
	for i, l := range lines {
		parts[i] = strconv.Itoa(l)
	}
	if len(parts) == 2 {
		return parts[0] + " and " + parts[1]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
