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

// unknownFields reports every key in the spec that Istio's Gateway schema
// does not have. The API server rejects such a Gateway under kubectl's
// default strict field validation (the CRD preserves no unknown fields), and
// Istio's own validation rejects it too. The walk follows the schema, so it
// goes no deeper than the schema does, whatever the input's nesting.
//
// A key's field path is built only when the key is reported, so a spec
// without unknown fields, the common case, is walked without allocating.
func unknownFields(b *finding.Builder, md protoreflect.MessageDescriptor, m map[string]any, path *field.Path) {
	// The walk goes as deep as the schema, three messages
	// (servers[].tls.tlsCertificates[]), so the steps stay on the stack.
	var steps [4]schemaStep
	walkUnknownFields(b, md, m, path, steps[:0])
}

// schemaStep is one step from the walk's root down to a message: a field,
// and the item's index when the field is a list (else -1).
type schemaStep struct {
	key   string
	index int
}

// stepsPath is the path steps lead to from root.
func stepsPath(root *field.Path, steps []schemaStep) *field.Path {
	p := root
	for _, s := range steps {
		p = p.Child(s.key)
		if s.index >= 0 {
			p = p.Index(s.index)
		}
	}
	return p
}

// walkUnknownFields is unknownFields for m, which lies down steps from
// root. Sibling messages reuse the space after steps, one after the other.
func walkUnknownFields(b *finding.Builder, md protoreflect.MessageDescriptor, m map[string]any, root *field.Path, steps []schemaStep) {
	for key, v := range m {
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			b.Errorf(finding.CodeUnknownField, stepsPath(root, steps).Child(key),
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
					walkUnknownFields(b, fd.Message(), sub, root, append(steps, schemaStep{key: key, index: i}))
				}
			}
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			walkUnknownFields(b, fd.Message(), sub, root, append(steps, schemaStep{key: key, index: -1}))
		}
	}
}
