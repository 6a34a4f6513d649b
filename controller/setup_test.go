package controller

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
)

// fakeManager is the part of a manager Setup uses: it records the
// controllers added, and its REST mapper decides whether the IstioOperator
// API exists. Calling anything else panics on the nil embedded Manager,
// which shows a new dependency at once.
type fakeManager struct {
	manager.Manager
	client client.Client
	mapper meta.RESTMapper
	added  []string
}

func (m *fakeManager) GetClient() client.Client       { return m.client }
func (m *fakeManager) GetAPIReader() client.Reader    { return m.client }
func (m *fakeManager) GetScheme() *runtime.Scheme     { return m.client.Scheme() }
func (m *fakeManager) GetCache() cache.Cache          { return &informertest.FakeInformers{} }
func (m *fakeManager) GetRESTMapper() meta.RESTMapper { return m.mapper }
func (m *fakeManager) GetLogger() logr.Logger         { return logr.Discard() }
func (m *fakeManager) GetEventRecorder(string) recorder.EventRecorder {
	return events.NewFakeRecorder(10)
}
func (m *fakeManager) GetControllerOptions() config.Controller {
	// Tests build the same controllers more than once.
	return config.Controller{SkipNameValidation: new(true)}
}

func (m *fakeManager) Add(r manager.Runnable) error {
	// controller-runtime's controller keeps its name in a Name field.
	v := reflect.Indirect(reflect.ValueOf(r))
	name := "?"
	if v.Kind() == reflect.Struct && v.FieldByName("Name").Kind() == reflect.String {
		name = v.FieldByName("Name").String()
	}
	m.added = append(m.added, name)
	return nil
}

type failingMapper struct{ meta.RESTMapper }

func (failingMapper) RESTMapping(schema.GroupKind, ...string) (*meta.RESTMapping, error) {
	return nil, errors.New("discovery is down")
}

func TestSetup(t *testing.T) {
	withIstioOperator := meta.NewDefaultRESTMapper(nil)
	withIstioOperator.Add(istiooperator.GVK, meta.RESTScopeNamespace)

	tests := []struct {
		name      string
		mapper    meta.RESTMapper
		wantAdded []string
		wantErr   string
	}{
		{
			name:      "the Certificate controller and, where the CRD exists, the IstioOperator controller are added",
			mapper:    withIstioOperator,
			wantAdded: []string{"gateway-certificates", "istiooperator-certificates"},
		},
		{
			name:      "without the IstioOperator CRD only the Certificate controller is added",
			mapper:    meta.NewDefaultRESTMapper(nil),
			wantAdded: []string{"gateway-certificates"},
		},
		{
			name:      "a failing API discovery is an error, not a silently missing controller",
			mapper:    failingMapper{},
			wantAdded: []string{"gateway-certificates"},
			wantErr:   "failed to discover the IstioOperator API: discovery is down",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mgr := &fakeManager{client: newHarness(t).client, mapper: tc.mapper}
			err := Setup(t.Context(), mgr, Config{Options: certs.DefaultOptions()})
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.wantAdded, mgr.added)
		})
	}
}

func gatewayObject(namespace, name string, selector map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(certs.GatewayGVK)
	u.SetNamespace(namespace)
	u.SetName(name)
	if selector != nil {
		sel := map[string]any{}
		for k, v := range selector {
			sel[k] = v
		}
		u.Object["spec"] = map[string]any{"selector": sel}
	}
	return u
}

func requestNames(reqs []reconcile.Request) []string {
	out := []string{}
	for _, r := range reqs {
		out = append(out, r.String())
	}
	return out
}

func TestWatchMappings(t *testing.T) {
	h := newHarness(t,
		gatewayObject("team-a", "web", map[string]string{"istio": "ingressgateway"}),
		gatewayObject("team-a", "edge", map[string]string{"istio": "edge"}),
		gatewayObject("team-b", "web", map[string]string{"istio": "ingressgateway", "zone": "a"}),
		gatewayObject("team-b", "everything", nil),
	)
	m := watchMappings{lookup: h.lookup()}
	pod := func(labels map[string]string) client.Object {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "p", Labels: labels}}
	}
	tests := []struct {
		name string
		got  []reconcile.Request
		want []string
	}{
		{
			name: "a namespace's label change re-plans the Gateways in it",
			got:  m.gatewaysInNamespace(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}),
			want: []string{"team-a/edge", "team-a/web"},
		},
		{
			name: "a namespace without Gateways re-plans nothing",
			got:  m.gatewaysInNamespace(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-c"}}),
			want: []string{},
		},
		{
			name: "a gateway Pod re-plans the Gateways whose selector matches its labels, and no Gateway without a selector",
			got:  m.gatewaysSelectingPod(t.Context(), pod(map[string]string{"istio": "ingressgateway", "app": "x"})),
			want: []string{"team-a/web"},
		},
		{
			name: "a Pod matching every label of a larger selector re-plans that Gateway too",
			got:  m.gatewaysSelectingPod(t.Context(), pod(map[string]string{"istio": "ingressgateway", "zone": "a"})),
			want: []string{"team-a/web", "team-b/web"},
		},
		{
			name: "a Pod no Gateway selects re-plans nothing",
			got:  m.gatewaysSelectingPod(t.Context(), pod(map[string]string{"app": "web"})),
			want: []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := requestNames(tc.got)
			assert.ElementsMatch(t, tc.want, got)
		})
	}
}

func TestGatewayOfCertificate(t *testing.T) {
	tests := []struct {
		name       string
		annotation string
		want       []string
	}{
		{name: "the Gateway annotation names the Gateway to re-plan", annotation: "team-a/web", want: []string{"team-a/web"}},
		{name: "no annotation re-plans nothing", annotation: "", want: []string{}},
		{name: "a reference without a namespace re-plans nothing", annotation: "/web", want: []string{}},
		{name: "a reference without a name re-plans nothing", annotation: "team-a/", want: []string{}},
		{name: "a reference without a slash re-plans nothing", annotation: "web", want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crt := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "istio-system"}}
			if tc.annotation != "" {
				crt.Annotations = map[string]string{"meshcert.io/gateway": tc.annotation}
			}
			assert.Equal(t, tc.want, requestNames(gatewayOfCertificate(t.Context(), crt)))
		})
	}
}

func TestOwnerOfMeshCA(t *testing.T) {
	tests := []struct {
		name        string
		kind        istiooperator.Kind
		annotations map[string]string
		want        []string
	}{
		{"an IstioOperator's Certificate maps to namespace/name", istiooperator.IstioOperatorKind,
			map[string]string{"meshcert.io/istiooperator": "istio-system/mesh"}, []string{"istio-system/mesh"}},
		{"a Sail Istio's Certificate maps to the cluster-scoped name", istiooperator.SailIstioKind,
			map[string]string{"meshcert.io/sail-istio": "default"}, []string{"/default"}},
		{"a Sail IstioRevision's Certificate maps to its name", istiooperator.SailIstioRevisionKind,
			map[string]string{"meshcert.io/sail-istiorevision": "default-v1-30-3"}, []string{"/default-v1-30-3"}},
		{"an IstioOperator's Certificate is not a Sail Istio's", istiooperator.SailIstioKind,
			map[string]string{"meshcert.io/istiooperator": "istio-system/mesh"}, nil},
		{"a Sail key with a slash is no cluster-scoped name", istiooperator.SailIstioKind,
			map[string]string{"meshcert.io/sail-istio": "istio-system/mesh"}, nil},
		{"an IstioOperator key without a namespace maps to nothing", istiooperator.IstioOperatorKind,
			map[string]string{"meshcert.io/istiooperator": "mesh"}, nil},
		{"a Certificate without annotations maps to nothing", istiooperator.IstioOperatorKind, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crt := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Annotations: tc.annotations}}
			got := requestNames(ownerOfMeshCA(tc.kind)(t.Context(), crt))
			if tc.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestMetrics(t *testing.T) {
	managed := func(name string) *cmapi.Certificate {
		return &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "istio-system",
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "meshcert"},
			Annotations: map[string]string{"meshcert.io/gateway": "team-a/web"},
		}}
	}
	theirs := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "istio-system"}}
	issued := managed("a")
	notAfter, renewal := metav1.Unix(1_800_000_000, 0), metav1.Unix(1_797_408_000, 0)
	issued.Status = cmapi.CertificateStatus{
		Conditions: []cmapi.CertificateCondition{{Type: cmapi.CertificateConditionReady, Status: cmmeta.ConditionTrue}},
		NotAfter:   &notAfter, RenewalTime: &renewal,
	}
	failing := managed("b")
	failing.Status.Conditions = []cmapi.CertificateCondition{{Type: cmapi.CertificateConditionReady, Status: cmmeta.ConditionFalse}}
	h := newHarness(t, issued, failing, theirs)
	reg := prometheus.NewRegistry()
	lists := &countingReader{Reader: h.client}
	m, err := NewMetrics(t.Context(), reg, lists)
	require.NoError(t, err)

	m.wrote(opCreate)
	m.wrote(opCreate)
	m.wrote(opDelete)
	expected := `
# HELP meshcert_certificate_writes_total Certificate writes by meshcert's controller, by operation (create, update, delete).
# TYPE meshcert_certificate_writes_total counter
meshcert_certificate_writes_total{operation="create"} 2
meshcert_certificate_writes_total{operation="delete"} 1
# HELP meshcert_managed_certificates Certificates in the cluster that meshcert created and manages.
# TYPE meshcert_managed_certificates gauge
meshcert_managed_certificates 2
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected), "meshcert_certificate_writes_total", "meshcert_managed_certificates"))

	// One series per managed Certificate, labelled with its Gateway; the
	// times only once cert-manager has issued.
	states := fmt.Sprintf(`
# HELP meshcert_certificate_ready %s
# TYPE meshcert_certificate_ready gauge
meshcert_certificate_ready{certificate_name="a",certificate_namespace="istio-system",gateway="team-a/web"} 1
meshcert_certificate_ready{certificate_name="b",certificate_namespace="istio-system",gateway="team-a/web"} 0
# HELP meshcert_certificate_expiration_timestamp_seconds %s
# TYPE meshcert_certificate_expiration_timestamp_seconds gauge
meshcert_certificate_expiration_timestamp_seconds{certificate_name="a",certificate_namespace="istio-system",gateway="team-a/web"} 1.8e+09
# HELP meshcert_certificate_renewal_timestamp_seconds %s
# TYPE meshcert_certificate_renewal_timestamp_seconds gauge
meshcert_certificate_renewal_timestamp_seconds{certificate_name="a",certificate_namespace="istio-system",gateway="team-a/web"} 1.797408e+09
`, certificateReadyMetric.Help, certificateExpirationMetric.Help, certificateRenewalMetric.Help)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(states),
		"meshcert_certificate_ready", "meshcert_certificate_expiration_timestamp_seconds", "meshcert_certificate_renewal_timestamp_seconds"))

	before := lists.lists.Load()
	_, err = reg.Gather()
	require.NoError(t, err)
	assert.Equal(t, int64(1), lists.lists.Load()-before, "a scrape lists the managed Certificates once, for the count and the per-Certificate gauges")

	again, err := NewMetrics(t.Context(), reg, h.client)
	require.NoError(t, err, "registering twice with one registry reuses the collectors")
	again.wrote(opUpdate)
	assert.InDelta(t, 1, testutil.ToFloat64(m.certificateWrites.WithLabelValues(opUpdate)), 0)

	var none *Metrics
	assert.NotPanics(t, func() { none.wrote(opCreate) }, "a nil *Metrics records nothing")
}

// The server passes its own recorder (Events through a bounded queue);
// only without one does the controller use the manager's.
func TestTheConfiguredRecorderIsUsed(t *testing.T) {
	mine := events.NewFakeRecorder(1)
	mgr := &fakeManager{}
	assert.Same(t, mine, Config{Recorder: mine}.recorder(mgr))
	assert.NotNil(t, Config{}.recorder(mgr), "without one, the manager's")
	assert.NotSame(t, mine, Config{}.recorder(mgr))
}

// countingReader counts the lists made through it.
type countingReader struct {
	client.Reader
	lists atomic.Int64
}

func (r *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	r.lists.Add(1)
	return r.Reader.List(ctx, list, opts...)
}
