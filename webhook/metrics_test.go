package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshcert/meshcert/certs"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	require.NoError(t, err)
	again, err := NewMetrics(reg)
	require.NoError(t, err, "registering twice reuses the collectors")

	lookup := index(t, objects(t, clusterIssuerCA)...)
	cfg := Config{Options: certs.DefaultOptions()}
	gw := objects(t, managedGateway("networking.istio.io/v1", "cert-manager.io/cluster-issuer: ca"))[0]
	mutator := NewGatewayMutator(lookup, cfg, m)
	handle(mutator, request(t, gw))
	resp := handle(mutator, request(t, gw))
	// The Gateway as stored, with its injection, needs no patch: allowed.
	raw, err := json.Marshal(gw.Object)
	require.NoError(t, err)
	handle(mutator, rawRequest(gw.GroupVersionKind(), "team-a", "web", applyPatch(t, raw, resp)))
	handle(mutator, rawRequest(gw.GroupVersionKind(), "team-a", "web", []byte("{")))
	handle(NewGatewayValidator(lookup, cfg, again), request(t, objects(t, mutualGateway)[0]))
	handle(NewCertificateValidator(lookup, cfg, m), request(t, objects(t, missingIssuerCertificate)[0]))

	assert.InDelta(t, 2, value(t, m.decisions.WithLabelValues("mutate-gateway", ResultPatched)), 0)
	assert.InDelta(t, 1, value(t, m.decisions.WithLabelValues("mutate-gateway", ResultErrored)), 0)
	assert.InDelta(t, 1, value(t, m.decisions.WithLabelValues("mutate-gateway", ResultAllowed)), 0)
	assert.InDelta(t, 1, value(t, m.decisions.WithLabelValues("validate-gateway", ResultDenied)), 0)
	assert.InDelta(t, 1, value(t, m.decisions.WithLabelValues("validate-certificate", ResultAllowed)), 0)
	assert.InDelta(t, 1, value(t, m.findings.WithLabelValues("validate-gateway", "MC2002", "error")), 0)
	assert.InDelta(t, 1, value(t, m.findings.WithLabelValues("validate-certificate", "MC5002", "warning")), 0)
	assert.Equal(t, 3, count(m.duration), "one duration series per webhook")

	names, err := reg.Gather()
	require.NoError(t, err)
	var got []string
	for _, mf := range names {
		got = append(got, mf.GetName())
	}
	assert.ElementsMatch(t, []string{
		"meshcert_admission_decisions_total", "meshcert_admission_findings_total", "meshcert_admission_duration_seconds",
	}, got)
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	assert.NotPanics(t, func() { m.observe("x", ResultAllowed, nil, 0) })
}

// value reads a counter (prometheus/testutil is not among the module's
// dependencies; this is its ToFloat64 for one counter).
func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

// panickingLookup stands in for a bug anywhere below the handlers.
type panickingLookup struct{ certs.Lookup }

func (panickingLookup) Namespace(context.Context, string) (*metav1.ObjectMeta, bool) {
	panic("a bug in the lookup")
}

func (panickingLookup) Issuer(context.Context, string, string) (*cmapi.Issuer, bool) {
	panic("a bug in the lookup")
}

// TestPanicsAreAnsweredAndCounted: a panic in a handler never drops the
// API server's request. The mutating webhook allows, as its Ignore
// failure policy would; a validating one answers an error, which the API
// server treats per its failure policy. Each is counted.
func TestPanicsAreAnsweredAndCounted(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	cfg := Config{Options: certs.DefaultOptions()}
	gw := objects(t, managedGateway("networking.istio.io/v1", "cert-manager.io/issuer: team-ca"))[0]

	mutated := handle(NewGatewayMutator(panickingLookup{}, cfg, m), request(t, gw))
	assert.True(t, mutated.Allowed, "the mutating webhook allows after a panic")
	assert.Empty(t, mutated.Patches)

	validated := handle(NewGatewayValidator(panickingLookup{}, cfg, m), request(t, gw))
	assert.False(t, validated.Allowed, "the validating webhook answers an error after a panic")
	assert.Equal(t, int32(http.StatusInternalServerError), validated.Result.Code)
	assert.Contains(t, validated.Result.Message, "Gateway team-a/web")

	assert.InDelta(t, 1, value(t, m.panics.WithLabelValues("mutate-gateway")), 0)
	assert.InDelta(t, 1, value(t, m.panics.WithLabelValues("validate-gateway")), 0)
	assert.InDelta(t, 1, value(t, m.decisions.WithLabelValues("validate-gateway", ResultErrored)), 0)
}

// Every webhook served has its error and panic series from the start, at
// zero, so alerts on their increase see the first one.
func TestErrorAndPanicSeriesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	require.NoError(t, err)
	Handlers(index(t), Config{Options: certs.DefaultOptions()}, m)
	families, err := reg.Gather()
	require.NoError(t, err)
	series := map[string]int{}
	for _, mf := range families {
		for _, metric := range mf.GetMetric() {
			assert.Zero(t, metric.GetCounter().GetValue(), mf.GetName())
			series[mf.GetName()]++
		}
	}
	assert.Equal(t, map[string]int{
		"meshcert_admission_decisions_total": len(Definitions()),
		"meshcert_admission_panics_total":    len(Definitions()),
	}, series)
}
