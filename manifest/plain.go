package manifest

import (
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
)

// The way kubectl decodes a document, sigs.k8s.io/yaml.YAMLToJSON followed
// by a JSON decode, builds every value three times: yaml.v2's, a
// JSON-compatible copy of it, and the JSON decoder's after a round trip
// through bytes. For the documents manifests are made of, whose keys are
// strings and whose values are strings, integers, booleans and nulls, the
// result is yaml.v2's value with integers as int64, so plainYAML builds
// that directly, in a third of the time and allocations. Anything whose
// round trip through JSON could change it (floats, whose JSON text can
// read back as another integer; non-string keys, which two spellings can
// map to one string; invalid UTF-8, which JSON replaces; nesting near
// encoding/json's limit; timestamps and other types a tag asks for) is
// left to the full conversion.

// plainMaxDepth is well under encoding/json's nesting limit (10,000).
const plainMaxDepth = 1000

// plainYAML decodes src exactly as yamlDocument's strict path would, or
// reports false when the document needs that path: it repeats a key, does
// not parse, or holds a value plainValue does not take.
func plainYAML(src []byte) (any, bool) {
	var y any
	if err := yamlv2.UnmarshalStrict(src, &y); err != nil {
		return nil, false
	}
	return plainValue(y, 0)
}

// plainValue converts yaml.v2's value into the JSON decoder's, with
// numbers as numbers() leaves them, or reports false.
func plainValue(y any, depth int) (any, bool) {
	if depth > plainMaxDepth {
		return nil, false
	}
	switch t := y.(type) {
	case nil:
		return nil, true
	case bool:
		return t, true
	case string:
		return t, utf8.ValidString(t)
	case int:
		return int64(t), true
	case int64:
		return t, true
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, v := range t {
			key, isString := k.(string)
			if !isString || !utf8.ValidString(key) {
				return nil, false
			}
			value, ok := plainValue(v, depth+1)
			if !ok {
				return nil, false
			}
			m[key] = value
		}
		return m, true
	case []any:
		// yaml.v2 builds a new slice for every sequence, aliases included,
		// so converting in place touches nothing else.
		for i, v := range t {
			value, ok := plainValue(v, depth+1)
			if !ok {
				return nil, false
			}
			t[i] = value
		}
		return t, true
	default:
		// Floats, uint64 beyond int64, time.Time from a !!timestamp tag.
		return nil, false
	}
}
