package manifest

import (
	"fmt"
	"strings"
	"testing"
)

// benchInput is a realistic ~100-object stream: Gateways, Certificates and
// Secrets like a mesh repository holds.
func benchInput() []byte {
	var b strings.Builder
	for i := range 34 {
		fmt.Fprintf(&b, `# gateway %[1]d
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw-%[1]d
  namespace: istio-system
  annotations:
    cert-manager.io/issuer: letsencrypt
  labels: {app: edge, tier: "%[1]d"}
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["app-%[1]d.example.com"]
    tls:
      mode: SIMPLE
      credentialName: cert-%[1]d
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: cert-%[1]d
  namespace: istio-system
spec:
  secretName: cert-%[1]d
  duration: 2160h
  renewBefore: 360h
  dnsNames:
  - app-%[1]d.example.com
  issuerRef:
    name: letsencrypt
    kind: ClusterIssuer
---
apiVersion: v1
kind: Secret
metadata:
  name: cert-%[1]d
  namespace: istio-system
type: kubernetes.io/tls
data:
  tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJzekNDQVZtZ0F3SUJBZ0lVZmFrZQ==
  tls.key: ""
---
`, i)
	}
	return []byte(b.String())
}

func BenchmarkDecode(b *testing.B) {
	data := benchInput()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		objs, err := Decode("bench.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(objs) != 102 {
			b.Fatalf("got %d objects", len(objs))
		}
	}
}

func BenchmarkLineOf(b *testing.B) {
	objs, err := Decode("bench.yaml", benchInput())
	if err != nil {
		b.Fatal(err)
	}
	gw := objs[len(objs)-3]
	b.ReportAllocs()
	for b.Loop() {
		if gw.LineOf("spec.servers[0].tls.credentialName") == gw.Line {
			b.Fatal("path not resolved")
		}
	}
}
