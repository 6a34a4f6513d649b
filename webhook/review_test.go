package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/internal/hostile"
)

// reviewBody is the AdmissionReview the API server posts for req, in
// apiVersion.
func reviewBody(t *testing.T, apiVersion string, req admission.Request) []byte {
	t.Helper()
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"},
		Request:  &req.AdmissionRequest,
	})
	require.NoError(t, err)
	return body
}

// post sends body to h as the API server does and returns the HTTP status
// and the answer as JSON.
func post(t *testing.T, h http.Handler, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var answer map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &answer), "the answer is JSON: %s", rec.Body.Bytes())
	return rec.Code, answer
}

// TestReviewServerAnswersAsControllerRuntime checks that the Gateway
// webhooks' own server (reviewServer) answers every review exactly as
// controller-runtime's admission.Webhook answers it for the same handler:
// the same HTTP status, and the same AdmissionReview, patch, warnings and
// reasons included, of reviews it reads and of those it leaves to
// controller-runtime's webhook.
func TestReviewServerAnswersAsControllerRuntime(t *testing.T) {
	metrics, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	lookup := index(t, objects(t, clusterIssuerCA+"\n---\n"+`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other, namespace: team-b, creationTimestamp: "2026-06-01T00:00:00Z"}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [taken.example.com]
    tls: {mode: SIMPLE, credentialName: taken-tls}
`)...)
	handlers := Handlers(lookup, Config{Options: certs.DefaultOptions()}, metrics)

	managed := objects(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
  namespace: team-a
  annotations: {cert-manager.io/cluster-issuer: ca}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com, "*.web.example.com"]
    tls: {mode: SIMPLE}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [web.example.com]
    tls: {httpsRedirect: true}
`)[0]
	conflicting := objects(t, `
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: thief
  annotations: {cert-manager.io/cluster-issuer: ca}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [taken.example.com]
    tls: {mode: SIMPLE, credentialName: taken-tls}
`)[0]
	deleting := managed.DeepCopy()
	deleting.Object["metadata"].(map[string]any)["deletionTimestamp"] = "2026-12-07T10:00:00Z"

	type testCase struct {
		name        string
		contentType string
		body        []byte
	}
	cases := []testCase{
		{name: "a managed Gateway is patched", body: reviewBody(t, "admission.k8s.io/v1", request(t, managed))},
		{name: "a v1beta1 review is answered in v1beta1", body: reviewBody(t, "admission.k8s.io/v1beta1", request(t, managed))},
		{name: "a Gateway without a namespace of its own is planned in the request's", body: reviewBody(t, "admission.k8s.io/v1", func() admission.Request {
			r := request(t, conflicting)
			r.Namespace = "team-a"
			return r
		}())},
		{name: "an UPDATE is judged against the stored Gateway", body: reviewBody(t, "admission.k8s.io/v1", request(t, managed, withOperation(admissionv1.Update), withOldObject(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [old.example.com]
    tls: {mode: SIMPLE, credentialName: old-tls}
`)))},
		{name: "an UPDATE that takes another namespace's host is the newcomer for it, however old the Gateway", body: reviewBody(t, "admission.k8s.io/v1", request(t, objects(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [taken.example.com]
    tls: {mode: SIMPLE, credentialName: web-tls}
`)[0], withOperation(admissionv1.Update), withOldObject(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [old.example.com]
    tls: {mode: SIMPLE, credentialName: web-tls}
`)))},
		{name: "a dry run is answered the same", body: reviewBody(t, "admission.k8s.io/v1", request(t, managed, dryRun()))},
		{name: "a Gateway being deleted is allowed untouched", body: reviewBody(t, "admission.k8s.io/v1", request(t, deleting, withOperation(admissionv1.Update)))},
		{name: "a DELETE is allowed", body: reviewBody(t, "admission.k8s.io/v1", request(t, managed, withOperation(admissionv1.Delete)))},
		{name: "a body of another content type is refused", contentType: "text/plain", body: reviewBody(t, "admission.k8s.io/v1", request(t, managed))},
		{name: "an empty body is refused", body: []byte{}},
	}
	for _, c := range hostile.Requests() {
		if c.Kind == "Gateway" {
			cases = append(cases, testCase{name: "hostile: " + c.Name, body: c.Body})
		}
	}

	for _, path := range []string{PathMutateGateway, PathValidateGateway} {
		for _, tc := range cases {
			t.Run(path+" "+tc.name, func(t *testing.T) {
				contentType := tc.contentType
				if contentType == "" {
					contentType = "application/json"
				}
				served := Serve(path, handlers[path])
				require.IsType(t, &reviewServer{}, served, "the Gateway webhooks have their own server")
				want, got := answersOf(t, handlers[path], served, contentType, tc.body)
				assert.Equal(t, want, got)
			})
		}
	}
}

// answersOf posts body to controller-runtime's webhook and to served, both
// serving h, and returns their answers with their HTTP statuses.
func answersOf(t *testing.T, h admission.Handler, served http.Handler, contentType string, body []byte) (want, got map[string]any) {
	t.Helper()
	wantStatus, want := post(t, &admission.Webhook{Handler: h, LogConstructor: logConstructor}, contentType, body)
	gotStatus, got := post(t, served, contentType, body)
	want["httpStatus"], got["httpStatus"] = wantStatus, gotStatus
	return want, got
}

// FuzzReviewServer sends arbitrary bodies, and reviews around arbitrary
// objects, to both servers of the Gateway webhooks.
func FuzzReviewServer(f *testing.F) {
	for _, c := range hostile.Requests() {
		if c.Kind == "Gateway" {
			f.Add(c.Body, false)
		}
	}
	f.Add([]byte(`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"web","annotations":{"cert-manager.io/cluster-issuer":"ca"}},"spec":{"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["a.example.com"],"tls":{"mode":"SIMPLE"}}]}}`), true)
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	handlers := Handlers(index(f, objects(f, clusterIssuerCA)...), Config{Options: certs.DefaultOptions()}, metrics)
	f.Fuzz(func(t *testing.T, data []byte, asObject bool) {
		body := data
		if asObject {
			body = []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"networking.istio.io","version":"v1","kind":"Gateway"},"namespace":"team-a","operation":"CREATE","object":` + string(data) + `}}`)
		}
		for _, path := range []string{PathMutateGateway, PathValidateGateway} {
			want, got := answersOf(t, handlers[path], Serve(path, handlers[path]), "application/json", body)
			if !assert.Equal(t, want, got, "%s answered otherwise than controller-runtime's webhook to %q", path, body) {
				t.FailNow()
			}
		}
	})
}

func TestReviewServerAnswersEdgesAsControllerRuntime(t *testing.T) {
	metrics, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	h := Handlers(index(t, objects(t, clusterIssuerCA)...), Config{Options: certs.DefaultOptions()}, metrics)[PathValidateGateway]
	// A review padded with spaces to size bytes.
	padded := func(size int) []byte {
		body := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE"}}`)
		return append(body, bytes.Repeat([]byte(" "), size-len(body))...)
	}
	tests := []struct {
		name string
		body []byte
	}{
		{name: "a review one byte under the limit is read", body: padded(maxReviewSize - 1)},
		{name: "a review of exactly the limit is too large", body: padded(maxReviewSize)},
		{name: "a review over the limit is too large", body: padded(maxReviewSize + 10)},
		{name: "a review without a kind", body: []byte(`{"apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"DELETE"}}`)},
		{name: "a review without an apiVersion", body: []byte(`{"kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE"}}`)},
		{name: "a review whose apiVersion is no group version", body: []byte(`{"apiVersion":"a/b/c","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE"}}`)},
		{name: "a review whose apiVersion names an empty group", body: []byte(`{"apiVersion":"/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE"}}`)},
		{name: "a review of another version", body: []byte(`{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE"}}`)},
		{name: "a review of v1beta1", body: []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE"}}`)},
		{name: "another kind", body: []byte(`{"apiVersion":"/","kind":"0"}`)},
		{name: "a review in YAML", body: []byte("apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\nrequest: {uid: u, operation: DELETE}\n")},
		{name: "a review behind a byte-order mark", body: append([]byte("\xef\xbb\xbf"), `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE"}}`...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, got := answersOf(t, h, Serve(PathValidateGateway, h), "application/json", tc.body)
			assert.Equal(t, want, got)
		})
	}
}

// A body shorter than its Content-Length ends in an error; the answer is
// controller-runtime's to that error, not a review of what arrived, and
// the error counts the same at the size limit.
func TestReviewServerAnswersABodyCutShortAsControllerRuntime(t *testing.T) {
	metrics, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	h := Handlers(index(t, objects(t, clusterIssuerCA)...), Config{Options: certs.DefaultOptions()}, metrics)[PathValidateGateway]
	review := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE"}}`)
	atLimit := append(slices.Clone(review), bytes.Repeat([]byte(" "), maxReviewSize-len(review))...)
	tests := []struct {
		name string
		body func() io.Reader
	}{
		{name: "the error comes after the last bytes", body: func() io.Reader {
			return io.MultiReader(bytes.NewReader(review), &replayReader{err: io.ErrUnexpectedEOF})
		}},
		{name: "the error comes with the last bytes", body: func() io.Reader {
			return &replayReader{data: slices.Clone(review), err: io.ErrUnexpectedEOF}
		}},
		{name: "the error comes with the bytes that reach the limit", body: func() io.Reader {
			return &replayReader{data: slices.Clone(atLimit), err: io.ErrUnexpectedEOF}
		}},
		{name: "the error comes after the bytes that reach the limit", body: func() io.Reader {
			return io.MultiReader(bytes.NewReader(atLimit), &replayReader{err: io.ErrUnexpectedEOF})
		}},
		{name: "an error that is not an end of input", body: func() io.Reader {
			return io.MultiReader(bytes.NewReader(review[:20]), &replayReader{err: errors.New("connection reset")})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			answer := func(served http.Handler) (int, map[string]any) {
				req := httptest.NewRequest(http.MethodPost, "/", tc.body())
				req.ContentLength = maxReviewSize + 10
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				served.ServeHTTP(rec, req)
				var answer map[string]any
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &answer), "the answer is JSON: %s", rec.Body.Bytes())
				return rec.Code, answer
			}
			wantStatus, want := answer(&admission.Webhook{Handler: h, LogConstructor: logConstructor})
			gotStatus, got := answer(Serve(PathValidateGateway, h))
			assert.Equal(t, wantStatus, gotStatus)
			assert.Equal(t, want, got)
			assert.Equal(t, false, got["response"].(map[string]any)["allowed"], "a review that did not arrive whole is not allowed")
		})
	}
}

// A client that declares a large body and sends little makes the server
// allocate for what arrives, not for what was declared.
func TestReviewServerDoesNotAllocateForADeclaredSize(t *testing.T) {
	metrics, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	served := Serve(PathValidateGateway, Handlers(index(t, objects(t, clusterIssuerCA)...), Config{Options: certs.DefaultOptions()}, metrics)[PathValidateGateway])
	body := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE"}}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	req := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(bytes.NewReader(body), &replayReader{err: io.ErrUnexpectedEOF}))
	req.ContentLength = maxReviewSize - 1
	req.Header.Set("Content-Type", "application/json")
	served.ServeHTTP(httptest.NewRecorder(), req)
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated answering a review that declared %d bytes and sent %d", req.ContentLength, len(body))
}

func TestReviewServerAnswersAPanicWithAnError(t *testing.T) {
	panicking := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { panic("boom") })
	body := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE"}}`)
	want, got := answersOf(t, panicking, newReviewServer(panicking), "application/json", body)
	assert.Equal(t, want, got)
	assert.Equal(t, "u1", got["response"].(map[string]any)["uid"], "the answer names the request")
}

func TestEncodePatchesIsWhatJSONWrites(t *testing.T) {
	add := func(path string, value any) jsonpatch.JsonPatchOperation {
		return jsonpatch.NewOperation("add", path, value)
	}
	tests := []struct {
		name string
		ops  []jsonpatch.JsonPatchOperation
		fast bool
	}{
		{name: "injected credentialNames are written directly", fast: true, ops: []jsonpatch.JsonPatchOperation{
			add("/spec/servers/0/tls/credentialName", "team-a-web-https-1a2b3c4d5e"),
			add("/spec/servers/3/tls/caCertCredentialName", "configmap://istio-system/peer-roots"),
		}},
		{name: "a key with a slash is escaped in the pointer, which stays plain", fast: true, ops: []jsonpatch.JsonPatchOperation{
			add("/metadata/annotations/meshcert.io~1peer-roots", "x"),
		}},
		{name: "HTML characters are left to encoding/json", ops: []jsonpatch.JsonPatchOperation{add("/a", "<b>&")}},
		{name: "quotes and backslashes are left to encoding/json", ops: []jsonpatch.JsonPatchOperation{add("/a", `"\`)}},
		{name: "non-ASCII is left to encoding/json", ops: []jsonpatch.JsonPatchOperation{add("/a", "é\u2028")}},
		{name: "control characters are left to encoding/json", ops: []jsonpatch.JsonPatchOperation{add("/a", "a\nb")}},
		{name: "values that are not strings are left to encoding/json", ops: []jsonpatch.JsonPatchOperation{add("/a", map[string]any{"b": 1})}},
		{name: "a nil value is left to encoding/json", ops: []jsonpatch.JsonPatchOperation{add("/a", nil)}},
		{name: "no operation is left to Complete, which writes none", ops: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := encodePatches(tc.ops)
			assert.Equal(t, tc.fast, ok)
			if !ok {
				assert.Nil(t, got)
				return
			}
			want, err := json.Marshal(tc.ops)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
		})
	}
}

func FuzzEncodePatches(f *testing.F) {
	f.Add("/spec/servers/0/tls/credentialName", "team-a-web-https-1a2b3c4d5e")
	f.Add("/a", "<x>")
	f.Fuzz(func(t *testing.T, path, value string) {
		ops := []jsonpatch.JsonPatchOperation{jsonpatch.NewOperation("add", path, value), jsonpatch.NewOperation("add", value, path)}
		got, ok := encodePatches(ops)
		if !ok {
			return
		}
		want, err := json.Marshal(ops)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("encodePatches wrote %s, encoding/json %s", got, want)
		}
	})
}
