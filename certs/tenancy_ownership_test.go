package certs_test

import (
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshcert/meshcert/certs"
)

// The label and annotation keys are spelled out, not taken from the
// package, so a change to what meshcert writes on Certificates fails here.
func TestCertificateOwnership(t *testing.T) {
	meshcertLabel := map[string]string{"app.kubernetes.io/managed-by": "meshcert"}
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		// managed is ManagedByMeshcert, forGateway IsManagedCertificate,
		// ofWeb OwnedBy(team-a/web).
		managed, forGateway, ofWeb bool
	}{
		{name: "meshcert's Certificate for Gateway team-a/web is all three",
			labels: meshcertLabel, annotations: map[string]string{"meshcert.io/gateway": "team-a/web"},
			managed: true, forGateway: true, ofWeb: true},
		{name: "meshcert's Certificate for another Gateway is not web's",
			labels: meshcertLabel, annotations: map[string]string{"meshcert.io/gateway": "team-a/api"},
			managed: true, forGateway: true},
		{name: "meshcert's Certificate for a Gateway of another namespace is not web's",
			labels: meshcertLabel, annotations: map[string]string{"meshcert.io/gateway": "team-b/web"},
			managed: true, forGateway: true},
		{name: "meshcert's mesh CA Certificate for an IstioOperator is managed but no Gateway's",
			labels: meshcertLabel, annotations: map[string]string{"meshcert.io/istiooperator": "istio-system/mesh"},
			managed: true},
		{name: "meshcert's label alone is managed but no Gateway's",
			labels: meshcertLabel, managed: true},
		{name: "the Gateway annotation without meshcert's label is nobody's",
			annotations: map[string]string{"meshcert.io/gateway": "team-a/web"}},
		{name: "another tool's managed-by value is not meshcert's",
			labels: map[string]string{"app.kubernetes.io/managed-by": "Helm"}, annotations: map[string]string{"meshcert.io/gateway": "team-a/web"}},
		{name: "meshcert's value under another label key is not meshcert's",
			labels: map[string]string{"managed-by": "meshcert"}, annotations: map[string]string{"meshcert.io/gateway": "team-a/web"}},
		{name: "a Certificate without labels or annotations is nobody's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crt := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Name: "web-tls", Namespace: "istio-system", Labels: tc.labels, Annotations: tc.annotations}}
			assert.Equal(t, tc.managed, certs.ManagedByMeshcert(crt), "ManagedByMeshcert")
			assert.Equal(t, tc.forGateway, certs.IsManagedCertificate(crt), "IsManagedCertificate")
			assert.Equal(t, tc.ofWeb, certs.OwnedBy(crt, "team-a", "web"), "OwnedBy team-a/web")

			u := &unstructured.Unstructured{}
			u.SetLabels(tc.labels)
			assert.Equal(t, tc.managed, certs.ManagedByMeshcert(u), "ManagedByMeshcert reads any object's labels the same")
		})
	}
}

func TestIsCertificate(t *testing.T) {
	tests := []struct {
		name string
		gvk  schema.GroupVersionKind
		want bool
	}{
		{name: "cert-manager's v1 Certificate is one", gvk: schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}, want: true},
		{name: "any version of it is one: decoding settles the version", gvk: schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1alpha2", Kind: "Certificate"}, want: true},
		{name: "a Certificate of another group is not", gvk: schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Certificate"}},
		{name: "a Certificate without a group is not", gvk: schema.GroupVersionKind{Version: "v1", Kind: "Certificate"}},
		{name: "another cert-manager kind is not", gvk: schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "CertificateRequest"}},
		{name: "kinds are case-sensitive", gvk: schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "certificate"}},
		{name: "an Istio Gateway is not", gvk: schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, certs.IsCertificate(tc.gvk))
		})
	}
}
