package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
)

// TestGatewayAPIShimOnTheRealStack runs cert-manager's gateway-shim and
// listenerset controllers on the real stack (API server with the Gateway
// API CRDs, the cert-manager controller built from its module), applies
// Gateway API objects, and compares every Certificate the shim writes with
// what meshcert predicts from the objects as the API server stored them
// (defaults, UIDs): name, namespace, labels, annotations, owner and spec,
// field by field, and no Certificate more or less. The Certificates are
// then issued by a real ClusterIssuer.
func TestGatewayAPIShimOnTheRealStack(t *testing.T) {
	cp := framework.Start(t, framework.WithoutControllerManager(),
		framework.WithCertManagerControllers(framework.GatewayShimController, framework.ListenerSetShimController))
	logStart(t, cp)
	ctx := t.Context()
	c := cp.Client

	require.NoError(t, c.Create(ctx, &cmapi.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: "selfsigned"},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}},
	}))
	file := filepath.Join("testdata", "gatewayapi", "shim.yaml")
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	objs, err := manifest.Decode(file, data)
	require.NoError(t, err)
	for _, o := range objs {
		require.NoError(t, c.Create(ctx, o.Object), "creating %s %s", o.Object.GetKind(), o.Object.GetName())
	}

	// What the API server stored, with its defaults and UIDs.
	index := offline.NewIndex()
	var stored []*gatewayapi.Object
	for _, kind := range []string{gatewayapi.KindGateway, gatewayapi.KindListenerSet} {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion(gatewayapi.Group + "/v1")
		list.SetKind(kind + "List")
		require.NoError(t, c.List(ctx, list))
		for i := range list.Items {
			item := &list.Items[i]
			require.NoError(t, index.Add(item))
			parsed, err := gatewayapi.Parse(item)
			require.NoError(t, err)
			stored = append(stored, parsed)
		}
	}
	want := map[string]string{}
	for _, obj := range stored {
		plan := gatewayapi.Plan(ctx, obj, index, certs.DefaultOptions(), gatewayapi.DefaultShimOptions())
		for _, crt := range plan.Certificates {
			want[crt.Namespace+"/"+crt.Name] = certificateJSON(crt)
		}
	}
	require.Len(t, want, 5, "the fixture's objects give five Certificates")

	got := map[string]string{}
	eventually(t, "the shim's Certificates", func(ctx context.Context) error {
		list := &cmapi.CertificateList{}
		if err := c.List(ctx, list, client.InNamespace("infra")); err != nil {
			return err
		}
		more := &cmapi.CertificateList{}
		if err := c.List(ctx, more, client.InNamespace("team-a")); err != nil {
			return err
		}
		got = map[string]string{}
		for _, crt := range slices.Concat(list.Items, more.Items) {
			got[crt.Namespace+"/"+crt.Name] = certificateJSON(&crt)
		}
		if len(got) < len(want) {
			return fmt.Errorf("%d of %d Certificates", len(got), len(want))
		}
		return nil
	})
	assert.Equal(t, want, got, "the Certificates the shim wrote are the ones meshcert predicts")

	for name := range want {
		ns, n, _ := strings.Cut(name, "/")
		waitCertificateReady(t, c, &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n}})
	}
}
