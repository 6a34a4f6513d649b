package manifest

import (
	"strconv"
	"strings"

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

	// node is the object's mapping node. The parser's tree is kept rather
	// than an eager path→line index: most objects are never asked for a
	// line, and walking a path is cheap.
	node *yaml.Node
}

// Location returns "file:line" for fieldPath (see LineOf), ready to prefix
// a finding.
func (o *Object) Location(fieldPath string) string {
	return o.File + ":" + strconv.Itoa(o.LineOf(fieldPath))
}

// LineOf returns the source line of the field at fieldPath, written the
// way k8s.io/apimachinery/pkg/util/validation/field.Path prints it:
// `spec.servers[0].tls.credentialName`, `metadata.annotations[cert-manager.io/issuer]`.
// For a field it is the line of its key, for a list item the line of the
// item. When the path does not exist in the source (for example a field
// inject is about to add) it returns the line of the deepest existing
// ancestor, and finally the object's own line.
func (o *Object) LineOf(fieldPath string) int {
	if o == nil {
		return 0
	}
	line := o.Line
	n := o.node
	for _, seg := range parsePath(fieldPath) {
		if n == nil {
			break
		}
		next := child(n, seg)
		if next == nil {
			break
		}
		line = next.line
		n = next.value
	}
	return line
}

// segment is one step of a field path: a field name or map key, or a
// bracketed list index (which may also be a map key, e.g. `data[0]`).
type segment struct {
	key     string
	index   int
	isIndex bool
}

// parsePath splits a field.Path string. Keys in brackets may contain dots
// and slashes; a key containing "]" is recognised as long as the "]" is not
// followed by "." or "[".
func parsePath(p string) []segment {
	var segs []segment
	for p != "" {
		switch p[0] {
		case '.':
			p = p[1:]
			continue
		case '[':
			end := closingBracket(p)
			inner := p[1:end]
			seg := segment{key: inner}
			if i, err := strconv.Atoi(inner); err == nil && i >= 0 {
				seg.index, seg.isIndex = i, true
			}
			segs = append(segs, seg)
			p = p[min(end+1, len(p)):]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			segs = append(segs, segment{key: p[:end]})
			p = p[end:]
		}
	}
	return segs
}

// closingBracket returns the index of the "]" closing the bracket at p[0],
// or len(p) when it is unterminated.
func closingBracket(p string) int {
	for i := 1; i < len(p); i++ {
		if p[i] == ']' && (i+1 == len(p) || p[i+1] == '.' || p[i+1] == '[') {
			return i
		}
	}
	return len(p)
}

type found struct {
	line  int
	value *yaml.Node
}

// deref follows aliases to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return deref(n.Content[0])
	}
	return n
}

// child resolves one path segment below n, or returns nil.
func child(n *yaml.Node, seg segment) *found {
	n = deref(n)
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		if seg.isIndex && seg.index < len(n.Content) {
			item := n.Content[seg.index]
			return &found{line: item.Line, value: item}
		}
	case yaml.MappingNode:
		return lookupKey(n, seg.key, 0)
	default:
		// Scalars have no children; aliases and documents were dereferenced.
		return nil
	}
	return nil
}

// lookupKey finds key in mapping n with the same precedence as decoding:
// the last pair that sets the key wins, including pairs pulled in by merge
// keys.
func lookupKey(n *yaml.Node, key string, depth int) *found {
	if depth > maxListDepth {
		return nil
	}
	var result *found
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			if f := lookupMerge(v, key, depth+1); f != nil {
				result = f
			}
			continue
		}
		if s, ok := plainKey(k); ok && s == key {
			result = &found{line: k.Line, value: v}
		}
	}
	return result
}

func lookupMerge(v *yaml.Node, key string, depth int) *found {
	v = deref(v)
	if v == nil {
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return lookupKey(v, key, depth)
	case yaml.SequenceNode:
		// Earlier maps take precedence.
		for _, src := range v.Content {
			if src = deref(src); src != nil && src.Kind == yaml.MappingNode {
				if f := lookupKey(src, key, depth); f != nil {
					return f
				}
			}
		}
	default:
		// Decoding rejects any other merge value, so there is nothing to find.
	}
	return nil
}

// plainKey returns the string a scalar key decodes to.
func plainKey(k *yaml.Node) (string, bool) {
	k = deref(k)
	if k == nil || k.Kind != yaml.ScalarNode {
		return "", false
	}
	v, err := scalarValue(k)
	if err != nil {
		return "", false
	}
	s, err := keyString(v)
	return s, err == nil
}
