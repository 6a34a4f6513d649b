package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/webhook"
)

var chartPath = filepath.Join(repoRoot, "charts", "meshcert")

// releaseManifest is the chart rendered with its defaults, for users
// without Helm.
var releaseManifest = filepath.Join(repoRoot, "deploy", "meshcert.yaml")

// helmTemplate renders the chart as release "meshcert" in namespace
// "meshcert" with the given --set values.
func helmTemplate(t *testing.T, helm string, set ...string) ([]byte, error) {
	t.Helper()
	args := []string{"template", "meshcert", chartPath, "--namespace", "meshcert"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helmOutput(t, helm, "", args...)
	return []byte(out), err
}

// rendered is a rendered chart by "Kind/name".
type rendered map[string]*unstructured.Unstructured

func render(t *testing.T, helm string, set ...string) rendered {
	t.Helper()
	out, err := helmTemplate(t, helm, set...)
	require.NoError(t, err)
	objects := rendered{}
	for _, obj := range decodeObjects(t, out, "helm template") {
		objects[obj.GetKind()+"/"+obj.GetName()] = obj
	}
	return objects
}

func (r rendered) get(t *testing.T, key string, into any) {
	t.Helper()
	obj, ok := r[key]
	require.True(t, ok, "the chart renders %s; it has %v", key, r.keys())
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, into))
}

func (r rendered) keys() []string {
	var keys []string
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func helmBinary(t *testing.T) string {
	t.Helper()
	tools, err := framework.ToolsFromEnv()
	require.NoError(t, err)
	return tools.Helm
}

func TestChartLintsClean(t *testing.T) {
	out, err := helmOutput(t, helmBinary(t), "", "lint", "--strict", chartPath)
	require.NoError(t, err)
	assert.Contains(t, out, "0 chart(s) failed")
}

// TestChartSaysWhatTheCodeDeclares renders the chart and compares its RBAC
// and webhook configurations with the Go declarations the server and the
// e2e stack use, and checks the RBAC against least privilege.
func TestChartSaysWhatTheCodeDeclares(t *testing.T) {
	objects := render(t, helmBinary(t))

	var clusterRole rbacv1.ClusterRole
	objects.get(t, "ClusterRole/meshcert", &clusterRole)
	assert.Equal(t, cluster.PolicyRules(), clusterRole.Rules)
	var role rbacv1.Role
	objects.get(t, "Role/meshcert-leader-election", &role)
	assert.Equal(t, cluster.LeaderElectionRules(), role.Rules)
	assert.Equal(t, "meshcert", role.Namespace, "Leases only in meshcert's own namespace")
	for _, rule := range append(clusterRole.Rules, role.Rules...) {
		assert.NotContains(t, rule.Resources, "secrets", "no Secret reads")
		assert.NotContains(t, rule.Resources, "*")
		assert.NotContains(t, rule.APIGroups, "*")
		for _, verb := range []string{"*", "escalate", "bind", "impersonate"} {
			assert.NotContains(t, rule.Verbs, verb)
		}
	}
	assert.False(t, slices.ContainsFunc(clusterRole.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "leases") }),
		"no cluster-wide Leases")
	var istiodRole rbacv1.Role
	objects.get(t, "Role/meshcert-istiod", &istiodRole)
	assert.Equal(t, cluster.IstiodNamespaceRules(), istiodRole.Rules)
	assert.Equal(t, "istio-system", istiodRole.Namespace, "the cacerts check only in istiod's namespace")
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"cacerts"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"cacerts-issued"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"update"}},
	}, istiodRole.Rules, "istiod's cacerts composed from cacerts-issued, and the published roots; no list, watch, patch or delete of Secrets")
	for _, kind := range []string{"ClusterRoleBinding/meshcert", "RoleBinding/meshcert-leader-election", "RoleBinding/meshcert-istiod"} {
		obj := objects[kind]
		require.NotNil(t, obj, kind)
		subjects, _, _ := unstructured.NestedSlice(obj.Object, "subjects")
		assert.Equal(t, []any{map[string]any{"kind": "ServiceAccount", "name": "meshcert", "namespace": "meshcert"}}, subjects, kind)
	}

	mutating, validating := webhook.Configurations(webhook.InstallOptions{
		Name: "meshcert", Namespace: "meshcert",
		ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
			return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: "meshcert", Name: "meshcert", Path: &path, Port: ptrTo(int32(443)),
			}}
		},
	})
	var gotMutating admissionregistrationv1.MutatingWebhookConfiguration
	objects.get(t, "MutatingWebhookConfiguration/meshcert", &gotMutating)
	assert.Equal(t, mutating.Webhooks, gotMutating.Webhooks)
	var gotValidating admissionregistrationv1.ValidatingWebhookConfiguration
	objects.get(t, "ValidatingWebhookConfiguration/meshcert", &gotValidating)
	assert.Equal(t, validating.Webhooks, gotValidating.Webhooks)
	assert.Equal(t, "meshcert/meshcert-serving-cert", gotValidating.Annotations["cert-manager.io/inject-ca-from"], "cainjector fills the CA bundle")
}

func ptrTo[T any](v T) *T { return &v }

// TestChartValues: each value that changes the output changes it as
// documented in values.yaml.
func TestChartValues(t *testing.T) {
	helm := helmBinary(t)
	field := func(obj *unstructured.Unstructured, path ...string) any {
		v, _, _ := unstructured.NestedFieldNoCopy(obj.Object, path...)
		return v
	}
	args := func(r rendered) []any {
		containers, _, _ := unstructured.NestedSlice(r["Deployment/meshcert"].Object, "spec", "template", "spec", "containers")
		require.Len(t, containers, 1)
		return containers[0].(map[string]any)["args"].([]any)
	}
	firstWebhook := func(r rendered, kind string) map[string]any {
		hooks, _, _ := unstructured.NestedSlice(r[kind+"/meshcert"].Object, "webhooks")
		require.NotEmpty(t, hooks)
		return hooks[0].(map[string]any)
	}
	tests := []struct {
		name  string
		set   []string
		check func(t *testing.T, r rendered)
	}{
		{"the defaults run two replicas with a PDB, a self-signed serving certificate and no optional objects", nil, func(t *testing.T, r rendered) {
			assert.EqualValues(t, 2, field(r["Deployment/meshcert"], "spec", "replicas"))
			assert.Contains(t, r, "PodDisruptionBudget/meshcert")
			assert.Contains(t, r, "Issuer/meshcert-selfsigned")
			assert.Contains(t, r, "Certificate/meshcert-serving-cert")
			assert.Contains(t, r, "Service/meshcert-metrics")
			assert.NotContains(t, r, "ServiceMonitor/meshcert")
			assert.NotContains(t, r, "NetworkPolicy/meshcert")
			pod := r["Deployment/meshcert"]
			assert.Equal(t, true, field(pod, "spec", "template", "spec", "securityContext", "runAsNonRoot"))
			containers, _, _ := unstructured.NestedSlice(pod.Object, "spec", "template", "spec", "containers")
			c := containers[0].(map[string]any)
			sc := c["securityContext"].(map[string]any)
			assert.Equal(t, true, sc["readOnlyRootFilesystem"])
			assert.Equal(t, false, sc["allowPrivilegeEscalation"])
			assert.Equal(t, []any{"ALL"}, sc["capabilities"].(map[string]any)["drop"])
			assert.NotContains(t, c["resources"].(map[string]any)["limits"], "cpu", "no CPU limit by default")
			assert.Equal(t, "/readyz", field(&unstructured.Unstructured{Object: c}, "readinessProbe", "httpGet", "path"))
			assert.Equal(t, "/healthz", field(&unstructured.Unstructured{Object: c}, "livenessProbe", "httpGet", "path"))
			assert.Equal(t, "ghcr.io/meshcert/meshcert:0.1.0", c["image"], "the appVersion tag")
			spread, _, _ := unstructured.NestedSlice(pod.Object, "spec", "template", "spec", "topologySpreadConstraints")
			require.Len(t, spread, 1)
			assert.Equal(t, "kubernetes.io/hostname", spread[0].(map[string]any)["topologyKey"])
			assert.Contains(t, args(r), "--leader-election-namespace=meshcert")
			assert.Equal(t, "Ignore", firstWebhook(r, "ValidatingWebhookConfiguration")["failurePolicy"])
		}},
		{"replicaCount sets the replicas", []string{"replicaCount=3"}, func(t *testing.T, r rendered) {
			assert.EqualValues(t, 3, field(r["Deployment/meshcert"], "spec", "replicas"))
		}},
		{"validatingFailurePolicy=Fail closes the validating webhooks, never the mutating one", []string{"webhook.validatingFailurePolicy=Fail"}, func(t *testing.T, r rendered) {
			hooks, _, _ := unstructured.NestedSlice(r["ValidatingWebhookConfiguration/meshcert"].Object, "webhooks")
			for _, h := range hooks {
				assert.Equal(t, "Fail", h.(map[string]any)["failurePolicy"])
			}
			assert.Equal(t, "Ignore", firstWebhook(r, "MutatingWebhookConfiguration")["failurePolicy"])
		}},
		{"an external URL replaces the Deployment and Services", []string{"webhook.url=https://127.0.0.1:9443", "webhook.tls.certManager.ipAddresses={127.0.0.1}"}, func(t *testing.T, r rendered) {
			for _, gone := range []string{"Deployment/meshcert", "Service/meshcert", "Service/meshcert-metrics", "PodDisruptionBudget/meshcert"} {
				assert.NotContains(t, r, gone)
			}
			assert.Equal(t, map[string]any{"url": "https://127.0.0.1:9443/mutate-gateway"}, firstWebhook(r, "MutatingWebhookConfiguration")["clientConfig"])
			assert.Equal(t, []any{"127.0.0.1"}, field(r["Certificate/meshcert-serving-cert"], "spec", "ipAddresses"))
			assert.Contains(t, r, "ServiceAccount/meshcert", "meshcert runs elsewhere as the chart's ServiceAccount")
		}},
		{"a user-provided Secret replaces the Certificate and sets the CA bundle", []string{"webhook.tls.mode=secret", "webhook.tls.secret.name=my-tls", "webhook.tls.secret.caBundle=Q0E="}, func(t *testing.T, r rendered) {
			assert.NotContains(t, r, "Certificate/meshcert-serving-cert")
			assert.NotContains(t, r, "Issuer/meshcert-selfsigned")
			assert.Equal(t, "Q0E=", firstWebhook(r, "ValidatingWebhookConfiguration")["clientConfig"].(map[string]any)["caBundle"])
			assert.Nil(t, field(r["ValidatingWebhookConfiguration/meshcert"], "metadata", "annotations"), "no cainjector annotation")
			volumes, _, _ := unstructured.NestedSlice(r["Deployment/meshcert"].Object, "spec", "template", "spec", "volumes")
			assert.Equal(t, "my-tls", volumes[0].(map[string]any)["secret"].(map[string]any)["secretName"])
		}},
		{"an issuerRef replaces the self-signed Issuer", []string{"webhook.tls.certManager.issuerRef.name=ca", "webhook.tls.certManager.issuerRef.kind=ClusterIssuer"}, func(t *testing.T, r rendered) {
			assert.NotContains(t, r, "Issuer/meshcert-selfsigned")
			assert.Equal(t, map[string]any{"name": "ca", "kind": "ClusterIssuer"}, field(r["Certificate/meshcert-serving-cert"], "spec", "issuerRef"))
		}},
		{"config values become serve flags", []string{"config.enforce=true", "config.defaultIssuer.name=ca", "config.defaultIssuer.kind=ClusterIssuer", "config.logLevel=debug", "config.extraArgs={--qps=20}"}, func(t *testing.T, r rendered) {
			a := args(r)
			for _, want := range []string{"--enforce", "--default-issuer-name=ca", "--default-issuer-kind=ClusterIssuer", "--zap-log-level=debug", "--qps=20"} {
				assert.Contains(t, a, want)
			}
		}},
		{"the controller's pace becomes serve flags", []string{"config.concurrentReconciles=8", "config.maxWriteDeferral=0", "config.qps=-1"}, func(t *testing.T, r rendered) {
			a := args(r)
			for _, want := range []string{"--concurrent-reconciles=8", "--max-write-deferral=0", "--qps=-1"} {
				assert.Contains(t, a, want)
			}
		}},
		{"meshcert writes the Gateway API Certificates on request; cert-manager's gateway-shim by default", []string{"config.gatewayAPICertificates=meshcert"}, func(t *testing.T, r rendered) {
			assert.Contains(t, args(r), "--gateway-api-certificates=meshcert")
			assert.Contains(t, args(render(t, helm)), "--gateway-api-certificates=shim")
		}},
		{"by default the controller holds writes back for at most 30s", nil, func(t *testing.T, r rendered) {
			assert.Contains(t, args(r), "--max-write-deferral=30s")
			assert.Contains(t, args(r), "--concurrent-reconciles=10")
		}},
		{"a ServiceMonitor and a NetworkPolicy on request", []string{"metrics.serviceMonitor.enabled=true", "networkPolicy.enabled=true"}, func(t *testing.T, r rendered) {
			assert.Contains(t, r, "ServiceMonitor/meshcert")
			assert.Contains(t, r, "NetworkPolicy/meshcert")
		}},
		{"istiodNamespace moves the cacerts Role; empty leaves it out", []string{"istiodNamespace=mesh-system", "config.clusterResourceNamespace=cm"}, func(t *testing.T, r rendered) {
			assert.Equal(t, "mesh-system", r["Role/meshcert-istiod"].GetNamespace())
			assert.Contains(t, args(r), "--cluster-resource-namespace=cm")
		}},
		{"an empty istiodNamespace renders no Role in istiod's namespace", []string{"istiodNamespace="}, func(t *testing.T, r rendered) {
			assert.NotContains(t, r, "Role/meshcert-istiod")
			assert.NotContains(t, r, "RoleBinding/meshcert-istiod")
		}},
		{"the PDB can be turned off", []string{"podDisruptionBudget.enabled=false"}, func(t *testing.T, r rendered) {
			assert.NotContains(t, r, "PodDisruptionBudget/meshcert")
		}},
		{"a single replica gets no PDB, which would block every drain", []string{"replicaCount=1"}, func(t *testing.T, r rendered) {
			assert.NotContains(t, r, "PodDisruptionBudget/meshcert")
			assert.Contains(t, r, "Deployment/meshcert")
		}},
		{"a digest pins the image", []string{"image.digest=sha256:" + strings.Repeat("a", 64)}, func(t *testing.T, r rendered) {
			containers, _, _ := unstructured.NestedSlice(r["Deployment/meshcert"].Object, "spec", "template", "spec", "containers")
			assert.Equal(t, "ghcr.io/meshcert/meshcert@sha256:"+strings.Repeat("a", 64), containers[0].(map[string]any)["image"])
		}},
		{"fullnameOverride renames everything, the webhook Service reference included", []string{"fullnameOverride=mc"}, func(t *testing.T, r rendered) {
			assert.Contains(t, r, "Deployment/mc")
			hooks, _, _ := unstructured.NestedSlice(r["MutatingWebhookConfiguration/mc"].Object, "webhooks")
			require.NotEmpty(t, hooks)
			assert.Equal(t, "mc", hooks[0].(map[string]any)["clientConfig"].(map[string]any)["service"].(map[string]any)["name"])
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, render(t, helm, tc.set...))
		})
	}
}

func TestChartSchemaRejectsWhatIsNotAValue(t *testing.T) {
	helm := helmBinary(t)
	for _, tc := range []struct{ set, want string }{
		{"replicaCont=3", "additional properties 'replicaCont' not allowed"},
		{"webhook.validatingFailurePolicy=Sometimes", "webhook/validatingFailurePolicy"},
		{"webhook.tls.mode=vault", "webhook/tls/mode"},
		{"webhook.url=https://meshcert.example/webhooks", "webhook/url"},
		{"config.defaultIssuer.kind=Vault", "config/defaultIssuer/kind"},
		{"webhook.port=70000", "webhook/port"},
		{"config.qps=0", "config/qps"},
		{"config.maxWriteDeferral=soon", "config/maxWriteDeferral"},
		{"config.concurrentReconciles=0", "config/concurrentReconciles"},
	} {
		_, err := helmTemplate(t, helm, tc.set)
		require.Error(t, err, tc.set)
		assert.Contains(t, err.Error(), tc.want, tc.set)
	}
	_, err := helmTemplate(t, helm, "webhook.tls.mode=secret")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is required when webhook.tls.mode is secret", "a mode without its settings says what is missing")
}

// TestReleaseManifestIsTheRenderedChart: deploy/meshcert.yaml is the chart
// rendered with its defaults into namespace meshcert (UPDATE_GOLDEN=1
// rewrites it).
func TestReleaseManifestIsTheRenderedChart(t *testing.T) {
	out, err := helmTemplate(t, helmBinary(t))
	require.NoError(t, err)
	want := "# meshcert's release manifest: charts/meshcert rendered with its defaults into namespace\n" +
		"# meshcert (make golden). Install: kubectl create namespace meshcert && kubectl apply -f meshcert.yaml\n" + string(out)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(releaseManifest, []byte(want), 0o644))
	}
	got, err := os.ReadFile(releaseManifest)
	require.NoError(t, err)
	assert.Equal(t, want, string(got), "deploy/meshcert.yaml is stale: run make golden")
}

// TestChartAndReleaseManifestAreValidObjects applies the rendered chart
// (every optional object on, except the ServiceMonitor, whose CRD is
// Prometheus Operator's) and the release manifest with a server-side dry
// run on the real API server, cert-manager's CRDs installed.
func TestChartAndReleaseManifestAreValidObjects(t *testing.T) {
	cp := framework.Start(t, framework.WithoutCertManager(), framework.WithoutControllerManager())
	helm := helmBinary(t)
	_, stderr, err := kubectlRun(t, cp, "", "create", "namespace", "meshcert")
	require.NoError(t, err, stderr)
	for _, tc := range []struct {
		name string
		set  []string
	}{
		{"defaults", nil},
		{"everything optional", []string{"networkPolicy.enabled=true", "webhook.validatingFailurePolicy=Fail", "config.defaultIssuer.name=ca"}},
		{"external URL", []string{"webhook.url=https://127.0.0.1:9443", "webhook.tls.certManager.ipAddresses={127.0.0.1}"}},
		{"own Secret", []string{"webhook.tls.mode=secret", "webhook.tls.secret.name=my-tls", "webhook.tls.secret.caBundle=Q0E="}},
	} {
		out, err := helmTemplate(t, helm, tc.set...)
		require.NoError(t, err, tc.name)
		stdout, stderr, err := kubectlRun(t, cp, string(out), "apply", "--dry-run=server", "-f", "-")
		require.NoError(t, err, "%s: %s", tc.name, stderr)
		assert.Contains(t, stdout, "created (server dry run)", tc.name)
	}
	stdout, stderr, err := kubectlRun(t, cp, "", "apply", "--dry-run=server", "-f", releaseManifest)
	require.NoError(t, err, stderr)
	assert.Equal(t, strings.Count(stdout, "created (server dry run)"), strings.Count(readFile(t, "deploy/meshcert.yaml"), "\nkind: "), "every object of the release manifest: %s", stdout)
}

// TestChartValuesOfTheCertManagerFamily renders the values cert-manager's
// charts share: a registry before the repository, labels on everything,
// objects of the user's, and Linux nodes by default.
func TestChartValuesOfTheCertManagerFamily(t *testing.T) {
	helm := helmBinary(t)

	objects := render(t, helm)
	var deployment appsv1.Deployment
	objects.get(t, "Deployment/meshcert", &deployment)
	assert.Equal(t, map[string]string{"kubernetes.io/os": "linux"}, deployment.Spec.Template.Spec.NodeSelector, "the image is built for Linux only")
	assert.Equal(t, "ghcr.io/meshcert/meshcert:"+chartAppVersion(t), deployment.Spec.Template.Spec.Containers[0].Image)

	objects = render(t, helm, "image.registry=mirror.example.com/", "commonLabels.team=platform", "nodeSelector=null",
		`extraObjects[0]=apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-extra
  namespace: {{ .Release.Namespace }}`,
		"extraObjects[1].apiVersion=v1", "extraObjects[1].kind=Secret", "extraObjects[1].metadata.name=as-an-object")
	objects.get(t, "Deployment/meshcert", &deployment)
	assert.Equal(t, "mirror.example.com/ghcr.io/meshcert/meshcert:"+chartAppVersion(t), deployment.Spec.Template.Spec.Containers[0].Image)
	assert.Empty(t, deployment.Spec.Template.Spec.NodeSelector, "nodeSelector=null lifts the default")
	assert.Equal(t, "platform", deployment.Spec.Template.Labels["team"], "Pods carry the common labels")
	for key, obj := range objects {
		if key == "ConfigMap/meshcert-extra" || key == "Secret/as-an-object" {
			continue
		}
		assert.Equal(t, "platform", obj.GetLabels()["team"], "%s carries the common labels", key)
	}
	extra, ok := objects["ConfigMap/meshcert-extra"]
	require.True(t, ok, "a string is rendered with tpl: %v", objects.keys())
	assert.Equal(t, "meshcert", extra.GetNamespace())
	assert.Contains(t, objects, "Secret/as-an-object", "an object is rendered as it is")

	_, err := helmTemplate(t, helm, "commonLabels.count=1")
	require.ErrorContains(t, err, "commonLabels", "a label value is a string")
	_, err = helmTemplate(t, helm, "commonLabels.app\\.kubernetes\\.io/instance=other")
	require.ErrorContains(t, err, "commonLabels", "the chart's own labels select its objects: not to be overridden")
	objects = render(t, helm, "dashboard.enabled=true", "dashboard.labels=null")
	assert.Contains(t, objects, "ConfigMap/meshcert-dashboard", "a dashboard without extra labels still renders")
	_, err = helmTemplate(t, helm, "extraObjects[0]=1")
	require.ErrorContains(t, err, "extraObjects", "the schema refuses what is neither a string nor an object")
}

// chartAppVersion is the appVersion of Chart.yaml, the default image tag.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(readFile(t, "charts/meshcert/Chart.yaml")), &chart))
	require.NotEmpty(t, chart.AppVersion)
	return chart.AppVersion
}
