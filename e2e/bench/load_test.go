package bench

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
)

func TestQuantile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{name: "no latencies give zero", sorted: nil, q: 0.99, want: 0},
		{name: "the median of 1..100 ms is the 50th", sorted: hundred, q: 0.5, want: ms(50)},
		{name: "the 99th percentile of 1..100 ms is the 99th", sorted: hundred, q: 0.99, want: ms(99)},
		{name: "the 99.9th percentile of 100 values is the largest", sorted: hundred, q: 0.999, want: ms(100)},
		{name: "one value is every quantile", sorted: []time.Duration{ms(7)}, q: 0.5, want: ms(7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Quantile(tt.sorted, tt.q))
		})
	}
}

func TestParseHistogram(t *testing.T) {
	before := `# TYPE apiserver_admission_webhook_admission_duration_seconds histogram
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a.meshcert.io",operation="CREATE",rejected="false",type="admit",le="0.005"} 3
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a.meshcert.io",operation="CREATE",rejected="false",type="admit",le="+Inf"} 4
apiserver_admission_webhook_admission_duration_seconds_sum{name="a.meshcert.io",operation="CREATE",rejected="false",type="admit"} 0.02
apiserver_admission_webhook_admission_duration_seconds_count{name="a.meshcert.io",operation="CREATE",rejected="false",type="admit"} 4
apiserver_admission_webhook_admission_duration_seconds_count{name="b.meshcert.io",operation="CREATE",rejected="false",type="admit"} 9
`
	after := `apiserver_admission_webhook_admission_duration_seconds_bucket{name="a.meshcert.io",operation="CREATE",rejected="false",type="admit",le="0.005"} 12
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a.meshcert.io",operation="CREATE",rejected="true",type="admit",le="0.005"} 1
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a.meshcert.io",operation="CREATE",rejected="false",type="admit",le="+Inf"} 14
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a.meshcert.io",operation="CREATE",rejected="true",type="admit",le="+Inf"} 2
apiserver_admission_webhook_admission_duration_seconds_sum{name="a.meshcert.io",operation="CREATE",rejected="false",type="admit"} 0.05
apiserver_admission_webhook_admission_duration_seconds_sum{name="a.meshcert.io",operation="CREATE",rejected="true",type="admit"} 0.01
apiserver_admission_webhook_admission_duration_seconds_count{name="a.meshcert.io",operation="CREATE",rejected="false",type="admit"} 14
apiserver_admission_webhook_admission_duration_seconds_count{name="a.meshcert.io",operation="CREATE",rejected="true",type="admit"} 2
`
	label := `name="a.meshcert.io"`
	h := ParseHistogram(after, AdmissionDurationMetric, label).Sub(ParseHistogram(before, AdmissionDurationMetric, label))
	// Series that differ only in other labels (rejected) add up.
	assert.InDelta(t, 12.0, h.Count, 1e-9)
	assert.InDelta(t, 0.04, h.Sum, 1e-9)
	assert.InDelta(t, 10.0, h.Buckets[0.005], 1e-9)
	assert.InDelta(t, 0.04/12, h.Mean(), 1e-9)
	assert.InDelta(t, 10.0/12, h.ShareAtMost(0.005), 1e-9)
	assert.Zero(t, Histogram{}.Mean(), "an empty histogram has no mean")
	twice := Histogram{}.Add(h).Add(h)
	assert.InDelta(t, 24.0, twice.Count, 1e-9, "runs add up")
	assert.InDelta(t, 20.0, twice.Buckets[0.005], 1e-9)
}

// TestLoadCountsAnswersAndErrors posts real AdmissionReviews over TLS to a
// server that allows every other one.
func TestLoadCountsAnswersAndErrors(t *testing.T) {
	var served int
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		served++
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: r.URL.Path == "/allow"}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(review)
	}))
	defer server.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw})
	client, err := NewClient(caPEM, 1)
	require.NoError(t, err)
	body := review("u1", GatewayJSON("bench", "gw", "ca", 1), "bench", "gw")

	res, err := Load(t.Context(), client, LoadConfig{
		BaseURL:     server.URL,
		Requests:    []Request{{Path: "/allow", Body: body, UID: "u1"}, {Path: "/deny", Body: body, UID: "u1"}},
		Connections: 1, Duration: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	require.Positive(t, res.Requests)
	assert.Equal(t, served, res.Requests+res.Errors, "every request is counted once")
	assert.InDelta(t, res.Requests, res.Errors, 1, "one connection alternates an allowed and a denied request")
	assert.Contains(t, res.FirstError, "did not allow")
	assert.Len(t, res.Latencies, res.Requests)
	assert.True(t, isSorted(res.Latencies))
}

func isSorted(ds []time.Duration) bool {
	for i := 1; i < len(ds); i++ {
		if ds[i] < ds[i-1] {
			return false
		}
	}
	return true
}
