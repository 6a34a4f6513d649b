package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/meshcert/meshcert/e2e/bench"
	"github.com/meshcert/meshcert/e2e/framework"
)

// gate runs `meshcert check` and `istioctl analyze --use-kube=false` on the
// same manifests: gateRuns times each, istioctl fewer times at full size,
// where one run takes minutes.
func (r *runner) gate(ctx context.Context) error {
	n := r.sizes.gateGateways
	dir := filepath.Join(r.dir, fmt.Sprintf("gate-%d", n))
	if err := bench.WriteGateManifests(dir, n); err != nil {
		return err
	}
	meshcert, err := framework.MeshcertBinary(ctx)
	if err != nil {
		return err
	}
	runs := map[string]int{"meshcert check": 3, "istioctl analyze": 3}
	if n > 2000 {
		runs["istioctl analyze"] = 1
	}
	results := map[string][]bench.GateRun{}
	for _, tool := range []string{"meshcert check", "istioctl analyze"} {
		for range runs[tool] {
			mc, ic, err := bench.GateCommands(meshcert, r.istioctl, dir)
			if err != nil {
				return err
			}
			cmd := mc
			if tool == "istioctl analyze" {
				cmd = ic
			}
			run, err := bench.RunGate(ctx, tool, cmd)
			if err != nil {
				return err
			}
			results[tool] = append(results[tool], run)
		}
	}
	var rows [][]string
	for _, tool := range []string{"meshcert check", "istioctl analyze"} {
		rs := results[tool]
		walls := make([]time.Duration, len(rs))
		var rss int64
		for i, run := range rs {
			walls[i] = run.Wall
			rss = max(rss, run.MaxRSSBytes)
		}
		slices.Sort(walls)
		rows = append(rows, []string{tool, fmt.Sprintf("%.2f–%.2f s", walls[0].Seconds(), walls[len(walls)-1].Seconds()), mib(rss),
			strconv.Itoa(rs[0].ExitCode), strconv.Itoa(len(rs))})
		r.summary.linef("CI gate on %d Gateways (%d objects): %s %s (median of %d), peak %s, exit %d",
			n, bench.GateObjects(n), tool, secs2(median(walls)), len(rs), mib(rss), rs[0].ExitCode)
	}
	r.summary.table(fmt.Sprintf("CI gate on %d Gateways, %d objects", n, bench.GateObjects(n)),
		[]string{"gate", "wall", "peak RSS", "exit", "runs"}, rows)
	return nil
}
