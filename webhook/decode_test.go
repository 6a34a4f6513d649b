package webhook

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
)

func TestEveryHandlerRejectsARequestWithoutAnObject(t *testing.T) {
	kinds := map[string]schema.GroupVersionKind{
		PathMutateGateway:         certs.GatewayGVK,
		PathValidateGateway:       certs.GatewayGVK,
		PathValidateCertificate:   {Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
		PathValidateIstioOperator: istiooperator.GVK,
	}
	for path, h := range Handlers(index(t), Config{Options: certs.DefaultOptions()}, nil) {
		for name, raw := range map[string]string{"empty": "", "null": "null", "not JSON": "{", "a list": "[]"} {
			t.Run(path+" "+name, func(t *testing.T) {
				resp := handle(h, rawRequest(kinds[path], "team-a", "x", []byte(raw)))
				assert.False(t, resp.Allowed)
				assert.Equal(t, int32(http.StatusBadRequest), resp.Result.Code)
				if name == "empty" || name == "null" {
					assert.Equal(t, "the admission request has no object", resp.Result.Message)
				} else {
					assert.Contains(t, resp.Result.Message, "failed to decode the ")
				}
			})
		}
	}
}

func TestAFilledNamespaceIsPlannedButNotPatched(t *testing.T) {
	tests := []struct {
		name         string
		own, request string
		wantPlanned  string
		wantPatched  bool
	}{
		{name: "an object naming its namespace keeps it", own: "team-a", request: "team-b", wantPlanned: "team-a", wantPatched: true},
		{name: "an object naming none is planned in the request's, which the patch does not add", request: "team-a", wantPlanned: "team-a"},
		{name: "an object naming none in a request naming none stays without"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "web"}}}
			if tc.own != "" {
				obj.SetNamespace(tc.own)
			}
			filled := fillNamespace(obj, tc.request)
			assert.Equal(t, tc.wantPlanned, obj.GetNamespace(), "planned in")

			doc := filled.leaveOut(obj.Object)
			_, patched := doc["metadata"].(map[string]any)["namespace"]
			assert.Equal(t, tc.wantPatched, patched, "a namespace in what is patched")
			assert.Equal(t, "web", doc["metadata"].(map[string]any)["name"], "the rest is kept")
			assert.Equal(t, tc.wantPlanned, obj.GetNamespace(), "the object is not changed")
		})
	}
}
