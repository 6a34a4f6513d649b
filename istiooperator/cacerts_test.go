package istiooperator_test

import (
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshcert/meshcert/istiooperator"
)

// The rule, for IstioOperator istio-system/mesh and istiod in istio-system:
// meshcert may own cacerts unless another Certificate writes the Secret,
// a Certificate named cacerts writes another Secret, or the Secret is one
// cert-manager did not write for Certificate cacerts, or cannot be read.
// Keys and messages are spelled out here, not taken from the package.
func TestCACertsObstacles(t *testing.T) {
	mesh := types.NamespacedName{Namespace: "istio-system", Name: "mesh"}
	meshcert := map[string]string{"app.kubernetes.io/managed-by": "meshcert"}
	certificate := func(name string, labels, annotations map[string]string) *cmapi.Certificate {
		return &cmapi.Certificate{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system", Labels: labels, Annotations: annotations},
			Spec:       cmapi.CertificateSpec{SecretName: "cacerts", IsCA: true},
		}
	}
	issuedCertificate := func(labels, annotations map[string]string) *cmapi.Certificate {
		crt := certificate("cacerts", labels, annotations)
		crt.Spec.SecretName = "cacerts-issued"
		return crt
	}
	forOperator := func(key string) map[string]string { return map[string]string{"meshcert.io/istiooperator": key} }
	secret := func(annotations map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cacerts", Namespace: "istio-system", Annotations: annotations}}
	}
	issuedForCACerts := map[string]string{"cert-manager.io/certificate-name": "cacerts"}
	writes := func(certificate, owner string) string {
		return "Certificate istio-system/" + certificate + " (" + owner + `) already writes istiod's Secret "cacerts"; meshcert leaves it alone and makes no mesh CA here: remove that Certificate, or the issuer annotation`
	}
	const (
		foreignSecret = "Secret istio-system/cacerts exists and cert-manager did not write it (a plugged-in CA made by hand?); a Certificate would overwrite it and replace istiod's CA, so meshcert makes none: move that Secret away to let meshcert manage istiod's CA, or remove the issuer annotation"
		unreadable    = "meshcert may not read Secret istio-system/cacerts, so it cannot tell a plugged-in CA from none and makes no mesh CA: grant get on that Secret (the chart's istiodNamespace Role)"
		namedForOther = `a Certificate istio-system/cacerts exists for Secret "ca"; meshcert leaves it alone and makes no mesh CA here: rename or remove it`
	)

	tests := []struct {
		name  string
		found istiooperator.CACertsFound
		want  []string
	}{
		{name: "free: nothing named cacerts exists yet",
			found: istiooperator.CACertsFound{}},
		{name: "free: this IstioOperator's own Certificate and the Secret cert-manager wrote for it",
			found: istiooperator.CACertsFound{
				Writers: []*cmapi.Certificate{certificate("cacerts", meshcert, forOperator("istio-system/mesh"))},
				Named:   certificate("cacerts", meshcert, forOperator("istio-system/mesh")),
				Secret:  secret(issuedForCACerts),
			}},
		{name: "a foreign Secret is present: one without cert-manager's annotation",
			found: istiooperator.CACertsFound{Secret: secret(nil)},
			want:  []string{foreignSecret}},
		{name: "a foreign Secret is present: one cert-manager wrote for another Certificate",
			found: istiooperator.CACertsFound{Secret: secret(map[string]string{"cert-manager.io/certificate-name": "other"})},
			want:  []string{foreignSecret}},
		{name: "a Secret meshcert may not read could be a plugged-in CA",
			found: istiooperator.CACertsFound{SecretUnreadable: true},
			want:  []string{unreadable}},
		{name: "the Certificate is owned by another IstioOperator",
			found: istiooperator.CACertsFound{Writers: []*cmapi.Certificate{certificate("cacerts", meshcert, forOperator("istio-system/other"))}},
			want:  []string{writes("cacerts", "meshcert's for IstioOperator istio-system/other")}},
		{name: "the Certificate is not managed by meshcert, whatever its annotation says",
			found: istiooperator.CACertsFound{Writers: []*cmapi.Certificate{certificate("cacerts", nil, forOperator("istio-system/mesh"))}},
			want:  []string{writes("cacerts", "not meshcert's")}},
		{name: "a Certificate meshcert made for a Gateway is no IstioOperator's, and is named with its Gateway",
			found: istiooperator.CACertsFound{Writers: []*cmapi.Certificate{certificate("cacerts", meshcert, map[string]string{"meshcert.io/gateway": "team-a/web"})}},
			want:  []string{writes("cacerts", "meshcert's for Gateway team-a/web")}},
		{name: "a second Certificate of this IstioOperator under another name is in the way too",
			found: istiooperator.CACertsFound{Writers: []*cmapi.Certificate{certificate("mesh-ca", meshcert, forOperator("istio-system/mesh"))}},
			want:  []string{writes("mesh-ca", "meshcert's for IstioOperator istio-system/mesh")}},
		{name: "a Certificate named cacerts that writes another Secret takes the name",
			found: istiooperator.CACertsFound{Named: &cmapi.Certificate{
				ObjectMeta: metav1.ObjectMeta{Name: "cacerts", Namespace: "istio-system"},
				Spec:       cmapi.CertificateSpec{SecretName: "ca"},
			}},
			want: []string{namedForOther}},
		{name: "free: meshcert's Certificate writes cacerts-issued and the Secret cacerts is the one meshcert composed for this IstioOperator",
			found: istiooperator.CACertsFound{
				IssuedWriters: []*cmapi.Certificate{issuedCertificate(meshcert, forOperator("istio-system/mesh"))},
				Named:         issuedCertificate(meshcert, forOperator("istio-system/mesh")),
				Secret:        secret(map[string]string{"meshcert.io/istiooperator": "istio-system/mesh"}),
			}},
		{name: "a Secret cacerts meshcert composed for another IstioOperator is in the way",
			found: istiooperator.CACertsFound{Secret: secret(map[string]string{"meshcert.io/istiooperator": "istio-system/other", "cert-manager.io/certificate-name": "cacerts"})},
			want:  []string{"Secret istio-system/cacerts is istiod's CA as meshcert composes it for IstioOperator istio-system/other, and one istiod has one CA: remove the issuer annotation from one of the two"}},
		{name: "another Certificate writing cacerts-issued is in the way",
			found: istiooperator.CACertsFound{IssuedWriters: []*cmapi.Certificate{certificate("mine", nil, nil)}},
			want:  []string{strings.ReplaceAll(writes("mine", "not meshcert's"), `"cacerts"`, `"cacerts-issued"`)}},
		{name: "a Certificate named cacerts writing cacerts-issued that is not meshcert's takes the name",
			found: istiooperator.CACertsFound{Named: issuedCertificate(nil, nil)},
			want:  []string{strings.ReplaceAll(namedForOther, `"ca"`, `"cacerts-issued"`)}},
		{name: "every obstacle is reported, Certificates first",
			found: istiooperator.CACertsFound{
				Writers: []*cmapi.Certificate{certificate("cacerts", nil, nil)},
				Secret:  secret(nil),
			},
			want: []string{writes("cacerts", "not meshcert's"), foreignSecret}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, crt := range tc.found.IssuedWriters {
				crt.Spec.SecretName = "cacerts-issued"
			}
			tc.found.Namespace = "istio-system"
			assert.Equal(t, tc.want, istiooperator.CACertsObstacles(istiooperator.IstioOperatorKind, mesh, tc.found))
		})
	}
}

func TestOwnsCertificate(t *testing.T) {
	meshcert := map[string]string{"app.kubernetes.io/managed-by": "meshcert"}
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        bool
	}{
		{name: "meshcert's label and this IstioOperator's annotation own it",
			labels: meshcert, annotations: map[string]string{"meshcert.io/istiooperator": "istio-system/mesh"}, want: true},
		{name: "another IstioOperator's annotation does not",
			labels: meshcert, annotations: map[string]string{"meshcert.io/istiooperator": "istio-system/other"}},
		{name: "the annotation without meshcert's label does not",
			annotations: map[string]string{"meshcert.io/istiooperator": "istio-system/mesh"}},
		{name: "meshcert's Certificate for a Gateway does not",
			labels: meshcert, annotations: map[string]string{"meshcert.io/gateway": "istio-system/mesh"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crt := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Name: "cacerts", Namespace: "istio-system", Labels: tc.labels, Annotations: tc.annotations}}
			assert.Equal(t, tc.want, istiooperator.OwnsCertificate(crt, "istio-system", "mesh"))
		})
	}
}
