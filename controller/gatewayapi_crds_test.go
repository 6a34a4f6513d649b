package controller

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllertest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/gatewayapi"
)

// noListenerSetCache serves every informer except ListenerSets, whose CRD is
// not installed (gateway-api standard CRDs before v1.5).
type noListenerSetCache struct{ informertest.FakeInformers }

func (c *noListenerSetCache) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	if obj.GetObjectKind().GroupVersionKind().Kind == gatewayapi.KindListenerSet {
		return nil, &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: gatewayapi.Group, Kind: gatewayapi.KindListenerSet}, SearchedVersions: []string{"v1"}}
	}
	// Every other kind is served and synced at once.
	return controllertest.NewFakeInformer(controllertest.Synced), nil
}

type noListenerSetManager struct {
	fakeManager
	cache     *noListenerSetCache
	runnables []manager.Runnable
}

func (m *noListenerSetManager) GetCache() cache.Cache { return m.cache }
func (m *noListenerSetManager) GetControllerOptions() config.Controller {
	return config.Controller{SkipNameValidation: new(true), CacheSyncTimeout: 3 * time.Second}
}
func (m *noListenerSetManager) Add(r manager.Runnable) error {
	m.runnables = append(m.runnables, r)
	return nil
}

// TestGatewayControllerStartsWithoutTheListenerSetCRD: Gateway API
// releases before v1.5 serve Gateways but no v1 ListenerSets. A watch on a
// kind not served never syncs, and controller-runtime then fails the
// controller after its CacheSyncTimeout, stopping the manager; so the
// Gateway controller watches ListenerSets only where they are served.
func TestGatewayControllerStartsWithoutTheListenerSetCRD(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: gatewayapi.Group, Version: "v1", Kind: gatewayapi.KindGateway}, meta.RESTScopeNamespace)
	h := newHarness(t)
	mgr := &noListenerSetManager{fakeManager: fakeManager{client: h.client, mapper: mapper}, cache: &noListenerSetCache{FakeInformers: informertest.FakeInformers{Scheme: h.client.Scheme(), Synced: new(true)}}}
	require.NoError(t, setupGatewayAPI(t.Context(), mgr, Config{Options: certs.DefaultOptions()}))
	require.Len(t, mgr.runnables, 1, "a controller for Gateways only")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	assert.NoError(t, mgr.runnables[0].Start(ctx), "it starts and runs until stopped, past its 3 s cache-sync timeout")
}
