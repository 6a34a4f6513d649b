package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/controller"
	"github.com/meshcert/meshcert/e2e/bench"
	"github.com/meshcert/meshcert/e2e/framework"
)

// scaleResult is one controller's run on n Gateways.
type scaleResult struct {
	n int
	// converged is the time from the controller's start until every
	// Certificate existed.
	converged time.Duration
	// first is the time from the controller's start until the first
	// Certificate existed: its start-up and cache sync.
	first time.Duration
	// rss is the controller's resident memory once converged and settled.
	rss int64
	// cpu is the CPU each component used until converged, and requests
	// the API requests the API server served most meanwhile.
	cpu, requests string
	// restartSynced, restartWrites: a restart with nothing changed (meshcert
	// only).
	restartSynced time.Duration
	restartWrites float64
}

func (r *runner) scale(ctx context.Context) error {
	var rows [][]string
	var last [2]scaleResult
	for _, n := range r.sizes.scaleGateways {
		mc, err := r.scaleMeshcert(ctx, n)
		if err != nil {
			return err
		}
		shim, err := r.scaleShim(ctx, n)
		if err != nil {
			return err
		}
		rows = append(rows,
			[]string{strconv.Itoa(n), "meshcert (Istio Gateways)", secs(mc.first), secs(mc.converged), mib(mc.rss), secs(mc.restartSynced), fmt.Sprintf("%.0f", mc.restartWrites), mc.cpu},
			[]string{strconv.Itoa(n), "cert-manager gateway-shim (Gateway API)", secs(shim.first), secs(shim.converged), mib(shim.rss), "-", "-", shim.cpu})
		r.summary.linef("controller at %d Gateways: meshcert %s to every Certificate, %s RSS; gateway-shim %s, %s RSS",
			n, secs(mc.converged), mib(mc.rss), secs(shim.converged), mib(shim.rss))
		r.summary.linef("meshcert restart at %d Gateways with nothing changed: synced in %s, %.0f writes (targets <= 60 s, 0)",
			n, secs(mc.restartSynced), mc.restartWrites)
		last = [2]scaleResult{mc, shim}
	}
	r.summary.table(fmt.Sprintf("Controllers at scale (%d namespaces; no client-side rate limit for either, the API server's priority and fairness decides; no webhooks registered; nothing issued)",
		r.sizes.scaleNamespaces),
		[]string{"Gateways", "controller", "first Certificate after", "every Certificate after", "steady RSS", "restart synced after", "restart writes", "CPU used until every Certificate"}, rows)
	r.summary.linef("controller memory ratio meshcert/shim: %.2f", float64(last[0].rss)/float64(last[1].rss))
	r.summary.linef("controller convergence ratio meshcert/shim: %.2f", last[0].converged.Seconds()/last[1].converged.Seconds())
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// fastClient is an admin client without the framework's rate limit, to
// create thousands of objects quickly.
func fastClient(cp *framework.ControlPlane) (client.Client, error) {
	cfg := rest.CopyConfig(cp.RESTConfig)
	cfg.QPS, cfg.Burst = 2000, 4000
	c, err := client.New(cfg, client.Options{Scheme: cp.Client.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("failed to build a client: %w", err)
	}
	return c, nil
}

// createScaleNamespaces creates the scale namespaces with meshcert's policy.
func (r *runner) createScaleNamespaces(ctx context.Context, cp *framework.ControlPlane) ([]string, error) {
	names := make([]string, r.sizes.scaleNamespaces)
	for i := range names {
		names[i] = fmt.Sprintf("team-%03d", i)
		if err := bench.CreatePolicyNamespace(ctx, cp, names[i], benchIssuer); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func (r *runner) scaleMeshcert(ctx context.Context, n int) (scaleResult, error) {
	res := scaleResult{n: n}
	cp, err := r.startPlane(ctx, fmt.Sprintf("scale-meshcert-%d", n), framework.Config{WithoutCertManager: true, WithoutControllerManager: true, APIServerProfiling: true})
	if err != nil {
		return res, err
	}
	defer func() { _ = cp.Stop() }()
	counter, err := r.prepareScale(ctx, cp, n, func(namespace, name string) (client.Object, error) {
		return bench.AdmittedIstioGateway(ctx, namespace, name, benchIssuer)
	})
	if err != nil {
		return res, err
	}
	defer counter.Stop()

	pprofPort, err := freePort()
	if err != nil {
		return res, err
	}
	run, err := r.startConvergence(ctx, cp, counter, "meshcert", fmt.Sprintf("meshcert-%d", n))
	if err != nil {
		return res, err
	}
	m, err := cp.StartMeshcert(ctx, framework.MeshcertConfig{
		WithoutWebhookConfigurations: true,
		// As the cert-manager runner: a member of system:masters, whose
		// requests the API server's priority and fairness does not queue.
		Kubeconfig: cp.KubeconfigPath,
		// No client-side limit, as cert-manager has none when the API server
		// has priority and fairness (which this one has).
		Args: append([]string{"--qps=-1", "--pprof-bind-address=127.0.0.1:" + strconv.Itoa(pprofPort)}, r.meshcertArgs...),
	})
	if err != nil {
		return res, err
	}
	defer func() { _ = m.Stop() }()
	meshcertProfiled := r.saveProfile("meshcert", func() error {
		return bench.SaveCPUProfile(ctx, "http://127.0.0.1:"+strconv.Itoa(pprofPort), convergenceProfile,
			filepath.Join(r.dir, fmt.Sprintf("meshcert-cpu-scale-%d.pprof", n)))
	})
	if err := run.wait(ctx, n, m, &res); err != nil {
		return res, err
	}
	meshcertProfiled()
	if res.rss, err = settledRSS(ctx, m.PID()); err != nil {
		return res, err
	}
	heap := filepath.Join(r.dir, fmt.Sprintf("meshcert-heap-%dgateways.pprof", n))
	if err := bench.SaveHeapProfile(ctx, "http://127.0.0.1:"+strconv.Itoa(pprofPort), heap); err != nil {
		log.Printf("scale: no heap profile: %v", err)
	}
	memstats := filepath.Join(r.dir, fmt.Sprintf("meshcert-memstats-%dgateways.txt", n))
	if err := bench.SaveMemStats(ctx, "http://127.0.0.1:"+strconv.Itoa(pprofPort), memstats); err != nil {
		log.Printf("scale: no memory statistics: %v", err)
	}

	start := time.Now()
	if err := m.Restart(ctx); err != nil {
		return res, err
	}
	err = waitFor(ctx, 10*time.Minute, "meshcert to reconcile every Gateway after the restart", func(ctx context.Context) (bool, error) {
		metrics, err := m.Metrics(ctx)
		if err != nil {
			return false, err
		}
		reconciled := framework.MetricValue(metrics, "controller_runtime_reconcile_total", `controller="`+controller.Name+`"`)
		depth := framework.MetricValue(metrics, "workqueue_depth", `name="`+controller.Name+`"`)
		if reconciled >= float64(n) && depth == 0 {
			res.restartWrites = framework.MetricValue(metrics, "meshcert_certificate_writes_total")
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return res, err
	}
	res.restartSynced = time.Since(start)
	log.Printf("scale: meshcert restarted on %d Gateways, synced in %s with %.0f writes", n, res.restartSynced.Round(time.Millisecond), res.restartWrites)
	return res, nil
}

func (r *runner) scaleShim(ctx context.Context, n int) (scaleResult, error) {
	res := scaleResult{n: n}
	cp, err := r.startPlane(ctx, fmt.Sprintf("scale-shim-%d", n), framework.Config{
		WithoutCertManager: true, WithoutControllerManager: true, APIServerProfiling: true,
		ExtraCertManagerControllers: []string{framework.GatewayShimController},
		// The shim alone: no issuing, as meshcert's run has none.
		CertManagerArgs: []string{"--controllers=" + framework.GatewayShimController},
	})
	if err != nil {
		return res, err
	}
	defer func() { _ = cp.Stop() }()
	counter, err := r.prepareScale(ctx, cp, n, func(namespace, name string) (client.Object, error) {
		return bench.GatewayAPIGateway(namespace, name, benchIssuer), nil
	})
	if err != nil {
		return res, err
	}
	defer counter.Stop()
	run, err := r.startConvergence(ctx, cp, counter, "gateway-shim", fmt.Sprintf("shim-%d", n))
	if err != nil {
		return res, err
	}
	if err := cp.StartCertManager(ctx); err != nil {
		return res, err
	}
	if err := run.wait(ctx, n, nil, &res); err != nil {
		return res, err
	}
	pid, ok := cp.PIDs()["cert-manager"]
	if !ok {
		return res, errors.New("cert-manager is not running")
	}
	if res.rss, err = settledRSS(ctx, pid); err != nil {
		return res, err
	}
	return res, nil
}

// prepareScale creates the ClusterIssuer, the namespaces and n Gateways
// made by gateway, spread over the namespaces, and starts counting
// Certificates; the caller stops the counter.
func (r *runner) prepareScale(ctx context.Context, cp *framework.ControlPlane, n int, gateway func(namespace, name string) (client.Object, error)) (*bench.Counter, error) {
	if err := createIssuer(ctx, cp, false); err != nil {
		return nil, err
	}
	namespaces, err := r.createScaleNamespaces(ctx, cp)
	if err != nil {
		return nil, err
	}
	objs := make([]client.Object, n)
	for i := range objs {
		if objs[i], err = gateway(namespaces[i%len(namespaces)], fmt.Sprintf("gw-%d", i)); err != nil {
			return nil, err
		}
	}
	if err := r.createObjects(ctx, cp, objs); err != nil {
		return nil, err
	}
	return bench.CountObjects(ctx, cp.RESTConfig, bench.CertificatesGVR)
}

// createObjects creates objs with 8 concurrent clients and logs how long
// it took.
func (r *runner) createObjects(ctx context.Context, cp *framework.ControlPlane, objs []client.Object) error {
	c, err := fastClient(cp)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := bench.CreateAll(ctx, c, objs, 8); err != nil {
		return err
	}
	log.Printf("scale: created %d objects in %s", len(objs), time.Since(start).Round(time.Millisecond))
	return nil
}

// convergence measures a controller from its start until every
// Certificate exists: the time, when the first appeared, the CPU each
// component used, the API requests served and an API server profile.
type convergence struct {
	// controller names it in the log.
	controller string
	cp         *framework.ControlPlane
	counter    *bench.Counter
	apiBefore  string
	cpuBefore  map[string]time.Duration
	profiled   func()
	start      time.Time
}

// startConvergence takes the readings before a controller starts; start it
// right after.
func (r *runner) startConvergence(ctx context.Context, cp *framework.ControlPlane, counter *bench.Counter, controller, run string) (*convergence, error) {
	apiBefore, err := bench.APIServerMetrics(ctx, cp)
	if err != nil {
		return nil, err
	}
	c := &convergence{controller: controller, cp: cp, counter: counter, apiBefore: apiBefore, cpuBefore: componentCPU(cp, nil)}
	c.profiled = r.profileConvergence(ctx, cp, run)
	c.start = time.Now()
	return c, nil
}

// wait waits until n Certificates exist and records the run in res; m is
// meshcert when it is the controller, so its CPU is counted.
func (c *convergence) wait(ctx context.Context, n int, m *framework.Meshcert, res *scaleResult) error {
	if err := c.counter.WaitFor(ctx, n, 15*time.Minute); err != nil {
		return fmt.Errorf("%s at %d Gateways: %w", c.controller, n, err)
	}
	res.converged = time.Since(c.start)
	res.first = c.counter.FirstAdded().Sub(c.start)
	res.cpu = cpuUsed(c.cpuBefore, componentCPU(c.cp, m))
	var err error
	if res.requests, err = requestsSince(ctx, c.cp, c.apiBefore); err != nil {
		return err
	}
	log.Printf("scale: %s sent %s", c.controller, res.requests)
	log.Printf("scale: %s made %d Certificates in %s, the first after %s; CPU used: %s",
		c.controller, n, res.converged.Round(time.Millisecond), res.first.Round(time.Millisecond), res.cpu)
	c.profiled()
	return nil
}

// convergenceProfile is how long CPU profiles are taken from a
// controller's start: the whole convergence at 1,000 Gateways, its first
// third at 10,000.
const convergenceProfile = 10 * time.Second

// profileConvergence starts a CPU profile of the API server named after the
// run; the returned func waits until it is saved.
func (r *runner) profileConvergence(ctx context.Context, cp *framework.ControlPlane, run string) (wait func()) {
	return r.saveProfile("API server", func() error {
		return bench.SaveAPIServerCPUProfile(ctx, cp.RESTConfig, convergenceProfile, filepath.Join(r.dir, "apiserver-cpu-"+run+".pprof"))
	})
}

// saveProfile runs save in the background; the returned func waits for it.
// A profile that cannot be taken is logged, not fatal.
func (r *runner) saveProfile(what string, save func() error) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := save(); err != nil {
			log.Printf("scale: no %s profile: %v", what, err)
		}
	}()
	return func() { <-done }
}

// requestsSince names the API requests the API server served most since
// it answered before with its metrics.
func requestsSince(ctx context.Context, cp *framework.ControlPlane, before string) (string, error) {
	after, err := bench.APIServerMetrics(ctx, cp)
	if err != nil {
		return "", err
	}
	return busiestRequests(before, after, 6), nil
}

// settledRSS is the process's resident memory after 10 s without new work,
// so what the last writes allocated has been collected.
func settledRSS(ctx context.Context, pid int) (int64, error) {
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(10 * time.Second):
	}
	return framework.ProcessRSS(pid)
}
