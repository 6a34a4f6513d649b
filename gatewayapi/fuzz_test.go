package gatewayapi

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// FuzzPlanShim feeds arbitrary Gateways and ListenerSets (and a parent
// Gateway) to Parse and PlanShim: never a panic, the same plan twice, and
// every Certificate one the shim could write: named after its Secret, in
// the object's namespace, controlled by it, with IP addresses that parse.
func FuzzPlanShim(f *testing.F) {
	f.Add([]byte(`
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns, uid: u1, labels: {a: b}, annotations: {cert-manager.io/issuer: ca, cert-manager.io/alt-names: x.example.com}}
spec:
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: s1}, {name: s2, namespace: other}]}}
  - {name: b, port: 443, protocol: TLS, hostname: 10.0.0.1, tls: {mode: Terminate, certificateRefs: [{name: s1, group: core}]}}
`), []byte(""))
	f.Add([]byte(`
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: ls, namespace: team, annotations: {acme.cert-manager.io/http01-parentreffallback: "1", cert-manager.io/ignore-tls-listeners: b}}
spec:
  parentRef: {name: gw, namespace: ns}
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: "*.example.com", tls: {certificateRefs: [{name: s1}]}}
  - {name: b, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: s1, kind: ConfigMap}]}}
`), []byte(`
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns, annotations: {cert-manager.io/cluster-issuer: le, cert-manager.io/issuer-kind: X}}
spec: {listeners: []}
`))
	f.Fuzz(func(t *testing.T, object, parentObject []byte) {
		obj := parseFuzz(object)
		if obj == nil {
			return
		}
		parent := parseFuzz(parentObject)
		plan := PlanShim(obj, parent, DefaultShimOptions())
		again := PlanShim(obj, parent, DefaultShimOptions())
		require.Equal(t, plan.Certificates, again.Certificates)
		require.Equal(t, plan.Findings, again.Findings)
		if !plan.Acts {
			assert.Empty(t, plan.Certificates)
		}
		for _, crt := range plan.Certificates {
			assert.Equal(t, crt.Name, crt.Spec.SecretName)
			assert.Equal(t, obj.Namespace, crt.Namespace, "cross-namespace references get no Certificate")
			require.Len(t, crt.OwnerReferences, 1)
			assert.Equal(t, obj.Kind, crt.OwnerReferences[0].Kind)
			assert.True(t, *crt.OwnerReferences[0].Controller)
			for _, ip := range crt.Spec.IPAddresses {
				assert.NotNil(t, net.ParseIP(ip), "ipAddresses holds %q", ip)
			}
		}
	})
}

func parseFuzz(data []byte) *Object {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil || u.Object == nil {
		return nil
	}
	obj, err := Parse(u)
	if err != nil {
		return nil
	}
	return obj
}
