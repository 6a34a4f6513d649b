package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

// selfSigned is a PEM certificate valid from notBefore to notAfter.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "web.example.com"},
		DNSNames: []string{"web.example.com"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// Expectations are istioctl analyze's (IST0161: kube.ExtractCertInfo, then
// xds.ValidateCertificate; IST0162: a Service's TCP targetPorts and ports).
func TestWhatReachesTheGateway(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	valid := base64.StdEncoding.EncodeToString(selfSigned(t, now.AddDate(0, -1, 0), now.AddDate(1, 0, 0)))
	expired := base64.StdEncoding.EncodeToString(selfSigned(t, now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0)))
	key := base64.StdEncoding.EncodeToString([]byte("key"))
	secret := func(data string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata: {name: web-tls, namespace: istio-system}\ndata: {" + data + "}\n"
	}
	service := func(ports string) string {
		return "apiVersion: v1\nkind: Service\nmetadata: {name: ingress, namespace: istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  ports: " + ports + "\n"
	}
	tests := []struct {
		name   string
		extra  string
		mutate []mutation
		want   []string
	}{
		{name: "a valid certificate and key under tls.crt and tls.key is served", extra: secret("tls.crt: " + valid + ", tls.key: " + key)},
		{name: "the generic cert and key layout is served too", extra: secret("cert: " + valid + ", key: " + key)},
		{name: "a certificate without its key is not served", extra: secret("tls.crt: " + valid),
			want: []string{"error MC4010 spec.servers[0].tls.credentialName"}},
		{name: "an expired certificate is not served", extra: secret("tls.crt: " + expired + ", tls.key: " + key),
			want: []string{"error MC4010 spec.servers[0].tls.credentialName"}},
		{name: "a Secret with no data at all stands for one kept out of the files", extra: secret("")},
		{name: "a port the Service exposes as its targetPort is reached", extra: secret("tls.crt: "+valid+", tls.key: "+key) + "---\n" + service("[{port: 8443, targetPort: 443, protocol: TCP}]")},
		{name: "a port the Service exposes as its port, with a named targetPort, is reached", extra: secret("tls.crt: "+valid+", tls.key: "+key) + "---\n" + service("[{port: 443, targetPort: https}]")},
		{name: "a port no Service of the workload exposes is reported", extra: secret("tls.crt: "+valid+", tls.key: "+key) + "---\n" + service("[{port: 80, targetPort: 8080}]"),
			want: []string{"warning MC4011 spec.servers[0].port.number"}},
		{name: "a UDP port does not carry the server's TCP traffic", extra: secret("tls.crt: "+valid+", tls.key: "+key) + "---\n" + service("[{port: 443, protocol: UDP}]"),
			want: []string{"warning MC4011 spec.servers[0].port.number"}},
		{name: "a Service selecting other Pods says nothing about this workload", extra: secret("tls.crt: "+valid+", tls.key: "+key) + "---\n" +
			"apiVersion: v1\nkind: Service\nmetadata: {name: edge, namespace: istio-system}\nspec:\n  selector: {istio: edge}\n  ports: [{port: 80}]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutations := append([]mutation{
				withoutAnnotation("cert-manager.io/cluster-issuer"),
				withHosts(0, "web.example.com"),
				withCredential(0, "web-tls"),
			}, tt.mutate...)
			opts := cliOptions()
			opts.Now = func() time.Time { return now }
			plan := certs.PlanGateway(t.Context(), certs.ParseGateway(buildGateway(t, mutations...)), indexOf(t, cluster+"---\n"+tt.extra), opts)
			want := tt.want
			if want == nil {
				want = []string{}
			}
			assert.Equal(t, want, summary(plan.Findings))
		})
	}
}
