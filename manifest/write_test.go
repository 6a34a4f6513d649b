package manifest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

func TestWrite(t *testing.T) {
	objs := []*unstructured.Unstructured{
		{Object: map[string]any{"kind": "ConfigMap", "apiVersion": "v1", "metadata": map[string]any{"name": "a"}, "data": map[string]any{"b": "yes", "a10": "x", "a2": "y"}}},
		{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "b"}, "type": "kubernetes.io/tls"}},
	}
	var out bytes.Buffer
	require.NoError(t, Write(&out, objs))
	require.Equal(t, `apiVersion: v1
data:
  a2: "y"
  a10: x
  b: "yes"
kind: ConfigMap
metadata:
  name: a
---
apiVersion: v1
kind: Secret
metadata:
  name: b
type: kubernetes.io/tls
`, out.String())
}

func TestWriteErrors(t *testing.T) {
	tests := map[string]struct {
		objs []*unstructured.Unstructured
		want string
	}{
		"a nil object":          {objs: []*unstructured.Unstructured{nil}, want: "failed to encode object 0: object is nil"},
		"an object without map": {objs: []*unstructured.Unstructured{{}}, want: "failed to encode object 0: object is nil"},
		"a value JSON cannot encode": {
			objs: []*unstructured.Unstructured{{Object: map[string]any{"kind": "X", "f": make(chan int)}}},
			want: "failed to encode object 0 (X ): failed to marshal JSON",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			require.ErrorContains(t, Write(&out, tc.objs), tc.want)
		})
	}

	var none bytes.Buffer
	require.NoError(t, Write(&none, nil))
	require.Empty(t, none.String())
}

func TestRoundTrip(t *testing.T) {
	tests := map[string]string{
		"unknown fields and every scalar type survive": `apiVersion: example.com/v1alpha1
kind: Unknown
metadata:
  name: x
  annotations:
    cert-manager.io/issuer: "ca"
    "yes": "no"
spec:
  int: 42
  big: 9223372036854775807
  huge: 18446744073709551615
  float: 1.5
  tiny: 1e-9
  large: 1e300
  bool: false
  nothing: null
  emptyMap: {}
  emptyList: []
  date: 2024-01-02
  version: "1.10"
  octalLooking: "0777"
  multiline: |
    -----BEGIN CERTIFICATE-----
    MIIB
    -----END CERTIFICATE-----
  unicode: "héllo \u2028 wörld \t tab \U0001F600"
  leadingSpace: "  x"
  long: "` + strings.Repeat("word ", 40) + `"
  whatever: {deeply: {nested: [[1, 2], [3, {four: 4}]]}}
`,
		"JSON input": `{"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "yes", "n": 1.0, "f": 1.25, "u": "\ud83d\ude00"}}`,
		// sigs.k8s.io/yaml mangles these; Write falls back to quoting them.
		"a quoted << key stays a key": `apiVersion: v1
kind: ConfigMap
data:
  "<<": {a: 1}
  b: "<<"
`,
		"control and line-break characters survive": `apiVersion: v1
kind: ConfigMap
data:
  del: "a\x7fb"
  nel: "\u0085x"
  c1: "\x80\x9f"
  nonchar: "\uFFFE\uFFFF"
  bom: "\uFEFFx"
  "key\x7f": "\x01\t\r\n"
  lines: "a\u2028b\u2029c\nd"
`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			objs, err := Decode("in.yaml", []byte(in))
			require.NoError(t, err)
			require.Len(t, objs, 1)

			var out bytes.Buffer
			require.NoError(t, Write(&out, Unstructured(objs)))
			again, err := Decode("out.yaml", out.Bytes())
			require.NoError(t, err, out.String())
			require.Len(t, again, 1)
			require.Equal(t, objs[0].Object.Object, again[0].Object.Object)

			// The emitted YAML must mean the same to kubectl as well.
			require.Equal(t, objs[0].Object.Object, kubectlDecode(t, out.String()))
		})
	}
}

// Write must print ordinary objects exactly like kubectl (sigs.k8s.io/yaml)
// does; only strings that it would mangle are written differently.
func TestWriteMatchesKubectl(t *testing.T) {
	objs, err := Decode("in.yaml", append([]byte(gatewayYAML+"---\n"), benchInput()...))
	require.NoError(t, err)
	objs = append(objs, &Object{Object: &unstructured.Unstructured{Object: map[string]any{
		"b": 1, "a10": 1, "a2": 1, "a": 1, "A": 1, "_x": 1, "1": 1, "10": 1, "9": 1, "a01": 1, "a1": 1, "é": 1, "": 1,
		"big": float64(1 << 63), "float": 1e21, "small": 1e-7, "yes": "yes", "date": "2024-01-02", "nul": "\x00",
	}}})
	for _, o := range objs {
		want, err := sigsyaml.Marshal(o.Object.Object)
		require.NoError(t, err)
		var got bytes.Buffer
		require.NoError(t, Write(&got, []*unstructured.Unstructured{o.Object}))
		require.Equal(t, string(want), got.String())
	}
}

func TestWriteQuotesMergeKeys(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, Write(&out, []*unstructured.Unstructured{{Object: map[string]any{
		"<<":   map[string]any{"<<": "<<", "a\"<<": 1},
		"list": []any{map[string]any{"<<": 1}},
		"x":    "<<meshcert-merge-key",
	}}}))
	require.Equal(t, `"<<":
  "<<": <<
  a"<<: 1
list:
- "<<": 1
x: <<meshcert-merge-key
`, out.String())
}
