package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const gatewayYAML = `# Gateway for the public edge.
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
  annotations:
    cert-manager.io/issuer: letsencrypt
    example.com/odd]key: x
  labels: &labels
    app: edge
spec:
  selector:
    <<: *labels
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https
    hosts:
    - "*.example.com"
    tls:
      mode: SIMPLE
      credentialName: edge-cert
  - port: {number: 80, name: http}
    hosts: ["*"]
---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    caCertificates:
    - certs: |
        -----BEGIN CERTIFICATE-----
      trustDomains: [cluster.local]
data:
  "0": zero
  1: one
`

func TestLineOf(t *testing.T) {
	objs, err := Decode("gateway.yaml", []byte(gatewayYAML))
	require.NoError(t, err)
	require.Len(t, objs, 2)
	gw, op := objs[0], objs[1]
	require.Equal(t, 2, gw.Line)
	require.Equal(t, 27, op.Line)

	tests := map[string]struct {
		obj  *Object
		path string
		want int
	}{
		"the empty path is the object's line":                   {gw, "", 2},
		"a top-level field is the line of its key":              {gw, "kind", 3},
		"a nested field":                                        {gw, "spec.servers", 15},
		"a list item is the line of the item":                   {gw, "spec.servers[1]", 24},
		"a field inside a list item":                            {gw, "spec.servers[0].tls.credentialName", 23},
		"a field of a flow mapping":                             {gw, "spec.servers[1].port.name", 24},
		"an item of a scalar list":                              {gw, "spec.servers[0].hosts[0]", 20},
		"a map key with dots and slashes in brackets":           {gw, "metadata.annotations[cert-manager.io/issuer]", 7},
		"a map key containing a closing bracket":                {gw, "metadata.annotations[example.com/odd]key]", 8},
		"a field pulled in by a merge key points at the anchor": {gw, "spec.selector.app", 10},
		"an explicit field next to a merge key":                 {gw, "spec.selector.istio", 14},
		"a missing field falls back to its parent":              {gw, "spec.servers[0].tls.privateKey", 21},
		"a missing list index falls back to the list":           {gw, "spec.servers[7].tls", 15},
		"an index into a mapping falls back":                    {gw, "metadata[0]", 4},
		"a field of a scalar falls back to the scalar":          {gw, "metadata.name.first", 5},
		"a missing top-level field falls back to the object":    {gw, "status.conditions[0]", 2},
		"a block scalar in a list item of the second document":  {op, "spec.meshConfig.caCertificates[0].certs", 32},
		"a sibling after a block scalar":                        {op, "spec.meshConfig.caCertificates[0].trustDomains[0]", 34},
		"a bracketed number on a mapping is a key":              {op, "data[0]", 36},
		"a numeric YAML key matches its string form":            {op, "data[1]", 37},
		"an unterminated bracket does not panic":                {gw, "metadata.annotations[cert-manager.io", 6},
		"stray separators are ignored":                          {gw, "..spec..servers", 15},
		"a negative index falls back":                           {gw, "spec.servers[-1]", 15},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.obj.LineOf(tc.path))
		})
	}
	require.Equal(t, "gateway.yaml:23", gw.Location("spec.servers[0].tls.credentialName"))
}

func TestLineOfJSON(t *testing.T) {
	in := `{
  "apiVersion": "networking.istio.io/v1",
  "kind": "Gateway",
  "spec": {
    "servers": [
      {
        "tls": {"credentialName": "edge-cert"}
      }
    ]
  }
}`
	objs, err := Decode("gw.json", []byte(in))
	require.NoError(t, err)
	require.Len(t, objs, 1)
	require.Equal(t, 7, objs[0].LineOf("spec.servers[0].tls.credentialName"))
	require.Equal(t, 6, objs[0].LineOf("spec.servers[0]"))
	require.Equal(t, 4, objs[0].LineOf("spec.missing"))

	// yaml.v3 rejects tab indentation, which is fine in JSON.
	objs, err = Decode("gw.json", []byte("\n"+strings.ReplaceAll(in, "  ", "\t")))
	require.NoError(t, err)
	require.Equal(t, 2, objs[0].Line)
	require.Equal(t, 8, objs[0].LineOf("spec.servers[0].tls.credentialName"))

	// Nor does it take `\/`; lines then fall back to the object's.
	objs, err = Decode("gw.json", []byte("\n"+strings.ReplaceAll(in, "edge-cert", `edge\/cert`)))
	require.NoError(t, err)
	require.Equal(t, "edge/cert", objs[0].Object.Object["spec"].(map[string]any)["servers"].([]any)[0].(map[string]any)["tls"].(map[string]any)["credentialName"])
	require.Equal(t, 2, objs[0].LineOf("spec.servers[0].tls.credentialName"))
}

func TestLineOfYAML11Keys(t *testing.T) {
	objs, err := Decode("keys.yaml", []byte("apiVersion: v1\nkind: X\ndata:\n  yes: a\n  0x1F: b\n  1.0: c\n  \"on\": d\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"true": "a", "31": "b", "1": "c", "on": "d"}, objs[0].Object.Object["data"])
	for path, want := range map[string]int{"data[true]": 4, "data[31]": 5, "data[1]": 6, "data[on]": 7, "data[0]": 3} {
		require.Equal(t, want, objs[0].LineOf(path), path)
	}
}

func TestLineOfListItems(t *testing.T) {
	in := `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  data:
    a: "1"
- apiVersion: v1
  kind: Secret
  type: Opaque
`
	objs, err := Decode("list.yaml", []byte(in))
	require.NoError(t, err)
	require.Len(t, objs, 2)
	require.Equal(t, 7, objs[0].LineOf("data.a"))
	require.Equal(t, 10, objs[1].LineOf("type"))
	require.Equal(t, 8, objs[1].LineOf("nothing"))
}

func TestLineOfWithoutNode(t *testing.T) {
	var nilObj *Object
	require.Zero(t, nilObj.LineOf("spec"))
	require.Equal(t, 3, (&Object{Line: 3}).LineOf("spec.x"))
}

func TestPositionOfColumns(t *testing.T) {
	objs, err := Decode("gateway.yaml", []byte(gatewayYAML))
	require.NoError(t, err)
	gw := objs[0]
	tests := map[string]struct {
		path string
		want Position
	}{
		"the empty path has no column":                   {"", Position{Line: 2}},
		"a top-level key starts the line":                {"kind", Position{Line: 3, Column: 1}},
		"a key inside a list item":                       {"spec.servers[0].tls.credentialName", Position{Line: 23, Column: 7}},
		"a list item is where its content starts":        {"spec.servers[1]", Position{Line: 24, Column: 5}},
		"a key of a flow mapping":                        {"spec.servers[1].port.name", Position{Line: 24, Column: 24}},
		"an item of a quoted scalar list":                {"spec.servers[0].hosts[0]", Position{Line: 20, Column: 7}},
		"a missing field takes its parent's column":      {"spec.servers[0].tls.privateKey", Position{Line: 21, Column: 5}},
		"a field pulled in by a merge key is its anchor": {"spec.selector.app", Position{Line: 10, Column: 5}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, gw.PositionOf(tc.path))
		})
	}
}

func TestPositionOfJSONValuesStartingMidLine(t *testing.T) {
	gw := `{"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "a"}}`
	in := "   " + gw + "  " + strings.Replace(gw, `"a"`, `"b"`, 1) + "\n"
	objs, err := Decode("two.json", []byte(in))
	require.NoError(t, err)
	require.Len(t, objs, 2)
	first := strings.Index(in, `"name"`) + 1
	second := strings.LastIndex(in, `"name"`) + 1
	assert.Equal(t, Position{Line: 1, Column: first}, objs[0].PositionOf("metadata.name"), "an indented value")
	assert.Equal(t, Position{Line: 1, Column: second}, objs[1].PositionOf("metadata.name"), "a second value on the same line")
}
