package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/meshcert/meshcert/e2e/bench"
	"github.com/meshcert/meshcert/e2e/framework"
)

// gateIstioctlMax is the largest gate istioctl analyze runs on: its time
// grows with the square of the Gateways (146–239 s at 10,000, 465 s at
// 15,000 on 2 cores), so it passes ten minutes between 15,000 and 20,000,
// and at 100,000 it would not finish in hours. Larger gates are a
// repository that commits the Gateways' Certificates too, and measure
// meshcert alone.
const gateIstioctlMax = 20000

// gate runs `meshcert check`, `meshcert inject` and `istioctl analyze
// --use-kube=false` on the same manifests, at each of the size's Gateway
// counts: gateRuns times each, istioctl fewer times at full size, where one
// run takes minutes.
func (r *runner) gate(ctx context.Context) error {
	for _, n := range r.sizes.gateGateways {
		if err := r.gateAt(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) gateAt(ctx context.Context, n int) error {
	withCertificates := n > gateIstioctlMax
	dir := filepath.Join(r.dir, fmt.Sprintf("gate-%d", n))
	objects := bench.GateObjects(n)
	if withCertificates {
		dir += "-certificates"
		objects = bench.GateObjectsWithCertificates(n)
	}
	if err := bench.WriteGateManifests(dir, n); err != nil {
		return err
	}
	if withCertificates {
		if err := bench.WriteGateCertificates(ctx, dir, n); err != nil {
			return err
		}
	}
	meshcert, err := framework.MeshcertBinary(ctx)
	if err != nil {
		return err
	}
	tools := []string{bench.GateCheck, bench.GateInject}
	switch {
	case n > gateIstioctlMax:
	case r.istioctl == "":
		log.Printf("gate at %d Gateways: istioctl analyze skipped, no -istioctl given", n)
	default:
		tools = append(tools, bench.GateIstioctl)
	}
	runs := map[string]int{bench.GateCheck: 3, bench.GateInject: 3, bench.GateIstioctl: 3}
	if n > 2000 {
		runs[bench.GateIstioctl] = 1
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("failed to find the bench binary: %w", err)
	}
	results := map[string][]bench.GateRun{}
	for _, tool := range tools {
		for range runs[tool] {
			cmd, err := bench.GateCommand(tool, meshcert, r.istioctl, dir)
			if err != nil {
				return err
			}
			measured, ownRSS := bench.WithOwnRSS(self, cmd, filepath.Join(r.dir, "gate-rss"))
			run, err := bench.RunGate(ctx, tool, measured)
			if err != nil {
				return err
			}
			if run.MaxRSSBytes, err = ownRSS(); err != nil {
				return err
			}
			results[tool] = append(results[tool], run)
		}
	}
	var rows [][]string
	var worstWall time.Duration
	var worstRSS int64
	for _, tool := range tools {
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
			n, objects, tool, secs2(median(walls)), len(rs), mib(rss), rs[0].ExitCode)
		if tool != bench.GateIstioctl {
			worstWall, worstRSS = max(worstWall, median(walls)), max(worstRSS, rss)
		}
	}
	// The targets, the worse of check and inject: at most 10 s and
	// 512 MiB at 100,000 Gateways.
	r.summary.linef("gate seconds at %d: %.2f", n, worstWall.Seconds())
	r.summary.linef("gate MiB at %d: %.0f", n, float64(worstRSS)/(1<<20))
	r.summary.table(fmt.Sprintf("CI gate on %d Gateways, %d objects", n, objects),
		[]string{"gate", "wall", "peak RSS", "exit", "runs"}, rows)
	return nil
}
