package offline

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/internal/jsonvalue"
)

// What the API server refuses of any object before a webhook sees it, so
// `meshcert check` fails where `kubectl apply` would: its metadata, checked
// with apimachinery's own ObjectMeta validation, and fields ObjectMeta does
// not have.

// dnsLabelKinds are the kinds whose names must be DNS-1123 labels (no
// dots); Services' are DNS-1035 labels. Every other kind takes a DNS-1123
// subdomain.
var dnsLabelKinds = map[string]bool{"/Namespace": true}

// metadataFindings checks obj's metadata as the API server does. typesReported
// says its types were judged already (MC7003, for kinds meshcert reads), so
// a metadata it cannot decode is not reported twice.
func metadataFindings(obj *unstructured.Unstructured, namespaced, skipUnknownFields, typesReported bool) finding.Findings {
	gvk := obj.GroupVersionKind()
	b := finding.New(finding.ObjectRef{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()})
	metaPath := field.NewPath("metadata")
	raw, err := json.Marshal(obj.Object["metadata"])
	if err != nil {
		return nil
	}
	var meta metav1.ObjectMeta
	strictErrs, err := sigsjson.UnmarshalStrict(raw, &meta)
	if err != nil {
		if !typesReported {
			metadataTypeFindings(b, obj, err)
		}
		return b.Findings()
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
	errs := apivalidation.ValidateObjectMeta(&meta, namespaced, nameFn, metaPath)
	// The validation walks labels and annotations in map order; sorted,
	// the same input always reports the same way.
	slices.SortStableFunc(errs, func(a, b *field.Error) int { return strings.Compare(a.Error(), b.Error()) })
	for _, e := range errs {
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

// metadataTypeFindings reports metadata the API server cannot decode: a
// label or annotation value that is not a string (`replicas: 3` without
// quotes), each by its key, or else the field the decoder names. Such an
// object never reaches a webhook, and unstructured reads of its labels or
// annotations see none at all.
func metadataTypeFindings(b *finding.Builder, obj *unstructured.Unstructured, err error) {
	metaPath := field.NewPath("metadata")
	meta, _ := obj.Object["metadata"].(map[string]any)
	if meta == nil {
		b.Errorf(finding.CodeAPIServerRejects, metaPath,
			"metadata is %s, not a map, and the API server rejects the object: write metadata as a map with a name", jsonvalue.Describe(obj.Object["metadata"]))
		return
	}
	found := false
	for _, mapField := range []string{"labels", "annotations"} {
		m, isMap := meta[mapField].(map[string]any)
		if !isMap {
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(m)) {
			if _, isString := m[key].(string); isString || m[key] == nil {
				continue
			}
			found = true
			b.Errorf(finding.CodeAPIServerRejects, metaPath.Child(mapField).Key(key),
				"the value is %s, but %s values are strings, and the API server rejects the object (and meshcert cannot read its %s): quote it",
				jsonvalue.Describe(m[key]), strings.TrimSuffix(mapField, "s"), mapField)
		}
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		if name, _, _ := strings.Cut(typeErr.Field, "."); found && (name == "labels" || name == "annotations") {
			return
		}
		b.Errorf(finding.CodeAPIServerRejects, metaPath.Child(typeErr.Field),
			"the value is a JSON %s where the API server takes %s, so it rejects the object: write it as its API types it", typeErr.Value, kindText(typeErr.Type.Kind()))
	case !found:
		b.Errorf(finding.CodeAPIServerRejects, metaPath,
			"the API server cannot decode this metadata (%v), so it rejects the object: fix the field it names", err)
	}
}

// kindText says a Go kind as a manifest's author reads it.
func kindText(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "an object"
	default:
		return "a number"
	}
}
