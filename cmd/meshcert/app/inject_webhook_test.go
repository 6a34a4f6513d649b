package app

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
	mcwebhook "github.com/meshcert/meshcert/webhook"
)

// TestInjectGoldenThroughTheWebhook runs every inject golden's input through
// the mutating webhook handler, as kubectl apply would send each Gateway,
// and checks the patched Gateway equals the one in the golden: the CLI and
// the webhook inject the same credentialNames.
func TestInjectGoldenThroughTheWebhook(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(injectTestdata, "*"))
	require.NoError(t, err)
	checked := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.yaml") {
			continue
		}
		t.Run(filepath.Base(in), func(t *testing.T) {
			var planner plannerFlags
			var input inputFlags
			fs := pflag.NewFlagSet("inject", pflag.ContinueOnError)
			planner.addTo(fs)
			input.addTo(fs)
			// How inject prints the shim's Certificates does not reach the
			// webhook: they come after every input object in the golden.
			var shim shimOutput
			fs.Var(&shim, "shim-certificates", "")
			require.NoError(t, fs.Parse(flagsOf(t, in)))

			objs, err := manifest.Read([]string{in}, nil)
			require.NoError(t, err)
			golden, err := manifest.Read([]string{strings.TrimSuffix(in, filepath.Ext(in)) + ".golden.yaml"}, nil)
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(golden), len(objs), "the golden holds every input object first")

			// The webhook's cache holds the input objects, as the cluster
			// would once they are applied.
			index := offline.NewIndex()
			for _, o := range objs {
				obj := o.Object.DeepCopy()
				if obj.GetNamespace() == "" && obj.GetKind() != "Namespace" && obj.GetKind() != "ClusterIssuer" {
					obj.SetNamespace(input.namespace)
				}
				require.NoError(t, index.Add(obj))
			}
			mutator := mcwebhook.NewGatewayMutator(index, mcwebhook.Config{Options: planner.options()}, nil)

			for i, o := range objs {
				if !certs.IsGateway(o.Object.GroupVersionKind()) {
					continue
				}
				raw, err := json.Marshal(o.Object.Object)
				require.NoError(t, err)
				gvk := o.Object.GroupVersionKind()
				resp := mutator.Handle(t.Context(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
					UID:       "golden",
					Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
					Namespace: input.namespace,
					Name:      o.Object.GetName(),
					Operation: admissionv1.Create,
					Object:    runtime.RawExtension{Raw: raw},
				}})
				require.True(t, resp.Allowed, "the mutating webhook never denies: %v", resp.Result)
				patched := raw
				if len(resp.Patches) > 0 {
					ops, err := json.Marshal(resp.Patches)
					require.NoError(t, err)
					patch, err := jsonpatch.DecodePatch(ops)
					require.NoError(t, err)
					patched, err = patch.Apply(raw)
					require.NoError(t, err)
				}
				var got map[string]any
				require.NoError(t, json.Unmarshal(patched, &got))
				want, err := json.Marshal(golden[i].Object.Object)
				require.NoError(t, err)
				var wantMap map[string]any
				require.NoError(t, json.Unmarshal(want, &wantMap))
				assert.Equal(t, wantMap, got, "Gateway %s: the webhook's patch differs from the inject golden", o.Object.GetName())
				checked++
			}
		})
	}
	assert.Positive(t, checked, "no Gateway was checked")
}
