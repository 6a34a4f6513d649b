package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/offline"
)

// IstioGateway is GatewayJSON with one server, decoded.
func IstioGateway(namespace, name, issuer string) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(GatewayJSON(namespace, name, issuer, 1)); err != nil {
		return nil, fmt.Errorf("failed to decode Gateway %s/%s: %w", namespace, name, err)
	}
	return obj, nil
}

// AdmittedIstioGateway is IstioGateway as stored after meshcert's mutating
// webhook: with the credentialName the planner injects (computed offline,
// as `meshcert inject` does).
func AdmittedIstioGateway(ctx context.Context, namespace, name, issuer string) (*unstructured.Unstructured, error) {
	obj, err := IstioGateway(namespace, name, issuer)
	if err != nil {
		return nil, err
	}
	plan := certs.PlanGateway(ctx, certs.ParseGateway(obj), offline.NewIndex(), certs.DefaultOptions())
	if len(plan.Injections) == 0 {
		return nil, fmt.Errorf("meshcert injects nothing into Gateway %s/%s: %v", namespace, name, plan.Findings)
	}
	mutated, err := plan.Mutated()
	if err != nil {
		return nil, fmt.Errorf("failed to inject into Gateway %s/%s: %w", namespace, name, err)
	}
	return mutated, nil
}

// GatewayAPIGateway is the Gateway API counterpart of IstioGateway, as
// cert-manager's gateway-shim reads it: one HTTPS listener terminating TLS
// with the Secret <name>-tls, annotated with the ClusterIssuer.
func GatewayAPIGateway(namespace, name, issuer string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "Gateway",
		"metadata": map[string]any{
			"name": name, "namespace": namespace,
			"annotations": map[string]any{"cert-manager.io/cluster-issuer": issuer},
		},
		"spec": map[string]any{
			"gatewayClassName": "bench",
			"listeners": []any{map[string]any{
				"name": "https", "hostname": fmt.Sprintf("%s-0.%s.example.com", name, namespace), "port": int64(443), "protocol": "HTTPS",
				"tls": map[string]any{"mode": "Terminate", "certificateRefs": []any{map[string]any{"name": name + "-tls"}}},
			}},
		},
	}}
}

// CreateAll creates objs with workers concurrent clients.
func CreateAll(ctx context.Context, c client.Client, objs []client.Object, workers int) error {
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(objs) || ctx.Err() != nil {
					return
				}
				if err := c.Create(ctx, objs[i]); err != nil {
					errs[w] = fmt.Errorf("failed to create %s %s/%s: %w", objs[i].GetObjectKind().GroupVersionKind().Kind, objs[i].GetNamespace(), objs[i].GetName(), err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CertificatesGVR are cert-manager's Certificates.
var CertificatesGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}

// Counter counts the objects of a resource through one watch of their
// metadata, so waiting for thousands costs the API server no repeated
// lists.
type Counter struct {
	count atomic.Int64
	// firstAdded is when the watch first saw an object added (UnixNano).
	firstAdded atomic.Int64
	stop       context.CancelFunc
	done       chan struct{}
}

// CountObjects starts counting the objects of gvr in every namespace: the
// ones listed now, plus those added, minus those deleted.
func CountObjects(ctx context.Context, cfg *rest.Config, gvr schema.GroupVersionResource) (*Counter, error) {
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to build a metadata client: %w", err)
	}
	list, err := mc.Resource(gvr).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to list %s: %w", gvr.Resource, err)
	}
	w, err := mc.Resource(gvr).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return nil, fmt.Errorf("failed to watch %s: %w", gvr.Resource, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Counter{stop: cancel, done: make(chan struct{})}
	c.count.Store(int64(len(list.Items)))
	go func() {
		defer close(c.done)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				switch ev.Type {
				case watch.Added:
					c.firstAdded.CompareAndSwap(0, time.Now().UnixNano())
					c.count.Add(1)
				case watch.Deleted:
					c.count.Add(-1)
				case watch.Modified, watch.Bookmark, watch.Error:
				}
			}
		}
	}()
	return c, nil
}

// FirstAdded is when the watch first saw an object added, zero if never.
func (c *Counter) FirstAdded() time.Time {
	if ns := c.firstAdded.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Count is the number of objects counted so far.
func (c *Counter) Count() int { return int(c.count.Load()) }

// WaitFor waits until at least n objects are counted or timeout passes.
func (c *Counter) WaitFor(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for c.Count() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("failed waiting for %d objects: %d after %s", n, c.Count(), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return fmt.Errorf("failed waiting for %d objects: the watch ended at %d", n, c.Count())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// Stop ends the watch.
func (c *Counter) Stop() {
	c.stop()
	<-c.done
}
