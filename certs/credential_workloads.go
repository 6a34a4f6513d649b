package certs

import (
	"context"
)

// Workload is a gateway workload the lookup knows: a Pod, or a
// Deployment's, StatefulSet's or DaemonSet's pod template, with the labels
// its Pods carry.
type Workload struct {
	Namespace, Name string
	Labels          map[string]string
}

// workloadsOf is what one Gateway's selector picks, resolved once per plan:
// istiod applies a Gateway to every proxy whose labels hold its selector
// (pilot's mergeGateways), whatever label the selector names.
type workloadsOf struct {
	selector map[string]string
	// known is false when the lookup knows no workload at all; selectors
	// are then compared with each other.
	known     bool
	workloads []Workload
}

func resolveWorkloads(ctx context.Context, lookup Lookup, selector map[string]string) workloadsOf {
	w := workloadsOf{selector: selector, known: lookup.KnowsWorkloads(ctx)}
	if w.known {
		w.workloads = lookup.Workloads(ctx, selector)
	}
	return w
}

// shares reports whether a Gateway with selector other lands on a workload
// this one lands on: a known workload carries labels both select. Only
// when no workload is known are the selectors compared, as istioctl
// analyze does without Pods (one a subset of the other).
func (w workloadsOf) shares(other map[string]string) bool {
	if !w.known {
		return selectorsOverlap(w.selector, other)
	}
	for _, wl := range w.workloads {
		if selectorSubset(other, wl.Labels) {
			return true
		}
	}
	return false
}
