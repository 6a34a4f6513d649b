package gatewayapi

import (
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// certificate is a Certificate as the shim writes it for kind/name.
func certificate(namespace, name, kind, owner, uid string, labels, annotations map[string]string, spec cmapi.CertificateSpec) *cmapi.Certificate {
	return &cmapi.Certificate{
		TypeMeta: metav1.TypeMeta{APIVersion: "cert-manager.io/v1", Kind: "Certificate"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace, Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "gateway.networking.k8s.io/v1", Kind: kind, Name: owner, UID: types.UID(uid),
				Controller: new(true), BlockOwnerDeletion: new(true),
			}},
		},
		Spec: spec,
	}
}

func parentRef(kind, name string) map[string]string {
	return map[string]string{"acme.cert-manager.io/http01-parentrefkind": kind, "acme.cert-manager.io/http01-parentrefname": name}
}

func spec(secret, host, issuer, kind string) cmapi.CertificateSpec {
	return cmapi.CertificateSpec{
		DNSNames: []string{host}, SecretName: secret,
		IssuerRef: cmmeta.IssuerReference{Name: issuer, Kind: kind, Group: "cert-manager.io"},
		Usages:    cmapi.DefaultKeyUsages(),
	}
}

func duration(s string) *metav1.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &metav1.Duration{Duration: d}
}
