package offline

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
)

// A Certificate of the input under the name of one the shim would create
// is not predicted again: the shim updates it when the object controls it
// (as cert-manager's certNeedsUpdate decides), and leaves it alone
// otherwise.
func TestPlanObjectsShimCertificateInTheInput(t *testing.T) {
	const gateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, labels: {app: web}, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  listeners:
  - {name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
---
`
	const owner = `ownerReferences: [{apiVersion: gateway.networking.k8s.io/v1, kind: Gateway, name: web, uid: "", controller: true}]`
	tests := []struct {
		name        string
		certificate string
		// wantSpec is the Certificate's spec in the output, nil when it is
		// printed as given.
		wantSpec   map[string]any
		wantLabels map[string]string
		// wantAnnotations are the input's when nil.
		wantAnnotations map[string]string
	}{
		{
			name: "one the Gateway controls with other hosts is updated in place, its namespace left unwritten as given",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, annotations: {note: kept}, ` + owner + `}
spec: {secretName: web-tls, dnsNames: [old.example.com], issuerRef: {name: ca, kind: ClusterIssuer}, usages: [server auth]}
`,
			wantSpec: map[string]any{
				"secretName": "web-tls", "dnsNames": []any{"web.example.com"},
				"issuerRef": map[string]any{"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
				"usages":    []any{"digital signature", "key encipherment"},
			},
			wantLabels: map[string]string{"app": "web"},
		},
		{
			name: "one the Gateway controls that differs only in what the shim does not compare is printed as given",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, labels: {app: web}, ` + owner + `}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: ca, kind: ClusterIssuer}, usages: [server auth]}
`,
		},
		{
			name: "one the Gateway controls whose Secret no listener names is deleted and created anew, in its place",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, annotations: {note: dropped}, ` + owner + `}
spec: {secretName: old-tls, dnsNames: [web.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
			wantSpec: map[string]any{
				"secretName": "web-tls", "dnsNames": []any{"web.example.com"},
				"issuerRef": map[string]any{"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
				"usages":    []any{"digital signature", "key encipherment"},
			},
			wantLabels:      map[string]string{"app": "web"},
			wantAnnotations: map[string]string{"acme.cert-manager.io/http01-parentrefkind": "Gateway", "acme.cert-manager.io/http01-parentrefname": "web"},
		},
		{
			name: "one the Gateway does not control is left alone",
			certificate: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls}
spec: {secretName: web-tls, dnsNames: [old.example.com], issuerRef: {name: ca, kind: ClusterIssuer}}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := objectsFromYAML(t, gateway+tt.certificate)
			input := objs[2].DeepCopy()
			res, err := PlanObjects(t.Context(), objs, certs.DefaultOptions(), "apps")
			require.NoError(t, err)
			assert.Empty(t, res.ShimCertificates, "the input holds the Certificate already")
			got := res.Objects[2]
			assert.Empty(t, got.GetNamespace(), "printed as written, without the default namespace")
			if tt.wantSpec == nil {
				assert.Equal(t, input, got)
				return
			}
			spec, _, _ := unstructured.NestedMap(got.Object, "spec")
			assert.Equal(t, tt.wantSpec, spec)
			assert.Equal(t, tt.wantLabels, got.GetLabels())
			if tt.wantAnnotations == nil {
				tt.wantAnnotations = input.GetAnnotations()
			}
			assert.Equal(t, tt.wantAnnotations, got.GetAnnotations())
			assert.Equal(t, input.GetOwnerReferences()[0].Name, got.GetOwnerReferences()[0].Name)
		})
	}
}
