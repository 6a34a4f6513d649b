package app

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/meshcert/meshcert/certs"
)

func parseServeFlags(t *testing.T, args ...string) (*serveFlags, error) {
	t.Helper()
	f := newServeFlags()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	f.addTo(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return f, f.validate()
}

func TestServeFlagDefaults(t *testing.T) {
	f, err := parseServeFlags(t)
	require.NoError(t, err)
	assert.Empty(t, f.kubeconfig)
	assert.False(t, f.enforce)
	assert.Equal(t, "istio", f.gatewayPodSelector)
	assert.InDelta(t, 50, f.qps, 0)
	assert.Equal(t, 100, f.burst)
	assert.Empty(t, f.webhookHost)
	assert.Equal(t, 9443, f.webhookPort)
	assert.Equal(t, "/tmp/k8s-webhook-server/serving-certs", f.webhookCertDir)
	assert.Equal(t, ":8080", f.metricsBindAddress)
	assert.Equal(t, ":8081", f.healthProbeBindAddress)
	assert.True(t, f.leaderElect)
	assert.Empty(t, f.leaderElectionNamespace)
	opts := f.planner.options()
	assert.Empty(t, opts.DefaultIssuer.Name)
	assert.Equal(t, "istio-system", opts.DefaultCredentialNamespace)
	assert.Equal(t, certs.PolicyRequired, opts.NamespacePolicy, "the secure default: a namespace without a policy gets nothing")
	assert.False(t, opts.PolicyOnlyForKnownNamespaces, "the server refuses a namespace it cannot see")
	assert.Equal(t, "shim", f.gatewayAPICertificates.String(), "cert-manager's gateway-shim writes the Gateway API Certificates")
}

func TestServeFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, f *serveFlags)
	}{
		{
			name: "every flag is read",
			args: []string{
				"--kubeconfig=/k", "--enforce", "--gateway-pod-selector=gateway in (in,out)", "--qps=5", "--burst=7",
				"--webhook-host=127.0.0.1", "--webhook-port=10443", "--webhook-cert-dir=/certs",
				"--metrics-bind-address=0", "--health-probe-bind-address=:9000", "--leader-elect=false",
				"--leader-election-namespace=meshcert", "--default-issuer-name=ca", "--default-issuer-kind=ClusterIssuer",
				"--default-credential-namespace=gateways", "--namespace-policy=optional", "--zap-log-level=debug", "--zap-devel",
				"--max-write-deferral=5s", "--concurrent-reconciles=8", "--pprof-bind-address=127.0.0.1:6060",
				"--gateway-api-certificates=meshcert",
			},
			check: func(t *testing.T, f *serveFlags) {
				assert.Equal(t, "/k", f.kubeconfig)
				assert.True(t, f.enforce)
				sel, err := f.podSelector()
				require.NoError(t, err)
				assert.Equal(t, "gateway in (in,out)", sel.String())
				assert.InDelta(t, 5, f.qps, 0)
				assert.Equal(t, 7, f.burst)
				assert.Equal(t, "127.0.0.1", f.webhookHost)
				assert.Equal(t, 10443, f.webhookPort)
				assert.Equal(t, "/certs", f.webhookCertDir)
				assert.Equal(t, "0", f.metricsBindAddress)
				assert.Equal(t, 5*time.Second, f.maxWriteDeferral)
				assert.Equal(t, 8, f.concurrentReconciles)
				assert.Equal(t, "127.0.0.1:6060", f.pprofBindAddress)
				assert.Equal(t, ":9000", f.healthProbeBindAddress)
				assert.False(t, f.leaderElect)
				assert.Equal(t, "meshcert", f.leaderElectionNamespace)
				opts := f.planner.options()
				assert.Equal(t, "ca", opts.DefaultIssuer.Name)
				assert.Equal(t, "ClusterIssuer", opts.DefaultIssuer.Kind)
				assert.Equal(t, "gateways", opts.DefaultCredentialNamespace)
				assert.Equal(t, certs.PolicyOptional, opts.NamespacePolicy)
				assert.Equal(t, "meshcert", f.gatewayAPICertificates.String())
				assert.True(t, f.zap.Development)
				assert.True(t, f.zap.Level.Enabled(zapcore.DebugLevel))
			},
		},
		{name: "a selector that does not parse is refused", args: []string{"--gateway-pod-selector=a b"}, wantErr: "--gateway-pod-selector"},
		{name: "an empty selector is refused, it would cache every Pod", args: []string{"--gateway-pod-selector="}, wantErr: "every Pod"},
		{name: "a namespace policy mode that does not exist is refused", args: []string{"--namespace-policy=off"}, wantErr: `"off" is not a namespace policy mode`},
		{name: "a Gateway API Certificates mode that does not exist is refused", args: []string{"--gateway-api-certificates=both"}, wantErr: `"both" is not a Gateway API Certificates mode`},
		{name: "a zero QPS is refused", args: []string{"--qps=0"}, wantErr: "--qps must not be 0"},
		{name: "a zero burst is refused", args: []string{"--burst=0"}, wantErr: "--burst must be at least 1"},
		{name: "no concurrent reconcile is refused", args: []string{"--concurrent-reconciles=0"}, wantErr: "--concurrent-reconciles must be at least 1"},
		{name: "a negative write deferral is refused", args: []string{"--max-write-deferral=-1s"}, wantErr: "--max-write-deferral must not be negative"},
		{name: "a port out of range is refused", args: []string{"--webhook-port=70000"}, wantErr: "--webhook-port"},
		{name: "an empty certificate directory is refused", args: []string{"--webhook-cert-dir="}, wantErr: "--webhook-cert-dir"},
		{name: "an empty credential namespace is refused", args: []string{"--default-credential-namespace="}, wantErr: "--default-credential-namespace"},
		{name: "a default issuer needs a kind", args: []string{"--default-issuer-name=ca", "--default-issuer-kind="}, wantErr: "--default-issuer-kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseServeFlags(t, tc.args...)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, f)
		})
	}
}

func TestServeFlagsReportEveryProblemAtOnce(t *testing.T) {
	_, err := parseServeFlags(t, "--qps=0", "--burst=0")
	require.ErrorContains(t, err, "--qps must not be 0")
	require.ErrorContains(t, err, "--burst must be at least 1")
}

func TestServeRefusesBadFlagsBeforeStarting(t *testing.T) {
	_, stderr, code := run(t, "", "serve", "--qps=0")
	assert.Equal(t, exitInput, code)
	assert.Contains(t, stderr, "--qps must not be 0")
}

func TestServeManagerOptions(t *testing.T) {
	f, err := parseServeFlags(t, "--webhook-host=127.0.0.1", "--webhook-port=10443", "--webhook-cert-dir=/certs",
		"--leader-election-namespace=meshcert", "--gateway-pod-selector=gateway=yes")
	require.NoError(t, err)
	sel, err := f.podSelector()
	require.NoError(t, err)
	scheme, err := newScheme()
	require.NoError(t, err)
	opts := f.managerOptions(scheme, sel)

	assert.True(t, opts.LeaderElection)
	assert.Equal(t, "meshcert", opts.LeaderElectionNamespace)
	assert.Equal(t, leaderElectionID, opts.LeaderElectionID)
	assert.Equal(t, ":8080", opts.Metrics.BindAddress)
	assert.Equal(t, ":8081", opts.HealthProbeBindAddress)
	require.NotNil(t, opts.Client.Cache)
	assert.True(t, opts.Client.Cache.Unstructured, "Gateways are read from the cache, not the API")
	assert.True(t, opts.Cache.ReaderFailOnMissingInformer)
	for obj, by := range opts.Cache.ByObject {
		if _, isMeta := obj.(*metav1.PartialObjectMetadata); isMeta {
			assert.Equal(t, "gateway=yes", by.Label.String())
		}
	}
	for _, gvk := range []string{"Certificate", "Issuer", "ClusterIssuer"} {
		assert.True(t, scheme.Recognizes(schemaGVK("cert-manager.io", "v1", gvk)), gvk)
	}
	assert.True(t, scheme.Recognizes(schemaGVK("", "v1", "Pod")))

	server, ok := opts.WebhookServer.(*webhook.DefaultServer)
	require.True(t, ok)
	assert.Equal(t, "127.0.0.1", server.Options.Host)
	assert.Equal(t, 10443, server.Options.Port)
	assert.Equal(t, "/certs", server.Options.CertDir)
	cfg := &tls.Config{NextProtos: []string{"h2"}} // controller-runtime's starting point
	for _, o := range server.Options.TLSOpts {
		o(cfg)
	}
	assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	assert.Equal(t, []string{"http/1.1"}, cfg.NextProtos, "HTTP/2 is off")
}

func TestServeRESTConfig(t *testing.T) {
	t.Run("a kubeconfig file is read and the rate limits applied", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "kubeconfig")
		require.NoError(t, os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600))
		f, err := parseServeFlags(t, "--kubeconfig="+path, "--qps=12", "--burst=34")
		require.NoError(t, err)
		cfg, err := f.restConfig()
		require.NoError(t, err)
		assert.Equal(t, "https://127.0.0.1:6443", cfg.Host)
		assert.InDelta(t, 12, cfg.QPS, 0)
		assert.Equal(t, 34, cfg.Burst)
		assert.Contains(t, cfg.UserAgent, "meshcert/")
	})
	t.Run("a negative QPS turns the client-side limit off", func(t *testing.T) {
		f, err := parseServeFlags(t, "--kubeconfig="+filepath.Join(t.TempDir(), "missing"), "--qps=-1")
		require.NoError(t, err)
		require.NoError(t, f.validate())
		assert.Negative(t, f.qps, "client-go makes no rate limiter for a negative QPS")
	})
	t.Run("a missing kubeconfig file is an error", func(t *testing.T) {
		f, err := parseServeFlags(t, "--kubeconfig="+filepath.Join(t.TempDir(), "missing"))
		require.NoError(t, err)
		_, err = f.restConfig()
		require.ErrorContains(t, err, "failed to load the Kubernetes client configuration")
	})
}

func TestServeIsACommand(t *testing.T) {
	cmd, _, err := NewRootCommand(nil, nil, nil).Find([]string{"serve"})
	require.NoError(t, err)
	assert.Equal(t, "serve", cmd.Name())
}

func schemaGVK(group, version, kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
}
