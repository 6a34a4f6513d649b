package webhook

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
	"github.com/meshcert/meshcert/offline"
)

// FuzzAdmissionHandlers sends arbitrary object bytes to each handler, as
// the API server would for the handler's kind, and asserts what every
// answer must hold: no panic, a decision, a denial that says why, and a
// patch that applies to the object it was computed for. Seeds and found
// inputs run in make test; make fuzz runs it for FUZZTIME.
func FuzzAdmissionHandlers(f *testing.F) {
	for _, seed := range []string{
		`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"web","namespace":"team-a","annotations":{"cert-manager.io/cluster-issuer":"ca"}},"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["web.example.com"],"tls":{"mode":"SIMPLE"}}]}}`,
		`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"web"},"spec":{"servers":"nope"}}`,
		`{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"name":"c","namespace":"istio-system"},"spec":{"secretName":"s","dnsNames":["Web.example.com."],"issuerRef":{"name":"ca","kind":"ClusterIssuer"}}}`,
		`{"apiVersion":"install.istio.io/v1alpha1","kind":"IstioOperator","metadata":{"name":"io","namespace":"istio-system"},"spec":{"meshConfig":{"caCertificates":[{"certs":["x"]}]}}}`,
		`{}`, `null`, `[`, "\xff\xfe",
	} {
		for which := range uint8(4) {
			f.Add(which, []byte(seed))
		}
	}
	cfg := Config{Options: certs.DefaultOptions()}
	lookup := offline.NewIndex()
	handlers := []struct {
		gvk     schema.GroupVersionKind
		handler admission.Handler
	}{
		{certs.GatewayGVK, NewGatewayMutator(lookup, cfg, nil)},
		{certs.GatewayGVK, NewGatewayValidator(lookup, cfg, nil)},
		{schema.GroupVersionKind{Group: certs.CertManagerGroup, Version: "v1", Kind: "Certificate"}, NewCertificateValidator(lookup, cfg, nil)},
		{istiooperator.GVK, NewIstioOperatorValidator(lookup, cfg, nil)},
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		h := handlers[int(which)%len(handlers)]
		req := rawRequest(h.gvk, "team-a", "fuzzed", raw)
		resp := handle(h.handler, req)
		// What controller-runtime's Webhook does before answering.
		if err := resp.Complete(req); err != nil {
			t.Fatalf("the response cannot be completed for %q: %v", raw, err)
		}
		if !resp.Allowed && resp.Result.Message == "" {
			t.Fatalf("a denial without a message for %q: %+v", raw, resp.Result)
		}
		if len(resp.Patches) == 0 {
			return
		}
		ops, err := json.Marshal(resp.Patches)
		if err != nil {
			t.Fatalf("unmarshallable patch for %q: %v", raw, err)
		}
		patch, err := jsonpatch.DecodePatch(ops)
		if err != nil {
			t.Fatalf("undecodable patch for %q: %v", raw, err)
		}
		out, err := patch.Apply(raw)
		if err != nil {
			t.Fatalf("the patch does not apply to the object it was made for %q: %v\n%s", raw, err, ops)
		}
		if !json.Valid(out) {
			t.Fatalf("the patched object is not JSON: %q", out)
		}
	})
}
