package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"istio.io/istio/operator/pkg/apis/validation"
	"istio.io/istio/operator/pkg/values"
	"istio.io/istio/pilot/pkg/trustbundle"
	"istio.io/istio/pkg/config/mesh"
)

// operatorVerdict is what Istio makes of one IstioOperator: istioctl's own
// validation (operator/pkg/apis/validation, as `istioctl install` runs it
// before installing), and the trust anchors istiod builds from its mesh
// config (pilot/pkg/trustbundle, which istiod runs with
// ISTIO_MULTIROOT_MESH), plus the multi-root switches as Istio reads them.
type operatorVerdict struct {
	File      string   `json:"file"`
	Index     int      `json:"index"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Errors    []string `json:"errors"`
	Warnings  []string `json:"warnings"`
	// TrustAnchors are the PEMs istiod's trust bundle holds from
	// meshConfig.caCertificates; TrustBundleError is why it refused them.
	TrustAnchors     []string `json:"trustAnchors"`
	TrustBundleError string   `json:"trustBundleError,omitempty"`
	// MultiRootMesh is values.pilot.env.ISTIO_MULTIROOT_MESH and
	// ProxyConfigXDSAgent the proxies' PROXY_CONFIG_XDS_AGENT, as strings.
	MultiRootMesh       string `json:"multiRootMesh"`
	ProxyConfigXDSAgent string `json:"proxyConfigXdsAgent"`
}

func istioOperators(inputs []input, out *json.Encoder) error {
	for _, in := range inputs {
		objs, err := decode(in)
		if err != nil {
			return err
		}
		for i, o := range objs {
			if o.obj.Kind != "IstioOperator" || !strings.HasPrefix(o.obj.APIVersion, "install.istio.io/") {
				continue
			}
			v, err := judgeIstioOperator(in, i, o.obj)
			if err != nil {
				return err
			}
			if err := out.Encode(v); err != nil {
				return fmt.Errorf("failed to write a verdict: %w", err)
			}
		}
	}
	return nil
}

func judgeIstioOperator(in input, index int, o object) (operatorVerdict, error) {
	v := operatorVerdict{File: in.name, Index: index, Namespace: o.Metadata.Namespace, Name: o.Metadata.Name,
		Errors: []string{}, Warnings: []string{}, TrustAnchors: []string{}}
	raw, err := json.Marshal(map[string]any{
		"apiVersion": o.APIVersion, "kind": o.Kind,
		"metadata": map[string]any{"name": o.Metadata.Name, "namespace": o.Metadata.Namespace, "annotations": o.Metadata.Annotations},
		"spec":     o.Spec,
	})
	if err != nil {
		return v, fmt.Errorf("failed to encode %s: %w", in.name, err)
	}
	iop, err := values.MapFromJSON(raw)
	if err != nil {
		return v, fmt.Errorf("failed to read %s: %w", in.name, err)
	}
	warnings, errs := validation.ParseAndValidateIstioOperator(iop, nil)
	for _, e := range errs {
		v.Errors = append(v.Errors, e.Error())
	}
	for _, w := range warnings {
		v.Warnings = append(v.Warnings, w.Error())
	}
	v.MultiRootMesh = iop.GetPathString("spec.values.pilot.env.ISTIO_MULTIROOT_MESH")
	v.ProxyConfigXDSAgent = iop.GetPathString("spec.meshConfig.defaultConfig.proxyMetadata.PROXY_CONFIG_XDS_AGENT")
	anchors, err := trustAnchors(iop)
	if err != nil {
		// Istio's refusal is the verdict, not a failure of the oracle.
		v.TrustBundleError = err.Error()
	}
	v.TrustAnchors = append(v.TrustAnchors, anchors...)
	return v, nil
}

// trustAnchors builds istiod's trust bundle from the mesh config.
func trustAnchors(iop values.Map) ([]string, error) {
	meshYAML := "{}"
	if m, ok := iop.GetPathMap("spec.meshConfig"); ok {
		meshYAML = m.JSON()
	}
	meshConfig, err := mesh.ApplyMeshConfigDefaults(meshYAML)
	if err != nil {
		return nil, fmt.Errorf("failed to read the mesh config: %w", err)
	}
	tb := trustbundle.NewTrustBundle(nil, nil)
	if err := tb.AddMeshConfigUpdate(meshConfig); err != nil {
		return nil, fmt.Errorf("failed to build the trust bundle: %w", err)
	}
	return tb.GetTrustBundle(), nil
}
