package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The expectations below are read off the pinned Istio's source:
// pilot/pkg/security/model/authentication.go (which resources a gateway
// asks for), pilot/pkg/model/credentials/resource.go (how istiod parses
// them), pilot/pkg/model/gateway.go mergeGateways (verified
// kubernetes-gateway:// references), pilot/pkg/xds/sds.go
// (filterAuthorizedResources, generate) and
// pilot/pkg/credentials/kube/secrets.go (GetCertInfo, GetCaCert,
// GetConfigMapCaCert). Every case names an object that exists and that a
// wrong reading would serve, so each can fail.

const (
	proxyNS = "istio-ingress" // the gateway workload's namespace
	otherNS = "team-a"
)

func TestCredentials(t *testing.T) {
	type req = credentialsRequest
	cert := func(resource, readFrom string) servedResource {
		return servedResource{Role: "certificate", ResourceName: resource, Served: true, ServedAs: "tls_certificate", ReadFrom: readFrom}
	}
	certAsCA := func(resource, readFrom string) servedResource {
		return servedResource{Role: "certificate", ResourceName: resource, Served: true, ServedAs: "validation_context", ReadFrom: readFrom}
	}
	ca := func(resource, readFrom string) servedResource {
		return servedResource{Role: "ca", ResourceName: resource, Served: true, ServedAs: "validation_context", ReadFrom: readFrom}
	}
	refusedCert := func(resource string) servedResource {
		return servedResource{Role: "certificate", ResourceName: resource}
	}
	refusedCA := func(resource string) servedResource { return servedResource{Role: "ca", ResourceName: resource} }

	for _, tc := range []struct {
		name string
		req  req
		// denyList: the proxy's service account may not list Secrets.
		denyList bool
		want     []servedResource
	}{
		{
			name: "a bare name is read from the proxy's namespace, not the Gateway's",
			req: req{GatewayNamespace: otherNS, TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"app"}`),
				Secrets: []string{proxyNS + "/app", otherNS + "/app"}},
			want: []servedResource{cert("kubernetes://app", "Secret "+proxyNS+"/app")},
		},
		{
			name: "kubernetes://namespace/name of another namespace is refused",
			req: req{TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"kubernetes://team-a/app"}`),
				Secrets: []string{otherNS + "/app", proxyNS + "/app"}},
			want: []servedResource{refusedCert("kubernetes://team-a/app")},
		},
		{
			name: "kubernetes://ns/name/extra reads ns/name",
			req: req{TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"kubernetes://istio-ingress/app/extra"}`),
				Secrets: []string{proxyNS + "/app"}},
			want: []servedResource{cert("kubernetes://istio-ingress/app/extra", "Secret "+proxyNS+"/app")},
		},
		{
			name: "kubernetes:///name has an empty namespace and is refused",
			req: req{TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"kubernetes:///app"}`),
				Secrets: []string{proxyNS + "/app"}},
			want: []servedResource{refusedCert("kubernetes:///app")},
		},
		{
			name: "kubernetes-gateway:// is served when Gateway, Secret and proxy share a namespace",
			req: req{GatewayNamespace: proxyNS, TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"kubernetes-gateway://istio-ingress/app"}`),
				Secrets: []string{proxyNS + "/app"}},
			want: []servedResource{cert("kubernetes-gateway://istio-ingress/app", "Secret "+proxyNS+"/app")},
		},
		{
			name: "kubernetes-gateway:// is refused when the Gateway is in another namespace",
			req: req{GatewayNamespace: otherNS, TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"kubernetes-gateway://istio-ingress/app"}`),
				Secrets: []string{proxyNS + "/app"}},
			want: []servedResource{refusedCert("kubernetes-gateway://istio-ingress/app")},
		},
		{
			name: "kubernetes-gateway:// to another namespace is refused without a ReferenceGrant",
			req: req{GatewayNamespace: otherNS, ProxyNamespace: otherNS, TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"kubernetes-gateway://istio-ingress/app"}`),
				Secrets: []string{proxyNS + "/app"}},
			want: []servedResource{refusedCert("kubernetes-gateway://istio-ingress/app")},
		},
		{
			name: "kubernetes-gateway://namespace without a name is refused",
			req: req{GatewayNamespace: proxyNS, TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"kubernetes-gateway://istio-ingress"}`),
				Secrets: []string{proxyNS + "/istio-ingress"}},
			want: []servedResource{refusedCert("kubernetes-gateway://istio-ingress")},
		},
		{
			name: "kubernetes-gateway:// with an empty namespace or name is refused",
			req: req{GatewayNamespace: proxyNS, TLS: tlsJSON(`{"mode":"SIMPLE","credentialNames":["kubernetes-gateway:///app","kubernetes-gateway://istio-ingress/"]}`),
				Secrets: []string{proxyNS + "/app"}},
			want: []servedResource{refusedCert("kubernetes-gateway:///app"), refusedCert("kubernetes-gateway://istio-ingress/")},
		},
		{
			name: "configmap:// without a name, or with an empty namespace or name, is refused",
			req: req{TLS: tlsJSON(`{"mode":"SIMPLE","credentialNames":["configmap://team-a","configmap:///bundle","configmap://team-a/"]}`),
				ConfigMaps: []string{otherNS + "/bundle", otherNS + "/team-a", proxyNS + "/bundle"}},
			want: []servedResource{refusedCert("configmap://team-a"), refusedCert("configmap:///bundle"), refusedCert("configmap://team-a/")},
		},
		{
			name: "configmap:// as the server credential is served as CA certificates, from any namespace",
			req: req{TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"configmap://team-a/bundle"}`),
				ConfigMaps: []string{otherNS + "/bundle"}, Secrets: []string{otherNS + "/bundle"}},
			want: []servedResource{certAsCA("configmap://team-a/bundle", "ConfigMap "+otherNS+"/bundle")},
		},
		{
			name: "builtin:// is the proxy's own certificate and root, not asked of istiod",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"builtin://"}`),
				Secrets: []string{proxyNS + "/default", proxyNS + "/ROOTCA"}},
			want: []servedResource{refusedCert("default"), refusedCA("ROOTCA")},
		},
		{
			name: "builtin://x asks istiod for default, which it cannot parse",
			req: req{TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"builtin://x"}`),
				Secrets: []string{proxyNS + "/default", proxyNS + "/x"}},
			want: []servedResource{refusedCert("default")},
		},
		{
			name: "invalid:// is never served",
			req: req{TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"invalid://"}`),
				Secrets: []string{proxyNS + "/invalid"}},
			want: []servedResource{refusedCert("invalid://")},
		},
		{
			name: "sds://name with no SDS socket or provider falls back to the Secret name",
			req: req{TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"sds://app"}`),
				Secrets: []string{proxyNS + "/app"}},
			want: []servedResource{cert("kubernetes://app", "Secret "+proxyNS+"/app")},
		},
		{
			name: "MUTUAL reads the client CA from name-cacert when it exists",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"app"}`),
				Secrets: []string{proxyNS + "/app", proxyNS + "/app-cacert"}},
			want: []servedResource{cert("kubernetes://app", "Secret "+proxyNS+"/app"), ca("kubernetes://app-cacert", "Secret "+proxyNS+"/app-cacert")},
		},
		{
			name: "MUTUAL falls back to the ca.crt of name when name-cacert is missing",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"app"}`),
				Secrets: []string{proxyNS + "/app"}},
			want: []servedResource{cert("kubernetes://app", "Secret "+proxyNS+"/app"), ca("kubernetes://app-cacert", "Secret "+proxyNS+"/app")},
		},
		{
			name: "a credentialName ending in -cacert is served as CA certificates, with the same fallback",
			req: req{TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"app-cacert"}`),
				Secrets: []string{proxyNS + "/app"}},
			want: []servedResource{certAsCA("kubernetes://app-cacert", "Secret "+proxyNS+"/app")},
		},
		{
			name: "credentialNames: each is a certificate and the CA companion comes from the first entry",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialNames":["rsa","ecdsa"]}`),
				Secrets: []string{proxyNS + "/rsa", proxyNS + "/ecdsa", proxyNS + "/rsa-cacert", proxyNS + "/ecdsa-cacert"}},
			want: []servedResource{
				cert("kubernetes://rsa", "Secret "+proxyNS+"/rsa"), cert("kubernetes://ecdsa", "Secret "+proxyNS+"/ecdsa"),
				ca("kubernetes://rsa-cacert", "Secret "+proxyNS+"/rsa-cacert"),
			},
		},
		{
			name: "caCertCredentialName as a ConfigMap replaces the -cacert companion",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"app","caCertCredentialName":"configmap://team-a/client-ca"}`),
				Secrets: []string{proxyNS + "/app", proxyNS + "/app-cacert"}, ConfigMaps: []string{otherNS + "/client-ca"}},
			want: []servedResource{cert("kubernetes://app", "Secret "+proxyNS+"/app"), ca("configmap://team-a/client-ca", "ConfigMap "+otherNS+"/client-ca")},
		},
		{
			name: "a ConfigMap reference ending in -cacert reads the ConfigMap without the suffix",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"app","caCertCredentialName":"configmap://team-a/client-ca-cacert"}`),
				Secrets: []string{proxyNS + "/app"}, ConfigMaps: []string{otherNS + "/client-ca", otherNS + "/client-ca-cacert"}},
			want: []servedResource{cert("kubernetes://app", "Secret "+proxyNS+"/app"), ca("configmap://team-a/client-ca-cacert", "ConfigMap "+otherNS+"/client-ca")},
		},
		{
			name: "a ConfigMap reference ending in -cacert never reads the ConfigMap of that name",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"app","caCertCredentialName":"configmap://team-a/client-ca-cacert"}`),
				Secrets: []string{proxyNS + "/app"}, ConfigMaps: []string{otherNS + "/client-ca-cacert"}},
			want: []servedResource{cert("kubernetes://app", "Secret "+proxyNS+"/app"), refusedCA("configmap://team-a/client-ca-cacert")},
		},
		{
			name: "caCertCredentialName as a Secret without -cacert is served as a key pair, not as CA certificates",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"app","caCertCredentialName":"client-ca"}`),
				Secrets: []string{proxyNS + "/app", proxyNS + "/app-cacert", proxyNS + "/client-ca"}},
			want: []servedResource{
				cert("kubernetes://app", "Secret "+proxyNS+"/app"),
				{Role: "ca", ResourceName: "kubernetes://client-ca", Served: true, ServedAs: "tls_certificate", ReadFrom: "Secret " + proxyNS + "/client-ca"},
			},
		},
		{
			name: "caCertCredentialName ending in -cacert falls back to the Secret without it",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"app","caCertCredentialName":"client-ca-cacert"}`),
				Secrets: []string{proxyNS + "/app", proxyNS + "/app-cacert", proxyNS + "/client-ca"}},
			want: []servedResource{cert("kubernetes://app", "Secret "+proxyNS+"/app"), ca("kubernetes://client-ca-cacert", "Secret "+proxyNS+"/client-ca")},
		},
		{
			name: "MUTUAL with kubernetes-gateway:// serves the -cacert companion",
			req: req{GatewayNamespace: proxyNS, TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"kubernetes-gateway://istio-ingress/app"}`),
				Secrets: []string{proxyNS + "/app", proxyNS + "/app-cacert"}},
			want: []servedResource{
				cert("kubernetes-gateway://istio-ingress/app", "Secret "+proxyNS+"/app"),
				ca("kubernetes-gateway://istio-ingress/app-cacert", "Secret "+proxyNS+"/app-cacert"),
			},
		},
		{
			name: "OPTIONAL_MUTUAL with kubernetes-gateway:// serves the certificate but not the -cacert companion",
			req: req{GatewayNamespace: proxyNS, TLS: tlsJSON(`{"mode":"OPTIONAL_MUTUAL","credentialName":"kubernetes-gateway://istio-ingress/app"}`),
				Secrets: []string{proxyNS + "/app", proxyNS + "/app-cacert"}},
			want: []servedResource{
				cert("kubernetes-gateway://istio-ingress/app", "Secret "+proxyNS+"/app"),
				refusedCA("kubernetes-gateway://istio-ingress/app-cacert"),
			},
		},
		{
			name: "an explicit kubernetes-gateway:// caCertCredentialName is verified for OPTIONAL_MUTUAL too",
			req: req{GatewayNamespace: proxyNS, TLS: tlsJSON(`{"mode":"OPTIONAL_MUTUAL","credentialName":"kubernetes-gateway://istio-ingress/app","caCertCredentialName":"kubernetes-gateway://istio-ingress/client-ca-cacert"}`),
				Secrets: []string{proxyNS + "/app", proxyNS + "/client-ca-cacert"}},
			want: []servedResource{
				cert("kubernetes-gateway://istio-ingress/app", "Secret "+proxyNS+"/app"),
				ca("kubernetes-gateway://istio-ingress/client-ca-cacert", "Secret "+proxyNS+"/client-ca-cacert"),
			},
		},
		{
			name:     "a service account that cannot list Secrets gets no key pair but does get name-cacert",
			denyList: true,
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"app"}`),
				Secrets: []string{proxyNS + "/app", proxyNS + "/app-cacert"}},
			want: []servedResource{refusedCert("kubernetes://app"), ca("kubernetes://app-cacert", "Secret "+proxyNS+"/app-cacert")},
		},
		{
			name:     "without the right to list Secrets, the -cacert fallback still reads name's CA",
			denyList: true,
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialName":"app"}`),
				Secrets: []string{proxyNS + "/app"}},
			want: []servedResource{refusedCert("kubernetes://app"), ca("kubernetes://app-cacert", "Secret "+proxyNS+"/app")},
		},
		{
			name: "SIMPLE asks for no client CA, whatever caCertCredentialName says",
			req: req{TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"app","caCertCredentialName":"client-ca-cacert"}`),
				Secrets: []string{proxyNS + "/app", proxyNS + "/client-ca-cacert"}},
			want: []servedResource{cert("kubernetes://app", "Secret "+proxyNS+"/app")},
		},
		{
			name: "MUTUAL with only caCertCredentialName uses the proxy's files, nothing from istiod",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","caCertCredentialName":"client-ca-cacert"}`),
				Secrets: []string{proxyNS + "/client-ca-cacert"}},
			want: []servedResource{refusedCert("default"), refusedCA("ROOTCA")},
		},
		{
			name: "an empty credentialNames entry gets no SDS config, and the CA companion is -cacert",
			req: req{TLS: tlsJSON(`{"mode":"MUTUAL","credentialNames":["","app"]}`),
				Secrets: []string{proxyNS + "/app", proxyNS + "/app-cacert"}},
			want: []servedResource{refusedCert(""), cert("kubernetes://app", "Secret "+proxyNS+"/app"), refusedCA("kubernetes://-cacert")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req
			r.ID = tc.name
			if r.ProxyNamespace == "" {
				r.ProxyNamespace = proxyNS
			}
			if r.GatewayNamespace == "" {
				r.GatewayNamespace = proxyNS
			}
			r.ProxyServiceAccount = "ingress-gateway"
			r.ServiceAccountCanListSecrets = !tc.denyList
			verdicts := runCredentials(t, r)
			if len(verdicts) != 1 {
				t.Fatalf("got %d verdicts for one request: %+v", len(verdicts), verdicts)
			}
			v := verdicts[0]
			if v.ID != r.ID || v.Error != "" {
				t.Fatalf("got id %q error %q, want id %q and no error", v.ID, v.Error, r.ID)
			}
			if !reflect.DeepEqual(v.Resources, tc.want) {
				t.Errorf("istiod serves\n  %+v\nwant\n  %+v", v.Resources, tc.want)
			}
		})
	}
}

// One process answers many lines, in order, and says what is wrong with a
// bad one instead of stopping.
func TestCredentialsStreamAnswersEveryLine(t *testing.T) {
	good := credentialsRequest{ID: "good", GatewayNamespace: proxyNS, ProxyNamespace: proxyNS, ProxyServiceAccount: "sa",
		ServiceAccountCanListSecrets: true, TLS: tlsJSON(`{"mode":"SIMPLE","credentialName":"app"}`), Secrets: []string{proxyNS + "/app"}}
	line, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join([]string{
		string(line),
		`{"id":"unknown-field","gatewayNamespace":"a","proxyNamespace":"a","tls":{"mode":"SIMPLE","credentialNam":"x"}}`,
		`{"id":"bad-object","gatewayNamespace":"a","proxyNamespace":"a","tls":{"mode":"SIMPLE","credentialName":"x"},"secrets":["x"]}`,
		`{"id":"no-namespace","tls":{"mode":"SIMPLE","credentialName":"x"}}`,
		`not json`,
		string(line),
	}, "\n") + "\n"
	verdicts := runJSON[credentialsVerdict](t, strings.NewReader(in), "credentials")
	if len(verdicts) != 6 {
		t.Fatalf("got %d verdicts for 6 lines: %+v", len(verdicts), verdicts)
	}
	for i, want := range []struct{ id, err string }{
		{"good", ""}, {"unknown-field", `unknown field "credentialNam"`}, {"bad-object", "not namespace/name"},
		{"no-namespace", "required"}, {"", "not a JSON object"}, {"good", ""},
	} {
		v := verdicts[i]
		if v.ID != want.id || (want.err == "") != (v.Error == "") || !strings.Contains(v.Error, want.err) {
			t.Errorf("line %d: got id %q error %q, want id %q error containing %q", i, v.ID, v.Error, want.id, want.err)
		}
	}
	// The environment is reused: the last line is answered as the first.
	if !reflect.DeepEqual(verdicts[0].Resources, verdicts[5].Resources) || len(verdicts[0].Resources) != 1 || !verdicts[0].Resources[0].Served {
		t.Errorf("the same request got %+v then %+v, want it served both times", verdicts[0].Resources, verdicts[5].Resources)
	}
}

func tlsJSON(s string) json.RawMessage { return json.RawMessage(s) }

func runCredentials(t *testing.T, reqs ...credentialsRequest) []credentialsVerdict {
	t.Helper()
	var in strings.Builder
	for _, r := range reqs {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(line)
		in.WriteByte('\n')
	}
	return runJSON[credentialsVerdict](t, strings.NewReader(in.String()), "credentials")
}
