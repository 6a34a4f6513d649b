package certs

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/finding"
)

func TestUnknownFields(t *testing.T) {
	tests := []struct {
		name string
		spec map[string]any
		want []string
	}{
		{
			name: "a spec of known fields has none",
			spec: map[string]any{
				"selector": map[string]any{"istio": "ingressgateway", "any-label": "x"},
				"servers": []any{map[string]any{
					"port": map[string]any{"number": int64(443), "name": "https", "protocol": "HTTPS"},
					"tls":  map[string]any{"mode": "SIMPLE", "tlsCertificates": []any{map[string]any{"serverCertificate": "/c", "privateKey": "/k"}}},
				}},
			},
		},
		{
			name: "an unknown key is found at every depth of the schema",
			spec: map[string]any{
				"top": true,
				"servers": []any{map[string]any{
					"portName": "x",
					"tls":      map[string]any{"credential_name": "x", "tlsCertificates": []any{map[string]any{}, map[string]any{"key": "x"}}},
				}},
			},
			want: []string{"spec.top", "spec.servers[0].portName", "spec.servers[0].tls.credential_name", "spec.servers[0].tls.tlsCertificates[1].key"},
		},
		{
			name: "sibling messages each get their own path",
			spec: map[string]any{"servers": []any{
				map[string]any{"port": map[string]any{"a": 1}, "tls": map[string]any{"b": 1}},
				map[string]any{"tls": map[string]any{"tlsCertificates": []any{map[string]any{"c": 1}}}, "d": 1},
			}},
			want: []string{"spec.servers[0].port.a", "spec.servers[0].tls.b", "spec.servers[1].tls.tlsCertificates[0].c", "spec.servers[1].d"},
		},
		{
			name: "the walk goes no deeper than the schema",
			spec: map[string]any{"selector": map[string]any{"x": map[string]any{"y": 1}}, "servers": []any{"not an object", map[string]any{"hosts": []any{map[string]any{"z": 1}}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b finding.Builder
			unknownFields(&b, gatewayDescriptor, tt.spec, specPath)
			var got []string
			for _, f := range b.Findings() {
				assert.Equal(t, finding.CodeUnknownField, f.Code)
				got = append(got, f.Field)
			}
			assert.ElementsMatch(t, tt.want, got)
		})
	}
}

// TestUnknownFieldsAllocatesNothingWithoutUnknownFields is why the walk
// needs no allocation-free twin to run first: it builds a path only for a
// key it reports.
func TestUnknownFieldsAllocatesNothingWithoutUnknownFields(t *testing.T) {
	servers := make([]any, 10)
	for i := range servers {
		servers[i] = map[string]any{
			"port":  map[string]any{"number": int64(443 + i), "name": "https-" + strconv.Itoa(i), "protocol": "HTTPS"},
			"hosts": []any{"web.example.com"},
			"tls":   map[string]any{"mode": "SIMPLE", "credentialName": "web-tls"},
		}
	}
	spec := map[string]any{"selector": map[string]any{"istio": "ingressgateway"}, "servers": servers}
	var b finding.Builder
	allocs := testing.AllocsPerRun(100, func() { unknownFields(&b, gatewayDescriptor, spec, specPath) })
	require.Empty(t, b.Findings())
	assert.Zero(t, allocs)
}
