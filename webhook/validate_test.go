package webhook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/istiooperator"
)

const findingsExamples = "../testdata/findings"

// validatorFor returns the validating handler for obj's kind.
func validatorFor(t *testing.T, obj *unstructured.Unstructured, lookup certs.Lookup, cfg Config, m *Metrics) admission.Handler {
	t.Helper()
	gvk := obj.GroupVersionKind()
	switch {
	case certs.IsGateway(gvk):
		return NewGatewayValidator(lookup, cfg, m)
	case gvk.Group == certs.CertManagerGroup && gvk.Kind == cmapi.CertificateKind:
		return NewCertificateValidator(lookup, cfg, m)
	case istiooperator.Is(gvk):
		return NewIstioOperatorValidator(lookup, cfg, m)
	case gatewayapi.Is(gvk):
		return NewGatewayAPIValidator(lookup, cfg, m)
	default:
		return nil
	}
}

// expected is what the planner itself says about obj.
func expected(t *testing.T, obj *unstructured.Unstructured, lookup certs.Lookup, opts certs.Options) finding.Findings {
	t.Helper()
	gvk := obj.GroupVersionKind()
	switch {
	case certs.IsGateway(gvk):
		return certs.PlanGateway(t.Context(), certs.ParseGateway(obj), lookup, opts).Findings
	case istiooperator.Is(gvk):
		return istiooperator.PlanIstioOperator(t.Context(), obj, lookup, opts).Findings
	case gatewayapi.Is(gvk):
		o, err := gatewayapi.Parse(obj)
		require.NoError(t, err)
		return gatewayapi.Plan(t.Context(), o, lookup, opts, gatewayapi.DefaultShimOptions()).Findings
	default:
		crt := &cmapi.Certificate{}
		require.NoError(t, fromUnstructured(obj, crt))
		return certs.CheckCertificate(t.Context(), crt, lookup, opts)
	}
}

// TestEveryFindingExample runs every example under testdata/findings
// through the validating webhooks, with and without enforcement: every
// error is in the denial, every warning comes back short, infos do not come
// back, and the example's own code is found (MC2006 is an info).
func TestEveryFindingExample(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join(findingsExamples, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, examples)
	for _, enforce := range []bool{false, true} {
		for _, example := range examples {
			code := strings.TrimSuffix(filepath.Base(example), ".yaml")
			if info, ok := finding.Info(finding.Code(code)); ok && info.Offline {
				// About the CLI's input files; a webhook sees one object.
				continue
			}
			name := code
			if enforce {
				name += " enforced"
			}
			t.Run(name, func(t *testing.T) {
				data, err := os.ReadFile(example)
				require.NoError(t, err)
				objs := objects(t, string(data))
				lookup := index(t, objs...)
				cfg := Config{Options: certs.DefaultOptions(), Enforce: enforce}
				opts := cfg.Options
				opts.Strict = enforce
				reported := false
				for _, obj := range objs {
					h := validatorFor(t, obj, lookup, cfg, nil)
					if h == nil {
						continue
					}
					resp := handle(h, request(t, obj))
					want := expected(t, obj, lookup, opts)
					assert.Equal(t, !want.HasErrors(), resp.Allowed, "%s", resp.Result.Message)
					var warnings int
					for _, f := range want {
						switch f.Severity {
						case finding.SeverityError:
							assert.Contains(t, resp.Result.Message, denialLine(f))
						case finding.SeverityWarning:
							warnings++
							assert.Contains(t, resp.Warnings, ShortWarning(f))
						default:
							for _, w := range resp.Warnings {
								assert.NotContains(t, w, string(f.Code)+" "+f.Field, "infos are not returned")
							}
						}
						// Errors and warnings were checked to come back above.
						reported = reported || f.Code == finding.Code(code)
					}
					assert.Len(t, resp.Warnings, warnings)
					for _, w := range resp.Warnings {
						assert.Less(t, utf8.RuneCountInString(w), 120, "warning too long: %q", w)
					}
				}
				assert.True(t, reported, "%s is not reported by the validating webhooks", code)
			})
		}
	}
}

func fromUnstructured(obj *unstructured.Unstructured, into any) error {
	return runtimeConverter.FromUnstructured(obj.Object, into)
}

const mutualGateway = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: [web.example.com]
    tls: {mode: ISTIO_MUTUAL, credentialName: web-tls}
  - port: {number: 8443, name: tls-b, protocol: TLS}
    hosts: [api.example.com]
    tls: {mode: NOT_A_MODE}
`

const missingIssuerCertificate = `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: team-a}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: missing, kind: ClusterIssuer, group: cert-manager.io}
`

// missingIssuerGateway is a managed Gateway in team-a whose ClusterIssuer
// is not in the cluster.
const missingIssuerGateway = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
  namespace: team-a
  annotations: {cert-manager.io/cluster-issuer: missing}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE}
`

// teamAPolicy is the policy a cluster admin gives team-a in these tests:
// names under example.com from any ClusterIssuer.
const teamAPolicy = `annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: "ClusterIssuer/*"}`

func TestValidators(t *testing.T) {
	tenant := `
apiVersion: v1
kind: Namespace
metadata: {name: team-a, ` + teamAPolicy + `}
`
	enforcedNamespace := `
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {meshcert.io/enforce: "true"}, ` + teamAPolicy + `}
`
	otherLabel := `
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {meshcert.io/enforce: "yes"}, ` + teamAPolicy + `}
`
	tests := []struct {
		name         string
		object       string
		cluster      string
		enforce      bool
		opts         []requestOption
		wantAllowed  bool
		wantDenial   []string
		wantWarnings []string
	}{
		{
			name:        "a Gateway with errors is denied with every error's field, message and code",
			object:      mutualGateway,
			wantAllowed: false,
			wantDenial: []string{
				`spec.servers[0].tls.credentialName: ISTIO_MUTUAL uses the mesh's own workload certificates and Istio rejects a credentialName with it; remove the credential or use MUTUAL (MC2002)`,
				`spec.servers[1].tls.mode: "NOT_A_MODE" is not an Istio TLS mode; use SIMPLE, MUTUAL, OPTIONAL_MUTUAL, PASSTHROUGH, AUTO_PASSTHROUGH or ISTIO_MUTUAL (MC2007)`,
			},
		},
		{
			name:         "a Certificate whose issuer is not found is allowed with a warning",
			object:       missingIssuerCertificate,
			wantAllowed:  true,
			wantWarnings: []string{"MC5002 spec.issuerRef: "},
		},
		{
			name:        "the --enforce flag turns the missing issuer into a denial",
			object:      missingIssuerCertificate,
			enforce:     true,
			wantAllowed: false,
			wantDenial:  []string{"spec.issuerRef: ", "(MC5002)"},
		},
		{
			name:        "the namespace label meshcert.io/enforce=true turns the missing issuer into a denial",
			object:      missingIssuerCertificate,
			cluster:     enforcedNamespace,
			wantAllowed: false,
			wantDenial:  []string{"spec.issuerRef: ", "(MC5002)"},
		},
		{
			name:         "a Gateway whose issuer is not found is allowed with a warning",
			object:       missingIssuerGateway,
			cluster:      tenant,
			wantAllowed:  true,
			wantWarnings: []string{`MC5002 cert-manager.io/cluster-issuer: ClusterIssuer "missing" not found in this cluster`},
		},
		{
			name:        "the namespace label meshcert.io/enforce=true turns a Gateway's missing issuer into a denial",
			object:      missingIssuerGateway,
			cluster:     enforcedNamespace,
			wantAllowed: false,
			wantDenial:  []string{`metadata.annotations[cert-manager.io/cluster-issuer]: ClusterIssuer "missing" not found in this cluster`, "(MC5002)"},
		},
		{
			name:         "another value of meshcert.io/enforce does not enforce",
			object:       missingIssuerCertificate,
			cluster:      otherLabel,
			wantAllowed:  true,
			wantWarnings: []string{"MC5002 spec.issuerRef: "},
		},
		{
			name: "a Certificate with a mistyped field is denied with its path",
			object: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: team-a}
spec:
  secretName: web-tls
  dnsName: [web.example.com]
  issuerRef: {name: ca, kind: ClusterIssuer}
`,
			cluster:     clusterIssuerCA,
			wantAllowed: false,
			wantDenial:  []string{`spec.dnsName: unknown field "dnsName" in a cert-manager.io/v1 Certificate`, "(MC2014)"},
		},
		{
			name:         "a dry-run request is answered like a real one",
			object:       missingIssuerCertificate,
			opts:         []requestOption{dryRun()},
			wantAllowed:  true,
			wantWarnings: []string{"MC5002 spec.issuerRef: "},
		},
		{
			name:        "a Certificate whose issuer exists and is ready is allowed silently",
			object:      strings.Replace(missingIssuerCertificate, "missing", "ca", 1),
			cluster:     clusterIssuerCA,
			wantAllowed: true,
		},
		{
			name:        "a Gateway outside its namespace's policy is denied, naming the namespace and its annotation",
			object:      strings.NewReplacer("missing", "ca", "web.example.com", "web.example.org").Replace(missingIssuerGateway),
			cluster:     tenant + "---\n" + clusterIssuerCA,
			wantAllowed: false,
			wantDenial:  []string{`spec.servers[0].hosts[0]: "web.example.org" is outside the hosts Namespace team-a may claim (meshcert.io/allowed-hosts: *.example.com)`, "(MC8003)"},
		},
		{
			name:        "a Gateway in a namespace the cache does not hold is denied, not waved through",
			object:      strings.Replace(missingIssuerGateway, "missing", "ca", 1),
			cluster:     clusterIssuerCA,
			wantAllowed: false,
			wantDenial:  []string{"meshcert does not know namespace team-a yet", "(MC8003)"},
		},
		{
			name:         "an UPDATE of an old Gateway that adds another namespace's host is denied: the edit is the newcomer",
			object:       legacyGateway("shop.example.com"),
			cluster:      shopGateway,
			opts:         []requestOption{withOperation(admissionv1.Update), withOldObject(t, legacyGateway("legacy.example.com"))},
			wantAllowed:  false,
			wantDenial:   []string{`spec.servers[0].hosts[0]: host "shop.example.com" on port 443 is served on the same gateway workload by Gateway team-a/shop of another namespace, which claimed it first`, "(MC8002)"},
			wantWarnings: []string{`MC4001 spec.servers[0].tls.credentialName: no Certificate or Secret "legacy-tls"`},
		},
		{
			name:         "an UPDATE of an old Gateway that had the host already is judged by its age, as istiod orders it",
			object:       legacyGateway("shop.example.com"),
			cluster:      shopGateway,
			opts:         []requestOption{withOperation(admissionv1.Update), withOldObject(t, legacyGateway("shop.example.com"))},
			wantAllowed:  false,
			wantDenial:   []string{"(MC3003)"},
			wantWarnings: []string{`MC4001 spec.servers[0].tls.credentialName: no Certificate or Secret "legacy-tls"`},
		},
		{
			name:        "a DELETE is allowed whatever the object",
			object:      mutualGateway,
			opts:        []requestOption{withOperation(admissionv1.Delete)},
			wantAllowed: true,
		},
		{
			name:        "a status update is allowed whatever the object",
			object:      mutualGateway,
			opts:        []requestOption{withOperation(admissionv1.Update), func(r *admission.Request) { r.SubResource = "status" }},
			wantAllowed: true,
		},
		{
			name: "an IstioOperator with an unknown meshConfig key is denied",
			object: `
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: istio, namespace: istio-system}
spec:
  meshConfig:
    caCertificates: [{certs: x}]
`,
			wantAllowed: false,
			wantDenial:  []string{"spec.meshConfig.caCertificates[0].certs: ", "(MC6001)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := objects(t, tc.object)[0]
			lookup := index(t, objects(t, tc.cluster)...)
			h := validatorFor(t, obj, lookup, Config{Options: certs.DefaultOptions(), Enforce: tc.enforce}, nil)
			resp := handle(h, request(t, obj, tc.opts...))
			assert.Equal(t, tc.wantAllowed, resp.Allowed, "%v", resp.Result)
			for _, d := range tc.wantDenial {
				assert.Contains(t, resp.Result.Message, d)
			}
			if !tc.wantAllowed {
				assert.Equal(t, int32(403), resp.Result.Code)
				require.NotNil(t, resp.Result.Details)
				assert.NotEmpty(t, resp.Result.Details.Causes)
			}
			require.Len(t, resp.Warnings, len(tc.wantWarnings), "%q", resp.Warnings)
			for i, w := range tc.wantWarnings {
				assert.True(t, strings.HasPrefix(resp.Warnings[i], w), "%q does not start with %q", resp.Warnings[i], w)
			}
			assert.Empty(t, resp.Patches, "validating webhooks never patch")
		})
	}
}

func TestValidatorsOnBadInput(t *testing.T) {
	lookup := index(t)
	for _, h := range Handlers(lookup, Config{}, nil) {
		resp := handle(h, rawRequest(certs.ParseGateway(objects(t, mutualGateway)[0]).Object.GroupVersionKind(), "team-a", "web", []byte("[1,2")))
		assert.False(t, resp.Allowed)
		assert.Equal(t, int32(400), resp.Result.Code)
	}
}

func TestCertificateValidatorSkipsACertificateBeingDeleted(t *testing.T) {
	obj := objects(t, missingIssuerCertificate)[0]
	obj.Object["metadata"].(map[string]any)["deletionTimestamp"] = "2026-01-01T00:00:00Z"
	h := NewCertificateValidator(index(t), Config{Enforce: true}, nil)
	resp := handle(h, request(t, obj, withOperation(admissionv1.Update)))
	assert.True(t, resp.Allowed, "denying it could block the removal of a finalizer")
	assert.Empty(t, resp.Warnings)
}

// shopGateway is team-a's Gateway, stored in 2026, on the ingress gateway.
const shopGateway = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: team-a, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: shop-tls}
`

// legacyGateway is team-b's Gateway, stored in 2020, serving host.
func legacyGateway(host string) string {
	return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: legacy, namespace: team-b, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [` + host + `]
    tls: {mode: SIMPLE, credentialName: legacy-tls}
`
}
