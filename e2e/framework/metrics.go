package framework

import (
	"slices"
	"strconv"
	"strings"
)

// MetricValue sums the samples of a metric, in Prometheus' text exposition,
// whose labels contain every given label pair (written as in the text,
// e.g. `webhook="/mutate-gateway"`).
func MetricValue(metrics, name string, labels ...string) float64 {
	sum := 0.0
	for line := range strings.SplitSeq(metrics, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if !slices.ContainsFunc(labels, func(l string) bool { return !strings.Contains(line, l) }) {
			fields := strings.Fields(line)
			v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum
}
