package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
)

// benchGateway is the Gateway the admission bench (e2e/bench) sends: one
// SIMPLE server per host under the namespace's domain, none with a
// credential, annotated with the ClusterIssuer.
func benchGateway(servers int) map[string]any {
	list := make([]any, servers)
	for i := range list {
		list[i] = map[string]any{
			"port":  map[string]any{"number": 443, "name": fmt.Sprintf("https-%d", i), "protocol": "HTTPS"},
			"hosts": []any{fmt.Sprintf("web-%d.bench.example.com", i)},
			"tls":   map[string]any{"mode": "SIMPLE"},
		}
	}
	return map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": "web", "namespace": "bench", "annotations": map[string]any{"cert-manager.io/cluster-issuer": "ca"}},
		"spec":     map[string]any{"selector": map[string]any{"istio": "ingressgateway"}, "servers": list},
	}
}

// benchReview is the AdmissionReview the API server sends to create obj.
func benchReview(b *testing.B, obj []byte) []byte {
	b.Helper()
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "bench", Name: "web", Namespace: "bench", Operation: admissionv1.Create,
			Kind:     metav1.GroupVersionKind{Group: certs.IstioNetworkingGroup, Version: "v1", Kind: "Gateway"},
			Resource: metav1.GroupVersionResource{Group: certs.IstioNetworkingGroup, Version: "v1", Resource: "gateways"},
			Object:   runtime.RawExtension{Raw: obj},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkGatewayReview is meshcert's own work for one admission of a
// Gateway of 1, 10 and 100 servers, without TLS and HTTP: reading the
// AdmissionReview, decoding the Gateway, planning and writing the answer,
// with the cache the admission bench's plane holds (the namespace with its
// policy and the ClusterIssuer). server=meshcert is how meshcert serves the
// Gateway webhooks (Serve); server=controller-runtime the same handler
// behind controller-runtime's admission.Webhook. The mutating review
// carries what the user wrote, the validating one what the mutation made
// of it, as in the bench. Added to the no-op server's CPU per request, it
// is the floor of docs/performance.md.
func BenchmarkGatewayReview(b *testing.B) {
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	lookup := index(b, objects(b, clusterIssuerCA+`
---
apiVersion: v1
kind: Namespace
metadata:
  name: bench
  annotations:
    meshcert.io/allowed-hosts: "*.bench.example.com"
    meshcert.io/allowed-issuers: ClusterIssuer/ca
`)...)
	handlers := Handlers(lookup, Config{Options: certs.DefaultOptions()}, metrics)
	for _, servers := range []int{1, 10, 100} {
		written, err := json.Marshal(benchGateway(servers))
		if err != nil {
			b.Fatal(err)
		}
		mutation := handlers[PathMutateGateway].Handle(b.Context(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Namespace: "bench", Operation: admissionv1.Create,
			Kind:   metav1.GroupVersionKind{Group: certs.IstioNetworkingGroup, Version: "v1", Kind: "Gateway"},
			Object: runtime.RawExtension{Raw: written},
		}})
		ops, err := json.Marshal(mutation.Patches)
		if err != nil {
			b.Fatal(err)
		}
		patch, err := jsonpatch.DecodePatch(ops)
		if err != nil {
			b.Fatal(err)
		}
		mutated, err := patch.Apply(written)
		if err != nil || len(mutation.Patches) != servers {
			b.Fatalf("the mutation gave %d operations for %d servers: %v", len(mutation.Patches), servers, err)
		}
		bodies := map[string][]byte{PathMutateGateway: benchReview(b, written), PathValidateGateway: benchReview(b, mutated)}
		for _, path := range []string{PathMutateGateway, PathValidateGateway} {
			body := bodies[path]
			servedBy := map[string]http.Handler{
				"meshcert":           Serve(path, handlers[path]),
				"controller-runtime": &admission.Webhook{Handler: handlers[path], LogConstructor: logConstructor},
			}
			for _, server := range []string{"meshcert", "controller-runtime"} {
				b.Run(fmt.Sprintf("servers=%d/webhook=%s/server=%s", servers, path[1:], server), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
						req.Header.Set("Content-Type", "application/json")
						rec := httptest.NewRecorder()
						servedBy[server].ServeHTTP(rec, req)
						if !bytes.Contains(rec.Body.Bytes(), []byte(`"allowed":true`)) {
							b.Fatalf("not allowed: %s", rec.Body.Bytes())
						}
					}
				})
			}
		}
	}
}
