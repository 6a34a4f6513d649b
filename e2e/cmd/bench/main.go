// Command bench measures meshcert on the local control plane against the
// limit (doing nothing) and against what users would otherwise run, and
// prints a summary, one line per figure: `make bench` runs it. Nothing here
// asserts a time; docs/performance.md holds the figures and the method.
//
// Scenarios (-scenarios, comma-separated, default all):
//   - admission: AdmissionReviews over HTTPS with keep-alive against
//     `meshcert serve` and a no-op controller-runtime webhook server,
//     alternating, for Gateways of 1, 10 and 100 servers;
//   - apply: kubectl apply and a client-go loop of Gateways through the API
//     server, with and without meshcert, with and without cert-manager
//     issuing, timed by the wall clock and the API server's metrics;
//   - scale: the controller on many Gateways (convergence, memory,
//     restart), and cert-manager's gateway-shim on as many Gateway API
//     Gateways;
//   - gate: `meshcert check` and `meshcert inject` against `istioctl analyze
//     --use-kube=false`, and at 100,000 Gateways with their Certificates.
//
// `bench noop-webhook` runs the no-op server (the command starts itself
// that way, so the server is a process of its own like meshcert), and
// `bench measure-rss` runs a gate so its peak RSS is its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshcert/meshcert/e2e/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == bench.MeasureRSSCommand {
		os.Exit(bench.ServeMeasureRSS(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "noop-webhook" {
		if err := runNoop(os.Args[2:]); err != nil {
			log.Fatal(err)
		}
		return
	}
	size := flag.String("size", "quick", "quick (a few minutes) or full (the issue's sizes: 10,000 Gateways, and 100,000 with their Certificates for the CI gate; about an hour)")
	scenarios := flag.String("scenarios", "admission,apply,scale,gate", "comma-separated scenarios to run")
	dir := flag.String("dir", "", "directory for the planes' logs, profiles and the report (default: a new temporary directory)")
	servers := flag.String("admission-servers", "1,10,100", "comma-separated server counts of the admission scenario's Gateways")
	meshcertArgs := flag.String("meshcert-args", "", "space-separated extra flags for every meshcert serve, e.g. --max-write-deferral=0")
	scaleGateways := flag.String("scale-gateways", "", "comma-separated Gateway counts of the scale scenario (default: the size's)")
	istioctl := flag.String("istioctl", "", "istioctl binary for the gate scenario (make istioctl builds it; without it, istioctl analyze is skipped)")
	gateGateways := flag.String("gate-gateways", "", "comma-separated Gateway counts of the gate scenario (default: the size's); above 20,000 the manifests hold the Certificates too and istioctl does not run")
	connections := flag.Int("connections", 8, "keep-alive connections of the admission load")
	flag.Parse()
	sizes, ok := sizesByName[*size]
	if !ok {
		log.Fatalf("-size must be quick or full, got %q", *size)
	}
	sizes.admissionConnections = *connections
	sizes.admissionServers = positiveInts("-admission-servers", *servers)
	if *scaleGateways != "" {
		sizes.scaleGateways = positiveInts("-scale-gateways", *scaleGateways)
	}
	if *gateGateways != "" {
		sizes.gateGateways = positiveInts("-gate-gateways", *gateGateways)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "meshcert-bench-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	// The framework's clients log through controller-runtime; the bench
	// reports through its own lines.
	ctrllog.SetLogger(logr.Discard())
	r := &runner{sizes: sizes, dir: *dir, summary: &summary{}, meshcertArgs: strings.Fields(*meshcertArgs), istioctl: *istioctl}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := r.run(ctx, strings.Split(*scenarios, ","))
	stop()
	report := filepath.Join(*dir, "report.md")
	if werr := r.summary.writeReport(report); werr != nil {
		err = errors.Join(err, werr)
	}
	// The summary comes last, one line per figure.
	fmt.Printf("\n== meshcert bench (%s): logs, profiles and %s in %s\n", *size, filepath.Base(report), *dir)
	r.summary.print(os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
}

// positiveInts parses a flag's comma-separated positive numbers.
func positiveInts(flagName, value string) []int {
	var out []int
	for f := range strings.SplitSeq(value, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("%s must list positive numbers, got %q", flagName, value)
		}
		out = append(out, n)
	}
	return out
}

// runner runs the scenarios and collects what they measured.
type runner struct {
	// meshcertArgs are extra flags for every meshcert serve the bench runs.
	meshcertArgs []string
	// istioctl is the binary the gate scenario compares with.
	istioctl string
	sizes    sizes
	dir      string
	summary  *summary
}

func (r *runner) run(ctx context.Context, scenarios []string) error {
	steps := map[string]func(context.Context) error{
		"admission": r.admission,
		"apply":     r.apply,
		"scale":     r.scale,
		"gate":      r.gate,
	}
	var errs []error
	for _, name := range scenarios {
		step, ok := steps[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("unknown scenario %q: want admission, apply, scale or gate", name)
		}
		start := time.Now()
		log.Printf("== %s", name)
		if err := step(ctx); err != nil {
			errs = append(errs, fmt.Errorf("scenario %s failed: %w", name, err))
			log.Printf("scenario %s failed: %v", name, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		log.Printf("== %s done in %s", name, time.Since(start).Round(time.Second))
	}
	return errors.Join(errs...)
}

// sizes are how much each scenario does.
type sizes struct {
	admissionServers     []int
	admissionRate        float64
	admissionPhase       time.Duration
	admissionRounds      int
	admissionConnections int
	applyGateways        int
	applyRounds          int
	scaleGateways        []int
	scaleNamespaces      int
	// gateGateways are the Gateway counts of the CI gate.
	gateGateways []int
}

var sizesByName = map[string]sizes{
	"quick": {
		admissionServers: []int{1, 10, 100}, admissionRate: 500, admissionPhase: 3 * time.Second, admissionRounds: 2,
		applyGateways: 500, applyRounds: 1,
		scaleGateways: []int{1000}, scaleNamespaces: 10,
		gateGateways: []int{1000},
	},
	"full": {
		admissionServers: []int{1, 10, 100}, admissionRate: 500, admissionPhase: 10 * time.Second, admissionRounds: 3,
		applyGateways: 500, applyRounds: 3,
		scaleGateways: []int{1000, 10000}, scaleNamespaces: 100,
		gateGateways: []int{10000, 100000},
	},
}
