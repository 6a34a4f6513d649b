package istiooperator

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/finding"
)

// The two IstioOperator manifests of /work/shared/seed, as written there.
const (
	seedIstioOperatorCA = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    caCertificates:
    - certs:
      - certs.istio-system.svc.cluster.local # Example, may need adjustment
      - istiod.istio-system.svc.cluster.local # Example, may need adjustment
      name: cacerts # Name of the secret containing the CA bundle
`
	seedIstioOperatorGateway = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  components:
    ingressGateways:
    - name: istio-ingressgateway
      enabled: true
      k8s:
        env:
        - name: PILOT_CERT_PROVIDER
          value: "istiod" # Or the appropriate value for your Istio version
`
)

// codeField is the part of a finding the tables pin exactly; messages are
// checked by substring so wording can improve without churn.
type codeField struct {
	code  finding.Code
	field string
}

func decodeIstioOperator(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
	return &unstructured.Unstructured{Object: obj}
}

// istioOperatorWithSpec wraps a spec written as YAML into an IstioOperator.
func istioOperatorWithSpec(t testing.TB, spec string) *unstructured.Unstructured {
	t.Helper()
	var s any
	require.NoError(t, yaml.Unmarshal([]byte(spec), &s))
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "install.istio.io/v1alpha1",
		"kind":       "IstioOperator",
		"metadata":   map[string]any{"name": "control-plane", "namespace": "istio-system"},
		"spec":       s,
	}}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		obj  *unstructured.Unstructured
		want []codeField
		// messages holds, per finding in order, substrings its message must contain.
		messages [][]string
	}{
		{
			name: "the seed CA file's caCertificates keys certs and name are each an error with their path",
			obj:  decodeIstioOperator(t, seedIstioOperatorCA),
			want: []codeField{
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.caCertificates[0].certs"},
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.caCertificates[0].name"},
			},
			messages: [][]string{
				{`"certs"`, `"pem"`, `"spiffeBundleUrl"`, `"certSigners"`, `"trustDomains"`, `"cacerts" Secret`, "isCA: true", "secretName: cacerts"},
				{`"name"`, `"pem"`, `"cacerts" Secret`},
			},
		},
		{
			name: "the seed gateway file's PILOT_CERT_PROVIDER on the ingress gateway is an error on the env entry",
			obj:  decodeIstioOperator(t, seedIstioOperatorGateway),
			want: []codeField{
				{finding.CodePilotCertProviderOnGateway, "spec.components.ingressGateways[0].k8s.env[0]"},
			},
			messages: [][]string{
				{"PILOT_CERT_PROVIDER", `"istio-ingressgateway"`, "istiod setting", "values.global.pilotCertProvider"},
			},
		},
		{
			name: "a valid meshConfig with caCertificates, proxyMetadata, trust domain, auto mTLS and durations gives no findings",
			obj: istioOperatorWithSpec(t, `
meshConfig:
  trustDomain: cluster.local
  trustDomainAliases: [old.example.com]
  enableAutoMtls: true
  protocolDetectionTimeout: 100ms
  connectTimeout: 1m30s
  outboundTrafficPolicy:
    mode: REGISTRY_ONLY
  accessLogEncoding: JSON
  caCertificates:
  - pem: |
      -----BEGIN CERTIFICATE-----
      MIIB
      -----END CERTIFICATE-----
    certSigners: [clusterissuers.cert-manager.io/istio-ca]
    trustDomains: [cluster-b.example.com]
  - spiffeBundleUrl: https://bundle.example.com/bundle
  defaultConfig:
    drainDuration: 45s
    terminationDrainDuration: 5s
    holdApplicationUntilProxyStarts: true
    concurrency: 2
    proxyMetadata:
      ISTIO_META_DNS_CAPTURE: "true"
  extensionProviders:
  - name: ext-authz
    envoyExtAuthzGrpc:
      service: authz.example.svc.cluster.local
      port: 9000
values:
  global:
    pilotCertProvider: istiod
components:
  pilot:
    k8s:
      env:
      - name: PILOT_CERT_PROVIDER
        value: istiod
  ingressGateways:
  - name: istio-ingressgateway
    enabled: true
    k8s:
      env:
      - name: ISTIO_META_ROUTER_MODE
        value: standard
`),
		},
		{
			name: "snake_case proto field names are accepted as protojson accepts them",
			obj: istioOperatorWithSpec(t, `
meshConfig:
  enable_auto_mtls: true
  ca_certificates:
  - spiffe_bundle_url: https://bundle.example.com/bundle
    trust_domains: [cluster-b.example.com]
  defaultConfig:
    drain_duration: 45s
    proxy_metadata: {FOO: bar}
`),
		},
		{
			name: "an unknown key nested under defaultConfig is reported with its full path",
			obj: istioOperatorWithSpec(t, `
meshConfig:
  defaultConfig:
    tracing:
      zipkin:
        addr: zipkin.istio-system:9411
    proxyMetadat: {FOO: bar}
`),
			want: []codeField{
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.defaultConfig.proxyMetadat"},
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.defaultConfig.tracing.zipkin.addr"},
			},
			messages: [][]string{
				{`"proxyMetadat"`, `did you mean "proxyMetadata"?`},
				{`"addr"`, "valid fields are address"},
			},
		},
		{
			name: "values of the wrong type are errors on the value's path",
			obj: istioOperatorWithSpec(t, `
meshConfig:
  caCertificates:
    pem: not-a-list
  trustDomainAliases: old.example.com
  enableAutoMtls: "yes"
  trustDomain: 42
  defaultConfig:
    concurrency: 2.5
    proxyMetadata: [FOO]
  outboundTrafficPolicy: [REGISTRY_ONLY]
`),
			want: []codeField{
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.caCertificates"},
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.defaultConfig.concurrency"},
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.defaultConfig.proxyMetadata"},
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.enableAutoMtls"},
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.outboundTrafficPolicy"},
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.trustDomain"},
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.trustDomainAliases"},
			},
			messages: [][]string{
				{"must be a list, not a map"},
				{"must be an integer, not the number 2.5"},
				{"must be a map, not a list"},
				{`must be true or false (unquoted), not the string "yes"`},
				{"must be a map, not a list"},
				{"must be a string (quote it), not the number 42"},
				{`must be a list, not the string "old.example.com"`},
			},
		},
		{
			name: "an invalid enum value is an error listing the valid values",
			obj: istioOperatorWithSpec(t, `
meshConfig:
  outboundTrafficPolicy:
    mode: ALLOW_ALL
`),
			want: []codeField{{finding.CodeInvalidMeshConfig, "spec.meshConfig.outboundTrafficPolicy.mode"}},
			messages: [][]string{
				{`"ALLOW_ALL"`, "REGISTRY_ONLY", "ALLOW_ANY"},
			},
		},
		{
			name: "a duration Go cannot parse is an error, and a number where a duration is expected too",
			obj: istioOperatorWithSpec(t, `
meshConfig:
  connectTimeout: 10 seconds
  defaultConfig:
    drainDuration: 45
`),
			want: []codeField{
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.connectTimeout"},
				{finding.CodeInvalidMeshConfig, "spec.meshConfig.defaultConfig.drainDuration"},
			},
			messages: [][]string{{`"10 seconds" is not a duration`}, {"duration string"}},
		},
		{
			name: "wrapper types take the plain scalar and reject other types",
			obj: istioOperatorWithSpec(t, `
meshConfig:
  enablePrometheusMerge: false
  defaultConfig:
    holdApplicationUntilProxyStarts: {value: true}
`),
			want: []codeField{{finding.CodeInvalidMeshConfig, "spec.meshConfig.defaultConfig.holdApplicationUntilProxyStarts"}},
		},
		{
			name: "null values are unset, as Istio reads them",
			obj: istioOperatorWithSpec(t, `
meshConfig:
  trustDomain: null
  caCertificates: null
  defaultConfig:
    proxyMetadata: {FOO: null}
`),
		},
		{
			name: "PILOT_CERT_PROVIDER on an egress gateway is an error on the env entry",
			obj: istioOperatorWithSpec(t, `
components:
  egressGateways:
  - name: istio-egressgateway
    k8s:
      env:
      - name: ISTIO_META_ROUTER_MODE
        value: standard
      - name: PILOT_CERT_PROVIDER
        value: istiod
`),
			want:     []codeField{{finding.CodePilotCertProviderOnGateway, "spec.components.egressGateways[0].k8s.env[1]"}},
			messages: [][]string{{"egress gateway", `"istio-egressgateway"`}},
		},
		{
			name: "PILOT_CERT_PROVIDER on the second ingress gateway is reported on that gateway only",
			obj: istioOperatorWithSpec(t, `
components:
  ingressGateways:
  - name: a
  - name: b
    k8s:
      env:
      - name: PILOT_CERT_PROVIDER
        valueFrom: {configMapKeyRef: {name: x, key: y}}
`),
			want: []codeField{{finding.CodePilotCertProviderOnGateway, "spec.components.ingressGateways[1].k8s.env[0]"}},
		},
		{
			name: "every pilotCertProvider istiod implements is valid",
			obj: istioOperatorWithSpec(t, `
values:
  global:
    pilotCertProvider: k8s.io/clusterissuers.cert-manager.io/istio-ca
components:
  pilot:
    k8s:
      env:
      - name: PILOT_CERT_PROVIDER
        value: custom
      - name: PILOT_CERT_PROVIDER
        value: none
      - name: PILOT_CERT_PROVIDER
        valueFrom: {configMapKeyRef: {name: x, key: y}}
`),
		},
		{
			name: "an invalid pilotCertProvider in values and in istiod's env is an error listing the valid values",
			obj: istioOperatorWithSpec(t, `
values:
  global:
    pilotCertProvider: cert-manager
components:
  pilot:
    k8s:
      env:
      - name: PILOT_CERT_PROVIDER
        value: Istiod
`),
			want: []codeField{
				{finding.CodeInvalidPilotCertProvider, "spec.components.pilot.k8s.env[0].value"},
				{finding.CodeInvalidPilotCertProvider, "spec.values.global.pilotCertProvider"},
			},
			messages: [][]string{
				{`"Istiod"`, `"istiod"`, `"custom"`, `"none"`, `"k8s.io/<signer-name>"`},
				{`"cert-manager"`, `"istiod"`, `"custom"`, `"none"`, `"k8s.io/<signer-name>"`},
			},
		},
		{
			name: "the removed kubernetes provider, an empty signer and a non-string value are invalid",
			obj: istioOperatorWithSpec(t, `
values:
  global:
    pilotCertProvider: kubernetes
components:
  pilot:
    k8s:
      env:
      - name: PILOT_CERT_PROVIDER
        value: k8s.io/
      - name: PILOT_CERT_PROVIDER
        value: 1
`),
			want: []codeField{
				{finding.CodeInvalidPilotCertProvider, "spec.components.pilot.k8s.env[0].value"},
				{finding.CodeInvalidPilotCertProvider, "spec.components.pilot.k8s.env[1].value"},
				{finding.CodeInvalidPilotCertProvider, "spec.values.global.pilotCertProvider"},
			},
			messages: [][]string{{"names no signer"}, {"must be a string"}, {"no longer supported"}},
		},
		{
			name: "a spec that is not a map is an error on spec",
			obj:  istioOperatorWithSpec(t, `[meshConfig]`),
			want: []codeField{{finding.CodeInvalidMeshConfig, "spec"}},
		},
		{
			name: "a meshConfig that is not a map is an error on meshConfig",
			obj:  istioOperatorWithSpec(t, `meshConfig: trustDomain=cluster.local`),
			want: []codeField{{finding.CodeInvalidMeshConfig, "spec.meshConfig"}},
		},
		{
			name: "malformed components and values are skipped without panicking",
			obj: istioOperatorWithSpec(t, `
components:
  ingressGateways: {name: x}
  egressGateways: [1, [2], {k8s: [3]}, {k8s: {env: {name: PILOT_CERT_PROVIDER}}}, {k8s: {env: [null, 4, {name: 5}]}}]
  pilot: [x]
values:
  global: [pilotCertProvider]
`),
		},
		{
			name: "an IstioOperator without spec gives no findings",
			obj: &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
			}},
		},
		{
			name: "an object that is not an IstioOperator is ignored",
			obj: &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
				"spec": map[string]any{"meshConfig": "not checked"},
			}},
		},
		{
			name: "an IstioOperator of another API version is ignored",
			obj: &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "install.istio.io/v1beta1", "kind": "IstioOperator",
				"spec": "not checked",
			}},
		},
		{
			name: "a nil object is ignored",
			obj:  nil,
		},
		{
			name: "an empty object is ignored",
			obj:  &unstructured.Unstructured{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.obj)
			gotCodeFields := make([]codeField, 0, len(got))
			for _, f := range got {
				gotCodeFields = append(gotCodeFields, codeField{f.Code, f.Field})
				require.Equal(t, finding.SeverityError, f.Severity)
				require.Equal(t, "install.istio.io/v1alpha1", f.Object.APIVersion)
				require.Equal(t, "IstioOperator", f.Object.Kind)
				require.NotEmpty(t, f.Message)
			}
			if len(tt.want) == 0 {
				require.Empty(t, got)
			} else {
				require.Equal(t, tt.want, gotCodeFields)
			}
			for i, subs := range tt.messages {
				for _, s := range subs {
					require.Contains(t, got[i].Message, s)
				}
			}
		})
	}
}

func TestCheckIstioOperatorObjectRef(t *testing.T) {
	t.Run("the seed files have no metadata, so the finding's name stays empty", func(t *testing.T) {
		got := Check(decodeIstioOperator(t, seedIstioOperatorGateway))
		require.Len(t, got, 1)
		require.Equal(t, finding.ObjectRef{APIVersion: "install.istio.io/v1alpha1", Kind: "IstioOperator"}, got[0].Object)
	})
	t.Run("metadata name and namespace are carried into the finding", func(t *testing.T) {
		got := Check(istioOperatorWithSpec(t, `values: {global: {pilotCertProvider: bogus}}`))
		require.Len(t, got, 1)
		require.Equal(t, finding.ObjectRef{
			APIVersion: "install.istio.io/v1alpha1", Kind: "IstioOperator",
			Namespace: "istio-system", Name: "control-plane",
		}, got[0].Object)
	})
}

func TestCheckIstioOperatorUnstructuredNumbers(t *testing.T) {
	// Objects decoded by the API machinery hold int64, not float64.
	obj := istioOperatorWithSpec(t, `{}`)
	obj.Object["spec"] = map[string]any{"meshConfig": map[string]any{
		"defaultConfig":         map[string]any{"concurrency": int64(4)},
		"proxyListenPort":       int64(15001),
		"outboundTrafficPolicy": map[string]any{"mode": int64(1)},
	}}
	require.Empty(t, Check(obj))

	obj.Object["spec"] = map[string]any{"meshConfig": map[string]any{
		"proxyListenPort": int64(1) << 40,
	}}
	got := Check(obj)
	require.Len(t, got, 1)
	require.Equal(t, "spec.meshConfig.proxyListenPort", got[0].Field)
	require.Contains(t, got[0].Message, "out of range")
}

func BenchmarkCheck(b *testing.B) {
	obj := decodeIstioOperator(b, seedIstioOperatorCA)
	b.ReportAllocs()
	for b.Loop() {
		if fs := Check(obj); len(fs) != 2 {
			b.Fatalf("got %d findings, want 2", len(fs))
		}
	}
}

// Istio's decoder (jsonpb) takes a field written under both its names, and
// several members of a oneof, without an error; meshcert warns and names
// what Istio keeps (e2e: TestMeshConfigAgreesWithIstiod).
func TestCheckWarnsOfWhatIstioDropsSilently(t *testing.T) {
	tests := []struct {
		name, spec, field, kept string
	}{
		{
			name: "both alternatives of a caCertificates entry: istiod keeps spiffeBundleUrl, declared after pem",
			spec: `
meshConfig:
  caCertificates:
  - pem: x
    spiffeBundleUrl: https://bundle.example.com/bundle
`,
			field: "spec.meshConfig.caCertificates[0].spiffeBundleUrl", kept: `Istio keeps "spiffeBundleUrl" and ignores "pem"`,
		},
		{
			name: "two tracers: Istio keeps the one declared last, whatever the order written",
			spec: `
meshConfig:
  defaultConfig:
    tracing:
      datadog: {address: "d:8126"}
      zipkin: {address: "z:9411"}
`,
			field: "spec.meshConfig.defaultConfig.tracing.datadog", kept: `Istio keeps "datadog" and ignores "zipkin"`,
		},
		{
			name: "three tracers name both that are ignored",
			spec: `
meshConfig:
  defaultConfig:
    tracing:
      stackdriver: {}
      zipkin: {address: "z:9411"}
      lightstep: {address: "l:8080"}
`,
			field: "spec.meshConfig.defaultConfig.tracing.stackdriver", kept: `Istio keeps "stackdriver" and ignores "zipkin" and "lightstep"`,
		},
		{
			name: "trust_domain alone is never read, since istioctl's chart writes trustDomain",
			spec: `
meshConfig:
  trust_domain: b.example.com
`,
			field: "spec.meshConfig.trust_domain", kept: `Istio ignores the value written under it: istioctl's chart writes trustDomain itself`,
		},
		{
			name: "default_config is never read, and the tracers in it are not said to be kept",
			spec: `
meshConfig:
  default_config:
    tracing:
      datadog: {address: "d:8126"}
      zipkin: {address: "z:9411"}
`,
			field: "spec.meshConfig.default_config", kept: `istiod reads defaultConfig only under its JSON name; write "defaultConfig"`,
		},
		{
			name: "a field under both its JSON and its proto name: the JSON name wins",
			spec: `
meshConfig:
  trustDomain: a.example.com
  trust_domain: b.example.com
`,
			field: "spec.meshConfig.trust_domain", kept: `Istio reads "trustDomain" and ignores "trust_domain"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(istioOperatorWithSpec(t, tt.spec))
			require.Len(t, got, 1, "%v", got)
			assert.Equal(t, finding.SeverityWarning, got[0].Severity)
			assert.Equal(t, finding.CodeMeshConfigSetTwice, got[0].Code)
			assert.Equal(t, tt.field, got[0].Field)
			assert.Contains(t, got[0].Message, tt.kept)
		})
	}
}

// istiod refuses the whole mesh config when trustDomain or an alias is not
// a dot-separated list of DNS labels (agent.ValidateTrustDomain).
func TestCheckTrustDomains(t *testing.T) {
	tests := []struct {
		name, spec string
		want       []string
	}{
		{name: "a DNS name is a trust domain", spec: "meshConfig: {trustDomain: cluster.local, trustDomainAliases: [old.example.com, x]}"},
		{name: "a trailing dot is allowed", spec: "meshConfig: {trustDomain: istio.io.}"},
		{name: "an underscore is not", spec: "meshConfig: {trustDomain: bad_domain}", want: []string{"spec.meshConfig.trustDomain"}},
		{name: "upper case is, as Istio reads labels", spec: "meshConfig: {trustDomain: Cluster.Local}"},
		{name: "an empty trust domain is refused", spec: `meshConfig: {trustDomain: ""}`, want: []string{"spec.meshConfig.trustDomain"}},
		{name: "null is unset, so the default stands", spec: "meshConfig: {trustDomain: null}"},
		{name: "an empty label in the middle is refused", spec: "meshConfig: {trustDomain: a..b}", want: []string{"spec.meshConfig.trustDomain"}},
		{name: "a label over 63 characters is refused", spec: "meshConfig: {trustDomain: " + strings.Repeat("a", 64) + ".example}", want: []string{"spec.meshConfig.trustDomain"}},
		{name: "each bad alias is named by its index", spec: `meshConfig: {trustDomainAliases: [ok.example, "also bad", "", "-x"]}`,
			want: []string{"spec.meshConfig.trustDomainAliases[1]", "spec.meshConfig.trustDomainAliases[2]", "spec.meshConfig.trustDomainAliases[3]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range Check(istioOperatorWithSpec(t, tt.spec)) {
				assert.Equal(t, finding.CodeInvalidMeshConfig, f.Code)
				assert.Equal(t, finding.SeverityError, f.Severity)
				assert.Contains(t, f.Message, "Istio refuses the mesh config")
				got = append(got, f.Field)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
