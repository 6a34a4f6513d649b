package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/internal/hostile"
)

// TestHostileAdmissionRequests sends every case of the hostile corpus
// (internal/hostile) over HTTP through the server meshcert serves it with
// (Serve), as the API server would, to every handler of its kind. Each
// must get an AdmissionReview answer: the request's UID echoed, a reason
// whenever it is not allowed, and no panic. The time and memory each takes
// are logged (go test -v) for docs/security.md; no test asserts a time.
func TestHostileAdmissionRequests(t *testing.T) {
	metrics, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	lookup := index(t, objects(t, clusterIssuerCA)...)
	cfg := Config{Options: certs.DefaultOptions()}
	handlers := Handlers(lookup, cfg, metrics)
	byKind := map[string][]string{
		"Gateway":       {PathMutateGateway, PathValidateGateway},
		"IstioOperator": {PathMutateIstioOperator, PathValidateIstioOperator},
		"Certificate":   {PathValidateCertificate},
	}
	for _, c := range hostile.Requests() {
		for _, path := range byKind[c.Kind] {
			t.Run(c.Name+" "+path, func(t *testing.T) {
				server := httptest.NewServer(Serve(path, handlers[path]))
				defer server.Close()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				resp, err := http.Post(server.URL, "application/json", bytes.NewReader(c.Body))
				require.NoError(t, err)
				defer func() { _ = resp.Body.Close() }()
				elapsed := time.Since(start)
				runtime.ReadMemStats(&after)
				require.Equal(t, http.StatusOK, resp.StatusCode)
				var answer admissionv1.AdmissionReview
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer), "the answer is an AdmissionReview")
				require.NotNil(t, answer.Response, "every request is answered")
				assert.Equal(t, c.UID, string(answer.Response.UID), "the UID is echoed")
				if !answer.Response.Allowed {
					require.NotNil(t, answer.Response.Result)
					assert.NotEmpty(t, strings.TrimSpace(answer.Response.Result.Message), "a refusal says why")
				}
				verdict := "allowed"
				if !answer.Response.Allowed {
					verdict = "refused (" + firstLine(answer.Response.Result.Message) + ")"
				}
				t.Logf("%d bytes in, %s, %.1f MiB allocated: %s", len(c.Body), elapsed.Round(time.Millisecond),
					float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), verdict)
			})
		}
	}
	for path := range handlers {
		assert.InDelta(t, 0, value(t, metrics.panics.WithLabelValues(strings.TrimPrefix(path, "/"))), 0, "%s panicked", path)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}
