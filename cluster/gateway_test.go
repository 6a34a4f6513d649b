package cluster

import (
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/meshcert/meshcert/certs"
)

func TestCompactGateway(t *testing.T) {
	stored := func(t *testing.T) *unstructured.Unstructured {
		gw := gateway(t, "team-a", "web", "team-a/web.example.com", "web-tls")
		gw.SetUID(types.UID("b1f1"))
		gw.SetResourceVersion("42")
		gw.SetGeneration(3)
		gw.SetLabels(map[string]string{"app": "web"})
		gw.SetAnnotations(map[string]string{corev1.LastAppliedConfigAnnotation: `{"big":"copy"}`, "cert-manager.io/cluster-issuer": "ca"})
		gw.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl"}})
		return gw
	}

	t.Run("an unstructured Gateway is held as its metadata and the planner's view, without the object", func(t *testing.T) {
		held, err := CompactGateway(stored(t))
		require.NoError(t, err)
		g, ok := held.(*CachedGateway)
		require.True(t, ok, "held as %T", held)

		assert.Equal(t, certs.GatewayGVK, g.GroupVersionKind(), "Events about the Gateway name its kind")
		assert.Equal(t, "team-a", g.Namespace)
		assert.Equal(t, "web", g.Name)
		assert.Equal(t, types.UID("b1f1"), g.UID)
		assert.Equal(t, "42", g.ResourceVersion)
		assert.Equal(t, int64(3), g.Generation)
		assert.Equal(t, map[string]string{"app": "web"}, g.Labels)
		assert.Equal(t, map[string]string{"cert-manager.io/cluster-issuer": "ca"}, g.Annotations, "kubectl's copy of the object is dropped")
		assert.Nil(t, g.ManagedFields)

		want := certs.ParseGateway(stored(t))
		want.Object = nil
		want.Annotations = map[string]string{"cert-manager.io/cluster-issuer": "ca"}
		assert.Equal(t, want, g.Parsed, "the view is what ParseGateway reads, without the object")
		assert.Equal(t, []string{"team-a/web.example.com"}, g.Parsed.Servers[0].Hosts)
	})

	t.Run("an object already compacted passes through, so the transform is idempotent", func(t *testing.T) {
		held, err := CompactGateway(stored(t))
		require.NoError(t, err)
		again, err := CompactGateway(held)
		require.NoError(t, err)
		assert.Same(t, held, again)
	})

	t.Run("a tombstone passes through", func(t *testing.T) {
		tombstone := toolscache.DeletedFinalStateUnknown{Key: "team-a/web"}
		held, err := CompactGateway(tombstone)
		require.NoError(t, err)
		assert.Equal(t, tombstone, held)
	})

	t.Run("a deep copy has its own metadata and shares the immutable view", func(t *testing.T) {
		held, err := CompactGateway(stored(t))
		require.NoError(t, err)
		g := held.(*CachedGateway)
		cp, ok := g.DeepCopyObject().(*CachedGateway)
		require.True(t, ok)
		cp.Labels["app"] = "changed"
		assert.Equal(t, "web", g.Labels["app"])
		assert.Same(t, g.Parsed, cp.Parsed)
		assert.Nil(t, (*CachedGateway)(nil).DeepCopyObject())
	})

	t.Run("only Gateways are read back as one", func(t *testing.T) {
		_, err := cachedGatewayOf(&corev1.ConfigMap{})
		require.ErrorContains(t, err, "it holds a *v1.ConfigMap")
	})
}

func TestLookupGateways(t *testing.T) {
	l := lookupOf(t,
		gateway(t, "team-a", "web", "web.example.com", "web-tls"),
		gateway(t, "team-a", "api", "api.example.com", "api-tls"),
		gateway(t, "team-b", "web", "web.example.org", "web-tls"),
	)

	g, ok := l.Gateway(t.Context(), "team-a", "api")
	require.True(t, ok)
	assert.Equal(t, []string{"api.example.com"}, g.Parsed.Servers[0].Hosts)
	_, ok = l.Gateway(t.Context(), "team-c", "api")
	assert.False(t, ok)

	names := func(gws []*CachedGateway) []string {
		var out []string
		for _, g := range gws {
			out = append(out, g.Namespace+"/"+g.Name)
		}
		return out
	}
	assert.ElementsMatch(t, []string{"team-a/web", "team-a/api"}, names(l.Gateways(t.Context(), "team-a")))
	assert.ElementsMatch(t, []string{"team-a/web", "team-a/api", "team-b/web"}, names(l.Gateways(t.Context(), "")))
	assert.Empty(t, l.Gateways(t.Context(), "team-c"))

	claiming := l.GatewaysClaiming(t.Context(), certs.CredentialKey("web-tls"))
	require.Len(t, claiming, 2)
	assert.Same(t, func() *certs.Gateway { g, _ := l.Gateway(t.Context(), "team-a", "web"); return g.Parsed }(), claiming[0],
		"the planner reads the view the cache parsed once, not a new parse")
}

func TestLookupReadsAGatewayTheTransformDidNotCompact(t *testing.T) {
	// Informers whose Gateways were stored as read, without the cache's
	// transform: they are parsed when read, never taken for absent.
	inf := newInformers(t)
	require.NoError(t, Setup(t.Context(), inf))
	l, err := NewLookup(t.Context(), inf, logr.Discard())
	require.NoError(t, err)
	u := gateway(t, "team-a", "web", "web.example.com", "web-tls")
	informer, err := inf.GetInformer(t.Context(), u)
	require.NoError(t, err)
	require.NoError(t, informer.(toolscache.SharedIndexInformer).GetIndexer().Add(u))

	g, ok := l.Gateway(t.Context(), "team-a", "web")
	require.True(t, ok)
	assert.Equal(t, []string{"web.example.com"}, g.Parsed.Servers[0].Hosts)
	assert.Len(t, l.Gateways(t.Context(), "team-a"), 1)
	assert.Len(t, l.Gateways(t.Context(), ""), 1)
	assert.Len(t, l.GatewaysClaiming(t.Context(), certs.CredentialKey("web-tls")), 1)
}
