// Command cert-manager-controller runs a chosen set of cert-manager's
// controllers out of cluster, for the e2e control plane and the benchmarks.
//
// cert-manager's own main lives in a nested module that the Go module proxy
// does not serve, but every controller is in the root module and registers
// itself with controller.Register on import. This runner imports the ones the
// tests need, builds the same ContextFactory upstream builds, and runs the
// selected constructors from controller.Known(). There is no leader election:
// one runner per control plane.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	// Each blank import registers controllers with controller.Register.
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/gateways"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/listenerset"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// The issuers and clusterissuers controllers look issuer types up in
	// this registry to set the Ready condition; the ACME one registers the
	// account that orders and challenges then use, so ACME issuance needs
	// the issuers controllers in the same runner.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// gatewayShim and listenerSetShim are the controllers that need the Gateway
// API CRDs and the Gateway API switches turned on in the context options;
// the ListenerSet one also its Alpha feature gate.
const (
	gatewayShim     = "gateway-shim"
	listenerSetShim = "listenerset"
)

// defaultControllers is what issuing a Certificate from a SelfSigned or CA
// issuer needs, the set the e2e stack runs unless told otherwise.
var defaultControllers = []string{
	"certificates-issuing",
	"certificates-key-manager",
	"certificates-readiness",
	"certificates-request-manager",
	"certificates-revision-manager",
	"certificates-trigger",
	"certificaterequests-approver",
	"certificaterequests-issuer-ca",
	"certificaterequests-issuer-selfsigned",
	"clusterissuers",
	"issuers",
}

// acmeControllers issue from ACME issuers: orders and challenges, and the
// CertificateRequest controller that turns a request into an Order.
// `--controllers=+acme` adds them.
var acmeControllers = []string{"certificaterequests-issuer-acme", "challenges", "orders"}

const acmeSet = "acme"

// defaultACMESolverImage is upstream's solver image of the version go.mod
// pins. Nothing runs Pods on the local stack; the tests play the solver.
const defaultACMESolverImage = "quay.io/jetstack/cert-manager-acmesolver:v1.21.2"

// workersPerController matches upstream's default.
const workersPerController = 5

type options struct {
	kubeconfig               string
	clusterResourceNamespace string
	controllers              []string
	kubeAPIQPS               float64
	kubeAPIBurst             int
	healthListenAddress      string
	acme                     acmeOptions
}

// acmeOptions are the ACME flags of upstream's controller that the local
// stack needs: where DNS-01 and HTTP-01 self-checks resolve names.
type acmeOptions struct {
	dns01Nameservers        []string
	dns01RecursiveOnly      bool
	dns01CheckRetryPeriod   time.Duration
	http01SolverNameservers []string
	http01SolverImage       string
}

func main() {
	logf.InitLogs()
	defer logf.FlushLogs()

	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	// SIGTERM is how the e2e framework and cluster-down stop us.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx = logf.NewContext(ctx, klog.Background(), "cert-manager-controller")

	if err := run(ctx, opts); err != nil {
		klog.ErrorS(err, "cert-manager controller runner failed")
		logf.FlushLogs()
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("cert-manager-controller", flag.ContinueOnError)
	klog.InitFlags(fs)
	opts := options{}
	var controllers string
	fs.StringVar(&opts.kubeconfig, "kubeconfig", "", "Path to the kubeconfig of the API server to control.")
	fs.StringVar(&opts.clusterResourceNamespace, "cluster-resource-namespace", "cert-manager",
		"Namespace holding the Secrets that ClusterIssuers refer to.")
	fs.StringVar(&controllers, "controllers", strings.Join(defaultControllers, ","),
		"Comma-separated controllers to run; a leading '+' adds to the default set (e.g. '+gateway-shim'). Known: "+
			strings.Join(knownControllers(), ", ")+".")
	fs.Float64Var(&opts.kubeAPIQPS, "kube-api-qps", 50, "Client QPS when the API server has no priority and fairness.")
	fs.IntVar(&opts.kubeAPIBurst, "kube-api-burst", 100, "Client burst when the API server has no priority and fairness.")
	fs.StringVar(&opts.healthListenAddress, "health-listen-address", "",
		"host:port serving /readyz (200 once every informer cache has synced); empty disables it.")
	var dns01Nameservers, http01Nameservers string
	fs.StringVar(&dns01Nameservers, "dns01-recursive-nameservers", "",
		"Comma-separated host:port resolvers for DNS-01 self-checks and zone lookups (upstream's flag); empty: the system's.")
	fs.BoolVar(&opts.acme.dns01RecursiveOnly, "dns01-recursive-nameservers-only", false,
		"Check DNS-01 records only through --dns01-recursive-nameservers, not the zone's authoritative servers (upstream's flag).")
	fs.DurationVar(&opts.acme.dns01CheckRetryPeriod, "dns01-check-retry-period", 10*time.Second,
		"How long to wait before repeating a failed DNS-01 or HTTP-01 self-check (upstream's flag).")
	fs.StringVar(&http01Nameservers, "acme-http01-solver-nameservers", "",
		"Comma-separated host:port resolvers for HTTP-01 self-checks (upstream's flag); empty: the system's.")
	fs.StringVar(&opts.acme.http01SolverImage, "acme-http01-solver-image", defaultACMESolverImage,
		"Image of the HTTP-01 solver Pods cert-manager creates (upstream's flag).")
	// Accepted so the runner takes the same command line as upstream's
	// controller; there is only ever one runner per control plane.
	leaderElect := fs.Bool("leader-elect", false, "Must be false: the runner does no leader election.")
	if err := fs.Parse(args); err != nil {
		return options{}, fmt.Errorf("failed to parse flags: %w", err)
	}
	if *leaderElect {
		return options{}, errors.New("--leader-elect=true is not supported: the runner does no leader election")
	}
	if opts.kubeconfig == "" {
		return options{}, errors.New("--kubeconfig is required")
	}
	selected, err := selectControllers(controllers)
	if err != nil {
		return options{}, err
	}
	opts.controllers = selected
	opts.acme.dns01Nameservers = splitList(dns01Nameservers)
	opts.acme.http01SolverNameservers = splitList(http01Nameservers)
	return opts, nil
}

// selectControllers turns the --controllers value into a sorted, de-duplicated
// list of known controller names.
func selectControllers(value string) ([]string, error) {
	var selected []string
	if strings.HasPrefix(value, "+") {
		selected = slices.Clone(defaultControllers)
		value = strings.TrimPrefix(value, "+")
	}
	known := controller.Known()
	for _, name := range strings.Split(value, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == acmeSet {
			selected = append(selected, acmeControllers...)
			continue
		}
		if _, ok := known[name]; !ok && name != caInjector {
			return nil, fmt.Errorf("unknown controller %q, known: %s", name, strings.Join(knownControllers(), ", "))
		}
		selected = append(selected, name)
	}
	if len(selected) == 0 {
		return nil, errors.New("--controllers selects no controller")
	}
	sort.Strings(selected)
	return slices.Compact(selected), nil
}

func knownControllers() []string {
	names := make([]string, 0, len(controller.Known()))
	for name := range controller.Known() {
		names = append(names, name)
	}
	names = append(names, caInjector, acmeSet)
	sort.Strings(names)
	return names
}

func run(ctx context.Context, opts options) error {
	log := logf.FromContext(ctx)
	enableListenerSets := slices.Contains(opts.controllers, listenerSetShim)
	enableGatewayAPI := enableListenerSets || slices.Contains(opts.controllers, gatewayShim)
	if enableGatewayAPI {
		// The shim also requires this (default-on) gate; set it so a future
		// default change does not silently disable it.
		if err := utilfeature.DefaultMutableFeatureGate.Set("ExperimentalGatewayAPISupport=true"); err != nil {
			return fmt.Errorf("failed to enable the Gateway API feature gate: %w", err)
		}
	}
	if enableListenerSets {
		if err := utilfeature.DefaultMutableFeatureGate.Set("ListenerSets=true"); err != nil {
			return fmt.Errorf("failed to enable the ListenerSets feature gate: %w", err)
		}
	}

	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         opts.kubeconfig,
		KubernetesAPIQPS:   float32(opts.kubeAPIQPS),
		KubernetesAPIBurst: opts.kubeAPIBurst,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace: opts.clusterResourceNamespace,
		},
		CertificateOptions: controller.CertificateOptions{
			// Upstream's defaults: a failed request is retried after 1h, doubling up to 32h.
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
		ConfigOptions: controller.ConfigOptions{EnableGatewayAPI: enableGatewayAPI, EnableGatewayAPIListenerSet: enableListenerSets},
		// Upstream's defaults for --default-issuer-kind and -group
		// (internal/apis/config/controller/v1alpha1 defaults.go); left
		// empty, the shim would write issuerRefs without a group.
		IngressShimOptions: controller.IngressShimOptions{DefaultIssuerKind: "Issuer", DefaultIssuerGroup: "cert-manager.io"},
		ACMEOptions:        acmeContextOptions(opts.acme),
		// Upstream's default; zero would schedule no challenge at all.
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: 60},
	})
	if err != nil {
		return fmt.Errorf("failed to build the controller context factory: %w", err)
	}

	// Constructors register the informers they need with the shared
	// factories, so every controller is built before the factories start.
	loops := make(map[string]controller.Interface, len(opts.controllers))
	for _, name := range opts.controllers {
		if name == caInjector {
			continue
		}
		loop, err := controller.Known()[name](factory)
		if err != nil {
			return fmt.Errorf("failed to build controller %s: %w", name, err)
		}
		loops[name] = loop
	}

	loopCtx, cancelLoops := context.WithCancel(ctx)
	defer cancelLoops()
	errs := make(chan error, len(loops)+1)
	if slices.Contains(opts.controllers, caInjector) {
		// Started, and synced, before the runner can report ready.
		if err := startCAInjector(loopCtx, opts.kubeconfig, func(err error) {
			errs <- err
			cancelLoops()
		}); err != nil {
			return err
		}
		log.Info("CA injector started")
	}

	var ready atomic.Bool
	if opts.healthListenAddress != "" {
		stopHealth, err := serveHealth(ctx, opts.healthListenAddress, &ready)
		if err != nil {
			return err
		}
		defer stopHealth()
	}

	shared, err := factory.Build()
	if err != nil {
		return fmt.Errorf("failed to build the shared controller context: %w", err)
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	if enableGatewayAPI {
		shared.GWShared.Start(ctx.Done())
	}
	defer shared.KubeSharedInformerFactory.Shutdown()
	defer shared.SharedInformerFactory.Shutdown()
	defer shared.HTTP01ResourceMetadataInformersFactory.Shutdown()
	defer shared.GWShared.Shutdown()
	go func() {
		// The loops wait for the same caches; once synced they are working.
		shared.KubeSharedInformerFactory.WaitForCacheSync(ctx.Done())
		shared.SharedInformerFactory.WaitForCacheSync(ctx.Done())
		shared.HTTP01ResourceMetadataInformersFactory.WaitForCacheSync(ctx.Done())
		if enableGatewayAPI {
			shared.GWShared.WaitForCacheSync(ctx.Done())
		}
		if ctx.Err() == nil {
			ready.Store(true)
			log.Info("informer caches synced")
		}
	}()

	var wg sync.WaitGroup
	for name, loop := range loops {
		wg.Go(func() {
			log.Info("starting controller", "controller", name)
			if err := loop.Run(workersPerController, loopCtx); err != nil {
				errs <- fmt.Errorf("failed to run controller %s: %w", name, err)
				// One dead loop means a broken stack: stop the others so the
				// runner exits non-zero instead of half-working.
				cancelLoops()
			}
		})
	}
	log.Info("controllers started", "controllers", opts.controllers,
		"clusterResourceNamespace", opts.clusterResourceNamespace)
	wg.Wait()
	close(errs)
	if err := errors.Join(collect(errs)...); err != nil && ctx.Err() == nil {
		return err
	}
	log.Info("controllers stopped")
	return nil
}

// acmeContextOptions fills cert-manager's ACME options as upstream's
// controller does from its flags, with upstream's defaults for the solver
// Pods' resources.
func acmeContextOptions(o acmeOptions) controller.ACMEOptions {
	nameservers := o.dns01Nameservers
	if len(nameservers) == 0 {
		// Without any, every DNS-01 lookup answers nothing and the
		// controller dereferences a nil reply; upstream reads resolv.conf.
		nameservers = dnsutil.RecursiveNameservers
	}
	return controller.ACMEOptions{
		HTTP01SolverImage:                 o.http01SolverImage,
		HTTP01SolverResourceRequestCPU:    resource.MustParse("10m"),
		HTTP01SolverResourceRequestMemory: resource.MustParse("64Mi"),
		HTTP01SolverResourceLimitsCPU:     resource.MustParse("100m"),
		HTTP01SolverResourceLimitsMemory:  resource.MustParse("64Mi"),
		ACMEHTTP01SolverRunAsNonRoot:      true,
		HTTP01SolverNameservers:           o.http01SolverNameservers,
		DNS01Nameservers:                  nameservers,
		DNS01CheckAuthoritative:           !o.dns01RecursiveOnly,
		DNS01CheckRetryPeriod:             o.dns01CheckRetryPeriod,
	}
}

func splitList(value string) []string {
	var items []string
	for item := range strings.SplitSeq(value, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// serveHealth answers /readyz so the e2e framework can wait for the runner
// instead of guessing.
func serveHealth(ctx context.Context, address string, ready *atomic.Bool) (func(), error) {
	listener, err := (&net.ListenConfig{}).Listen(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s for health checks: %w", address, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "informer caches not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = server.Serve(listener) }()
	return func() { _ = server.Close() }, nil
}

func collect(errs <-chan error) []error {
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return all
}
