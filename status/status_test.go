package status

import (
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
)

func object(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, sigsyaml.Unmarshal([]byte(y), &u.Object))
	return u
}

const istioGateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: team-a}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: web-tls}
  - port: {number: 8443, name: both, protocol: HTTPS}
    hosts: [api.example.com]
    tls: {mode: SIMPLE, credentialNames: [api-rsa, api-ecdsa]}
  - port: {number: 15443, name: mesh, protocol: TLS}
    hosts: ["*.local"]
    tls: {mode: ISTIO_MUTUAL}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [web.example.com]
`

const apiGateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: team-b}
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: edge.example.com
    tls:
      certificateRefs: [{name: edge-tls}, {name: shared, namespace: certs}, {name: cm, kind: ConfigMap, group: ""}]
  - name: passthrough
    port: 8443
    protocol: TLS
    hostname: tcp.example.com
    tls: {mode: Passthrough}
`

func certificate(ns, name, secret string, ready cmmeta.ConditionStatus, gateway *certs.Gateway) *cmapi.Certificate {
	crt := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       cmapi.CertificateSpec{SecretName: secret, IssuerRef: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "ca"}},
	}
	if gateway != nil {
		crt.Labels = map[string]string{certs.LabelGatewayNamespace: gateway.Namespace, certs.LabelGatewayName: gateway.Name}
	}
	if ready != "" {
		crt.Status.Conditions = []cmapi.CertificateCondition{{Type: cmapi.CertificateConditionReady, Status: ready, Reason: "Pending", Message: "Issuing certificate as Secret does not exist"}}
	}
	return crt
}

func TestBuild(t *testing.T) {
	gw := certs.ParseGateway(object(t, istioGateway))
	api, err := gatewayapi.Parse(object(t, apiGateway))
	require.NoError(t, err)
	notAfter := metav1.NewTime(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))

	ready := certificate("istio-system", "web-tls", "web-tls", cmmeta.ConditionTrue, gw)
	ready.Status.NotAfter, ready.Status.RenewalTime = &notAfter, &notAfter
	other := certificate("istio-system", "someone-elses", "web-tls", cmmeta.ConditionFalse, nil)
	other.Spec.IssuerRef.Name = "another"

	in := Input{
		Gateways: []Gateway{{Gateway: gw, Managed: true, CredentialNamespaces: []string{"istio-system"},
			Certified: []string{"istio-system/web-tls", "istio-system/api-rsa"}}},
		APIGateways:   []APIGateway{{Gateway: api, Managed: true}},
		ShimCertified: []string{"certs/shared"},
		Certificates: []*cmapi.Certificate{
			other, ready,
			certificate("istio-system", "api-rsa", "api-rsa", cmmeta.ConditionFalse, gw),
			certificate("team-b", "edge-tls", "edge-tls", "", nil),
		},
		Findings: []finding.Finding{
			{Code: finding.CodeHostNotCovered, Object: gw.Ref, Field: "spec.servers[1].hosts[0]"},
			{Code: finding.CodeIssuerNotFound, Object: gw.Ref, Field: "metadata.annotations[cert-manager.io/cluster-issuer]"},
			{Code: finding.CodeCertificateNameForm, Object: certs.CertificateRef(ready), Field: "spec.dnsNames[0]"},
		},
	}
	st := Build(in)

	type row struct{ server, credential, certificate, ready string }
	var got []row
	for _, r := range st.Rows {
		got = append(got, row{r.Server, r.Credential, r.Certificate, r.Ready})
	}
	assert.Equal(t, []row{
		{"https:443", "istio-system/web-tls", "istio-system/web-tls", ReadyTrue},
		{"both:8443", "istio-system/api-rsa", "istio-system/api-rsa", ReadyFalse},
		{"both:8443", "istio-system/api-ecdsa", "", ReadyNotManaged},
		{"https", "team-b/edge-tls", "team-b/edge-tls", ReadyUnknown},
		{"https", "certs/shared", "", ReadyMissing},
	}, got, "one row per Secret credential: ISTIO_MUTUAL, plain HTTP, Passthrough and ConfigMap references have none; "+
		"a Secret no Certificate of the plan writes is not Missing")
	assert.Equal(t, 3, st.NotReady())

	web := st.Rows[0]
	assert.Equal(t, "ClusterIssuer/ca", web.Issuer, "meshcert's own Certificate is shown, not the other writing the Secret")
	assert.Equal(t, notAfter.Time, *web.NotAfter)
	assert.Equal(t, []string{string(finding.CodeCertificateNameForm), string(finding.CodeIssuerNotFound)}, web.Findings, "the Gateway's own and its Certificate's findings, not another server's")
	assert.Equal(t, []string{string(finding.CodeHostNotCovered), string(finding.CodeIssuerNotFound)}, st.Rows[1].Findings)
	assert.Equal(t, "Pending: Issuing certificate as Secret does not exist", st.Rows[1].Reason)
	assert.Equal(t, "no Certificate writes this Secret", st.Rows[4].Reason)
	assert.Empty(t, st.Rows[3].Findings)
}

func TestBuildUnmanagedGatewaysAreNotJudged(t *testing.T) {
	gw := certs.ParseGateway(object(t, istioGateway))
	st := Build(Input{Gateways: []Gateway{{Gateway: gw, CredentialNamespaces: []string{"istio-system"}}}})
	require.Len(t, st.Rows, 3)
	for _, r := range st.Rows {
		assert.Equal(t, ReadyNotManaged, r.Ready, "a Secret someone else writes: %s", r.Credential)
	}
	assert.Zero(t, st.NotReady())
	assert.NotNil(t, st.Findings, "an empty list, not null, in JSON")
}

func TestBuildOneRowPerCredentialNamespace(t *testing.T) {
	gw := certs.ParseGateway(object(t, istioGateway))
	st := Build(Input{
		Gateways:   []Gateway{{Gateway: gw, Managed: true, CredentialNamespaces: []string{"gw-a", "gw-b"}, Certified: []string{"gw-a/web-tls", "gw-b/web-tls"}}},
		Unreadable: map[string]bool{"gw-b": true},
	})
	var creds []string
	for _, r := range st.Rows {
		if r.Server == "https:443" {
			creds = append(creds, r.Credential)
		}
	}
	assert.Equal(t, []string{"gw-a/web-tls", "gw-b/web-tls"}, creds, "every namespace the gateway's Pods run in needs the Secret")
	assert.Equal(t, ReadyMissing, st.Rows[0].Ready)
	assert.Equal(t, ReadyUnreadable, st.Rows[1].Ready, "a namespace whose Certificates could not be listed is not judged")
	assert.Equal(t, 1, st.NotReady(), "only gw-a's web-tls is Missing: the credentialNames pair is no Secret meshcert certifies")
	assert.Equal(t, 3, st.Unreadable(), "gw-b's three credentials")
}

func TestBuildAStaleReadyConditionIsUnknown(t *testing.T) {
	gw := certs.ParseGateway(object(t, istioGateway))
	crt := certificate("istio-system", "web-tls", "web-tls", cmmeta.ConditionTrue, gw)
	crt.Generation = 3
	crt.Status.Conditions[0].ObservedGeneration = 2
	st := Build(Input{
		Gateways:     []Gateway{{Gateway: gw, Managed: true, CredentialNamespaces: []string{"istio-system"}, Certified: []string{"istio-system/web-tls"}}},
		Certificates: []*cmapi.Certificate{crt},
	})
	assert.Equal(t, ReadyUnknown, st.Rows[0].Ready, "cert-manager has not looked at the edited spec yet")
	assert.Equal(t, "the Ready condition is of generation 2, the Certificate is at 3", st.Rows[0].Reason)
}
