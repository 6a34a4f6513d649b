package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/internal/parallel"
)

// Write writes objs as one YAML stream, documents separated by "---". It
// uses sigs.k8s.io/yaml, so keys are sorted and values formatted exactly as
// kubectl prints them, and the output is deterministic.
//
// Decoding the output yields objects equal to objs, with one caveat shared
// with kubectl: a float64 with an integral value (2.0) comes back as int64.
func Write(w io.Writer, objs []*unstructured.Unstructured) error {
	// Encoding is what writing many objects costs: batches are encoded on
	// every CPU and written in order, which keeps the output and where an
	// error stops it the same as encoding one object after the other.
	const batch = 256
	encoded := make([]encodedObject, min(batch, len(objs)))
	for start := 0; start < len(objs); start += batch {
		part := objs[start:min(start+batch, len(objs))]
		encodeAll(part, encoded[:len(part)])
		for j, enc := range encoded[:len(part)] {
			i := start + j
			if enc.err != nil {
				return fmt.Errorf("failed to encode object %d%s: %w", i, enc.what, enc.err)
			}
			if i > 0 {
				if _, err := io.WriteString(w, "---\n"); err != nil {
					return fmt.Errorf("failed to write manifests: %w", err)
				}
			}
			if _, err := w.Write(enc.data); err != nil {
				return fmt.Errorf("failed to write manifests: %w", err)
			}
		}
	}
	return nil
}

// encodedObject is one object of Write, encoded, or why it cannot be.
type encodedObject struct {
	data []byte
	// what names the object in an error.
	what string
	err  error
}

// encodeAll encodes objs into out on every CPU.
func encodeAll(objs []*unstructured.Unstructured, out []encodedObject) {
	parallel.ForEach(len(objs), 1, func(i int) {
		obj := objs[i]
		if obj == nil || obj.Object == nil {
			out[i] = encodedObject{err: errors.New("object is nil")}
			return
		}
		data, err := encode(obj.Object)
		out[i] = encodedObject{data: data, err: err}
		if err != nil {
			out[i].what = fmt.Sprintf(" (%s %s)", obj.GetKind(), obj.GetName())
		}
	})
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
	if v, ok := yamlValue(obj, 0); ok {
		if data, err := yamlv2.Marshal(v); err == nil {
			return data, nil
		}
	}
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

// sigs.k8s.io/yaml.JSONToYAML reads the JSON back with yaml.v2 and marshals
// what it read. For objects of strings, integers, booleans and nulls that
// value is the object itself with maps keyed by interface{} and integers as
// int, so yamlValue builds it directly and encode skips writing and reading
// the JSON, most of what printing an object costs. Whatever the round trip
// could change, or yaml.v2's reader refuse, is left to it: floats (the
// JSON text decides int or float), strings encode escapes or the reader
// rejects, "<<" keys, nesting deeper than plainMaxDepth.

// yamlValue returns what yaml.v2 reads from json.Marshal(v), or false.
func yamlValue(v any, depth int) (any, bool) {
	if depth > plainMaxDepth {
		return nil, false
	}
	switch t := v.(type) {
	case nil:
		return nil, true
	case bool:
		return t, true
	case string:
		return t, jsonRoundTrips(t)
	case int64:
		return int(t), true
	case map[string]any:
		if t == nil {
			return nil, true // JSON null
		}
		m := make(map[any]any, len(t))
		for k, e := range t {
			if k == "<<" || !jsonRoundTrips(k) {
				return nil, false
			}
			value, ok := yamlValue(e, depth+1)
			if !ok {
				return nil, false
			}
			m[k] = value
		}
		return m, true
	case []any:
		if t == nil {
			return nil, true // JSON null
		}
		out := make([]any, len(t))
		for i, e := range t {
			value, ok := yamlValue(e, depth+1)
			if !ok {
				return nil, false
			}
			out[i] = value
		}
		return out, true
	default:
		return nil, false
	}
}

// jsonRoundTrips reports whether s, written by json.Marshal, is read back
// by yaml.v2 as s: valid UTF-8 whose characters JSON escapes (ASCII
// controls) or yaml.v2's reader takes as they are (printable ASCII,
// U+00A0 to U+D7FF, U+E000 to U+FFFD except the byte order mark).
func jsonRoundTrips(s string) bool {
	for _, r := range s {
		switch {
		case r < 0x7f:
		case r >= 0xa0 && r <= 0xd7ff:
		case r >= 0xe000 && r <= 0xfffd && r != 0xfeff:
		default:
			// DEL, C1 controls, U+FEFF, U+FFFE/U+FFFF, beyond U+FFFF.
			return false
		}
	}
	// Invalid bytes range over as U+FFFD, which JSON writes for them.
	return utf8.ValidString(s)
}
