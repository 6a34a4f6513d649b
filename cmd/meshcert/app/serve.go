package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientfeatures "k8s.io/client-go/features"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/controller"
	"github.com/meshcert/meshcert/internal/eventq"
	"github.com/meshcert/meshcert/internal/metricsutil"
	"github.com/meshcert/meshcert/internal/quiet"
	mcwebhook "github.com/meshcert/meshcert/webhook"
)

// leaderElectionID names the Lease the controller replicas compete for.
const leaderElectionID = "meshcert-controller"

// serveFlags are the settings of `meshcert serve`.
type serveFlags struct {
	planner                 plannerFlags
	kubeconfig              string
	enforce                 bool
	gatewayPodSelector      string
	qps                     float32
	burst                   int
	webhookHost             string
	webhookPort             int
	webhookCertDir          string
	webhookClientCAName     string
	metricsBindAddress      string
	healthProbeBindAddress  string
	pprofBindAddress        string
	maxWriteDeferral        time.Duration
	concurrentReconciles    int
	leaderElect             bool
	leaderElectionNamespace string
	gatewayAPICertificates  gatewayAPICertificatesFlag
	zap                     zap.Options
}

func newServeFlags() *serveFlags {
	return &serveFlags{zap: zap.Options{}, gatewayAPICertificates: gatewayAPICertificatesFlag(controller.GatewayAPICertificatesShim)}
}

func (f *serveFlags) addTo(fs *pflag.FlagSet) {
	f.planner.addTo(fs)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "",
		"kubeconfig file; empty: $KUBECONFIG, the in-cluster configuration, then ~/.kube/config")
	fs.BoolVar(&f.enforce, "enforce", false,
		"deny what may only mean \"not applied yet\" (issuer or credential not found) in every namespace, not only in namespaces labelled "+mcwebhook.LabelEnforce+"=true")
	fs.StringVar(&f.gatewayPodSelector, "gateway-pod-selector", cluster.DefaultGatewayPodSelector,
		"label selector of the gateway Pods whose metadata is cached to find where a Gateway's credentials live")
	fs.Float32Var(&f.qps, "qps", 50, "API requests per second the controller may make; negative: no client-side limit, the API server's priority and fairness decides (what cert-manager does when the API server has it)")
	fs.IntVar(&f.burst, "burst", 100, "API request burst the controller may make")
	fs.StringVar(&f.webhookHost, "webhook-host", "", "address the webhook server listens on; empty: all interfaces")
	fs.IntVar(&f.webhookPort, "webhook-port", webhook.DefaultPort, "port the webhook server listens on")
	fs.StringVar(&f.webhookCertDir, "webhook-cert-dir", defaultWebhookCertDir(),
		"directory holding the webhook serving certificate tls.crt and key tls.key; reloaded when they change")
	fs.StringVar(&f.webhookClientCAName, "webhook-client-ca-name", "",
		"file in --webhook-cert-dir with the CA of the API server's client certificate; when set, the webhook server accepts only clients with a certificate from it (configure the API server's AdmissionConfiguration to present one)")
	fs.StringVar(&f.metricsBindAddress, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	fs.StringVar(&f.healthProbeBindAddress, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes; 0 disables them")
	fs.StringVar(&f.pprofBindAddress, "pprof-bind-address", "0",
		"address of Go's /debug/pprof profiles, e.g. 127.0.0.1:8082, for finding where time goes; 0 disables it")
	fs.DurationVar(&f.maxWriteDeferral, "max-write-deferral", 30*time.Second,
		"how long the controller may hold its Certificate writes back while Gateways are being admitted, so a burst of applies is answered first; 0 writes at once")
	fs.IntVar(&f.concurrentReconciles, "concurrent-reconciles", 10,
		"Gateways the controller reconciles at once (a Gateway never twice at once); more helps only while --qps is not the limit")
	fs.BoolVar(&f.leaderElect, "leader-elect", true,
		"elect one replica to run the controller; webhooks are served by every replica")
	fs.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "",
		"namespace of the leader election Lease; empty: the namespace meshcert runs in")
	fs.Var(&f.gatewayAPICertificates, "gateway-api-certificates", gatewayAPICertificatesUsage)
	zapFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	f.zap.BindFlags(zapFlags)
	fs.AddGoFlagSet(zapFlags)
}

func defaultWebhookCertDir() string {
	return "/tmp/k8s-webhook-server/serving-certs"
}

// validate checks the flags before anything starts.
func (f *serveFlags) validate() error {
	var errs []error
	if _, err := f.podSelector(); err != nil {
		errs = append(errs, err)
	}
	if f.maxWriteDeferral < 0 {
		errs = append(errs, fmt.Errorf("--max-write-deferral must not be negative, got %s", f.maxWriteDeferral))
	}
	if f.concurrentReconciles < 1 {
		errs = append(errs, fmt.Errorf("--concurrent-reconciles must be at least 1, got %d", f.concurrentReconciles))
	}
	if f.qps == 0 {
		errs = append(errs, errors.New("--qps must not be 0: positive limits the requests per second, negative turns the client-side limit off"))
	}
	if f.burst < 1 {
		errs = append(errs, fmt.Errorf("--burst must be at least 1, got %d", f.burst))
	}
	if f.webhookPort < 1 || f.webhookPort > 65535 {
		errs = append(errs, fmt.Errorf("--webhook-port must be between 1 and 65535, got %d", f.webhookPort))
	}
	if f.webhookCertDir == "" {
		errs = append(errs, errors.New("--webhook-cert-dir must not be empty"))
	}
	if f.planner.defaultIssuerName != "" && f.planner.defaultIssuerKind == "" {
		errs = append(errs, errors.New("--default-issuer-kind must not be empty when --default-issuer-name is set"))
	}
	if f.planner.defaultCredentialNamespace == "" {
		errs = append(errs, errors.New("--default-credential-namespace must not be empty"))
	}
	return errors.Join(errs...)
}

func (f *serveFlags) podSelector() (labels.Selector, error) {
	sel, err := labels.Parse(f.gatewayPodSelector)
	if err != nil {
		return nil, fmt.Errorf("--gateway-pod-selector %q is not a label selector: %w", f.gatewayPodSelector, err)
	}
	if sel.Empty() {
		return nil, errors.New("--gateway-pod-selector must not be empty: it would cache the metadata of every Pod")
	}
	return sel, nil
}

// restConfig loads the client configuration and applies the rate limits.
func (f *serveFlags) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if f.kubeconfig != "" {
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: f.kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	} else {
		cfg, err = ctrlconfig.GetConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("failed to load the Kubernetes client configuration: %w", err)
	}
	cfg.QPS = f.qps
	cfg.Burst = f.burst
	cfg.UserAgent = "meshcert/" + version
	return cfg, nil
}

// newScheme knows the typed objects the server reads: Kubernetes' own and
// cert-manager's. Istio Gateways and IstioOperators are read unstructured.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("failed to register Kubernetes types: %w", err)
	}
	if err := cmapi.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("failed to register cert-manager types: %w", err)
	}
	return s, nil
}

// managerOptions are the manager settings the flags give.
func (f *serveFlags) managerOptions(scheme *runtime.Scheme, sel labels.Selector) manager.Options {
	return manager.Options{
		Scheme: scheme,
		Cache:  cluster.CacheOptions(cluster.Config{GatewayPodSelector: sel}),
		// The IstioOperator controllers read their objects (unstructured)
		// through the client: from the cache too, never the API. Gateways
		// are read through cluster.Lookup, as the cache holds them parsed.
		Client: client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		Metrics: metricsserver.Options{
			BindAddress: f.metricsBindAddress,
		},
		HealthProbeBindAddress:  f.healthProbeBindAddress,
		PprofBindAddress:        f.pprofBindAddress,
		LeaderElection:          f.leaderElect,
		LeaderElectionID:        leaderElectionID,
		LeaderElectionNamespace: f.leaderElectionNamespace,
		// Give up the Lease on shutdown so another replica takes over at once;
		// the process exits right after the manager stops.
		LeaderElectionReleaseOnCancel: true,
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    f.webhookHost,
			Port:    f.webhookPort,
			CertDir: f.webhookCertDir,
			// controller-runtime then requires and verifies a client
			// certificate from this CA.
			ClientCAName: f.webhookClientCAName,
			TLSOpts:      mcwebhook.TLSOptions(),
		}),
	}
}

func newServeCommand() *cobra.Command {
	f := newServeFlags()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the admission webhooks and the Certificate controller in the cluster",
		Long: `serve runs meshcert in the cluster: the mutating webhook that injects
credentialNames into Istio Gateways, the validating webhooks for Gateways,
cert-manager Certificates and IstioOperators, and the controller that
creates the Certificates. Every replica serves the webhooks; one elected
replica runs the controller. Webhooks answer from informer caches.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.zap), zap.WriteTo(cmd.ErrOrStderr())))
			return f.run(ctrl.SetupSignalHandler())
		},
	}
	f.addTo(cmd.Flags())
	return cmd
}

// run builds the manager and runs it until ctx ends.
func (f *serveFlags) run(ctx context.Context) error {
	log := ctrl.Log.WithName("serve")
	sel, err := f.podSelector()
	if err != nil {
		return err
	}
	cfg, err := f.restConfig()
	if err != nil {
		return err
	}
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	if err := listInOnePage(os.LookupEnv); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, f.managerOptions(scheme, sel))
	if err != nil {
		return fmt.Errorf("failed to create the manager: %w", err)
	}
	if err := f.wire(ctx, mgr, metrics.Registry); err != nil {
		return err
	}

	log.Info("starting", "version", version, "enforce", f.enforce, "webhookPort", f.webhookPort,
		"gatewayPodSelector", sel.String(), "leaderElect", f.leaderElect, "gatewayAPICertificates", f.gatewayAPICertificates.String())
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("failed to run the manager: %w", err)
	}
	log.Info("stopped")
	return nil
}

// The server's own metrics, declared once for the server and the docs.
var (
	eventsDroppedMetric = metricsutil.Define(metricsutil.Definition{
		Name: "meshcert_events_dropped_total",
		Type: metricsutil.Counter,
		Help: fmt.Sprintf("Events not recorded because %d were already waiting to be written.", eventq.DefaultQueueSize),
	})
	writeDeferralMetric = metricsutil.Define(metricsutil.Definition{
		Name: "meshcert_controller_write_deferral_seconds_total",
		Type: metricsutil.Counter,
		Help: "Time the controller held Certificate writes back while Gateways were being admitted (--max-write-deferral).",
	})
)

// newEventRecorder returns the controllers' Event recorder, run by the
// manager, and registers meshcert_events_dropped_total with reg.
func newEventRecorder(mgr manager.Manager, reg prometheus.Registerer) (*eventq.Recorder, error) {
	client, err := eventsv1client.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("failed to build the Events client: %w", err)
	}
	dropped, err := metricsutil.NewCounter(reg, eventsDroppedMetric)
	if err != nil {
		return nil, err
	}
	recorder := eventq.New(client, mgr.GetScheme(), "meshcert", ctrl.Log.WithName("events"), eventq.Options{Dropped: dropped})
	if err := mgr.Add(recorder); err != nil {
		return nil, fmt.Errorf("failed to add the Event recorder: %w", err)
	}
	return recorder, nil
}

// wire registers meshcert with the manager: the cache's informers and
// indexes, the webhooks and the controllers (both reading through the
// cache-backed Lookup), their metrics with reg, and the probes.
func (f *serveFlags) wire(ctx context.Context, mgr manager.Manager, reg prometheus.Registerer) error {
	if err := cluster.Setup(ctx, mgr.GetCache()); err != nil {
		return fmt.Errorf("failed to set up the cache: %w", err)
	}
	lookup, err := cluster.NewLookup(ctx, mgr.GetCache(), ctrl.Log.WithName("lookup"))
	if err != nil {
		return fmt.Errorf("failed to set up the cache: %w", err)
	}
	opts := f.planner.options()
	opts.ComposeCACerts = true

	adm, err := mcwebhook.NewMetrics(reg)
	if err != nil {
		return fmt.Errorf("failed to register the admission metrics: %w", err)
	}
	admissions := quiet.New(admissionPause, f.maxWriteDeferral)
	mcwebhook.Register(mgr.GetWebhookServer(), lookup, mcwebhook.Config{Options: opts, Enforce: f.enforce, Admissions: admissions}, adm)
	ctrlMetrics, err := controller.NewMetrics(ctx, reg, mgr.GetCache())
	if err != nil {
		return fmt.Errorf("failed to register the controller metrics: %w", err)
	}
	if err := registerDeferralMetric(reg, admissions); err != nil {
		return err
	}
	recorder, err := newEventRecorder(mgr, reg)
	if err != nil {
		return err
	}
	err = controller.Setup(ctx, mgr, controller.Config{
		Lookup: lookup, Options: opts, Metrics: ctrlMetrics, Admissions: admissions,
		MaxConcurrentReconciles: f.concurrentReconciles, Recorder: recorder,
		GatewayAPICertificates: controller.GatewayAPICertificates(f.gatewayAPICertificates),
	})
	if err != nil {
		return fmt.Errorf("failed to set up the controller: %w", err)
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("failed to add the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("failed to add the webhook readiness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("informers", cacheSynced(mgr.GetCache())); err != nil {
		return fmt.Errorf("failed to add the cache readiness check: %w", err)
	}
	return nil
}

// admissionPause without Gateway admissions ends a burst: kubectl and
// client-go loops send the next object within milliseconds, a GitOps sync
// wave within tens of them.
const admissionPause = 500 * time.Millisecond

// registerDeferralMetric counts the time the controller held writes back.
func registerDeferralMetric(reg prometheus.Registerer, admissions *quiet.Gate) error {
	_, err := metricsutil.CounterFunc(reg, writeDeferralMetric, func() float64 { return admissions.Deferred().Seconds() })
	if err != nil {
		return fmt.Errorf("failed to register the write deferral metric: %w", err)
	}
	return nil
}

// cacheSynced is ready once the informers have synced, so no replica
// answers admission requests from an empty cache.
func cacheSynced(c cache.Cache) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), 100*time.Millisecond)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("informer caches are not synced yet")
		}
		return nil
	}
}

// watchListEnv is the variable client-go reads its WatchListClient gate from.
const watchListEnv = "KUBE_FEATURE_" + string(clientfeatures.WatchListClient)

// listInOnePage turns client-go's streaming lists off unless the
// environment (lookupEnv) sets watchListEnv. A streamed initial list only
// counts as synced at the API server's next bookmark, on a one-second tick,
// so every informer meshcert starts held the first reconcile back by about
// a second; a list served from the API server's watch cache in one
// response does not wait. cert-manager's controllers list the same way.
func listInOnePage(lookupEnv func(string) (string, bool)) error {
	if _, set := lookupEnv(watchListEnv); set {
		return nil
	}
	gates, ok := clientfeatures.FeatureGates().(interface {
		Set(clientfeatures.Feature, bool) error
	})
	if !ok {
		return nil
	}
	if err := gates.Set(clientfeatures.WatchListClient, false); err != nil {
		return fmt.Errorf("failed to turn off client-go's %s: %w", clientfeatures.WatchListClient, err)
	}
	return nil
}
