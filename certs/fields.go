package certs

import (
	"google.golang.org/protobuf/reflect/protoreflect"
	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/internal/protonames"
)

// gatewayDescriptor is Istio's Gateway message, whose JSON field names are
// the ones the Gateway CRD's schema allows.
var gatewayDescriptor = (&networking.Gateway{}).ProtoReflect().Descriptor()

// hasUnknownFields reports whether m holds a key md's schema does not have,
// at any depth. It builds no field paths, so the common case (no unknown
// field) costs no allocation; unknownFields then says where.
func hasUnknownFields(md protoreflect.MessageDescriptor, m map[string]any) bool {
	for key, v := range m {
		fd := md.Fields().ByJSONName(key)
		switch {
		case fd == nil:
			return true
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			items, _ := v.([]any)
			for _, item := range items {
				if sub, ok := item.(map[string]any); ok && hasUnknownFields(fd.Message(), sub) {
					return true
				}
			}
		default:
			if sub, ok := v.(map[string]any); ok && hasUnknownFields(fd.Message(), sub) {
				return true
			}
		}
	}
	return false
}

// unknownFields reports every key in the spec that Istio's Gateway schema
// does not have. The API server rejects such a Gateway under kubectl's
// default strict field validation (the CRD preserves no unknown fields), and
// Istio's own validation rejects it too. The walk follows the schema, so it
// goes no deeper than the schema does, whatever the input's nesting.
func unknownFields(b *finding.Builder, md protoreflect.MessageDescriptor, m map[string]any, path *field.Path) {
	for key, v := range m {
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			b.Errorf(finding.CodeUnknownField, path.Child(key),
				"unknown field %q in %s, and the API server rejects a Gateway with unknown fields: correct or remove it%s",
				key, md.Name(), protonames.Hint(md, key))
			continue
		}
		if fd.Message() == nil || fd.IsMap() {
			// Scalars, enums and maps of strings: their shape is read (and
			// reported) where meshcert uses them.
			continue
		}
		if fd.IsList() {
			items, _ := v.([]any)
			for i, item := range items {
				if sub, ok := item.(map[string]any); ok {
					unknownFields(b, fd.Message(), sub, path.Child(key).Index(i))
				}
			}
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			unknownFields(b, fd.Message(), sub, path.Child(key))
		}
	}
}
