package manifest

import (
	"strconv"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Object is one decoded Kubernetes object and where it came from.
type Object struct {
	Object *unstructured.Unstructured
	// File is the path as the user gave it, or StdinName.
	File string
	// Line is the 1-based line where the object starts.
	Line int
	// Index is the object's position in the input, counting from 0.
	Index int

	// The object's mapping node in a yaml.v3 parse of its document, used
	// for positions only: node for a List item (nil when unknown), or the
	// root of doc, parsed on first use. Node lines count from the start of
	// the document, which follows offset lines of the file. The tree is
	// kept rather than an eager path→line index: walking a path is cheap.
	node   *yaml.Node
	doc    *document
	offset int
	// duplicates is set when the document repeats a key somewhere (its
	// strict decode failed), so DuplicateKeys has something to look for.
	duplicates bool
}

// Location returns "file:line" for fieldPath (see LineOf), ready to prefix
// a finding.
func (o *Object) Location(fieldPath string) string {
	return o.File + ":" + strconv.Itoa(o.LineOf(fieldPath))
}

// LineOf returns the source line of the field at fieldPath (see PositionOf).
func (o *Object) LineOf(fieldPath string) int {
	return o.PositionOf(fieldPath).Line
}

// Position is a place in the input, counting lines and columns from 1; a
// zero Column means the column is not known.
type Position struct {
	Line, Column int
}

// PositionOf returns where the field at fieldPath is, written the way
// k8s.io/apimachinery/pkg/util/validation/field.Path prints it:
// `spec.servers[0].tls.credentialName`, `metadata.annotations[cert-manager.io/issuer]`.
// For a field it is its key, for a list item the item. When the path does
// not exist in the source (for example a field inject is about to add) it
// returns the deepest existing ancestor, and finally the object's own line.
func (o *Object) PositionOf(fieldPath string) Position {
	if o == nil {
		return Position{}
	}
	pos := Position{Line: o.Line}
	n := o.node
	if o.doc != nil {
		n = o.doc.root()
	}
	for _, seg := range parsePath(fieldPath) {
		if n == nil {
			break
		}
		next := child(n, seg)
		if next == nil {
			break
		}
		pos = Position{Line: o.offset + next.line, Column: next.column}
		n = next.value
	}
	return pos
}
