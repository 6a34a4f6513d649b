package manifest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sigsyaml "sigs.k8s.io/yaml"
)

// kubectlValue is what the full conversion gives for a document:
// sigs.k8s.io/yaml's strict YAMLToJSON, a JSON decode and numbers.
func kubectlValue(t *testing.T, src string) (any, bool) {
	t.Helper()
	j, err := sigsyaml.YAMLToJSONStrict([]byte(src))
	if err != nil {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	v, err = numbers(v)
	require.NoError(t, err)
	return v, true
}

// plainDocuments are documents both decodings take, and documents only
// the full conversion may read.
var plainDocuments = map[string]struct {
	src   string
	plain bool
}{
	"a Gateway of strings, integers and booleans is plain": {src: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: ns, annotations: {cert-manager.io/issuer: ca}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*.example.com", 'b.example.com']
    tls: {mode: SIMPLE, httpsRedirect: true}
`, plain: true},
	"YAML 1.1 booleans, hex integers, nulls and timestamps are plain": {src: "a: yes\nb: 0x1F\nc: ~\nd: 2001-12-14\ne: on\nf: -0\ng: []\nh: {}\n", plain: true},
	"anchors, aliases and merge keys are plain":                       {src: "a: &x {b: 1, c: [d]}\ne: *x\nf: {<<: *x, g: h}\n", plain: true},
	"an empty document is plain":                                      {src: "# only a comment\n", plain: true},
	"a scalar document is plain":                                      {src: "just a string\n", plain: true},
	"non-ASCII strings are plain":                                     {src: "a: \"caf\\xe9 \\u2028 \\U0001F600\"\nb: 日本\n", plain: true},
	"a float is left to the full conversion":                          {src: "a: 1.5\nb: 1e3\n"},
	"an integral float is left to the full conversion":                {src: "a: 1.0\n"},
	"an integer beyond int64 is left to the full conversion":          {src: "a: 18446744073709551615\n"},
	"NaN is left to the full conversion":                              {src: "a: .nan\n"},
	"an integer key is left to the full conversion":                   {src: "1: a\n\"1\": b\n"},
	"a boolean key is left to the full conversion":                    {src: "yes: a\n"},
	"invalid UTF-8 is left to the full conversion":                    {src: "a: !!binary /w==\n"},
	"a repeated key is left to the full conversion":                   {src: "a: 1\na: 2\n"},
	"a timestamp tag is plain: yaml.v2 keeps it a string":             {src: "a: !!timestamp 2001-12-14\n", plain: true},
	"a syntax error is left to the full conversion":                   {src: "a: [b\n"},
}

func TestPlainYAML(t *testing.T) {
	for name, tc := range plainDocuments {
		t.Run(name, func(t *testing.T) {
			got, ok := plainYAML([]byte(tc.src))
			require.Equal(t, tc.plain, ok)
			if !ok {
				return
			}
			want, ok := kubectlValue(t, tc.src)
			require.True(t, ok, "the full conversion takes what plainYAML takes")
			assert.Equal(t, want, got)
		})
	}
}

// TestPlainYAMLDeepNesting: past plainMaxDepth the full conversion decides.
func TestPlainYAMLDeepNesting(t *testing.T) {
	for name, tc := range map[string]struct {
		depth int
		plain bool
	}{
		"nesting within the limit is plain":              {depth: plainMaxDepth - 1, plain: true},
		"nesting past the limit is left to the full one": {depth: plainMaxDepth + 2, plain: false},
	} {
		t.Run(name, func(t *testing.T) {
			src := strings.Repeat("[", tc.depth) + strings.Repeat("]", tc.depth)
			_, ok := plainYAML([]byte(src))
			require.Equal(t, tc.plain, ok)
		})
	}
}

func TestEncodeMatchesJSONToYAML(t *testing.T) {
	for name, tc := range map[string]struct {
		obj  map[string]any
		fast bool
	}{
		"strings, integers, booleans and nulls take the direct path": {obj: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "b": true, "n": nil, "i": int64(-7), "big": int64(1) << 62,
			"data": map[string]any{"key10": "x", "key9": "true", "k": "1", "e": "", "l": []any{"a", int64(1), map[string]any{}}, "m": []any{}},
			"s":    "multi\nline\ttab \"quoted\" <html> & caf\u00e9 \u2028 日本 '#' : - [x] {y}",
		}, fast: true},
		"nil maps and slices are nulls, as in JSON": {obj: map[string]any{"a": map[string]any(nil), "b": []any(nil)}, fast: true},
		"a float takes the full path":               {obj: map[string]any{"a": 1.5, "b": 1e21}},
		"DEL and C1 controls take the full path":    {obj: map[string]any{"a": "x\u007fy\u0085z"}},
		"a byte order mark takes the full path":     {obj: map[string]any{"a": "\ufeffx"}},
		"beyond U+FFFF takes the full path":         {obj: map[string]any{"a": "\U0001F600"}},
		"invalid UTF-8 takes the full path":         {obj: map[string]any{"a": "\xff"}},
		"a merge key takes the full path":           {obj: map[string]any{"<<": "x"}},
		"an unknown type takes the full path":       {obj: map[string]any{"a": int32(1)}},
	} {
		t.Run(name, func(t *testing.T) {
			_, fast := yamlValue(tc.obj, 0)
			require.Equal(t, tc.fast, fast)
			got, gotErr := encode(tc.obj)
			j, err := json.Marshal(tc.obj)
			require.NoError(t, err)
			if !tc.fast {
				// encode's own escapes run first on this path; it is the
				// code that was there before, tested in write_test.go.
				return
			}
			want, wantErr := sigsyaml.JSONToYAML(j)
			require.Equal(t, wantErr, gotErr)
			require.Equal(t, string(want), string(got))
		})
	}
}

// TestPlainRoundTripOfTestdata: on every manifest the tests read, the
// direct paths give what the full conversions give.
func TestPlainRoundTripOfTestdata(t *testing.T) {
	docs := 0
	for _, dir := range []string{"testdata", "../offline/testdata", "../cmd/meshcert/app/testdata"} {
		objs, err := Read([]string{dir}, nil)
		if err != nil {
			// Some inputs are broken on purpose; read file by file.
			objs = nil
			files, _ := expand(dir)
			for _, f := range files {
				o, err := Read([]string{f}, nil)
				if err == nil {
					objs = append(objs, o...)
				}
			}
		}
		for _, o := range objs {
			if o.doc == nil {
				continue
			}
			docs++
			if got, ok := plainYAML(o.doc.src); ok {
				want, ok := kubectlValue(t, string(o.doc.src))
				require.True(t, ok, "%s:%d", o.File, o.Line)
				require.Equal(t, want, got, "%s:%d", o.File, o.Line)
			}
			j, err := json.Marshal(o.Object.Object)
			require.NoError(t, err)
			if _, fast := yamlValue(o.Object.Object, 0); fast {
				want, err := sigsyaml.JSONToYAML(j)
				require.NoError(t, err)
				got, err := encode(o.Object.Object)
				require.NoError(t, err)
				require.Equal(t, string(want), string(got), "%s:%d", o.File, o.Line)
			}
		}
	}
	require.Positive(t, docs)
}

// FuzzPlainPaths: whatever the document, the direct paths give what the
// full conversions give, or step aside.
func FuzzPlainPaths(f *testing.F) {
	for _, tc := range plainDocuments {
		f.Add([]byte(tc.src))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := sigsyaml.YAMLToJSONStrict(data)
		if got, ok := plainYAML(data); ok {
			if err != nil {
				t.Fatalf("plainYAML took a document the full conversion rejects: %v", err)
			}
			dec := json.NewDecoder(bytes.NewReader(j))
			dec.UseNumber()
			var want any
			if err := dec.Decode(&want); err != nil {
				t.Fatalf("the full conversion's JSON does not decode: %v", err)
			}
			want, err = numbers(want)
			if err != nil {
				t.Fatalf("plainYAML took a document whose numbers do not convert: %v", err)
			}
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("plainYAML differs:\nwant %#v\ngot  %#v", want, got)
			}
		}
		if err != nil {
			return
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return
		}
		if v, err = numbers(v); err != nil {
			return
		}
		m, isMap := v.(map[string]any)
		if !isMap {
			return
		}
		if _, fast := yamlValue(m, 0); !fast {
			return
		}
		mj, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("yamlValue took an object JSON cannot encode: %v", err)
		}
		want, wantErr := sigsyaml.JSONToYAML(mj)
		got, gotErr := encode(m)
		if (wantErr == nil) != (gotErr == nil) || string(want) != string(got) {
			t.Fatalf("encode differs from JSONToYAML:\nwant %q (%v)\ngot  %q (%v)", want, wantErr, got, gotErr)
		}
	})
}
