package jsonvalue

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNumbers(t *testing.T) {
	tests := []struct {
		name        string
		in          any
		wantNumber  float64
		isNumber    bool
		wantInteger int64
		isInteger   bool
	}{
		{name: "an int64 is an integer", in: int64(-3), wantNumber: -3, isNumber: true, wantInteger: -3, isInteger: true},
		{name: "an int is an integer", in: 7, wantNumber: 7, isNumber: true, wantInteger: 7, isInteger: true},
		{name: "an int32 is an integer", in: int32(9), wantNumber: 9, isNumber: true, wantInteger: 9, isInteger: true},
		{name: "a whole float64 is an integer", in: 443.0, wantNumber: 443, isNumber: true, wantInteger: 443, isInteger: true},
		{name: "a fractional float64 is a number only", in: 1.5, wantNumber: 1.5, isNumber: true},
		{name: "a float32 is a number", in: float32(2), wantNumber: 2, isNumber: true, wantInteger: 2, isInteger: true},
		{name: "a uint64 is a number", in: uint64(5), wantNumber: 5, isNumber: true, wantInteger: 5, isInteger: true},
		{name: "a json.Number is a number", in: json.Number("12"), wantNumber: 12, isNumber: true, wantInteger: 12, isInteger: true},
		{name: "a bad json.Number is not", in: json.Number("x")},
		{name: "a float beyond int64 is no integer", in: math.Pow(2, 63), wantNumber: math.Pow(2, 63), isNumber: true},
		{name: "a string is no number", in: "443"},
		{name: "nil is no number", in: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := Number(tc.in)
			assert.Equal(t, tc.isNumber, ok)
			assert.InDelta(t, tc.wantNumber, n, 0)
			i, ok := Integer(tc.in)
			assert.Equal(t, tc.isInteger, ok)
			assert.Equal(t, tc.wantInteger, i)
		})
	}
}

func TestWithoutNamespace(t *testing.T) {
	t.Run("the namespace is left out and the input kept", func(t *testing.T) {
		doc := map[string]any{"kind": "Gateway", "metadata": map[string]any{"name": "web", "namespace": "team-a"}}
		got := WithoutNamespace(doc)
		assert.Equal(t, map[string]any{"kind": "Gateway", "metadata": map[string]any{"name": "web"}}, got)
		assert.Equal(t, "team-a", doc["metadata"].(map[string]any)["namespace"], "the input is not modified")
	})
	t.Run("an object without a namespace or metadata is returned as it is", func(t *testing.T) {
		for _, doc := range []map[string]any{
			{"kind": "Gateway", "metadata": map[string]any{"name": "web"}},
			{"kind": "Gateway"},
			{"kind": "Gateway", "metadata": "not an object"},
		} {
			assert.Equal(t, doc, WithoutNamespace(doc))
		}
	})
}
