// Package jsonvalue reads numbers out of the values JSON and YAML decoders
// produce (map[string]any trees), for checks that walk unstructured objects.
package jsonvalue

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
)

// Number reads the number types JSON and YAML decoders produce.
func Number(v any) (float64, bool) {
	if i, ok := signedInteger(v); ok {
		return float64(i), true
	}
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	default:
		return 0, false
	}
}

// Integer reads an integral number, exactly for the integer types.
func Integer(v any) (int64, bool) {
	if i, ok := signedInteger(v); ok {
		return i, true
	}
	f, ok := Number(v)
	if !ok || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

func signedInteger(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	default:
		return 0, false
	}
}

// Describe says what a decoded value is, for a finding that names what was
// written where something else belongs: "the string \"x\"", "the number 3",
// "a list".
func Describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	default:
		if _, ok := Number(v); ok {
			return fmt.Sprintf("the number %v", x)
		}
		return fmt.Sprintf("a %T", v)
	}
}

// WithoutNamespace returns the object doc without metadata.namespace,
// sharing everything else with it; doc is not modified. The doors fill in
// the namespace an object was sent without (as the API server or kubectl
// would) for planning, and leave it out of what they hand back, so only
// meshcert's own changes are added.
func WithoutNamespace(doc map[string]any) map[string]any {
	md, ok := doc["metadata"].(map[string]any)
	if !ok {
		return doc
	}
	if _, ok := md["namespace"]; !ok {
		return doc
	}
	doc = maps.Clone(doc)
	md = maps.Clone(md)
	delete(md, "namespace")
	doc["metadata"] = md
	return doc
}
