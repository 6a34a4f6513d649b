package cluster

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/offline"
)

// apiObject is a Gateway API object of kind, v1, from YAML.
func apiObject(t *testing.T, kind, doc string) *unstructured.Unstructured {
	t.Helper()
	u := NewGatewayAPIObject(kind)
	require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: gatewayapi.Group, Version: "v1", Kind: kind})
	return u
}

func sharedGateway(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	return apiObject(t, gatewayapi.KindGateway, `
metadata: {name: shared, namespace: infra, annotations: {cert-manager.io/cluster-issuer: ca}}
spec:
  gatewayClassName: istio
  allowedListeners: {namespaces: {from: All}}
  listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]
status:
  listeners: [{name: http, attachedRoutes: 3, supportedKinds: [{kind: HTTPRoute}], conditions: []}]
`)
}

func teamListenerSet(t *testing.T, parent string) *unstructured.Unstructured {
	t.Helper()
	return apiObject(t, gatewayapi.KindListenerSet, `
metadata: {name: team, namespace: team-a}
spec:
  parentRef: {name: `+parent+`, namespace: infra}
  listeners: [{name: web, port: 443, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web-tls}]}}]
`)
}

// planned plans a ListenerSet with gatewayapi.Plan, as the webhook does,
// and returns its findings.
func planned(t *testing.T, lookup certs.Lookup, ls *unstructured.Unstructured) finding.Findings {
	t.Helper()
	obj, err := gatewayapi.Parse(ls)
	require.NoError(t, err)
	return gatewayapi.Plan(t.Context(), obj, lookup, certs.DefaultOptions(), gatewayapi.DefaultShimOptions()).Findings
}

// plannedCodes is the codes of planned's findings.
func plannedCodes(t *testing.T, lookup certs.Lookup, ls *unstructured.Unstructured) []finding.Code {
	t.Helper()
	var codes []finding.Code
	for _, f := range planned(t, lookup, ls) {
		codes = append(codes, f.Code)
	}
	return codes
}

// The server's Lookup knows Gateway API Gateways and ListenerSets from its
// cache when the API server serves them, so the webhook finds a
// ListenerSet's parent Gateway, and a gatewayHTTPRoute solver its route's
// parents; without their CRDs it knows none, and says so, rather than
// "not found", and a ListenerSet is told to restart meshcert.
func TestLookupGatewayAPI(t *testing.T) {
	t.Run("with the CRDs, a ListenerSet finds its parent Gateway and takes its issuer", func(t *testing.T) {
		l := lookupOf(t, sharedGateway(t), teamListenerSet(t, "shared"), namespace("team-a", nil))
		assert.True(t, l.KnowsGatewayAPI(t.Context(), gatewayapi.KindGateway))
		assert.True(t, l.KnowsGatewayAPI(t.Context(), gatewayapi.KindListenerSet))
		gw, ok := l.APIGateway(t.Context(), "infra", "shared")
		require.True(t, ok)
		assert.Equal(t, "ca", gw.Annotations["cert-manager.io/cluster-issuer"])
		_, ok = l.APIGateway(t.Context(), "team-a", "shared")
		assert.False(t, ok, "a Gateway is found in its own namespace only")
		ls, ok := l.ListenerSet(t.Context(), "team-a", "team")
		require.True(t, ok)
		assert.Equal(t, "shared", ls.ParentName)
		codes := plannedCodes(t, l, teamListenerSet(t, "shared"))
		assert.NotContains(t, codes, finding.CodeListenerSetParentUnknown)
		assert.Contains(t, codes, finding.CodeIssuerNotFound, "the ClusterIssuer the ListenerSet takes from its Gateway is looked for (this cache holds none)")
	})
	t.Run("with the CRDs, a ListenerSet whose Gateway does not exist gets MC2021", func(t *testing.T) {
		l := lookupOf(t, sharedGateway(t))
		assert.Contains(t, plannedCodes(t, l, teamListenerSet(t, "missing")), finding.CodeListenerSetParentUnknown)
	})
	t.Run("a route parent is the object as a route sees it, a ListenerSet with its Gateway", func(t *testing.T) {
		l := lookupOf(t, sharedGateway(t), teamListenerSet(t, "shared"))
		parent, known := l.RouteParent(t.Context(), gatewayapi.KindListenerSet, "team-a", "team")
		require.True(t, known)
		require.NotNil(t, parent)
		assert.Equal(t, "web", parent.Listeners[0].Name)
		require.NotNil(t, parent.Gateway)
		assert.Equal(t, int32(80), parent.Gateway.Listeners[0].Port)
		assert.NotNil(t, parent.Gateway.AllowedListeners)
		parent, known = l.RouteParent(t.Context(), gatewayapi.KindGateway, "infra", "missing")
		assert.True(t, known, "the Gateways are known")
		assert.Nil(t, parent, "and this one does not exist")
	})
	t.Run("without the CRDs, Setup and NewLookup succeed and the Lookup knows no Gateway API object", func(t *testing.T) {
		inf := newInformers(t)
		inf.unserved = map[string]bool{gatewayapi.Group: true}
		require.NoError(t, Setup(t.Context(), inf))
		l, err := NewLookup(t.Context(), inf, logr.Discard())
		require.NoError(t, err)
		inf.add(issuer("team-a", "ca"))
		_, ok := l.Issuer(t.Context(), "team-a", "ca")
		assert.True(t, ok, "everything else is served")
		assert.False(t, l.KnowsGatewayAPI(t.Context(), gatewayapi.KindGateway))
		assert.False(t, l.KnowsGatewayAPI(t.Context(), gatewayapi.KindListenerSet))
		_, known := l.ReferenceGrants(t.Context(), "certs")
		assert.False(t, known, "nor ReferenceGrants")
		_, ok = l.APIGateway(t.Context(), "infra", "shared")
		assert.False(t, ok)
		parent, known := l.RouteParent(t.Context(), gatewayapi.KindGateway, "infra", "shared")
		assert.False(t, known)
		assert.Nil(t, parent)
		// A ListenerSet admitted while the Lookup knows no Gateways: their
		// CRD came after meshcert started. It cannot say the parent is
		// missing, and says why it cannot see it.
		fs := planned(t, l, teamListenerSet(t, "missing"))
		require.Len(t, fs, 1)
		assert.Equal(t, finding.CodeListenerSetParentUnknown, fs[0].Code)
		assert.Equal(t, finding.SeverityWarning, fs[0].Severity)
		assert.Contains(t, fs[0].Message, "meshcert knows no Gateway API Gateways (their CRD was not installed when it started)")
		assert.Contains(t, fs[0].Message, "restart meshcert")
		assert.NotContains(t, fs[0].Message, "is not known, and")
	})
	t.Run("another error getting an optional informer still fails Setup", func(t *testing.T) {
		r := &recordingInformers{err: context.DeadlineExceeded}
		require.Error(t, Setup(t.Context(), r))
	})
	t.Run("a Snapshot knows them from a reader that serves them, and not from one that does not", func(t *testing.T) {
		objs := []client.Object{sharedGateway(t), teamListenerSet(t, "shared")}
		l, err := Snapshot(t.Context(), fakeReader(t, objs...), DefaultConfig(), logr.Discard())
		require.NoError(t, err)
		assert.True(t, l.KnowsGatewayAPI(t.Context(), gatewayapi.KindGateway))
		_, ok := l.ListenerSet(t.Context(), "team-a", "team")
		assert.True(t, ok)

		l, err = Snapshot(t.Context(), unservedReader{Client: fakeReader(t), group: gatewayapi.Group}, DefaultConfig(), logr.Discard())
		require.NoError(t, err)
		assert.False(t, l.KnowsGatewayAPI(t.Context(), gatewayapi.KindGateway))
	})
	t.Run("the cache holds them without status", func(t *testing.T) {
		out, err := StripForCache(sharedGateway(t))
		require.NoError(t, err)
		_, found := out.(*unstructured.Unstructured).Object["status"]
		assert.False(t, found)
		istio := gateway(t, "team-a", "web", "web.example.com", "web-tls")
		istio.Object["status"] = map[string]any{"kept": true}
		out, err = StripForCache(istio)
		require.NoError(t, err)
		_, found = out.(*unstructured.Unstructured).Object["status"]
		assert.True(t, found, "Istio's Gateways are left as they are")
	})
}

// unservedReader answers a List of group as a REST mapper that does not
// know it.
type unservedReader struct {
	client.Client
	group string
}

func (r unservedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if gvk := list.GetObjectKind().GroupVersionKind(); gvk.Group == r.group {
		return &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
	}
	return r.Client.List(ctx, list, opts...)
}

// The server's Lookup and the CLI's Index agree on a ListenerSet and on a
// gatewayHTTPRoute solver's parents.
func TestLookupAgreesWithIndexOnGatewayAPI(t *testing.T) {
	objs := []*unstructured.Unstructured{sharedGateway(t), teamListenerSet(t, "shared")}
	index := offline.NewIndex()
	cached := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		require.NoError(t, index.Add(o))
		cached = append(cached, o.DeepCopy())
	}
	lookup := lookupOf(t, cached...)
	for _, ls := range []*unstructured.Unstructured{teamListenerSet(t, "shared"), teamListenerSet(t, "missing")} {
		assert.Equal(t, plannedCodes(t, index, ls), plannedCodes(t, lookup, ls))
	}
	for _, ref := range [][3]string{{gatewayapi.KindGateway, "infra", "shared"}, {gatewayapi.KindListenerSet, "team-a", "team"}, {gatewayapi.KindGateway, "infra", "missing"}} {
		fromIndex, indexKnows := index.RouteParent(t.Context(), ref[0], ref[1], ref[2])
		fromCache, cacheKnows := lookup.RouteParent(t.Context(), ref[0], ref[1], ref[2])
		assert.Equal(t, indexKnows, cacheKnows, "%v", ref)
		assert.Equal(t, fromIndex, fromCache, "%v", ref)
	}
}

// TestLookupKnowsTheListenersIstiodMergesWithAnIstioGateway: the server
// plans an Istio Gateway against the Gateway API listeners istiod merges
// with it on the gateway istiod deploys, as the CLI does from its input.
func TestLookupKnowsTheListenersIstiodMergesWithAnIstioGateway(t *testing.T) {
	api := apiObject(t, gatewayapi.KindGateway, `
metadata: {name: api, namespace: infra}
spec:
  gatewayClassName: istio
  listeners: [{name: https, port: 443, protocol: HTTPS, hostname: shop.example.com, tls: {certificateRefs: [{name: api-tls}]}}]
`)
	istioGateway := func(ns string) *unstructured.Unstructured {
		return gatewayFromYAML(t, "networking.istio.io/v1", `
metadata: {name: shop, namespace: `+ns+`}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: api}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: shop-tls}
`)
	}
	index := offline.NewIndex()
	require.NoError(t, index.Add(api))
	lookup := lookupOf(t, api.DeepCopy())
	codes := func(l certs.Lookup, ns string) []finding.Code {
		var out []finding.Code
		for _, f := range certs.PlanGateway(t.Context(), certs.ParseGateway(istioGateway(ns)), l, certs.DefaultOptions()).Findings {
			// The server caches no Secrets, so only the index says one is
			// missing (MC4001).
			if f.Code != finding.CodeCredentialNotFound {
				out = append(out, f.Code)
			}
		}
		return out
	}
	assert.Contains(t, codes(lookup, "infra"), finding.CodeHostConflict, "an Istio Gateway of the Gateway's namespace is merged with its listener")
	assert.Contains(t, codes(lookup, "team-b"), finding.CodeNotMergedOntoGateway, "one of another namespace is not merged at all")
	for _, ns := range []string{"infra", "team-b"} {
		gw := certs.ParseGateway(istioGateway(ns))
		assert.Equal(t, index.ListenersBeside(t.Context(), gw), lookup.ListenersBeside(t.Context(), gw), ns)
		assert.Equal(t, codes(index, ns), codes(lookup, ns), ns)
	}
}
