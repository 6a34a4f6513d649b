package certs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

// Expectations are istiod's, read from pilot/pkg/model/credentials and
// pilot/pkg/xds/sds.go at the pinned version; the e2e test
// TestCredentialResolutionAgreesWithIstiod runs that code on a corpus.
func TestResolveCredential(t *testing.T) {
	const proxy, gateway = "istio-system", "team-a"
	tests := []struct {
		name      string
		reference string
		gatewayNS string
		want      string // "Kind namespace/name", or the Kind alone
		served    bool
		caOnly    bool
		external  bool
	}{
		{name: "a bare name is a Secret of the proxy's namespace", reference: "web", want: "Secret istio-system/web", served: true},
		{name: "kubernetes://name is the same Secret", reference: "kubernetes://web", want: "Secret istio-system/web", served: true},
		{name: "kubernetes://namespace/name of the proxy's namespace is served", reference: "kubernetes://istio-system/web", want: "Secret istio-system/web", served: true},
		{name: "kubernetes://namespace/name of another namespace is refused", reference: "kubernetes://team-a/web", want: "Secret team-a/web"},
		{name: "a third path part is ignored, as ParseResourceName splits", reference: "kubernetes://istio-system/web/extra", want: "Secret istio-system/web", served: true},
		{name: "an empty namespace part is no namespace of the proxy", reference: "kubernetes:///web", want: "Secret /web"},
		{name: "kubernetes-gateway:// is refused when the Gateway is not in the proxy's namespace", reference: "kubernetes-gateway://istio-system/web", want: "Secret istio-system/web"},
		{name: "kubernetes-gateway:// is served when Gateway, Secret and proxy share a namespace", reference: "kubernetes-gateway://istio-system/web", gatewayNS: proxy, want: "Secret istio-system/web", served: true},
		{name: "kubernetes-gateway:// without a name cannot be parsed", reference: "kubernetes-gateway://istio-system", want: "Invalid"},
		{name: "a -cacert name is read as CA certificates only", reference: "web-cacert", want: "Secret istio-system/web-cacert", served: true, caOnly: true},
		{name: "configmap:// is a ConfigMap, read without its -cacert suffix", reference: "configmap://team-a/roots-cacert", want: "ConfigMap team-a/roots", served: true, caOnly: true},
		{name: "builtin:// is the workload's own certificate", reference: "builtin://", want: "Builtin", served: true},
		{name: "builtin:// with a name becomes a resource istiod cannot parse", reference: "builtin://x", want: "Invalid"},
		{name: "invalid:// is served nothing", reference: "invalid://", want: "Invalid"},
		{name: "sds://name falls back to the Secret of that name", reference: "sds://web", want: "Secret istio-system/web", served: true, external: true},
		{name: "sds:// keeps an explicit scheme after it", reference: "sds://kubernetes://team-a/web", want: "Secret team-a/web", external: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gatewayNS := tt.gatewayNS
			if gatewayNS == "" {
				gatewayNS = gateway
			}
			ref := certs.ResolveCredential(tt.reference, proxy, gatewayNS)
			got := string(ref.Kind)
			if ref.Kind == certs.CredentialSecret || ref.Kind == certs.CredentialConfigMap {
				got += " " + ref.Namespace + "/" + ref.Name
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.served, ref.Served, "served (refusal %q)", ref.Refusal)
			assert.Equal(t, tt.caOnly, ref.CAOnly, "CA only")
			assert.Equal(t, tt.external, ref.External, "external")
			if !tt.served {
				assert.NotEmpty(t, ref.Refusal, "a refusal says why")
			}
		})
	}
}

func TestClientCARefs(t *testing.T) {
	keys := func(refs []certs.CredentialRef) []string {
		var out []string
		for _, r := range refs {
			out = append(out, r.Key())
		}
		return out
	}
	tests := []struct {
		name string
		tls  certs.ServerTLS
		want []string
	}{
		{name: "SIMPLE verifies no client", tls: certs.ServerTLS{Mode: certs.ModeSimple, CredentialName: "web"}},
		{name: "MUTUAL reads <credential>-cacert, then the credential's own CA keys", tls: certs.ServerTLS{Mode: certs.ModeMutual, CredentialName: "web"},
			want: []string{"istio-system/web-cacert", "istio-system/web"}},
		{name: "with credentialNames the first entry supplies the client CA", tls: certs.ServerTLS{Mode: certs.ModeOptionalMutual, CredentialNames: []string{"rsa", "ecdsa"}},
			want: []string{"istio-system/rsa-cacert", "istio-system/rsa"}},
		{name: "caCertCredentialName wins", tls: certs.ServerTLS{Mode: certs.ModeMutual, CredentialName: "web", CACertCredentialName: "configmap://team-a/roots"},
			want: []string{"team-a/roots"}},
		{name: "without a credential istiod uses the proxy's files, whatever caCertCredentialName says", tls: certs.ServerTLS{Mode: certs.ModeMutual, CACertCredentialName: "roots-cacert"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, keys(certs.ClientCARefs(&tt.tls, "istio-system", "team-a")))
		})
	}
}

// TestClientCAOfAKubernetesGatewayCredential: istiod's mergeGateways
// verifies the -cacert companion of a kubernetes-gateway:// credential only
// for MUTUAL servers; an OPTIONAL_MUTUAL server gets no client CA through
// it, though an explicit caCertCredentialName still serves.
func TestClientCAOfAKubernetesGatewayCredential(t *testing.T) {
	const credential = "kubernetes-gateway://istio-system/web"
	tests := []struct {
		name    string
		tls     certs.ServerTLS
		served  bool
		refusal string
	}{
		{name: "MUTUAL is served the companion", tls: certs.ServerTLS{Mode: certs.ModeMutual, CredentialName: credential}, served: true},
		{name: "OPTIONAL_MUTUAL is refused the companion", tls: certs.ServerTLS{Mode: certs.ModeOptionalMutual, CredentialName: credential},
			refusal: "only for MUTUAL"},
		{name: "OPTIONAL_MUTUAL with its own caCertCredentialName is served that", tls: certs.ServerTLS{Mode: certs.ModeOptionalMutual, CredentialName: credential, CACertCredentialName: "kubernetes-gateway://istio-system/roots"}, served: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Gateway, Secret and proxy share a namespace, so istiod's
			// authorization alone would serve the credential.
			refs := certs.ClientCARefs(&tt.tls, "istio-system", "istio-system")
			require.NotEmpty(t, refs)
			assert.Equal(t, tt.served, refs[0].Served, "refusal %q", refs[0].Refusal)
			assert.Contains(t, refs[0].Refusal, tt.refusal)
		})
	}
}

// TestCredentialRefusalsSayWhy: a reference istiod serves nothing for
// names its own reason.
func TestCredentialRefusalsSayWhy(t *testing.T) {
	for reference, want := range map[string]string{
		"invalid://":  "invalid:// makes istiod serve nothing",
		"builtin://x": "istiod cannot parse it as a credential",
	} {
		t.Run(reference, func(t *testing.T) {
			ref := certs.ResolveCredential(reference, "istio-system", "team-a")
			assert.Equal(t, want, ref.Refusal)
		})
	}
}

// FuzzResolveCredential: any reference, resolved for any proxy, names at
// most one object, which istiod serves only from where it may, and the
// client CA candidates of a -cacert Secret fall back to its own Secret.
func FuzzResolveCredential(f *testing.F) {
	for _, seed := range []string{"web", "kubernetes://web", "kubernetes://ns/web", "kubernetes://ns/web/x", "kubernetes:///web",
		"kubernetes-gateway://ns/web", "kubernetes-gateway://ns", "configmap://ns/ca-cacert", "builtin://", "builtin://x",
		"invalid://", "sds://web", "sds://kubernetes://ns/web", "web-cacert", "", "kubernetes://", "sds://"} {
		f.Add(seed, "istio-system", "team-a")
	}
	f.Fuzz(func(t *testing.T, reference, proxy, gateway string) {
		ref := certs.ResolveCredential(reference, proxy, gateway)
		if reference == "" {
			assert.Equal(t, certs.CredentialNone, ref.Kind)
			return
		}
		switch ref.Kind {
		case certs.CredentialSecret:
			if ref.Served {
				assert.Equal(t, proxy, ref.Namespace, "istiod serves a gateway only Secrets of its own namespace")
			}
		case certs.CredentialConfigMap:
			assert.True(t, ref.Served && ref.CAOnly, "ConfigMaps are served, as CAs only")
		case certs.CredentialBuiltin:
			assert.Empty(t, ref.Key())
		case certs.CredentialInvalid:
			assert.False(t, ref.Served)
			assert.NotEmpty(t, ref.Refusal)
		default:
			t.Fatalf("kind %q for %q", ref.Kind, reference)
		}
		reads := ref.Reads()
		assert.Equal(t, ref, reads[0])
		if len(reads) == 2 {
			assert.True(t, ref.CAOnly)
			assert.Equal(t, ref.Name, reads[1].Name+"-cacert")
		}
	})
}
