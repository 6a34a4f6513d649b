package webhook

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/cluster"
)

// countingReader counts the reads that reach the reader it wraps; in the
// server that reader is the manager's informer cache.
type countingReader struct {
	client.Reader
	reads atomic.Int64
}

func (r *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.reads.Add(1)
	return r.Reader.Get(ctx, key, obj, opts...)
}

func (r *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	r.reads.Add(1)
	return r.Reader.List(ctx, list, opts...)
}

// TestHandlersReadOnlyTheCacheTheyAreGiven shows the webhooks' whole view of
// the cluster is the Lookup: the handlers are built from a Lookup alone (no
// client, no manager, no rest config), and a request reads nothing beyond
// what it holds. In the server the Lookup reads the informers' indexers, so
// an admission request makes no API call.
func TestHandlersReadOnlyTheCacheTheyAreGiven(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, cmapi.AddToScheme(s))
	issuer := objects(t, clusterIssuerCA)[0]
	ci := &cmapi.ClusterIssuer{}
	require.NoError(t, fromUnstructured(issuer, ci))
	cache := fake.NewClientBuilder().WithScheme(s).
		WithObjects(ci,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{LabelEnforce: "true"}, Annotations: map[string]string{
				certs.AnnotationAllowedHosts: "*.example.com", certs.AnnotationAllowedIssuers: "ClusterIssuer/ca",
			}}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "ingress", Labels: map[string]string{"istio": "ingressgateway"}}},
		).Build()
	reader := &countingReader{Reader: cache}
	lookup, err := cluster.Snapshot(t.Context(), reader, cluster.DefaultConfig(), logr.Discard())
	require.NoError(t, err)
	synced := reader.reads.Load()
	require.Positive(t, synced, "the Lookup holds what the cache reader had")
	handlers := Handlers(lookup, Config{Options: certs.DefaultOptions()}, nil)

	gw := objects(t, managedGateway("networking.istio.io/v1", "cert-manager.io/cluster-issuer: ca"))[0]
	mutated := handle(handlers[PathMutateGateway], request(t, gw))
	require.NotEmpty(t, mutated.Patches)
	validated := handle(handlers[PathValidateGateway], request(t, gw))
	assert.True(t, validated.Allowed, "%v", validated.Result)
	crt := handle(handlers[PathValidateCertificate], request(t, objects(t, missingIssuerCertificate)[0]))
	assert.False(t, crt.Allowed, "team-a is labelled for enforcement, which the cache reader told")
	assert.Equal(t, synced, reader.reads.Load(), "every answer came from the Lookup: no read per request")

	for path, h := range handlers {
		assertHoldsNoClient(t, path, reflect.ValueOf(h))
	}
}

var (
	readerType = reflect.TypeFor[client.Reader]()
	writerType = reflect.TypeFor[client.Writer]()
	restType   = reflect.TypeFor[rest.Interface]()
)

// assertHoldsNoClient checks that no field of a handler can reach the API:
// the only way to the cluster is the certs.Lookup.
func assertHoldsNoClient(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	require.Equal(t, reflect.Struct, v.Kind())
	for i := range v.NumField() {
		f := v.Type().Field(i)
		for _, api := range []reflect.Type{readerType, writerType, restType} {
			assert.False(t, f.Type.Implements(api), "%s: field %s (%s) can reach the API", path, f.Name, f.Type)
		}
		if f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct && f.Type != reflect.TypeFor[*Metrics]() {
			t.Errorf("%s: field %s (%s) is not known to stay off the API", path, f.Name, f.Type)
		}
	}
}
