package manifest

import (
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DuplicateKey is a key written more than once in one mapping of an
// object. kubectl and the API server keep the last value without a word
// (sigs.k8s.io/yaml and encoding/json both do), so the others are lost.
type DuplicateKey struct {
	// Path is the key's field path, as field.Path prints it.
	Path string
	// Lines are the lines the key is written on, in order; the last one's
	// value is the one kept.
	Lines []int
}

// DuplicateKeys returns the keys written twice in the object, in source
// order. Only documents whose strict decode failed are walked, so the
// common case costs nothing.
func (o *Object) DuplicateKeys() []DuplicateKey {
	if o == nil || !o.duplicates {
		return nil
	}
	n := o.node
	if o.doc != nil {
		n = o.doc.root()
	}
	var out []DuplicateKey
	walkDuplicates(deref(n), nil, o.offset, 0, &out)
	return out
}

// walkDuplicates collects the keys repeated in the mappings below n.
// Aliases are not followed: the anchored node is walked where it is
// written, and merge keys are overridden on purpose, so neither counts.
func walkDuplicates(n *yaml.Node, path *field.Path, offset, depth int, out *[]DuplicateKey) {
	if n == nil || depth > maxListDepth {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		var order []string
		lines := map[string][]int{}
		values := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if isMerge(k) || k.Kind != yaml.ScalarNode {
				continue
			}
			if _, seen := lines[k.Value]; !seen {
				order = append(order, k.Value)
			}
			lines[k.Value] = append(lines[k.Value], offset+k.Line)
			values[k.Value] = v
		}
		for _, key := range order {
			keyPath := childPath(path, key)
			if len(lines[key]) > 1 {
				*out = append(*out, DuplicateKey{Path: keyPath.String(), Lines: lines[key]})
			}
			// Only the value kept matters below.
			walkDuplicates(values[key], keyPath, offset, depth+1, out)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			walkDuplicates(item, path.Index(i), offset, depth+1, out)
		}
	default:
		// Scalars hold no keys; aliases point at nodes walked where written.
	}
}

// childPath names key below path the way meshcert's findings do: a plain
// field name as a child; a label or annotation key, or anything with dots,
// slashes or brackets, as a bracketed key
// (metadata.annotations[cert-manager.io/issuer], metadata.labels[app]).
func childPath(path *field.Path, key string) *field.Path {
	if path == nil {
		return field.NewPath(key)
	}
	parent := path.String()
	if strings.ContainsAny(key, "./[]") || key == "" ||
		strings.HasSuffix(parent, "metadata.labels") || strings.HasSuffix(parent, "metadata.annotations") {
		return path.Key(key)
	}
	return path.Child(key)
}
