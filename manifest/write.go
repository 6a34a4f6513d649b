package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"unicode"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

// Write writes objs as one YAML stream, documents separated by "---". It
// uses sigs.k8s.io/yaml, so keys are sorted and values formatted exactly as
// kubectl prints them, and the output is deterministic.
//
// Decoding the output yields objects equal to objs, with one caveat shared
// with kubectl: a float64 with an integral value (2.0) comes back as int64.
func Write(w io.Writer, objs []*unstructured.Unstructured) error {
	for i, obj := range objs {
		if obj == nil || obj.Object == nil {
			return fmt.Errorf("failed to encode object %d: object is nil", i)
		}
		data, err := encode(obj.Object)
		if err != nil {
			return fmt.Errorf("failed to encode object %d (%s %s): %w", i, obj.GetKind(), obj.GetName(), err)
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return fmt.Errorf("failed to write manifests: %w", err)
			}
		}
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("failed to write manifests: %w", err)
		}
	}
	return nil
}

// Unstructured returns the objects' Kubernetes content, for Write.
func Unstructured(objs []*Object) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.Object
	}
	return out
}

func encode(obj map[string]any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("failed to marshal JSON: %w", err)
	}
	if !sigsYAMLUnsafe(j) {
		data, err := sigsyaml.JSONToYAML(j)
		if err != nil {
			return nil, fmt.Errorf("failed to convert JSON to YAML: %w", err)
		}
		return data, nil
	}
	return encodeQuoted(j)
}

// sigsYAMLUnsafe reports whether sigs.k8s.io/yaml would mangle this JSON.
// It re-parses the JSON with yaml.v2, whose reader rejects raw DEL, C1
// controls and U+FFFE/U+FFFF (which encoding/json leaves unescaped), treats
// NEL (U+0085) as a line break, and it later writes a "<<" key unquoted, so
// it comes back as a merge key.
func sigsYAMLUnsafe(j []byte) bool {
	if bytes.Contains(j, []byte(`"\u003c\u003c":`)) {
		return true
	}
	for i := 0; i < len(j); i++ {
		switch b := j[i]; {
		case b == 0x7f:
			return true
		case b == 0xc2 && i+1 < len(j) && j[i+1] >= 0x80 && j[i+1] <= 0x9f:
			return true
		case b == 0xef && i+2 < len(j) && j[i+1] == 0xbf && (j[i+2] == 0xbe || j[i+2] == 0xbf):
			return true
		}
	}
	return false
}

// encodeQuoted is the fallback for objects sigsYAMLUnsafe rejects: it emits
// through yaml.v3 in kubectl's layout and key order, double-quoting every
// string that is not unambiguously a plain YAML 1.1 string, since double
// quotes can escape any character.
func encodeQuoted(j []byte) ([]byte, error) {
	docs, err := parseJSON(j)
	if err != nil || len(docs) != 1 {
		return nil, fmt.Errorf("failed to re-read JSON: %w", err)
	}
	root := docs[0].Content[0]
	prepareForEmit(root)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("failed to encode YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("failed to encode YAML: %w", err)
	}
	return buf.Bytes(), nil
}

func prepareForEmit(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	switch n.Kind {
	case yaml.MappingNode:
		n.Style = 0
		pairs := make([][2]*yaml.Node, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			pairs = append(pairs, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
		}
		sort.SliceStable(pairs, func(a, b int) bool { return keyLess(pairs[a][0].Value, pairs[b][0].Value) })
		n.Content = n.Content[:0]
		for _, p := range pairs {
			n.Content = append(n.Content, p[0], p[1])
		}
		if len(pairs) == 0 {
			n.Style = yaml.FlowStyle
		}
	case yaml.SequenceNode:
		n.Style = 0
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle
		}
	case yaml.ScalarNode:
		if n.Tag != "!!str" {
			// Numbers, booleans and null are plain and resolve by themselves.
			n.Tag, n.Style = "", 0
			return
		}
		n.Style = yaml.DoubleQuotedStyle
		if tag, _ := resolveUnchecked("", n.Value); tag == tagStr && n.Value != "<<" && plainSafe(n.Value) {
			// yaml.v3 still quotes it if YAML 1.2 would read it differently.
			n.Style = 0
		}
	default:
		// DocumentNode and AliasNode do not occur in a tree built from JSON.
	}
	for _, c := range n.Content {
		prepareForEmit(c)
	}
}

// plainSafe reports whether s contains only characters every YAML reader
// takes literally in a plain or block scalar.
func plainSafe(s string) bool {
	for _, r := range s {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 || r == 0xfeff || r >= 0xfffe) {
			return false
		}
	}
	return true
}

// keyLess is yaml.v2's ordering of string map keys, which is the order
// sigs.k8s.io/yaml (and kubectl) print keys in: runs of digits compare
// numerically and letters sort before other characters.
func keyLess(a, b string) bool {
	ar, br := []rune(a), []rune(b)
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al := unicode.IsLetter(ar[i])
		bl := unicode.IsLetter(br[i])
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		var ai, bi int
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && unicode.IsDigit(ar[j]); j-- {
				if ar[j] != '0' {
					an = 1
					bn = 1
					break
				}
			}
		}
		for ai = i; ai < len(ar) && unicode.IsDigit(ar[ai]); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for bi = i; bi < len(br) && unicode.IsDigit(br[bi]); bi++ {
			bn = bn*10 + int64(br[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return ar[i] < br[i]
	}
	return len(ar) < len(br)
}
