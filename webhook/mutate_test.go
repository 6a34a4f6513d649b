package webhook

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
)

const clusterIssuerCA = `
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
status: {conditions: [{type: Ready, status: "True"}]}
`

func managedGateway(apiVersion, annotations string) string {
	return `
apiVersion: ` + apiVersion + `
kind: Gateway
metadata:
  name: web
  namespace: team-a
  annotations: {` + annotations + `}
  labels: {app: web}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [team-a/web.example.com]
    tls: {mode: SIMPLE}
  - port: {number: 8443, name: https-admin, protocol: HTTPS}
    hosts: [admin.example.com]
    tls: {mode: MUTUAL, credentialName: ` + certs.CredentialName("team-a", "web", "https-admin") + `, minProtocolVersion: TLSV1_3}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
`
}

func TestGatewayMutator(t *testing.T) {
	tests := []struct {
		name        string
		gateway     string
		extra       string
		opts        certs.Options
		wantPatched bool
	}{
		{
			name:        "a v1 Gateway with an issuer annotation gets its credentialName",
			gateway:     managedGateway("networking.istio.io/v1", "cert-manager.io/cluster-issuer: ca"),
			wantPatched: true,
		},
		{
			name:        "a v1beta1 Gateway is patched the same way",
			gateway:     managedGateway("networking.istio.io/v1beta1", "cert-manager.io/cluster-issuer: ca"),
			wantPatched: true,
		},
		{
			name:        "a v1alpha3 Gateway is patched the same way",
			gateway:     managedGateway("networking.istio.io/v1alpha3", "cert-manager.io/cluster-issuer: ca"),
			wantPatched: true,
		},
		{
			name:        "a Gateway whose issuer does not exist yet is still patched, never denied",
			gateway:     managedGateway("networking.istio.io/v1", "cert-manager.io/cluster-issuer: missing"),
			wantPatched: true,
		},
		{
			name:    "an opted-out Gateway is left alone",
			gateway: managedGateway("networking.istio.io/v1", `cert-manager.io/cluster-issuer: ca, meshcert.io/inject: "false"`),
		},
		{
			name:    "a Gateway without issuer annotation in an unlabelled namespace is left alone",
			gateway: managedGateway("networking.istio.io/v1", ""),
			opts:    certs.Options{DefaultIssuer: certs.DefaultOptions().DefaultIssuer},
		},
		{
			name:    "the default issuer manages Gateways in a labelled namespace",
			gateway: managedGateway("networking.istio.io/v1", ""),
			extra: `
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {meshcert.io/inject: enabled}}
`,
			opts: func() certs.Options {
				o := certs.DefaultOptions()
				o.DefaultIssuer.Name = "ca"
				o.DefaultIssuer.Kind = "ClusterIssuer"
				return o
			}(),
			wantPatched: true,
		},
		{
			name:        "a Gateway with contradicting issuer annotations is patched as the planner decides; the validating webhook denies it",
			gateway:     managedGateway("networking.istio.io/v1", "cert-manager.io/cluster-issuer: ca, cert-manager.io/issuer: ca"),
			wantPatched: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gw := objects(t, tc.gateway)[0]
			lookup := index(t, objects(t, clusterIssuerCA+"\n---\n"+tc.extra)...)
			h := NewGatewayMutator(lookup, Config{Options: tc.opts}, nil)
			req := request(t, gw)

			resp := handle(h, req)
			require.True(t, resp.Allowed, "the mutating webhook never denies: %v", resp.Result)
			want := certs.PlanGateway(t.Context(), certs.ParseGateway(gw), lookup, tc.opts)
			if !tc.wantPatched {
				assert.Empty(t, want.Injections, "the planner agrees nothing is injected")
				assert.Empty(t, resp.Patches)
				assert.Nil(t, resp.PatchType)
				return
			}
			require.NotEmpty(t, want.Injections)
			require.NotEmpty(t, resp.Patches)
			for _, p := range resp.Patches {
				assert.True(t, strings.HasPrefix(p.Path, "/spec/servers/0/tls"), "the patch touches only the injected field: %v", p)
			}
			patched := applyPatch(t, req.Object.Raw, resp)
			wantMutated, err := want.Mutated()
			require.NoError(t, err)
			assert.Equal(t, roundTrip(t, wantMutated.Object), jsonToMap(t, patched), "the patched object is the planner's mutated object")

			again := handle(h, rawRequest(gw.GroupVersionKind(), gw.GetNamespace(), gw.GetName(), patched, withOperation(admissionv1.Update)))
			assert.True(t, again.Allowed)
			assert.Empty(t, again.Patches, "reinvoking on the patched object gives no patch")
		})
	}
}

func TestGatewayMutatorRequests(t *testing.T) {
	lookup := index(t, objects(t, clusterIssuerCA)...)
	h := NewGatewayMutator(lookup, Config{}, nil)
	gw := objects(t, managedGateway("networking.istio.io/v1", "cert-manager.io/cluster-issuer: ca"))[0]

	t.Run("a dry-run request is answered exactly like a real one", func(t *testing.T) {
		wet := handle(h, request(t, gw))
		dry := handle(h, request(t, gw, dryRun()))
		require.NotEmpty(t, wet.Patches)
		assert.Equal(t, wet, dry)
	})
	t.Run("an UPDATE is patched like a CREATE", func(t *testing.T) {
		assert.Equal(t, handle(h, request(t, gw)).Patches, handle(h, request(t, gw, withOperation(admissionv1.Update))).Patches)
	})
	t.Run("a DELETE is allowed without looking at the object", func(t *testing.T) {
		req := rawRequest(gw.GroupVersionKind(), "team-a", "web", nil, withOperation(admissionv1.Delete))
		resp := handle(h, req)
		assert.True(t, resp.Allowed)
		assert.Empty(t, resp.Patches)
	})
	t.Run("an object that is not JSON is a bad request", func(t *testing.T) {
		resp := handle(h, rawRequest(gw.GroupVersionKind(), "team-a", "web", []byte("{not json")))
		assert.False(t, resp.Allowed)
		assert.Equal(t, int32(http.StatusBadRequest), resp.Result.Code)
	})
	t.Run("a request without object is a bad request", func(t *testing.T) {
		resp := handle(h, rawRequest(gw.GroupVersionKind(), "team-a", "web", nil))
		assert.False(t, resp.Allowed)
		assert.Equal(t, int32(http.StatusBadRequest), resp.Result.Code)
	})
	t.Run("a Gateway without metadata.namespace is planned in the request's namespace and keeps none", func(t *testing.T) {
		noNS := gw.DeepCopy()
		noNS.SetNamespace("")
		req := request(t, noNS)
		req.Namespace = "team-a"
		resp := handle(h, req)
		require.NotEmpty(t, resp.Patches)
		patched := jsonToMap(t, applyPatch(t, req.Object.Raw, resp))
		md, _ := patched["metadata"].(map[string]any)
		assert.NotContains(t, md, "namespace")
		withNS := handle(h, request(t, gw))
		assert.Equal(t, withNS.Patches, resp.Patches, "the injected name uses the request's namespace")
	})
	t.Run("a Gateway being deleted is not mutated", func(t *testing.T) {
		deleting := gw.DeepCopy()
		deleting.Object["metadata"].(map[string]any)["deletionTimestamp"] = "2026-01-01T00:00:00Z"
		resp := handle(h, request(t, deleting, withOperation(admissionv1.Update)))
		assert.True(t, resp.Allowed)
		assert.Empty(t, resp.Patches)
	})
	t.Run("an object that is not a Gateway is allowed untouched", func(t *testing.T) {
		other := gw.DeepCopy()
		other.SetKind("VirtualService")
		resp := handle(h, request(t, other))
		assert.True(t, resp.Allowed)
		assert.Empty(t, resp.Patches)
	})
	t.Run("the kind comes from the request when the object names none", func(t *testing.T) {
		bare := gw.DeepCopy()
		delete(bare.Object, "apiVersion")
		delete(bare.Object, "kind")
		req := request(t, bare)
		req.Kind.Group, req.Kind.Version, req.Kind.Kind = "networking.istio.io", "v1beta1", "Gateway"
		resp := handle(h, req)
		assert.NotEmpty(t, resp.Patches)
	})
}

const peerRootsBundle = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: peer-roots
  namespace: istio-system
  labels: {meshcert.io/trust-bundle: "true"}
data:
  ca.crt: |
    -----BEGIN CERTIFICATE-----
    MIIBlTCCATugAwIBAgIBAjAKBggqhkjOPQQDAjAxMRYwFAYDVQQKEw1tZXNoY2Vy
    dCB0ZXN0MRcwFQYDVQQDEw5jbHVzdGVyLWIgcm9vdDAgFw0yNjAxMDEwMDAwMDBa
    GA8yMTI2MDEwMTAwMDAwMFowMTEWMBQGA1UEChMNbWVzaGNlcnQgdGVzdDEXMBUG
    A1UEAxMOY2x1c3Rlci1iIHJvb3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARj
    kWK2LpoW9Z+nzgW3iJfEfzkKUXFx67AJUBNAnjlndw17nlK3V896OYIZfjoTSQKg
    54vF7uHeDTwQ9xThHAj3o0IwQDAOBgNVHQ8BAf8EBAMCAYYwDwYDVR0TAQH/BAUw
    AwEB/zAdBgNVHQ4EFgQUyzoP7ZQCpE36gZXpAXCcchmAafowCgYIKoZIzj0EAwID
    SAAwRQIgU1L8hu8R/xcz6pp0LUyv1rZG059UfYsZ+kSc14BYYOwCIQCmE7GkIsyH
    c/Mz1Ce+7YQJfF2WuvKimCzfditXai+M5g==
    -----END CERTIFICATE-----
`

func TestIstioOperatorMutator(t *testing.T) {
	operator := func(annotations string) string {
		return `
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: mesh
  namespace: istio-system
  annotations: {` + annotations + `}
spec:
  meshConfig: {trustDomain: cluster.local}
`
	}
	lookup := index(t, objects(t, peerRootsBundle)...)
	m, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	h := NewIstioOperatorMutator(lookup, Config{Options: certs.DefaultOptions()}, m)

	t.Run("peer roots are injected as the planner decides, once", func(t *testing.T) {
		obj := objects(t, operator("meshcert.io/peer-roots: peer-roots"))[0]
		req := request(t, obj)
		resp := handle(h, req)
		require.True(t, resp.Allowed)
		require.NotEmpty(t, resp.Patches)
		patched := applyPatch(t, req.Object.Raw, resp)
		want := istiooperator.PlanIstioOperator(t.Context(), obj, lookup, certs.DefaultOptions()).Mutated()
		require.NotNil(t, want)
		assert.Equal(t, roundTrip(t, want.Object), jsonToMap(t, patched), "the patched object is the planner's mutated object")
		assert.Contains(t, string(patched), "BEGIN CERTIFICATE")

		again := handle(h, rawRequest(obj.GroupVersionKind(), obj.GetNamespace(), obj.GetName(), patched, withOperation(admissionv1.Update)))
		assert.True(t, again.Allowed)
		assert.Empty(t, again.Patches, "reinvoking on the patched object gives no patch")
		assert.InDelta(t, 1, value(t, m.decisions.WithLabelValues("mutate-istiooperator", ResultPatched)), 0, "the first answer patched")
		assert.InDelta(t, 1, value(t, m.decisions.WithLabelValues("mutate-istiooperator", ResultAllowed)), 0, "the second only allowed")
	})
	t.Run("a missing trust bundle is allowed without a patch; the validating webhook says why", func(t *testing.T) {
		resp := handle(h, request(t, objects(t, operator("meshcert.io/peer-roots: missing"))[0]))
		assert.True(t, resp.Allowed)
		assert.Empty(t, resp.Patches)
	})
	t.Run("an IstioOperator without metadata.namespace is planned in the request's namespace and keeps none", func(t *testing.T) {
		obj := objects(t, operator("meshcert.io/peer-roots: peer-roots"))[0]
		withNS := handle(h, request(t, obj))
		require.NotEmpty(t, withNS.Patches)
		obj.SetNamespace("")
		req := request(t, obj)
		req.Namespace = "istio-system"
		resp := handle(h, req)
		require.True(t, resp.Allowed)
		assert.ElementsMatch(t, withNS.Patches, resp.Patches, "only the roots are patched, not the namespace filled in for planning")
		patched := jsonToMap(t, applyPatch(t, req.Object.Raw, resp))
		assert.NotContains(t, patched["metadata"], "namespace")
	})
	t.Run("an IstioOperator without peer roots is left alone", func(t *testing.T) {
		resp := handle(h, request(t, objects(t, operator("cert-manager.io/cluster-issuer: ca"))[0]))
		assert.True(t, resp.Allowed)
		assert.Empty(t, resp.Patches)
	})
}

// fourServers is a managed Gateway whose servers 1 and 3 need a
// credentialName: 0 has its own, 2 is plain HTTP.
const fourServers = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
  namespace: team-a
  annotations: {cert-manager.io/cluster-issuer: ca}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, credentialName: a-tls}
  - port: {number: 8443, name: https-b, protocol: HTTPS}
    hosts: [b.example.com]
    tls: {mode: SIMPLE}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 9443, name: https-d, protocol: HTTPS}
    hosts: [d.example.com]
    tls: {mode: SIMPLE, minProtocolVersion: TLSV1_3}
`

func TestGatewayMutatorPatchPaths(t *testing.T) {
	lookup := index(t, objects(t, clusterIssuerCA)...)
	h := NewGatewayMutator(lookup, Config{}, nil)

	t.Run("only the servers that need a credentialName are patched, each at its own index", func(t *testing.T) {
		gw := objects(t, fourServers)[0]
		req := request(t, gw)
		resp := handle(h, req)
		require.True(t, resp.Allowed, "%v", resp.Result)

		type op struct{ Operation, Path, Value string }
		var got []op
		for _, p := range resp.Patches {
			v, ok := p.Value.(string)
			require.True(t, ok, "%v", p)
			got = append(got, op{p.Operation, p.Path, v})
		}
		assert.ElementsMatch(t, []op{
			{"add", "/spec/servers/1/tls/credentialName", certs.CredentialName("team-a", "web", "https-b")},
			{"add", "/spec/servers/3/tls/credentialName", certs.CredentialName("team-a", "web", "https-d")},
		}, got)

		patched := jsonToMap(t, applyPatch(t, req.Object.Raw, resp))
		want, err := certs.PlanGateway(t.Context(), certs.ParseGateway(gw), lookup, Config{}.Options).Mutated()
		require.NoError(t, err)
		assert.Equal(t, roundTrip(t, want.Object), patched, "the patched object is the planner's mutated object")

		servers, _, err := unstructured.NestedSlice(patched, "spec", "servers")
		require.NoError(t, err)
		require.Len(t, servers, 4)
		tlsOf := func(i int) map[string]any {
			tls, _ := servers[i].(map[string]any)["tls"].(map[string]any)
			return tls
		}
		assert.Equal(t, map[string]any{"mode": "SIMPLE", "credentialName": "a-tls"}, tlsOf(0), "a credential already set is kept")
		assert.Equal(t, certs.CredentialName("team-a", "web", "https-b"), tlsOf(1)["credentialName"])
		assert.NotContains(t, servers[2], "tls", "a plain HTTP server gets no tls")
		assert.Equal(t, map[string]any{"mode": "SIMPLE", "minProtocolVersion": "TLSV1_3", "credentialName": certs.CredentialName("team-a", "web", "https-d")}, tlsOf(3))

		again := handle(h, rawRequest(gw.GroupVersionKind(), gw.GetNamespace(), gw.GetName(), applyPatch(t, req.Object.Raw, resp), withOperation(admissionv1.Update)))
		assert.True(t, again.Allowed)
		assert.Empty(t, again.Patches, "reinvoking on the patched object gives no patch")
	})

	for _, tc := range []struct{ name, server string }{
		{"an HTTPS server without tls is not injected", `- port: {number: 10443, name: https-e, protocol: HTTPS}
    hosts: [e.example.com]`},
		{"an HTTPS server whose tls is null is not injected", `- port: {number: 10443, name: https-e, protocol: HTTPS}
    hosts: [e.example.com]
    tls: null`},
		{"an HTTPS server whose tls is empty (PASSTHROUGH) is not injected", `- port: {number: 10443, name: https-e, protocol: HTTPS}
    hosts: [e.example.com]
    tls: {}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := objects(t, fourServers+"  "+tc.server+"\n")[0]
			servers, _, _ := unstructured.NestedSlice(roundTrip(t, gw.Object), "spec", "servers")
			require.Len(t, servers, 5)
			req := request(t, gw)
			resp := handle(h, req)
			require.True(t, resp.Allowed, "%v", resp.Result)
			require.NotEqual(t, int32(http.StatusInternalServerError), resp.Result.Code)
			var paths []string
			for _, p := range resp.Patches {
				paths = append(paths, p.Path)
			}
			assert.ElementsMatch(t, []string{"/spec/servers/1/tls/credentialName", "/spec/servers/3/tls/credentialName"}, paths,
				"server 4 is left as it is; the other servers are patched as before")
			patched := jsonToMap(t, applyPatch(t, req.Object.Raw, resp))
			after, _, _ := unstructured.NestedSlice(patched, "spec", "servers")
			assert.Equal(t, servers[4], after[4])
		})
	}
}
