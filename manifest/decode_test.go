package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// position is what the tests compare about each decoded object.
type position struct {
	Kind, Name string
	Line       int
	Index      int
}

func positions(objs []*Object) []position {
	out := make([]position, 0, len(objs))
	for _, o := range objs {
		out = append(out, position{Kind: o.Object.GetKind(), Name: o.Object.GetName(), Line: o.Line, Index: o.Index})
	}
	return out
}

func TestDecode(t *testing.T) {
	tests := map[string]struct {
		file string
		in   string
		want []position
	}{
		"a single object is decoded with its line": {
			in:   "# leading comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
			want: []position{{Kind: "ConfigMap", Name: "a", Line: 2, Index: 0}},
		},
		"multi-document YAML keeps input order": {
			in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n",
			want: []position{
				{Kind: "ConfigMap", Name: "a", Line: 1, Index: 0},
				{Kind: "Secret", Name: "b", Line: 5, Index: 1},
			},
		},
		"empty and comment-only documents are skipped": {
			in:   "---\n---\n# nothing here\n---\n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n...\n---\nnull\n--- # comment\n",
			want: []position{{Kind: "ConfigMap", Name: "a", Line: 7, Index: 0}},
		},
		"an empty file has no objects": {
			in: "",
		},
		"a List is split into its items": {
			in: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: a
- apiVersion: v1
  kind: Secret
  metadata:
    name: b
`,
			want: []position{
				{Kind: "ConfigMap", Name: "a", Line: 4, Index: 0},
				{Kind: "Secret", Name: "b", Line: 8, Index: 1},
			},
		},
		"any *List kind with items is split and nested lists are flattened": {
			in: `apiVersion: networking.istio.io/v1
kind: GatewayList
items:
- apiVersion: networking.istio.io/v1
  kind: Gateway
  metadata: {name: gw}
- apiVersion: v1
  kind: List
  items:
  - apiVersion: v1
    kind: Secret
    metadata: {name: s}
`,
			want: []position{
				{Kind: "Gateway", Name: "gw", Line: 4, Index: 0},
				{Kind: "Secret", Name: "s", Line: 10, Index: 1},
			},
		},
		"an empty List has no objects": {
			in: "apiVersion: v1\nkind: List\nitems: []\n",
		},
		"a kind ending in List without items is an ordinary object": {
			in:   "apiVersion: example.com/v1\nkind: AllowList\nspec: {}\n",
			want: []position{{Kind: "AllowList", Line: 1}},
		},
		"JSON is decoded with lines": {
			file: "cm.json",
			in:   "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"ConfigMap\",\n\t\"metadata\": {\"name\": \"a\\/b\"}\n}\n",
			want: []position{{Kind: "ConfigMap", Name: "a/b", Line: 1}},
		},
		"a JSON List and a JSON stream are split": {
			file: "list.json",
			in: `{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
  {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}
]}
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c"}}
`,
			want: []position{
				{Kind: "ConfigMap", Name: "a", Line: 2, Index: 0},
				{Kind: "Secret", Name: "b", Line: 3, Index: 1},
				{Kind: "Service", Name: "c", Line: 5, Index: 2},
			},
		},
		"a byte order mark before JSON is ignored": {
			file: "bom.json",
			in:   "\xef\xbb\xbf{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"}",
			want: []position{{Kind: "ConfigMap", Line: 1}},
		},
		"JSON with tabs and escaped slashes still has lines": {
			file: "list.json",
			in:   "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n\t{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\\/b\"}}\n]}\n",
			want: []position{{Kind: "ConfigMap", Name: "a/b", Line: 1}},
		},
		"CRLF line endings and a byte order mark": {
			in:   "\xef\xbb\xbfapiVersion: v1\r\nkind: ConfigMap\r\n---\r\napiVersion: v1\r\nkind: Secret\r\n",
			want: []position{{Kind: "ConfigMap", Line: 1}, {Kind: "Secret", Line: 4, Index: 1}},
		},
		"a YAML flow mapping is not mistaken for JSON": {
			in:   "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
			want: []position{{Kind: "ConfigMap", Name: "a", Line: 1}},
		},
		"anchors, aliases and merge keys are expanded": {
			in: `apiVersion: v1
kind: ConfigMap
metadata:
  labels: &labels {app: x}
  annotations:
    <<: *labels
    extra: "1"
  name: a
`,
			want: []position{{Kind: "ConfigMap", Name: "a", Line: 1}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "in.yaml"
			}
			objs, err := Decode(file, []byte(tc.in))
			require.NoError(t, err)
			require.Equal(t, tc.want, positionsOrNil(objs))
			for _, o := range objs {
				require.Equal(t, file, o.File)
			}
		})
	}
}

func positionsOrNil(objs []*Object) []position {
	if len(objs) == 0 {
		return nil
	}
	return positions(objs)
}

func TestDecodeValues(t *testing.T) {
	in := `apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels: &labels {app: x}
  annotations:
    <<: *labels
    extra: "1"
spec:
  int: 42
  negative: -7
  hex: 0x1F
  octal: 0777
  underscored: 1_000
  big: 18446744073709551615
  float: 1.5
  integralFloat: 2.0
  exponent: 1e3
  bool: true
  yaml11Bool: yes
  quotedBool: "yes"
  off: off
  nothing: null
  tilde: ~
  empty:
  date: 2024-01-02
  version: 1.10
  quotedNumber: "42"
  binary: !!binary aGVsbG8=
  stringTag: !!str 12
  block: |
    line one
    line two
  unknownField: {nested: [1, "two", {three: 3}]}
  1: intKey
  true: boolKey
`
	objs, err := Decode("values.yaml", []byte(in))
	require.NoError(t, err)
	require.Len(t, objs, 1)
	require.Equal(t, map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":        "a",
			"labels":      map[string]any{"app": "x"},
			"annotations": map[string]any{"app": "x", "extra": "1"},
		},
		"spec": map[string]any{
			"int":           int64(42),
			"negative":      int64(-7),
			"hex":           int64(31),
			"octal":         int64(511),
			"underscored":   int64(1000),
			"big":           float64(18446744073709551615),
			"float":         1.5,
			"integralFloat": int64(2),
			"exponent":      int64(1000),
			"bool":          true,
			"yaml11Bool":    true,
			"quotedBool":    "yes",
			"false":         false,
			"nothing":       nil,
			"tilde":         nil,
			"empty":         nil,
			"date":          "2024-01-02",
			"version":       1.1,
			"quotedNumber":  "42",
			"binary":        "hello",
			"stringTag":     "12",
			"block":         "line one\nline two\n",
			"unknownField":  map[string]any{"nested": []any{int64(1), "two", map[string]any{"three": int64(3)}}},
			"1":             "intKey",
			"true":          "boolKey",
		},
	}, objs[0].Object.Object)
}

// TestDecodeScalars pins the YAML 1.1 scalar rules kubectl applies and
// yaml.v3 (YAML 1.2) would not.
func TestDecodeScalars(t *testing.T) {
	tests := map[string]any{
		`yes`: true, `on`: true, `off`: false, `N`: false, `True`: true, `~`: nil, `Null`: nil,
		`0x1F`: int64(31), `0777`: int64(511), `0b101`: int64(5), `1_000`: int64(1000), `+1`: int64(1),
		`1.0`: int64(1), `1.5`: 1.5, `1e3`: int64(1000), `1e21`: 1e21, `.5`: 0.5, `9223372036854775808`: float64(1 << 63),
		`2024-01-02`: "2024-01-02", `2024-01-02T03:04:05Z`: "2024-01-02T03:04:05Z", `12:30:45`: "12:30:45",
		`"yes"`: "yes", `'0x1F'`: "0x1F", `!!str 5`: "5", `!!float 5`: int64(5), `!!binary aGk=`: "hi", `<<`: "<<",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			objs, err := Decode("scalar.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nvalue: "+in+"\n"))
			require.NoError(t, err)
			require.Len(t, objs, 1)
			require.Equal(t, want, objs[0].Object.Object["value"])
		})
	}
}

// kubectlDecode decodes one document the way kubectl does.
func kubectlDecode(t *testing.T, doc string) map[string]any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	require.NoError(t, err)
	obj, _, err := unstructured.UnstructuredJSONScheme.Decode(j, nil, nil)
	require.NoError(t, err)
	return obj.(*unstructured.Unstructured).Object
}

func TestDecodeErrors(t *testing.T) {
	tests := map[string]struct {
		file string
		in   string
		want string
	}{
		"invalid YAML names the file and line": {
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n    bad: indent\n",
			want: "failed to decode in.yaml:5: mapping values are not allowed in this context",
		},
		"an unterminated flow sequence names its line": {
			in:   "apiVersion: v1\nkind: ConfigMap\ndata: [\n",
			want: "failed to decode in.yaml:3: did not find expected node content",
		},
		"a tab used for indentation is rejected": {
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n",
			want: "failed to decode in.yaml:4: found character that cannot start any token",
		},
		"invalid JSON names the file and line": {
			file: "in.json",
			in:   "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\",\n  \"metadata\": {\"name\": \"a\",}\n}\n",
			want: "failed to decode in.json:4: invalid character '}' looking for beginning of object key string",
		},
		"truncated JSON names the last line": {
			file: "in.json",
			in:   "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\"\n",
			want: "failed to decode in.json:3: unexpected EOF",
		},
		"a document that is a list is rejected": {
			in:   "apiVersion: v1\nkind: ConfigMap\n---\n- a\n- b\n",
			want: "failed to decode in.yaml:4: expected a mapping (a Kubernetes object), found a list",
		},
		"a document that is a string is rejected": {
			in:   "---\njust text\n",
			want: `failed to decode in.yaml:2: expected a mapping (a Kubernetes object), found the string "just text"`,
		},
		"a missing apiVersion is rejected at the object's line": {
			in:   "apiVersion: v1\nkind: ConfigMap\n---\n# comment\nkind: ConfigMap\nmetadata: {name: a}\n",
			want: "failed to decode in.yaml:5: object has no apiVersion",
		},
		"a missing kind is rejected at the object's line": {
			in:   "apiVersion: v1\nmetadata: {name: a}\n",
			want: "failed to decode in.yaml:1: object has no kind",
		},
		"a non-string kind counts as missing": {
			in:   "apiVersion: v1\nkind: 5\n",
			want: "failed to decode in.yaml:1: object has no kind",
		},
		"a bad List item names the item's line": {
			in:   "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n- metadata: {name: a}\n",
			want: "failed to decode in.yaml:6: List item 1: object has no apiVersion",
		},
		"a List item that is not a mapping is rejected": {
			in:   "apiVersion: v1\nkind: List\nitems:\n- 5\n",
			want: "failed to decode in.yaml:4: List item 0: expected a mapping (a Kubernetes object), found int64 5",
		},
		"an unknown anchor is rejected": {
			in:   "apiVersion: v1\nkind: ConfigMap\ndata: *nope\n",
			want: "failed to decode in.yaml:3: unknown anchor 'nope' referenced",
		},
		"an anchor containing itself is rejected": {
			in:   "apiVersion: v1\nkind: ConfigMap\ndata: &a [*a]\n",
			want: "failed to decode in.yaml:3: anchor 'a' value contains itself",
		},
		"a value JSON cannot carry is rejected": {
			in:   "apiVersion: v1\nkind: ConfigMap\nspec:\n  ratio: .nan\n",
			want: "failed to decode in.yaml:1: json: unsupported value: NaN",
		},
		"a null map key is rejected": {
			in:   "apiVersion: v1\nkind: ConfigMap\n~: x\n",
			want: "failed to decode in.yaml:1: unsupported map key of type",
		},
		"a mapping used as a key is rejected": {
			in:   "apiVersion: v1\nkind: ConfigMap\n? {a: 1}\n: x\n",
			want: "failed to decode in.yaml:1: invalid map key",
		},
		"a merge of a scalar is rejected": {
			in:   "apiVersion: v1\nkind: ConfigMap\ndata:\n  <<: 5\n",
			want: "failed to decode in.yaml:1: map merge requires map or sequence of maps as the value",
		},
		"a mistyped explicit tag is rejected": {
			in:   "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: !!int abc\n",
			want: "failed to decode in.yaml:1: cannot decode !!str `abc` as a !!int",
		},
		"invalid base64 in a binary scalar is rejected": {
			in:   "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: !!binary '%%'\n",
			want: "failed to decode in.yaml:1: !!binary value contains invalid base64 data",
		},
		"an error in a later document names the line in the file": {
			in:   "apiVersion: v1\nkind: ConfigMap\n---\n# second\napiVersion: v1\nkind: [\n",
			want: "failed to decode in.yaml:6: did not find expected node content",
		},
		"an error without a line names the document's first line": {
			in:   "apiVersion: v1\nkind: ConfigMap\n---\n\n# c\napiVersion: v1\nkind: ConfigMap\ndata: *nope\n",
			want: "failed to decode in.yaml:8: unknown anchor 'nope' referenced",
		},
		"content after a document separator is rejected like kubectl does": {
			in:   "apiVersion: v1\nkind: ConfigMap\n--- {a: 1}\n",
			want: "failed to decode in.yaml:3: invalid YAML document separator: {a: 1}",
		},
		"a lone document end marker is rejected like kubectl does": {
			in:   "apiVersion: v1\nkind: ConfigMap\n---\n...\n",
			want: "failed to decode in.yaml:4: did not find expected node content",
		},
		"a JSON number out of range is rejected": {
			file: "in.json",
			in:   "{\"apiVersion\": \"v1\",\n\"kind\": \"X\", \"n\": 1e400}",
			want: "failed to decode in.json:1: number 1e400: value out of range",
		},
		"alias expansion bombs are stopped": {
			in:   aliasBomb(),
			want: "excessive aliasing",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "in.yaml"
			}
			objs, err := Decode(file, []byte(tc.in))
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, objs)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.Equal(t, file, de.File)
			require.Positive(t, de.Line)
		})
	}
}

func aliasBomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\na0: &a0 [a, b, c, d, e, f, g, h, i, j]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a" + itoa(i) + ": &a" + itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestDecodeJSONNumbersMatchYAML(t *testing.T) {
	yamlObjs, err := Decode("a.yaml", []byte("apiVersion: v1\nkind: X\nnums: [1, 1.0, 1.5, 1e3, -0, 12345678901234567890]\n"))
	require.NoError(t, err)
	jsonObjs, err := Decode("a.json", []byte(`{"apiVersion": "v1", "kind": "X", "nums": [1, 1.0, 1.5, 1e3, -0, 12345678901234567890]}`))
	require.NoError(t, err)
	require.Equal(t, yamlObjs[0].Object.Object, jsonObjs[0].Object.Object)
}

func TestDecodeIgnoresAByteOrderMark(t *testing.T) {
	// Editors on Windows start UTF-8 files with a byte order mark; kubectl
	// drops it (k8s.io/cli-runtime's FileVisitor), so meshcert must read
	// such a file as the same objects, at the same lines.
	const bom = "\xef\xbb\xbf"
	const jsonList = `{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"n": 1.0}},
  {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}
]}`
	const jsonStream = `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app": "x"}}}
{"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "team-a"},
 "spec": {"servers": [{"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["a.example.com"]}]}}
`
	tests := map[string]struct{ file, in string }{
		"a JSON stream":                        {file: "stream.json", in: jsonStream},
		"a JSON List":                          {file: "list.json", in: jsonList},
		"a JSON List then a stream":            {file: "both.json", in: jsonList + "\n" + jsonStream},
		"JSON on stdin, sniffed as JSON":       {file: StdinName, in: jsonList + "\n" + jsonStream},
		"JSON in a file named .yaml":           {file: "in.yaml", in: jsonStream},
		"a YAML stream":                        {file: "in.yaml", in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n"},
		"a YAML stream starting with a marker": {file: "in.yaml", in: "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			plain, err := Decode(tc.file, []byte(tc.in))
			require.NoError(t, err)
			require.NotEmpty(t, plain)
			marked, err := Decode(tc.file, []byte(bom+tc.in))
			require.NoError(t, err, "a byte order mark is not an error")
			require.Equal(t, positions(plain), positions(marked))
			for i := range plain {
				require.Equal(t, plain[i].Object.Object, marked[i].Object.Object)
				require.Equal(t, plain[i].Location("metadata.name"), marked[i].Location("metadata.name"))
			}
			var want, got strings.Builder
			require.NoError(t, Write(&want, Unstructured(plain)))
			require.NoError(t, Write(&got, Unstructured(marked)))
			require.Equal(t, want.String(), got.String())
			require.NotContains(t, got.String(), "\ufeff")
		})
	}
}
