package manifest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kubectl (sigs.k8s.io/yaml, encoding/json) keeps the last of repeated keys
// without a word; e2e TestKubectlKeepsTheLastOfRepeatedKeys shows it on the
// real kubectl. DuplicateKeys is what lets `meshcert check` say so.
func TestDuplicateKeys(t *testing.T) {
	tests := []struct {
		name, file, data string
		// want is, per object, its duplicate keys.
		want [][]DuplicateKey
	}{
		{
			name: "a document without repeats has none",
			file: "a.yaml", data: gatewayYAML,
			want: [][]DuplicateKey{nil, nil},
		},
		{
			name: "a key repeated in a list item is named with its index and every line",
			file: "a.yaml", data: `apiVersion: v1
kind: ConfigMap
metadata: {name: a}
spec:
  servers:
  - port: 80
  - hosts: [a]
    hosts: [b]
    port: 443
    hosts: [c]
`,
			want: [][]DuplicateKey{{{Path: "spec.servers[1].hosts", Lines: []int{7, 8, 10}}}},
		},
		{
			name: "label keys and keys with dots are bracketed, and top-level repeats count",
			file: "a.yaml", data: `apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  annotations:
    cert-manager.io/issuer: x
    cert-manager.io/issuer: y
  labels: {app: a, app: b}
kind: ConfigMap
`,
			want: [][]DuplicateKey{{
				{Path: "kind", Lines: []int{2, 9}},
				{Path: "metadata.annotations[cert-manager.io/issuer]", Lines: []int{6, 7}},
				{Path: "metadata.labels[app]", Lines: []int{8, 8}},
			}},
		},
		{
			name: "a key beside a merge key overrides it on purpose and is no repeat",
			file: "a.yaml", data: `apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels: &l {app: x, tier: web}
data:
  <<: *l
  app: y
`,
			want: [][]DuplicateKey{nil},
		},
		{
			name: "only the kept value is looked into",
			file: "a.yaml", data: `apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data: {x: 1, x: 2}
data: {y: 1, y: 2}
`,
			want: [][]DuplicateKey{{{Path: "data", Lines: []int{4, 5}}, {Path: "data.y", Lines: []int{5, 5}}}},
		},
		{
			name: "lines count from the start of the file in later documents",
			file: "a.yaml", data: `apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, name: c}
`,
			want: [][]DuplicateKey{nil, {{Path: "metadata.name", Lines: []int{7, 7}}}},
		},
		{
			name: "the items of a List are objects of their own",
			file: "a.yaml", data: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: b}
  data: {k: 1, k: 2}
`,
			want: [][]DuplicateKey{nil, {{Path: "data.k", Lines: []int{10, 10}}}},
		},
		{
			name: "JSON repeats are found too",
			file: "a.json", data: `{"apiVersion": "v1", "kind": "ConfigMap",
 "metadata": {"name": "a"},
 "data": {"k": "1",
   "k": "2"}}
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}
`,
			want: [][]DuplicateKey{{{Path: "data.k", Lines: []int{3, 4}}}, nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode(tt.file, []byte(tt.data))
			require.NoError(t, err)
			require.Len(t, objs, len(tt.want))
			for i, o := range objs {
				assert.Equal(t, tt.want[i], o.DuplicateKeys(), "object %d", i)
			}
		})
	}
}

func TestDuplicateKeysKeepTheLastValue(t *testing.T) {
	objs, err := Decode("a.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: first}\ndata: {k: last}\n"))
	require.NoError(t, err)
	require.Len(t, objs, 1)
	assert.Equal(t, map[string]any{"k": "last"}, objs[0].Object.Object["data"])
	assert.Equal(t, 5, objs[0].LineOf("data.k"), "positions point at the value kept")
}
