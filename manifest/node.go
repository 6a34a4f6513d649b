package manifest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

const maxListDepth = 100

// document is one document's text, parsed with yaml.v3 for positions only
// when first needed: most objects are never asked for a line.
type document struct {
	src  []byte
	once sync.Once
	node *yaml.Node
}

// root returns the document's root node, or nil when yaml.v3 rejects
// something yaml.v2 accepted; lines then fall back to the object's.
func (doc *document) root() *yaml.Node {
	doc.once.Do(func() {
		if doc.node = parseNode(doc.src); doc.node == nil && bytes.IndexByte(doc.src, '\t') >= 0 {
			// Tabs that yaml.v2 accepted are whitespace (in JSON they
			// cannot be anything else), but yaml.v3 rejects some of them.
			doc.node = parseNode(bytes.ReplaceAll(doc.src, []byte("\t"), []byte(" ")))
		}
	})
	return doc.node
}

func parseNode(src []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 still has internal panics ("unexpected tail comment
		// event") reachable from odd comment layouts.
		if r := recover(); r != nil {
			root = nil
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
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

// maxDepth bounds alias chains.
const maxDepth = 10000

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

type found struct {
	line, column int
	value        *yaml.Node
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
			return &found{line: item.Line, column: item.Column, value: item}
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
// keys. Keys are compared as written first; only when that finds nothing
// are plain keys resolved the YAML 1.1 way (`yes:` is the key "true").
func lookupKey(n *yaml.Node, key string, depth int) *found {
	if f := lookupKeyAs(n, key, depth, false); f != nil || !resolvedForm(key) {
		return f
	}
	return lookupKeyAs(n, key, depth, true)
}

func lookupKeyAs(n *yaml.Node, key string, depth int, resolve bool) *found {
	if depth > maxListDepth {
		return nil
	}
	var result *found
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			if f := lookupMerge(v, key, depth+1, resolve); f != nil {
				result = f
			}
			continue
		}
		if keyIs(k, key, resolve) {
			result = &found{line: k.Line, column: k.Column, value: v}
		}
	}
	return result
}

func lookupMerge(v *yaml.Node, key string, depth int, resolve bool) *found {
	v = deref(v)
	if v == nil {
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return lookupKeyAs(v, key, depth, resolve)
	case yaml.SequenceNode:
		// Earlier maps take precedence.
		for _, src := range v.Content {
			if src = deref(src); src != nil && src.Kind == yaml.MappingNode {
				if f := lookupKeyAs(src, key, depth, resolve); f != nil {
					return f
				}
			}
		}
	default:
		// Decoding rejects any other merge value, so there is nothing to find.
	}
	return nil
}

func isMerge(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && n.Tag == "!!merge"
}

// keyIs reports whether scalar key node k is key: as written or, with
// resolve, as sigs.k8s.io/yaml turns a plain scalar into a JSON key.
func keyIs(k *yaml.Node, key string, resolve bool) bool {
	k = deref(k)
	if k == nil || k.Kind != yaml.ScalarNode {
		return false
	}
	if !resolve {
		return k.Value == key
	}
	if k.Style != 0 || strings.ContainsAny(k.Value, "\n\r") {
		return false
	}
	j, err := sigsyaml.YAMLToJSON([]byte(k.Value + ": 0"))
	var m map[string]any
	if err != nil || json.Unmarshal(j, &m) != nil || len(m) != 1 {
		return false
	}
	_, ok := m[key]
	return ok
}

// resolvedForm reports whether key looks like a boolean or a number, the
// only keys a plain scalar can resolve to without being written that way.
func resolvedForm(key string) bool {
	return key == "true" || key == "false" || (key != "" && strings.IndexByte("+-.0123456789", key[0]) >= 0)
}
