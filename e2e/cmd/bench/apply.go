package main

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/e2e/bench"
	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/webhook"
)

// credentialNamespace is where meshcert puts Certificates by default.
const credentialNamespace = "istio-system"

// applyCase is one plane of the apply scenario.
type applyCase struct {
	name    string
	issuing bool
}

func (r *runner) apply(ctx context.Context) error {
	for _, c := range []applyCase{{name: "cert-manager off"}, {name: "cert-manager issuing", issuing: true}} {
		if err := r.applyCase(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// Webhooks registered during an apply run.
const (
	webhooksNone     = "none"
	webhooksNoop     = "noop"
	webhooksMeshcert = "meshcert"
)

// applyMeasure is one kind of run: a client with some webhooks registered.
type applyMeasure struct {
	client   string
	webhooks string
}

func (r *runner) applyCase(ctx context.Context, c applyCase) error {
	planeName := "apply-off"
	if c.issuing {
		planeName = "apply-issuing"
	}
	cp, err := r.startPlane(ctx, planeName, framework.Config{WithoutCertManager: !c.issuing})
	if err != nil {
		return err
	}
	defer func() { _ = cp.Stop() }()
	if err := createIssuer(ctx, cp, c.issuing); err != nil {
		return err
	}
	n := r.sizes.applyGateways
	res := applyResults{walls: map[applyMeasure][]time.Duration{}, webhooks: map[string]bench.Histogram{}}
	run := 0
	for round := range r.sizes.applyRounds {
		order := []string{webhooksNone, webhooksNoop, webhooksMeshcert}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, webhooks := range order {
			if err := r.applyPhase(ctx, cp, c, webhooks, &run, &res); err != nil {
				return err
			}
		}
	}
	r.reportApply(c, n, res)
	return nil
}

// applyResults collect the runs of one plane.
type applyResults struct {
	walls    map[applyMeasure][]time.Duration
	webhooks map[string]bench.Histogram
	converge []time.Duration
}

// applyPhase applies with each client, with meshcert's webhooks served by
// meshcert, by the no-op server, or not registered; what it starts it stops.
func (r *runner) applyPhase(ctx context.Context, cp *framework.ControlPlane, c applyCase, webhooks string, run *int, res *applyResults) error {
	n := r.sizes.applyGateways
	withMeshcert := webhooks == webhooksMeshcert
	var m *framework.Meshcert
	switch webhooks {
	case webhooksMeshcert:
		var err error
		if m, err = cp.StartMeshcert(ctx, framework.MeshcertConfig{Args: r.meshcertArgs}); err != nil {
			return err
		}
		defer func() { _ = m.Stop() }()
	case webhooksNoop:
		certDir := filepath.Join(cp.Dir, "noop-certs")
		caPEM, err := framework.WriteServingCertificate(certDir, "noop-webhook")
		if err != nil {
			return err
		}
		url, _, stop, err := r.startNoop(ctx, certDir, caPEM)
		if err != nil {
			return err
		}
		defer stop()
		if err := framework.RegisterWebhooks(ctx, cp.Client, url, caPEM, ""); err != nil {
			return err
		}
	}
	if webhooks != webhooksNone {
		defer func() {
			_ = framework.UnregisterWebhooks(context.WithoutCancel(ctx), cp.Client)
			time.Sleep(2 * time.Second)
		}()
		// The API server picks up new webhook configurations from a watch.
		time.Sleep(2 * time.Second)
	}
	for _, clientName := range []string{"kubectl", "client-go"} {
		*run++
		namespace := fmt.Sprintf("apply-%d", *run)
		before, err := bench.APIServerMetrics(ctx, cp)
		if err != nil {
			return err
		}
		start := time.Now()
		cpuBefore := componentCPU(cp, m)
		var wall time.Duration
		if clientName == "kubectl" {
			wall, err = bench.KubectlApply(ctx, cp, cp.Dir, namespace, benchIssuer, n)
		} else {
			wall, err = bench.ClientGoCreate(ctx, cp, namespace, benchIssuer, n)
		}
		if err != nil {
			return err
		}
		after, err := bench.APIServerMetrics(ctx, cp)
		if err != nil {
			return err
		}
		key := applyMeasure{client: clientName, webhooks: webhooks}
		res.walls[key] = append(res.walls[key], wall)
		log.Printf("apply (%s): %s of %d Gateways, webhooks %s: %s; CPU used meanwhile: %s; busiest API requests: %s",
			c.name, clientName, n, webhooks, wall.Round(time.Millisecond), cpuUsed(cpuBefore, componentCPU(cp, m)), busiestRequests(before, after, 4))
		for _, d := range webhook.Definitions() {
			h := bench.ParseHistogram(after, bench.AdmissionDurationMetric, `name="`+d.Name+`"`).
				Sub(bench.ParseHistogram(before, bench.AdmissionDurationMetric, `name="`+d.Name+`"`))
			res.webhooks[webhooks+" "+d.Name] = res.webhooks[webhooks+" "+d.Name].Add(h)
		}
		if !withMeshcert {
			// Gone before meshcert runs again, so its next start does not
			// find Certificates to create for them.
			if err := deleteGateways(ctx, cp, namespace); err != nil {
				return err
			}
			continue
		}
		// Settle before the next run: every Certificate exists (and is
		// Ready when cert-manager issues), so no work spills over.
		if err := waitCertificates(ctx, cp, namespace, n, c.issuing); err != nil {
			return err
		}
		took := time.Since(start)
		res.converge = append(res.converge, took)
		// cert-manager goes on after Ready (it deletes the temporary
		// private key Secrets, updates statuses): let it finish first.
		if err := waitIdle(ctx, cp, m); err != nil {
			return err
		}
		log.Printf("apply (%s): %d Certificates %s %s after the %s run started", c.name, n, readyWord(c.issuing), took.Round(time.Millisecond), clientName)
	}
	return nil
}

// deleteGateways deletes the Gateways of namespace and waits until they are
// gone.
func deleteGateways(ctx context.Context, cp *framework.ControlPlane, namespace string) error {
	if err := cp.Client.DeleteAllOf(ctx, cluster.NewGateway(), client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("failed to delete the Gateways of %s: %w", namespace, err)
	}
	return waitFor(ctx, time.Minute, "the Gateways of "+namespace+" to go", func(ctx context.Context) (bool, error) {
		list := cluster.NewGatewayList()
		if err := cp.Client.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return false, err
		}
		return len(list.Items) == 0, nil
	})
}

// waitIdle waits until no component uses more than 5% of a core over a
// second, for at most two minutes.
func waitIdle(ctx context.Context, cp *framework.ControlPlane, m *framework.Meshcert) error {
	previous := componentCPU(cp, m)
	return waitFor(ctx, 2*time.Minute, "the components to go idle", func(ctx context.Context) (bool, error) {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(time.Second):
		}
		current := componentCPU(cp, m)
		idle := true
		for name, cpu := range current {
			if cpu-previous[name] > 50*time.Millisecond {
				idle = false
			}
		}
		previous = current
		return idle, nil
	})
}

// componentCPU is the CPU time each component has used so far.
func componentCPU(cp *framework.ControlPlane, m *framework.Meshcert) map[string]time.Duration {
	pids := cp.PIDs()
	if m != nil {
		pids["meshcert"] = m.PID()
	}
	out := map[string]time.Duration{}
	for name, pid := range pids {
		if cpu, err := bench.ProcessCPU(pid); err == nil {
			out[name] = cpu
		}
	}
	return out
}

// cpuUsed lists the CPU each component used between two readings.
func cpuUsed(before, after map[string]time.Duration) string {
	names := slices.Sorted(maps.Keys(after))
	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s %.1fs", name, (after[name]-before[name]).Seconds()))
	}
	return strings.Join(parts, ", ")
}

// busiestRequests names the API requests the API server served most
// between two readings of its metrics, by resource and verb.
func busiestRequests(before, after string, top int) string {
	count := func(metrics string) map[string]float64 {
		out := map[string]float64{}
		for line := range strings.SplitSeq(metrics, "\n") {
			if !strings.HasPrefix(line, "apiserver_request_total{") {
				continue
			}
			key := bench.LabelValue(line, "resource") + " " + bench.LabelValue(line, "verb")
			fields := strings.Fields(line)
			var v float64
			_, _ = fmt.Sscan(fields[len(fields)-1], &v)
			out[key] += v
		}
		return out
	}
	b, a := count(before), count(after)
	keys := slices.Collect(maps.Keys(a))
	slices.SortFunc(keys, func(x, y string) int { return cmp.Compare(a[y]-b[y], a[x]-b[x]) })
	var parts []string
	for _, k := range keys[:min(top, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, a[k]-b[k]))
	}
	return strings.Join(parts, ", ")
}

func readyWord(issuing bool) string {
	if issuing {
		return "Ready"
	}
	return "created"
}

// waitCertificates waits until n meshcert Certificates of namespace's
// Gateways exist (and are Ready when ready is set).
func waitCertificates(ctx context.Context, cp *framework.ControlPlane, namespace string, n int, ready bool) error {
	return waitFor(ctx, 10*time.Minute, fmt.Sprintf("%d Certificates of namespace %s", n, namespace), func(ctx context.Context) (bool, error) {
		var list cmapi.CertificateList
		if err := cp.Client.List(ctx, &list, client.InNamespace(credentialNamespace)); err != nil {
			return false, err
		}
		count := 0
		for _, crt := range list.Items {
			if !strings.HasPrefix(crt.Annotations[certs.AnnotationGateway], namespace+"/") {
				continue
			}
			if !ready || certificateReady(&crt) {
				count++
			}
		}
		return count >= n, nil
	})
}

func certificateReady(crt *cmapi.Certificate) bool {
	for _, c := range crt.Status.Conditions {
		if c.Type == cmapi.CertificateConditionReady {
			return c.Status == cmmeta.ConditionTrue
		}
	}
	return false
}

func secs2(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r *runner) reportApply(c applyCase, n int, res applyResults) {
	walls, webhooks, converge := res.walls, res.webhooks, res.converge
	var rows [][]string
	for _, clientName := range []string{"kubectl", "client-go"} {
		without := median(walls[applyMeasure{client: clientName, webhooks: webhooksNone}])
		noop := median(walls[applyMeasure{client: clientName, webhooks: webhooksNoop}])
		with := median(walls[applyMeasure{client: clientName, webhooks: webhooksMeshcert}])
		ratio := with.Seconds() / without.Seconds()
		rows = append(rows, []string{clientName, secs2(without), secs2(noop), secs2(with),
			fmt.Sprintf("%.2f", noop.Seconds()/without.Seconds()), fmt.Sprintf("%.2f", ratio)})
		r.summary.linef("%s of %d Gateways, %s: %s without webhooks, %s with no-op ones, %s with meshcert (ratio %.2f, target <= 1.30)",
			clientName, n, c.name, secs2(without), secs2(noop), secs2(with), ratio)
	}
	r.summary.table(fmt.Sprintf("%d Gateways through the API server, %s (median of %d)", n, c.name, r.sizes.applyRounds),
		[]string{"client", "no webhooks", "no-op webhooks", "meshcert", "ratio no-op/none", "ratio meshcert/none"}, rows)
	rows = nil
	for _, server := range []string{webhooksNoop, webhooksMeshcert} {
		for _, d := range webhook.Definitions() {
			h := webhooks[server+" "+d.Name]
			if h.Count == 0 {
				continue
			}
			rows = append(rows, []string{server, d.Name, fmt.Sprintf("%.0f", h.Count), ms(h.Mean()), fmt.Sprintf("%.1f%%", 100*h.ShareAtMost(0.005))})
			if d.Gateways {
				r.summary.linef("API server's view of %s served by %s, %s: mean %s, %.1f%% within 5 ms", d.Name, server, c.name, ms(h.Mean()), 100*h.ShareAtMost(0.005))
			}
		}
	}
	r.summary.table("Webhook calls as the API server timed them, "+c.name,
		[]string{"served by", "webhook", "calls", "mean", "within 5 ms"}, rows)
	if len(converge) > 0 {
		r.summary.linef("%d Certificates %s after an apply started, %s: median %.1f s", n, readyWord(c.issuing), c.name, median(converge).Seconds())
	}
}
