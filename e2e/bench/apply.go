package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/e2e/framework"
)

// AdmissionDurationMetric is the API server's own timing of each webhook
// call, from sending the review to reading the answer.
const AdmissionDurationMetric = "apiserver_admission_webhook_admission_duration_seconds"

// ApplyRun is one apply of the Gateways into a fresh namespace.
type ApplyRun struct {
	// Client is "kubectl" (kubectl apply -f of one file) or "client-go"
	// (one Create after another).
	Client string
	// Meshcert says whether meshcert ran with its webhooks registered.
	Meshcert bool
	// Wall is the time the apply took.
	Wall time.Duration
	// Webhooks are the API server's timings of meshcert's webhooks during
	// the run, by webhook name; none without meshcert.
	Webhooks map[string]Histogram
}

// WriteGatewayFile writes n annotated one-server Gateways of namespace
// into one multi-document YAML file, as a GitOps repository holds them.
func WriteGatewayFile(path, namespace, issuer string, n int) error {
	var buf bytes.Buffer
	for i := range n {
		y, err := yaml.JSONToYAML(GatewayJSON(namespace, fmt.Sprintf("gw-%d", i), issuer, 1))
		if err != nil {
			return fmt.Errorf("failed to write Gateway %d as YAML: %w", i, err)
		}
		buf.WriteString("---\n")
		buf.Write(y)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}

// CreatePolicyNamespace creates namespace with the policy that lets its
// Gateways claim hosts under its domain with issuer.
func CreatePolicyNamespace(ctx context.Context, cp *framework.ControlPlane, namespace, issuer string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Annotations: NamespacePolicy(namespace, issuer)}}
	if err := cp.Client.Create(ctx, ns); err != nil {
		return fmt.Errorf("failed to create namespace %s: %w", namespace, err)
	}
	return nil
}

// KubectlApply applies n Gateways into a new namespace with kubectl and
// returns how long kubectl took.
func KubectlApply(ctx context.Context, cp *framework.ControlPlane, dir, namespace, issuer string, n int) (time.Duration, error) {
	if err := CreatePolicyNamespace(ctx, cp, namespace, issuer); err != nil {
		return 0, err
	}
	path := filepath.Join(dir, namespace+".yaml")
	if err := WriteGatewayFile(path, namespace, issuer, n); err != nil {
		return 0, err
	}
	cmd := cp.Kubectl(ctx, "apply", "-f", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("failed to kubectl apply %d Gateways: %w\n%s", n, err, stderr.String())
	}
	if created := bytes.Count(out, []byte(" created")); created != n {
		return 0, fmt.Errorf("kubectl apply created %d of %d Gateways:\n%s%s", created, n, out, stderr.String())
	}
	return wall, nil
}

// ClientGoCreate creates n Gateways into a new namespace, one request after
// another, and returns how long that took.
func ClientGoCreate(ctx context.Context, cp *framework.ControlPlane, namespace, issuer string, n int) (time.Duration, error) {
	if err := CreatePolicyNamespace(ctx, cp, namespace, issuer); err != nil {
		return 0, err
	}
	objs := make([]*unstructured.Unstructured, n)
	for i := range objs {
		objs[i] = &unstructured.Unstructured{}
		if err := objs[i].UnmarshalJSON(GatewayJSON(namespace, fmt.Sprintf("gw-%d", i), issuer, 1)); err != nil {
			return 0, fmt.Errorf("failed to decode Gateway %d: %w", i, err)
		}
	}
	start := time.Now()
	for _, obj := range objs {
		if err := cp.Client.Create(ctx, obj); err != nil {
			return 0, fmt.Errorf("failed to create Gateway %s/%s: %w", namespace, obj.GetName(), err)
		}
	}
	return time.Since(start), nil
}

// APIServerMetrics returns the API server's metrics.
func APIServerMetrics(ctx context.Context, cp *framework.ControlPlane) (string, error) {
	cs, err := kubernetes.NewForConfig(cp.RESTConfig)
	if err != nil {
		return "", fmt.Errorf("failed to build a clientset: %w", err)
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("failed to read the API server's metrics: %w", err)
	}
	return string(raw), nil
}

// Histogram is a Prometheus histogram's samples: cumulative counts by upper
// bound, their sum and count.
type Histogram struct {
	Buckets    map[float64]float64
	Sum, Count float64
}

// ParseHistogram sums the histogram name's series whose labels contain
// every given pair.
func ParseHistogram(metrics, name string, labels ...string) Histogram {
	h := Histogram{Buckets: map[float64]float64{}}
	for line := range strings.SplitSeq(metrics, "\n") {
		if !hasLabels(line, labels) {
			continue
		}
		value := func() float64 {
			fields := strings.Fields(line)
			v, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
			return v
		}
		switch {
		case strings.HasPrefix(line, name+"_bucket{"):
			le := LabelValue(line, "le")
			bound, err := strconv.ParseFloat(le, 64)
			if err != nil {
				continue
			}
			h.Buckets[bound] += value()
		case strings.HasPrefix(line, name+"_sum"):
			h.Sum += value()
		case strings.HasPrefix(line, name+"_count"):
			h.Count += value()
		}
	}
	return h
}

// Sub is h minus an earlier reading of the same histogram.
func (h Histogram) Sub(earlier Histogram) Histogram {
	out := Histogram{Buckets: map[float64]float64{}, Sum: h.Sum - earlier.Sum, Count: h.Count - earlier.Count}
	for bound, n := range h.Buckets {
		out.Buckets[bound] = n - earlier.Buckets[bound]
	}
	return out
}

// Add is h plus other, for readings summed over runs.
func (h Histogram) Add(other Histogram) Histogram {
	out := Histogram{Buckets: map[float64]float64{}, Sum: h.Sum + other.Sum, Count: h.Count + other.Count}
	for bound, n := range h.Buckets {
		out.Buckets[bound] += n
	}
	for bound, n := range other.Buckets {
		out.Buckets[bound] += n
	}
	return out
}

// Mean is the mean observation, 0 without any.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / h.Count
}

// ShareAtMost is the fraction of observations at most bound, which must be
// one of the histogram's bucket bounds.
func (h Histogram) ShareAtMost(bound float64) float64 {
	if h.Count == 0 {
		return 0
	}
	return h.Buckets[bound] / h.Count
}

func hasLabels(line string, labels []string) bool {
	for _, l := range labels {
		if !strings.Contains(line, l) {
			return false
		}
	}
	return true
}

// LabelValue returns label's value in a sample line, "" without it.
func LabelValue(line, label string) string {
	_, rest, ok := strings.Cut(line, label+`="`)
	if !ok {
		return ""
	}
	value, _, _ := strings.Cut(rest, `"`)
	return value
}
