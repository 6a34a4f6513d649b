package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/config/kube/ingress"
	kubecontroller "istio.io/istio/pilot/pkg/serviceregistry/kube/controller"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/krt"
	knetworking "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"

	"istio.io/istio/pilot/pkg/model"
)

// ingressVerdict says whether istiod, with the default mesh config, serves an
// Ingress, and how: the Gateway it makes of it and that Gateway's port-80
// server hosts and workload selector.
type ingressVerdict struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Served    bool              `json:"served"`
	Selector  map[string]string `json:"selector,omitempty"`
	Port80    []string          `json:"port80Hosts,omitempty"`
}

// noXDS drops the push requests Istio's ingress controller makes.
type noXDS struct{}

func (noXDS) ConfigUpdate(*model.PushRequest) {}

// servedIngresses runs Istio's own Ingress controller
// (pilot/pkg/config/kube/ingress) on a fake cluster holding the input's
// Ingresses and IngressClasses, with Istio's default mesh config, and
// reports for each Ingress whether Istio made a Gateway of it.
func servedIngresses(inputs []input, out *json.Encoder) error {
	var objects []runtime.Object
	var ingresses []*knetworking.Ingress
	for _, in := range inputs {
		decoder := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(in.data), 4096)
		for {
			var raw map[string]any
			if err := decoder.Decode(&raw); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return fmt.Errorf("failed to decode %s: %w", in.name, err)
			}
			if raw == nil {
				continue
			}
			switch raw["kind"] {
			case "Ingress":
				ing := &knetworking.Ingress{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, ing); err != nil {
					return fmt.Errorf("failed to read an Ingress of %s: %w", in.name, err)
				}
				if ing.Namespace == "" {
					ing.Namespace = "default"
				}
				ingresses = append(ingresses, ing)
				objects = append(objects, ing)
			case "IngressClass":
				class := &knetworking.IngressClass{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, class); err != nil {
					return fmt.Errorf("failed to read an IngressClass of %s: %w", in.name, err)
				}
				objects = append(objects, class)
			}
		}
	}

	client := kube.NewFakeClient(objects...)
	stop := make(chan struct{})
	defer close(stop)
	controller := ingress.NewController(client, meshwatcher.NewTestWatcher(mesh.DefaultMeshConfig()),
		kubecontroller.Options{DomainSuffix: constants.DefaultClusterLocalDomain, KrtDebugger: krt.GlobalDebugHandler}, noXDS{})
	client.RunAndWait(stop)
	go controller.Run(stop)
	if !kube.WaitForCacheSync("istio-oracle", stop, controller.HasSynced) {
		return errors.New("istio's ingress controller did not sync")
	}
	gateways := controller.KrtCollection(gvk.Gateway)
	if !gateways.WaitUntilSynced(stop) {
		return errors.New("istio's ingress Gateways did not sync")
	}
	// krt computes its outputs asynchronously; settle until two reads a
	// little apart agree.
	count := -1
	for range 50 {
		n := len(gateways.List())
		if n == count {
			break
		}
		count = n
		time.Sleep(100 * time.Millisecond)
	}

	for _, ing := range ingresses {
		verdict := ingressVerdict{Namespace: ing.Namespace, Name: ing.Name}
		name := ing.Name + "-" + constants.IstioIngressGatewayName + "-" + ing.Namespace
		for _, gw := range gateways.List() {
			if gw.Name != name {
				continue
			}
			spec := gw.Spec.(*networking.Gateway)
			verdict.Served = true
			verdict.Selector = spec.Selector
			for _, srv := range spec.Servers {
				if srv.GetPort().GetNumber() == 80 {
					verdict.Port80 = append(verdict.Port80, srv.Hosts...)
				}
			}
			slices.Sort(verdict.Port80)
		}
		if err := out.Encode(verdict); err != nil {
			return fmt.Errorf("failed to write a verdict: %w", err)
		}
	}
	return nil
}
