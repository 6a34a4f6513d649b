package main

import (
	"context"
	"fmt"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	"github.com/cert-manager/cert-manager/pkg/util"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// caInjector selects cert-manager's CA injector. Upstream runs it as its
// own binary (cmd/cainjector, in a nested module the proxy does not serve);
// its reconcilers are in the root module's pkg/controller/cainjector, on a
// controller-runtime manager, which is what this builds. Only the webhook
// configuration injectors run: the e2e stack has no APIServices, and CRD
// conversion is not used.
const caInjector = "cainjector"

// startCAInjector starts the injector's manager and returns once its caches
// have synced; it stops with ctx. failed is called if the manager fails.
func startCAInjector(ctx context.Context, kubeconfig string, failed func(error)) error {
	ctrl.SetLogger(klog.NewKlogr().WithName("cainjector"))
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("failed to load the kubeconfig for the CA injector: %w", err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmapi.AddToScheme, apiextensionsv1.AddToScheme, apiregistrationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return fmt.Errorf("failed to build the CA injector's scheme: %w", err)
		}
	}
	// The injector names its server-side apply field manager after the user
	// agent, as upstream's cmd/cainjector sets it.
	cfg = util.RestConfigWithUserAgent(cfg, "cainjector")
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fmt.Errorf("failed to build the CA injector's manager: %w", err)
	}
	if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			"mutatingwebhookconfiguration":   true,
			"validatingwebhookconfiguration": true,
		},
	}); err != nil {
		return fmt.Errorf("failed to register the CA injectors: %w", err)
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			failed(fmt.Errorf("failed to run the CA injector: %w", err))
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("the CA injector's caches did not sync: %w", ctx.Err())
	}
	return nil
}
