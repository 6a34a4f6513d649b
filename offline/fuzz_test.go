package offline

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/manifest"
)

// FuzzPlanObjects plans whatever a file holds, the kinds side by side as a
// CLI run plans them (Istio Gateways merged with Gateway API listeners on
// one workload, ListenerSets with their Gateways): it never panics, every
// finding names an object of the input, and the same input plans the
// same; CheckObjects gives the same result without the objects.
func FuzzPlanObjects(f *testing.F) {
	for _, file := range []string{"../testdata/findings/MC2025.yaml", "../testdata/findings/MC8002.yaml", "../testdata/findings/MC2024.yaml", "../testdata/findings/MC8001.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := manifest.Decode("fuzz.yaml", data)
		if err != nil {
			return
		}
		objs := make([]*unstructured.Unstructured, 0, len(docs))
		for _, d := range docs {
			objs = append(objs, d.Object)
		}
		plan := func() *Result {
			res, err := PlanObjects(t.Context(), objs, certs.DefaultOptions(), "default")
			if err != nil {
				return nil
			}
			return res
		}
		first := plan()
		if first == nil {
			return
		}
		for _, f := range first.Findings {
			assert.NotEmpty(t, f.Object.Kind, "%s: %s", f.Code, f.Message)
		}
		again := plan()
		if assert.NotNil(t, again) {
			assert.Equal(t, first.Findings, again.Findings)
		}
		checked, err := CheckObjects(t.Context(), objs, certs.DefaultOptions(), "default")
		if assert.NoError(t, err, "check plans what inject plans") {
			assert.Nil(t, checked.Objects)
			first.Objects = nil
			assert.Equal(t, first, checked, "check's result is inject's without the objects")
		}
	})
}
