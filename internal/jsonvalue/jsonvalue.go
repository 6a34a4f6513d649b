// Package jsonvalue reads numbers out of the values JSON and YAML decoders
// produce (map[string]any trees), for checks that walk unstructured objects.
package jsonvalue

import (
	"encoding/json"
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
