package manifest

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	f.Add([]byte(gatewayYAML))
	f.Add([]byte(`apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: edge
  namespace: istio-system
spec:
  secretName: edge-cert
  duration: 2160h
  dnsNames: ["*.example.com", example.com]
  issuerRef: {name: letsencrypt, kind: ClusterIssuer}
  privateKey: {algorithm: ECDSA, size: 256, rotationPolicy: Always}
`))
	f.Add([]byte(`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  type: kubernetes.io/tls
  data: {tls.crt: !!binary aGk=, tls.key: ""}
- &cm
  apiVersion: v1
  kind: ConfigMap
  data: {a: yes, b: 0x1F, c: 1.0, d: 2024-01-02, e: ~}
`))
	f.Add([]byte(`{"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "\/x", "b": 1e3}}` + "\n{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": []}"))
	f.Add([]byte("---\n# comment only\n---\n...\n"))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\ndata:\n  \"<<\": \"a\\x7f\\u0085\\uFFFE\\t\\0\\e\\u2028\\U0001F600\"\n  'k': ' x '\n"))
	f.Add([]byte("apiVersion: v1\nkind: X\nbase: &b {a: 1}\nm:\n  <<: [*b, {c: 3}]\n  a: 2\n"))
	f.Add([]byte("apiVersion: v1\nkind: X\nm: {a: 1, a: 2}\nm: {b: [{c: 1, c: 2}]}\n"))
	f.Add([]byte(`{"apiVersion": "v1", "kind": "X", "m": {"a": 1, "a": 2}, "m": 3}`))

	paths := []string{
		"", "spec", "spec.servers[0].tls.credentialName", "metadata.annotations[cert-manager.io/issuer]",
		"items[0]", "data[a]", "m.a", "[0]", "a[", "]", "..", "[[]]", "spec.servers[99999999999999999999]",
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Decode("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "failed to decode fuzz.yaml:") {
				t.Fatalf("error does not name the file and line: %v", err)
			}
			return
		}
		for _, o := range objs {
			for _, p := range paths {
				if line := o.LineOf(p); line < 1 {
					t.Fatalf("LineOf(%q) = %d", p, line)
				}
			}
			// Paths built from the input itself reach real fields.
			o.LineOf(string(data[:min(len(data), 64)]))
			for _, dup := range o.DuplicateKeys() {
				if len(dup.Lines) < 2 || dup.Path == "" || !slices.IsSorted(dup.Lines) {
					t.Fatalf("a repeated key is reported without a path or with fewer than two lines in order: %+v", dup)
				}
			}
		}
		if again, err := Decode("written.yaml", nil); err != nil || len(again) != 0 {
			t.Fatalf("empty input: %v %v", again, err)
		}

		var out bytes.Buffer
		if err := Write(&out, Unstructured(objs)); err != nil {
			t.Fatalf("Write failed on decoded objects: %v", err)
		}
		again, err := Decode("roundtrip.yaml", out.Bytes())
		if err != nil {
			t.Fatalf("written output does not decode: %v\n%s", err, out.String())
		}
		if len(again) != len(objs) {
			t.Fatalf("round trip changed the object count from %d to %d\n%s", len(objs), len(again), out.String())
		}
		for i := range objs {
			if !reflect.DeepEqual(objs[i].Object.Object, again[i].Object.Object) {
				t.Fatalf("object %d changed in the round trip:\nbefore: %#v\nafter:  %#v\nYAML:\n%s", i, objs[i].Object.Object, again[i].Object.Object, out.String())
			}
		}
	})
}
