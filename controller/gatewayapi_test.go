package controller

import (
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/gatewayapi"
)

// apiGatewayYAML is Gateway API Gateway team-a/api with two HTTPS
// listeners, each naming its own Secret, and the annotations given (YAML
// flow-map entries).
func apiGatewayYAML(annotations string) string {
	return `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: api
  namespace: team-a
  uid: api-uid
  labels: {team: a, applyset.kubernetes.io/part-of: x}
  annotations: {` + annotations + `}
spec:
  gatewayClassName: istio
  listeners:
  - {name: api, port: 443, protocol: HTTPS, hostname: api.example.com, tls: {certificateRefs: [{name: api-tls}]}}
  - {name: admin, port: 8443, protocol: HTTPS, hostname: admin.example.com, tls: {certificateRefs: [{name: admin-tls}]}}
`
}

var apiGateway = types.NamespacedName{Namespace: "team-a", Name: "api"}

const issued = `cert-manager.io/cluster-issuer: ca`

func (h *harness) apiReconciler(kind string, mode GatewayAPICertificates) *GatewayAPIReconciler {
	return &GatewayAPIReconciler{
		Kind: kind, Client: h.client, APIReader: h.client, Lookup: h.lookup(), Options: certs.DefaultOptions(),
		Shim: gatewayapi.DefaultShimOptions(), Certificates: mode, Recorder: h.recorder,
	}
}

func (h *harness) reconcileAPI(kind string, mode GatewayAPICertificates, name types.NamespacedName) reconcile.Result {
	h.t.Helper()
	res, err := h.apiReconciler(kind, mode).Reconcile(h.t.Context(), reconcile.Request{NamespacedName: name})
	require.NoError(h.t, err)
	return res
}

func (h *harness) apiObject(kind string, name types.NamespacedName) *unstructured.Unstructured {
	h.t.Helper()
	u := cluster.NewGatewayAPIObject(kind)
	require.NoError(h.t, h.client.Get(h.t.Context(), name, u))
	return u
}

func (h *harness) updateAPIObject(kind string, name types.NamespacedName, mutate func(u *unstructured.Unstructured)) {
	h.t.Helper()
	u := h.apiObject(kind, name)
	mutate(u)
	require.NoError(h.t, h.client.Update(h.t.Context(), u))
	h.writes = nil
}

// teamCertificate reads a Certificate from team-a, where a Gateway API
// object's Certificates live.
func (h *harness) teamCertificate(name string) (*cmapi.Certificate, bool) {
	h.t.Helper()
	crt := &cmapi.Certificate{}
	if err := h.client.Get(h.t.Context(), types.NamespacedName{Namespace: "team-a", Name: name}, crt); err != nil {
		return nil, false
	}
	return crt, true
}

// planned is what gatewayapi.Plan says of the stored object, as the
// webhook and the CLI say it.
func (h *harness) planned(kind string, name types.NamespacedName) *gatewayapi.ShimPlan {
	h.t.Helper()
	obj, err := gatewayapi.Parse(h.apiObject(kind, name))
	require.NoError(h.t, err)
	return gatewayapi.Plan(h.t.Context(), obj, h.lookup(), certs.DefaultOptions(), gatewayapi.DefaultShimOptions())
}

// dropListener removes the Gateway's listener named name.
func dropListener(name string) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		listeners, _, _ := unstructured.NestedSlice(u.Object, "spec", "listeners")
		kept := listeners[:0:0]
		for _, l := range listeners {
			if l.(map[string]any)["name"] != name {
				kept = append(kept, l)
			}
		}
		_ = unstructured.SetNestedSlice(u.Object, kept, "spec", "listeners")
	}
}

func TestGatewayAPIDefaultModeOnlyReports(t *testing.T) {
	tests := []struct {
		name        string
		annotations string
		wantEvent   string
	}{
		{
			name:        "a Gateway stored with an annotation the shim refuses gets a BadConfig Event saying what the webhook would have",
			annotations: issued + `, cert-manager.io/duration: 90d`,
			wantEvent:   "Warning BadConfig MC1002 metadata.annotations[cert-manager.io/duration]: ",
		},
		{
			name:        "a Gateway with contradicting issuer annotations gets a BadConfig Event",
			annotations: issued + `, cert-manager.io/issuer: ca`,
			wantEvent:   "Warning BadConfig MC1001 ",
		},
		{
			name:        "a Gateway outside its namespace's policy gets a BadConfig Event: in this mode the shim, not meshcert, decides what is issued",
			annotations: `cert-manager.io/cluster-issuer: other`,
			wantEvent:   "Warning BadConfig MC8004 ",
		},
		{
			name:        "a Gateway without errors gets no Event",
			annotations: issued,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, decode(t, background+"\n---\n"+apiGatewayYAML(tc.annotations))...)
			for _, mode := range []GatewayAPICertificates{"", GatewayAPICertificatesShim} {
				h.reconcileAPI(gatewayapi.KindGateway, mode, apiGateway)
				assert.Empty(t, h.writes, "nothing is written in mode %q", mode)
				evs := h.events()
				if tc.wantEvent == "" {
					assert.Empty(t, evs)
					continue
				}
				require.Len(t, evs, 1)
				assert.True(t, strings.HasPrefix(evs[0], tc.wantEvent), "%s", evs[0])
				for _, msg := range errorMessages(h.planned(gatewayapi.KindGateway, apiGateway).Findings) {
					assert.Contains(t, evs[0], msg, "the Event holds every error of the plan")
				}
			}
		})
	}
}

func TestGatewayAPIMeshcertModeWritesWhatTheShimWould(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+apiGatewayYAML(issued))...)
	plan := h.planned(gatewayapi.KindGateway, apiGateway)
	require.Len(t, plan.Certificates, 2)
	h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)

	assert.ElementsMatch(t, []string{"create team-a/api-tls", "create team-a/admin-tls"}, h.writes)
	for _, want := range plan.Certificates {
		got, ok := h.teamCertificate(want.Name)
		require.True(t, ok, want.Name)
		assert.Equal(t, want.Spec, got.Spec, "the spec is the plan's")
		assert.Equal(t, want.Annotations, got.Annotations, "the annotations are the plan's")
		assert.Equal(t, want.OwnerReferences, got.OwnerReferences, "the owner is the shim's: the Gateway as controller, blocking its deletion")
		wantLabels := map[string]string{"team": "a", certs.LabelManagedBy: certs.ManagedByValue}
		assert.Equal(t, wantLabels, got.Labels, "the Gateway's labels but applyset's, and meshcert's mark")
		assert.True(t, *got.OwnerReferences[0].Controller)
		assert.True(t, *got.OwnerReferences[0].BlockOwnerDeletion)
		assert.Equal(t, types.UID("api-uid"), got.OwnerReferences[0].UID)
	}
	evs := h.events()
	require.Len(t, evs, 2)
	assert.Contains(t, strings.Join(evs, "\n"), `Normal CreateCertificate Created Certificate team-a/api-tls for Secret "api-tls"`)

	t.Run("a second reconcile with nothing changed writes nothing", func(t *testing.T) {
		h.writes = nil
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		assert.Empty(t, h.writes)
		assert.Empty(t, h.events())
	})
	t.Run("the default mode, switched back to, neither writes nor deletes", func(t *testing.T) {
		h.updateAPIObject(gatewayapi.KindGateway, apiGateway, dropListener("admin"))
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesShim, apiGateway)
		assert.Empty(t, h.writes)
	})
	t.Run("a listener removed deletes the Certificate of its Secret", func(t *testing.T) {
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		assert.Equal(t, []string{"delete team-a/admin-tls"}, h.writes)
		_, ok := h.teamCertificate("admin-tls")
		assert.False(t, ok)
		assert.Equal(t, []string{`Normal DeleteCertificate Deleted Certificate team-a/admin-tls, none of this Gateway's listeners names its Secret any more`}, h.events())
	})
	t.Run("a label removed from the Gateway is removed from its Certificate, as the shim compares labels", func(t *testing.T) {
		h.updateAPIObject(gatewayapi.KindGateway, apiGateway, func(u *unstructured.Unstructured) { u.SetLabels(nil) })
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		assert.Equal(t, []string{"patch team-a/api-tls", "apply api-tls"}, h.writes)
		crt, _ := h.teamCertificate("api-tls")
		assert.Equal(t, map[string]string{certs.LabelManagedBy: certs.ManagedByValue}, crt.Labels)
	})
	t.Run("without the issuer annotation the shim's sync stops at once: the Certificate stays", func(t *testing.T) {
		h.updateAPIObject(gatewayapi.KindGateway, apiGateway, func(u *unstructured.Unstructured) { u.SetAnnotations(nil) })
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		assert.Empty(t, h.writes)
	})
}

func TestGatewayAPIMeshcertModeLeavesOthersAlone(t *testing.T) {
	handMade := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "api-tls", Namespace: "team-a", Labels: map[string]string{"made": "by-hand"}},
		Spec:       cmapi.CertificateSpec{SecretName: "api-tls", DNSNames: []string{"other.example.com"}},
	}
	controller, block := true, true
	shims := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "admin-tls", Namespace: "team-a", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: gatewayapi.Group + "/v1", Kind: gatewayapi.KindGateway, Name: "api", UID: "api-uid", Controller: &controller, BlockOwnerDeletion: &block,
		}}},
		Spec: cmapi.CertificateSpec{SecretName: "admin-tls", DNSNames: []string{"old.example.com"}},
	}
	// A Certificate the shim wrote for a Secret no listener names any more.
	shimsStale := shims.DeepCopy()
	shimsStale.Name, shimsStale.Spec.SecretName = "stale-tls", "stale-tls"
	// meshcert's mark on a Certificate some other object controls.
	othersMarked := shimsStale.DeepCopy()
	othersMarked.Name, othersMarked.Spec.SecretName = "marked-tls", "marked-tls"
	othersMarked.Labels = map[string]string{certs.LabelManagedBy: certs.ManagedByValue}
	othersMarked.OwnerReferences[0].UID = "another-uid"

	h := newHarness(t, append(decode(t, background+"\n---\n"+apiGatewayYAML(issued)), handMade, shims, shimsStale, othersMarked)...)
	h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)

	assert.Empty(t, h.writes, "a hand-made Certificate of the Secret's name, and the shim's own (even one it would update or delete), are never written or deleted")
	crt, _ := h.teamCertificate("api-tls")
	assert.Equal(t, handMade.Spec.DNSNames, crt.Spec.DNSNames)
	crt, _ = h.teamCertificate("admin-tls")
	assert.Equal(t, shims.Spec.DNSNames, crt.Spec.DNSNames)
	for _, name := range []string{"stale-tls", "marked-tls"} {
		_, ok := h.teamCertificate(name)
		assert.True(t, ok, name)
	}
	assert.Empty(t, h.events(), "MC4002 is a warning, as at admission")

	t.Run("once the hand-made Certificate is gone, meshcert writes its own", func(t *testing.T) {
		require.NoError(t, h.client.Delete(t.Context(), handMade))
		h.writes = nil
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		assert.Equal(t, []string{"create team-a/api-tls"}, h.writes)
	})
}

func TestGatewayAPIMeshcertModeWithErrors(t *testing.T) {
	t.Run("an annotation the shim refuses writes nothing and deletes nothing, as the shim's sync stops there", func(t *testing.T) {
		h := newHarness(t, decode(t, background+"\n---\n"+apiGatewayYAML(issued))...)
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		h.events()
		h.updateAPIObject(gatewayapi.KindGateway, apiGateway, func(u *unstructured.Unstructured) {
			dropListener("admin")(u)
			u.SetAnnotations(map[string]string{"cert-manager.io/cluster-issuer": "ca", "cert-manager.io/duration": "90d"})
		})
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		assert.Empty(t, h.writes)
		evs := h.events()
		require.Len(t, evs, 1)
		assert.True(t, strings.HasPrefix(evs[0], "Warning BadConfig MC1002 "), "%s", evs[0])
	})
	t.Run("outside the namespace's policy nothing is written and what meshcert wrote is deleted, with an OutsidePolicy Event", func(t *testing.T) {
		h := newHarness(t, decode(t, background+"\n---\n"+apiGatewayYAML(issued))...)
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		h.events()
		h.updateAPIObject(gatewayapi.KindGateway, apiGateway, func(u *unstructured.Unstructured) {
			listeners, _, _ := unstructured.NestedSlice(u.Object, "spec", "listeners")
			listeners[0].(map[string]any)["hostname"] = "api.example.org"
			_ = unstructured.SetNestedSlice(u.Object, listeners, "spec", "listeners")
		})
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		assert.ElementsMatch(t, []string{"delete team-a/api-tls", "delete team-a/admin-tls"}, h.writes)
		evs := h.events()
		require.NotEmpty(t, evs)
		assert.True(t, strings.HasPrefix(evs[0], "Warning OutsidePolicy MC8003 spec.listeners[0].hostname: "), "%s", evs[0])
		assert.Contains(t, strings.Join(evs, "\n"), "Normal DeleteCertificate Deleted Certificate team-a/api-tls, this Gateway names what its namespace may not have (see the Warning Event)")
	})
	t.Run("a Gateway being deleted in the foreground gets nothing written", func(t *testing.T) {
		gw := decode(t, apiGatewayYAML(issued))[0]
		gw.SetFinalizers([]string{metav1.FinalizerDeleteDependents})
		now := metav1.Now()
		gw.SetDeletionTimestamp(&now)
		h := newHarness(t, append(decode(t, background), gw)...)
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		assert.Empty(t, h.writes)
	})
	t.Run("a Gateway gone leaves its Certificates to the garbage collector, as the shim does", func(t *testing.T) {
		h := newHarness(t, decode(t, background)...)
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, apiGateway)
		assert.Empty(t, h.writes)
	})
}

const sharedGatewayYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra, uid: shared-uid, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  gatewayClassName: istio
  allowedListeners: {namespaces: {from: All}}
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a, uid: team-uid}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners: [{name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}]
`

var teamListenerSet = types.NamespacedName{Namespace: "team-a", Name: "team"}

func TestGatewayAPIListenerSets(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+sharedGatewayYAML)...)
	plan := h.planned(gatewayapi.KindListenerSet, teamListenerSet)
	require.Len(t, plan.Certificates, 1, "the ListenerSet takes its Gateway's issuer")

	h.reconcileAPI(gatewayapi.KindListenerSet, GatewayAPICertificatesMeshcert, teamListenerSet)
	assert.Equal(t, []string{"create team-a/web-tls"}, h.writes)
	crt, ok := h.teamCertificate("web-tls")
	require.True(t, ok)
	assert.Equal(t, plan.Certificates[0].Spec, crt.Spec)
	assert.Equal(t, plan.Certificates[0].Annotations, crt.Annotations)
	require.Len(t, crt.OwnerReferences, 1)
	assert.Equal(t, gatewayapi.KindListenerSet, crt.OwnerReferences[0].Kind)
	assert.Equal(t, types.UID("team-uid"), crt.OwnerReferences[0].UID)

	t.Run("the Gateway's reconcile never touches its ListenerSet's Certificate", func(t *testing.T) {
		h.writes = nil
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, types.NamespacedName{Namespace: "infra", Name: "shared"})
		assert.Empty(t, h.writes)
	})
}

func TestGatewayAPIWatchMappings(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+sharedGatewayYAML+"\n---\n"+apiGatewayYAML(issued))...)
	gateways := gatewayAPIMappings{reader: h.client, kind: gatewayapi.KindGateway}
	listenerSets := gatewayAPIMappings{reader: h.client, kind: gatewayapi.KindListenerSet}
	req := func(ns, name string) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
	}
	controller := true
	owned := func(kind, name string) *cmapi.Certificate {
		return &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "x", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: gatewayapi.Group + "/v1", Kind: kind, Name: name, Controller: &controller},
		}}}
	}
	ctx := t.Context()

	t.Run("a Certificate maps to the object that controls it", func(t *testing.T) {
		assert.Equal(t, req("team-a", "api"), gateways.ofCertificate(ctx, owned(gatewayapi.KindGateway, "api")))
		assert.Equal(t, req("team-a", "team"), listenerSets.ofCertificate(ctx, owned(gatewayapi.KindListenerSet, "team")))
	})
	t.Run("a Certificate no such object controls maps to the objects of its namespace naming a Secret of its name", func(t *testing.T) {
		handMade := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "admin-tls"}}
		assert.Equal(t, req("team-a", "api"), gateways.ofCertificate(ctx, handMade))
		handMade.Name = "web-tls"
		assert.Equal(t, req("team-a", "team"), listenerSets.ofCertificate(ctx, handMade))
		assert.Empty(t, gateways.ofCertificate(ctx, handMade))
	})
	t.Run("a Gateway maps to the ListenerSets attached to it, a ListenerSet to its Gateway", func(t *testing.T) {
		shared := h.apiObject(gatewayapi.KindGateway, types.NamespacedName{Namespace: "infra", Name: "shared"})
		assert.Equal(t, req("team-a", "team"), listenerSets.listenerSetsOf(ctx, shared))
		assert.Empty(t, listenerSets.listenerSetsOf(ctx, h.apiObject(gatewayapi.KindGateway, apiGateway)))
		assert.Equal(t, req("infra", "shared"), parentOfListenerSet(ctx, h.apiObject(gatewayapi.KindListenerSet, teamListenerSet)))
	})
	t.Run("a Namespace maps to its objects of the kind", func(t *testing.T) {
		ns := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
		assert.Equal(t, req("team-a", "api"), gateways.inNamespace(ctx, ns))
		assert.Equal(t, req("team-a", "team"), listenerSets.inNamespace(ctx, ns))
	})
}

func TestSetupGatewayAPI(t *testing.T) {
	served := meta.NewDefaultRESTMapper(nil)
	for _, kind := range []string{gatewayapi.KindGateway, gatewayapi.KindListenerSet} {
		served.Add(schema.GroupVersionKind{Group: gatewayapi.Group, Version: "v1", Kind: kind}, meta.RESTScopeNamespace)
	}
	onlyGateways := meta.NewDefaultRESTMapper(nil)
	onlyGateways.Add(schema.GroupVersionKind{Group: gatewayapi.Group, Version: "v1", Kind: gatewayapi.KindGateway}, meta.RESTScopeNamespace)
	tests := []struct {
		name      string
		mapper    meta.RESTMapper
		mode      GatewayAPICertificates
		wantAdded []string
	}{
		{
			name:      "where both CRDs are served, a controller for each kind is added, in either mode",
			mapper:    served,
			wantAdded: []string{"gateway-certificates", "gatewayapi-gateway-certificates", "gatewayapi-listenerset-certificates"},
		},
		{
			name:      "the meshcert mode adds the same controllers",
			mapper:    served,
			mode:      GatewayAPICertificatesMeshcert,
			wantAdded: []string{"gateway-certificates", "gatewayapi-gateway-certificates", "gatewayapi-listenerset-certificates"},
		},
		{
			name:      "without the ListenerSet CRD only Gateways get one",
			mapper:    onlyGateways,
			wantAdded: []string{"gateway-certificates", "gatewayapi-gateway-certificates"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mgr := &fakeManager{client: newHarness(t).client, mapper: tc.mapper}
			require.NoError(t, Setup(t.Context(), mgr, Config{Options: certs.DefaultOptions(), GatewayAPICertificates: tc.mode}))
			assert.Equal(t, tc.wantAdded, mgr.added)
		})
	}
}

// outsideListenerSetYAML: Gateway infra/shared with its own HTTPS listener,
// and a ListenerSet of team-b attached to it naming a host team-b's policy
// does not allow.
const outsideListenerSetYAML = `
apiVersion: v1
kind: Namespace
metadata:
  name: infra
  annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/ca}
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-b
  annotations: {meshcert.io/allowed-hosts: "*.b.example.com", meshcert.io/allowed-issuers: ClusterIssuer/ca}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra, uid: shared-uid, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  gatewayClassName: istio
  allowedListeners: {namespaces: {from: All}}
  listeners: [{name: https, port: 443, protocol: HTTPS, hostname: shared.example.com, tls: {certificateRefs: [{name: shared-tls}]}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-b, uid: team-b-uid}
spec:
  parentRef: {name: shared, namespace: infra}
  listeners: [{name: web, port: 8443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}]
`

func TestGatewayAPIMeshcertModeWithholdsOnlyWhatIsOutsidePolicy(t *testing.T) {
	h := newHarness(t, decode(t, background+"\n---\n"+outsideListenerSetYAML)...)
	shared := types.NamespacedName{Namespace: "infra", Name: "shared"}
	team := types.NamespacedName{Namespace: "team-b", Name: "team"}
	require.Contains(t, errorMessages(h.planned(gatewayapi.KindGateway, shared).Findings)[0], "MC8003 metadata.annotations[cert-manager.io/cluster-issuer]: ListenerSet team-b/team",
		"the Gateway is told of its ListenerSet outside team-b's policy")

	t.Run("the Gateway's own Certificate, within its namespace's policy, is written all the same", func(t *testing.T) {
		h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, shared)
		assert.Equal(t, []string{"create infra/shared-tls"}, h.writes)
		evs := h.events()
		assert.True(t, strings.HasPrefix(evs[0], "Warning BadConfig MC8003 "), "%s", evs[0])
	})
	t.Run("the ListenerSet outside its namespace's policy gets nothing, and an OutsidePolicy Event", func(t *testing.T) {
		h.writes = nil
		h.reconcileAPI(gatewayapi.KindListenerSet, GatewayAPICertificatesMeshcert, team)
		assert.Empty(t, h.writes)
		evs := h.events()
		require.Len(t, evs, 1)
		assert.True(t, strings.HasPrefix(evs[0], "Warning OutsidePolicy MC8003 spec.listeners[0].hostname: "), "%s", evs[0])
	})
}

func TestGatewayAPIMeshcertModeWithholdsAHijack(t *testing.T) {
	hijacker := `
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
  annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/ca}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: thief, namespace: istio-system, uid: thief-uid, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  gatewayClassName: istio
  listeners:
  - {name: own, port: 443, protocol: HTTPS, hostname: own.example.com, tls: {certificateRefs: [{name: own-tls}]}}
  - {name: stolen, port: 8443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: ` + webTLS + `}]}}
`
	h := newHarness(t, decode(t, background+"\n---\n"+gatewayYAML+"\n---\n"+hijacker)...)
	h.reconcile(web)
	_, ok := h.certificate(webTLS)
	require.True(t, ok, "meshcert manages the Istio Gateway's credential")
	h.writes = nil
	h.events()

	h.reconcileAPI(gatewayapi.KindGateway, GatewayAPICertificatesMeshcert, types.NamespacedName{Namespace: "istio-system", Name: "thief"})
	assert.Empty(t, h.writes, "a listener serving another namespace's credential withholds the object's Certificates, its own listener's too")
	evs := h.events()
	require.Len(t, evs, 1)
	assert.True(t, strings.HasPrefix(evs[0], "Warning BadConfig MC8001 spec.listeners[1].tls.certificateRefs[0]: "), "%s", evs[0])
}
