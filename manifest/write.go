package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"

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

// encode is sigs.k8s.io/yaml.Marshal made safe for every string. That
// converts the JSON to YAML by first reading the JSON with yaml.v2, whose
// reader rejects raw DEL, C1 controls and U+FFFE/U+FFFF (which
// encoding/json leaves unescaped) and treats NEL (U+0085) as a line break,
// so those are escaped first. It also writes a "<<" key unquoted, which
// reads back as a merge key, so such keys go through a placeholder.
func encode(obj map[string]any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("failed to marshal JSON: %w", err)
	}
	if bytes.ContainsFunc(j, yamlUnsafe) {
		var b bytes.Buffer
		for _, r := range string(j) {
			if yamlUnsafe(r) {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
		j = b.Bytes()
	}
	placeholder := ""
	if mergeKey.Match(j) {
		// json.Marshal escapes '<', so this only appears where it is put.
		placeholder = "<<meshcert-merge-key"
		for bytes.Contains(j, []byte(placeholder[2:])) {
			placeholder += "-"
		}
		j = mergeKey.ReplaceAll(j, []byte(`${1}"`+placeholder+`":`))
	}
	data, err := sigsyaml.JSONToYAML(j)
	if err != nil {
		return nil, fmt.Errorf("failed to convert JSON to YAML: %w", err)
	}
	if placeholder != "" {
		data = bytes.ReplaceAll(data, []byte(placeholder+":"), []byte(`"<<":`))
	}
	return data, nil
}

// mergeKey matches a "<<" key in json.Marshal output.
var mergeKey = regexp.MustCompile(`([{,])"\\u003c\\u003c":`)

func yamlUnsafe(r rune) bool {
	return r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0xfffe || r == 0xffff
}
