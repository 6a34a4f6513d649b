package webhook

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
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
