package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	mcwebhook "github.com/meshcert/meshcert/webhook"
)

// discovery is the API surface the fake API server advertises: what meshcert
// watches, without the IstioOperator CRD.
var discovery = map[string]string{
	"/api":                         `{"kind":"APIVersions","versions":["v1"]}`,
	"/apis":                        `{"kind":"APIGroupList","apiVersion":"v1","groups":[` + group("networking.istio.io", "v1") + `,` + group("cert-manager.io", "v1") + `,` + group("networking.k8s.io", "v1") + `]}`,
	"/api/v1":                      resources("v1", "pods:Pod:true", "namespaces:Namespace:false", "configmaps:ConfigMap:true"),
	"/apis/networking.istio.io/v1": resources("networking.istio.io/v1", "gateways:Gateway:true"),
	"/apis/cert-manager.io/v1":     resources("cert-manager.io/v1", "certificates:Certificate:true", "issuers:Issuer:true", "clusterissuers:ClusterIssuer:false"),
	"/apis/networking.k8s.io/v1":   resources("networking.k8s.io/v1", "ingressclasses:IngressClass:false"),
}

func group(name, version string) string {
	return `{"name":"` + name + `","versions":[{"groupVersion":"` + name + `/` + version + `","version":"` + version + `"}],` +
		`"preferredVersion":{"groupVersion":"` + name + `/` + version + `","version":"` + version + `"}}`
}

func resources(groupVersion string, list ...string) string {
	var items []string
	for _, r := range list {
		parts := strings.Split(r, ":")
		items = append(items, `{"name":"`+parts[0]+`","kind":"`+parts[1]+`","namespaced":`+parts[2]+
			`,"verbs":["get","list","watch","create","update","patch","delete"]}`)
	}
	return `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"` + groupVersion + `","resources":[` + strings.Join(items, ",") + `]}`
}

// fakeAPIServer answers discovery and records every other request.
type fakeAPIServer struct {
	mu       sync.Mutex
	requests []string
}

func (s *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if body, ok := discovery[r.URL.Path]; ok {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	http.Error(w, "not served by this fake", http.StatusNotFound)
}

func (s *fakeAPIServer) taken() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.requests
	s.requests = nil
	return out
}

// TestServedWebhooksMakeNoAPIRequest wires a real manager the way `meshcert
// serve` does, against a fake API server, and sends an AdmissionReview to
// every webhook path it serves. The handlers must answer without a single
// request to the API server: everything they know comes from the informer
// cache (not started here, so every lookup waits for the request's
// deadline, then answers "not found"). A Lookup
// over the manager's API reader, or a live read anywhere on the admission
// path, shows up as a recorded request.
func TestServedWebhooksMakeNoAPIRequest(t *testing.T) {
	api := &fakeAPIServer{}
	server := httptest.NewServer(api)
	t.Cleanup(server.Close)

	mgr := newServeManager(t, server.URL, "--webhook-host=127.0.0.1", "--default-issuer-name=ca", "--default-issuer-kind=ClusterIssuer")
	api.taken() // setup may read; admission may not

	objects := map[string]string{
		mcwebhook.PathMutateGateway:         gatewayJSON,
		mcwebhook.PathValidateGateway:       gatewayJSON,
		mcwebhook.PathValidateCertificate:   `{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"name":"web","namespace":"istio-system"},"spec":{"secretName":"web","dnsNames":["web.example.com"],"issuerRef":{"name":"ca","kind":"ClusterIssuer"}}}`,
		mcwebhook.PathValidateIstioOperator: istioOperatorJSON,
		mcwebhook.PathMutateIstioOperator:   istioOperatorJSON,
		mcwebhook.PathValidateSail:          sailIstioJSON,
		mcwebhook.PathMutateSail:            sailIstioJSON,
		mcwebhook.PathValidateGatewayAPI:    `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"web","namespace":"team-a","annotations":{"cert-manager.io/cluster-issuer":"ca"}},"spec":{"gatewayClassName":"istio","listeners":[{"name":"https","port":443,"protocol":"HTTPS","hostname":"web.example.com","tls":{"certificateRefs":[{"name":"web-tls"}]}}]}}`,
	}
	mux := mgr.GetWebhookServer().WebhookMux()
	for _, d := range mcwebhook.Definitions() {
		t.Run(d.Path, func(t *testing.T) {
			object := objects[d.Path]
			require.NotEmpty(t, object, "a test object for %s", d.Path)
			var meta struct {
				APIVersion, Kind string
				Metadata         struct{ Name, Namespace string }
			}
			require.NoError(t, json.Unmarshal([]byte(object), &meta))
			group, version, _ := strings.Cut(meta.APIVersion, "/")
			review := admissionv1.AdmissionReview{
				TypeMeta: metaType(),
				Request: &admissionv1.AdmissionRequest{
					UID: "uid", Operation: admissionv1.Create,
					Kind:      metaGVK(group, version, meta.Kind),
					Namespace: meta.Metadata.Namespace, Name: meta.Metadata.Name,
					Object: runtime.RawExtension{Raw: []byte(object)},
				},
			}
			body, err := json.Marshal(review)
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			// The API server gives up on a webhook at its timeout; a short one
			// here, since the caches never sync.
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, d.Path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			mux.ServeHTTP(rec, req)

			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			var answer admissionv1.AdmissionReview
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &answer))
			require.NotNil(t, answer.Response, "the webhook answered")
			assert.Equal(t, review.Request.UID, answer.Response.UID)
			assert.Empty(t, api.taken(), "the %s webhook made API requests", d.Path)
		})
	}
}

// istioOperatorJSON asks for everything the IstioOperator planner looks up:
// the issuer, the cacerts Certificate and Secret, the peer roots.
const istioOperatorJSON = `{"apiVersion":"install.istio.io/v1alpha1","kind":"IstioOperator","metadata":{"name":"io","namespace":"istio-system",` +
	`"annotations":{"cert-manager.io/cluster-issuer":"ca","meshcert.io/peer-roots":"roots"}},"spec":{"values":{"global":{"pilotCertProvider":"istiod"}}}}`

// sailIstioJSON is the Sail Operator's counterpart of istioOperatorJSON.
const sailIstioJSON = `{"apiVersion":"sailoperator.io/v1","kind":"Istio","metadata":{"name":"default",` +
	`"annotations":{"cert-manager.io/cluster-issuer":"ca","meshcert.io/peer-roots":"roots"}},"spec":{"namespace":"istio-system","values":{"global":{"pilotCertProvider":"istiod"}}}}`

// newServeManager builds and wires a manager exactly as `meshcert serve`
// does with args, against the API server at host, without leader election,
// metrics or probes; it is not started.
func newServeManager(t *testing.T, host string, args ...string) manager.Manager {
	t.Helper()
	f, err := parseServeFlags(t, append([]string{"--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0"}, args...)...)
	require.NoError(t, err)
	sel, err := f.podSelector()
	require.NoError(t, err)
	scheme, err := newScheme()
	require.NoError(t, err)
	opts := f.managerOptions(scheme, sel)
	opts.Controller.SkipNameValidation = new(true)
	mgr, err := ctrl.NewManager(&rest.Config{Host: host}, opts)
	require.NoError(t, err)
	require.NoError(t, f.wire(t.Context(), mgr, prometheus.NewRegistry()))
	return mgr
}

const gatewayJSON = `{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"web","namespace":"team-a","annotations":{"cert-manager.io/cluster-issuer":"ca"}},` +
	`"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["web.example.com"],"tls":{"mode":"SIMPLE"}}]}}`

func metaType() metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"}
}

func metaGVK(group, version, kind string) metav1.GroupVersionKind {
	return metav1.GroupVersionKind{Group: group, Version: version, Kind: kind}
}
