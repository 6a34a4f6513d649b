package controller

import (
	"context"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/cluster"
)

const background = `
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
---
apiVersion: v1
kind: Pod
metadata: {name: ingress, namespace: istio-system, labels: {istio: ingressgateway}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/ca}
`

// webTLS and adminTLS are the names meshcert derives for the servers: the
// only ones it writes in istio-system, a namespace other than the Gateway's.
var (
	webTLS   = certs.CredentialName("team-a", "web", "https")
	adminTLS = certs.CredentialName("team-a", "web", "admin")
)

var gatewayYAML = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
  namespace: team-a
  uid: gw-uid
  annotations:
    cert-manager.io/cluster-issuer: ca
    cert-manager.io/duration: 2160h
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: ` + webTLS + `}
  - port: {number: 8443, name: admin, protocol: HTTPS}
    hosts: [admin.example.com]
    tls: {mode: SIMPLE, credentialName: ` + adminTLS + `}
`

func decode(t *testing.T, stream string) []client.Object {
	t.Helper()
	var out []client.Object
	for doc := range strings.SplitSeq(stream, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
		out = append(out, u)
	}
	return out
}

// harness is a Reconciler over a fake API server that counts writes.
type harness struct {
	t        *testing.T
	client   client.Client
	recorder *events.FakeRecorder
	writes   []string
	// deletes holds the options of each delete the fake received, by
	// namespace/name.
	deletes map[string]client.DeleteOptions
	// createErr, if set, may fail a create before it reaches the fake.
	createErr func(client.Object) error
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	scheme := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, cmapi.AddToScheme(scheme))
	require.NoError(t, istionetworking.AddToScheme(scheme))
	h := &harness{t: t, recorder: events.NewFakeRecorder(100), deletes: map[string]client.DeleteOptions{}}
	count := func(verb string, obj client.Object) {
		h.writes = append(h.writes, verb+" "+obj.GetNamespace()+"/"+obj.GetName())
	}
	// Managed fields are returned, as the API server returns them to
	// meshcert's API reader: updates convert meshcert's ownership first.
	builder := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithReturnManagedFields()
	h.client = builder.
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				if h.createErr != nil {
					if err := h.createErr(obj); err != nil {
						return err
					}
				}
				count("create", obj)
				if obj.GetUID() == "" {
					// The API server gives every object a UID; the fake does not.
					obj.SetUID(types.UID("uid-" + obj.GetNamespace() + "-" + obj.GetName()))
				}
				return c.Create(ctx, obj, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				count("update", obj)
				return c.Update(ctx, obj, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				count("patch", obj)
				return c.Patch(ctx, obj, patch, opts...)
			},
			Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
				u, _ := obj.(interface{ GetName() string })
				name := ""
				if u != nil {
					name = u.GetName()
				}
				h.writes = append(h.writes, "apply "+name)
				return c.Apply(ctx, obj, opts...)
			},
			Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				count("delete", obj)
				o := client.DeleteOptions{}
				o.ApplyOptions(opts)
				h.deletes[obj.GetNamespace()+"/"+obj.GetName()] = o
				return c.Delete(ctx, obj, opts...)
			},
		}).Build()
	return h
}

// lookup is the server's cache-backed Lookup once its informers have
// synced what the fake API server holds now.
func (h *harness) lookup() Lookup {
	return h.lookupOf(h.client)
}

// lookupOf is the server's Lookup once its informers have synced what
// reader holds now.
func (h *harness) lookupOf(reader client.Reader) Lookup {
	h.t.Helper()
	l, err := cluster.Snapshot(h.t.Context(), reader, cluster.DefaultConfig(), logr.Discard())
	require.NoError(h.t, err)
	return l
}

func (h *harness) reconciler() *Reconciler {
	return &Reconciler{Client: h.client, APIReader: h.client, Lookup: h.lookup(), Options: certs.DefaultOptions(), Recorder: h.recorder}
}

func (h *harness) reconcile(name types.NamespacedName) {
	h.t.Helper()
	_, err := h.reconciler().Reconcile(h.t.Context(), ctrl.Request{NamespacedName: name})
	require.NoError(h.t, err)
}

func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// certificate reads a Certificate from istio-system, where the test
// Gateway's workload runs.
func (h *harness) certificate(name string) (*cmapi.Certificate, bool) {
	crt := &cmapi.Certificate{}
	err := h.client.Get(h.t.Context(), types.NamespacedName{Namespace: "istio-system", Name: name}, crt)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	require.NoError(h.t, err)
	return crt, true
}

func (h *harness) updateGateway(mutate func(u *unstructured.Unstructured)) {
	h.t.Helper()
	gw := &unstructured.Unstructured{}
	gw.SetGroupVersionKind(certs.GatewayGVK)
	require.NoError(h.t, h.client.Get(h.t.Context(), web, gw))
	mutate(gw)
	require.NoError(h.t, h.client.Update(h.t.Context(), gw))
	h.writes = nil
}

var web = types.NamespacedName{Namespace: "team-a", Name: "web"}
