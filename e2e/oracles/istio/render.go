package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"istio.io/istio/operator/pkg/component"
	"istio.io/istio/operator/pkg/render"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/validation/agent"
	"istio.io/istio/pkg/util/protomarshal"
	"sigs.k8s.io/yaml"
)

// renderVerdict is what istioctl renders for one IstioOperator
// (operator/pkg/render.GenerateManifest, the code behind `istioctl manifest
// generate` and `istioctl install`, offline: no cluster, the charts built
// into istioctl): where istiod's Deployment lands, its discovery
// container's env and the mesh config of the `istio` ConfigMap as istiod
// reads it.
type renderVerdict struct {
	File      string `json:"file"`
	Index     int    `json:"index"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// RenderError is why istioctl renders nothing (validation runs with
	// --force, so only what stops rendering itself is here).
	RenderError string `json:"renderError,omitempty"`
	// Istiod is false when the render has no istiod Deployment (pilot
	// disabled, a remote profile).
	Istiod          bool   `json:"istiod"`
	IstiodNamespace string `json:"istiodNamespace,omitempty"`
	IstiodName      string `json:"istiodName,omitempty"`
	// Env is the discovery container's env, name → value; when a name
	// repeats, the last entry wins, as in the kubelet. Entries with
	// valueFrom are "" and listed in EnvFrom.
	Env     map[string]string `json:"env"`
	EnvFrom []string          `json:"envFrom,omitempty"`
	// EnvNames is the env in order, repeats included.
	EnvNames []string `json:"envNames"`
	// EnvList is the env in order as name=value, repeats included.
	EnvList []string `json:"envList"`
	// Mesh is the `mesh` key of the istio ConfigMap decoded with Istio's
	// defaults (mesh.ApplyMeshConfigDefaults, as istiod loads it), as
	// MeshConfig JSON; MeshError is why istiod would refuse it.
	Mesh         json.RawMessage `json:"mesh,omitempty"`
	MeshError    string          `json:"meshError,omitempty"`
	MeshWarnings string          `json:"meshWarnings,omitempty"`
}

func renderOperators(inputs []input, out *json.Encoder) error {
	dir, err := os.MkdirTemp("", "istio-oracle-render-")
	if err != nil {
		return fmt.Errorf("failed to make a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	for _, in := range inputs {
		objs, err := decode(in)
		if err != nil {
			return err
		}
		for i, o := range objs {
			if o.obj.Kind != "IstioOperator" || !strings.HasPrefix(o.obj.APIVersion, "install.istio.io/") {
				continue
			}
			v, err := renderOperator(dir, in, i, o.obj)
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

func renderOperator(dir string, in input, index int, o object) (renderVerdict, error) {
	v := renderVerdict{File: in.name, Index: index, Namespace: o.Metadata.Namespace, Name: o.Metadata.Name,
		Env: map[string]string{}, EnvNames: []string{}, EnvList: []string{}}
	meta := map[string]any{"name": o.Metadata.Name}
	if o.Metadata.Namespace != "" {
		meta["namespace"] = o.Metadata.Namespace
	}
	doc := map[string]any{"apiVersion": o.APIVersion, "kind": o.Kind, "metadata": meta}
	if len(o.Spec) > 0 && string(o.Spec) != "null" {
		doc["spec"] = o.Spec
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return v, fmt.Errorf("failed to encode %s: %w", in.name, err)
	}
	file := filepath.Join(dir, "iop.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return v, fmt.Errorf("failed to write %s: %w", file, err)
	}
	// force: validation findings are istio-oracle istiooperator's business;
	// here only what istioctl would render counts.
	sets, _, renderErr := render.GenerateManifest([]string{file}, nil, true, nil, nil)
	if renderErr != nil {
		v.RenderError = renderErr.Error()
		return v, nil //nolint:nilerr // istioctl refusing it is the verdict, not the oracle failing
	}
	for _, set := range sets {
		if set.Component != component.PilotComponentName {
			continue
		}
		for _, m := range set.Manifests {
			switch {
			case m.GetKind() == "Deployment" && strings.HasPrefix(m.GetName(), "istiod"):
				v.Istiod = true
				v.IstiodNamespace = m.GetNamespace()
				v.IstiodName = m.GetName()
				readEnv(&v, m.Object)
			case m.GetKind() == "ConfigMap" && (m.GetName() == "istio" || strings.HasPrefix(m.GetName(), "istio-")):
				data, _ := unstructuredString(m.Object, "data", "mesh")
				if data == "" {
					continue
				}
				readMesh(&v, data)
			}
		}
	}
	return v, nil
}

func readEnv(v *renderVerdict, obj map[string]any) {
	containers, _ := dig(obj, "spec", "template", "spec", "containers").([]any)
	for _, c := range containers {
		cm, _ := c.(map[string]any)
		if cm["name"] != "discovery" {
			continue
		}
		env, _ := cm["env"].([]any)
		for _, e := range env {
			em, _ := e.(map[string]any)
			name, _ := em["name"].(string)
			v.EnvNames = append(v.EnvNames, name)
			if _, from := em["valueFrom"]; from {
				v.Env[name] = ""
				v.EnvList = append(v.EnvList, name+"<-valueFrom")
				v.EnvFrom = append(v.EnvFrom, name)
				continue
			}
			switch val := em["value"].(type) {
			case string:
				v.Env[name] = val
			case nil:
				v.Env[name] = ""
			default:
				v.Env[name] = fmt.Sprint(val)
			}
			v.EnvList = append(v.EnvList, name+"="+v.Env[name])
		}
	}
}

func readMesh(v *renderVerdict, data string) {
	mc, err := mesh.ApplyMeshConfigDefaults(data)
	if err != nil {
		v.MeshError = err.Error()
		return
	}
	if warn, err := agent.ValidateMeshConfig(mc); err != nil {
		v.MeshError = err.Error()
	} else if warn != nil {
		v.MeshWarnings = warn.Error()
	}
	js, err := protomarshal.ToJSON(mc)
	if err != nil {
		v.MeshError = err.Error()
		return
	}
	v.Mesh = json.RawMessage(js)
}

func dig(obj map[string]any, keys ...string) any {
	var cur any = obj
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func unstructuredString(obj map[string]any, keys ...string) (string, bool) {
	s, ok := dig(obj, keys...).(string)
	return s, ok
}
