package webhook

import (
	"context"
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
)

// objects decodes a YAML stream; objects of namespaced kinds without a
// namespace land in "default", as kubectl would apply them.
func objects(t testing.TB, doc string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifest.Decode("test.yaml", []byte(doc))
	require.NoError(t, err)
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.Object
		if out[i].GetNamespace() == "" && !clusterScoped(out[i].GetKind()) {
			out[i].SetNamespace("default")
		}
	}
	return out
}

func clusterScoped(kind string) bool {
	return kind == "ClusterIssuer" || kind == "Namespace"
}

// index is the Lookup the handler tests run against: the planner's own
// in-memory index over the given objects.
func index(t testing.TB, objs ...*unstructured.Unstructured) *offline.Index {
	t.Helper()
	x := offline.NewIndex()
	for _, o := range objs {
		require.NoError(t, x.Add(o))
	}
	return x
}

type requestOption func(*admission.Request)

func withOperation(op admissionv1.Operation) requestOption {
	return func(r *admission.Request) { r.Operation = op }
}

// withOldObject sets the stored object an UPDATE replaces.
func withOldObject(t *testing.T, manifest string) requestOption {
	t.Helper()
	raw, err := json.Marshal(objects(t, manifest)[0].Object)
	require.NoError(t, err)
	return func(r *admission.Request) { r.OldObject = runtime.RawExtension{Raw: raw} }
}

func dryRun() requestOption {
	return func(r *admission.Request) { r.DryRun = new(bool(true)) }
}

// request builds the admission request the API server sends for obj.
func request(t *testing.T, obj *unstructured.Unstructured, opts ...requestOption) admission.Request {
	t.Helper()
	raw, err := json.Marshal(obj.Object)
	require.NoError(t, err)
	return rawRequest(obj.GroupVersionKind(), obj.GetNamespace(), obj.GetName(), raw, opts...)
}

func rawRequest(gvk schema.GroupVersionKind, namespace, name string, raw []byte, opts ...requestOption) admission.Request {
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID("uid-" + name),
		Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Namespace: namespace,
		Name:      name,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
		DryRun:    new(bool(false)),
	}}
	for _, o := range opts {
		o(&req)
	}
	return req
}

// applyPatch applies a response's JSON patch to raw.
func applyPatch(t *testing.T, raw []byte, resp admission.Response) []byte {
	t.Helper()
	ops, err := json.Marshal(resp.Patches)
	require.NoError(t, err)
	patch, err := jsonpatch.DecodePatch(ops)
	require.NoError(t, err)
	out, err := patch.Apply(raw)
	require.NoError(t, err)
	return out
}

func jsonToMap(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	m := map[string]any{}
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// roundTrip normalises an object the way JSON sees it.
func roundTrip(t *testing.T, obj map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(obj)
	require.NoError(t, err)
	return jsonToMap(t, raw)
}

func handle(h admission.Handler, req admission.Request) admission.Response {
	return h.Handle(context.Background(), req)
}

var runtimeConverter = runtime.DefaultUnstructuredConverter
