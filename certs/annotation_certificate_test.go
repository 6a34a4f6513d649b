package certs

import (
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"

	"github.com/meshcert/meshcert/finding"
)

var testRef = finding.ObjectRef{APIVersion: "networking.istio.io/v1", Kind: "Gateway", Namespace: "ns", Name: "gw"}

func TestIssuerFromAnnotations(t *testing.T) {
	caDefault := cmmeta.IssuerReference{Name: "default-ca", Kind: "ClusterIssuer", Group: "cert-manager.io"}
	none := cmmeta.IssuerReference{Kind: "Issuer", Group: "cert-manager.io"}
	tests := []struct {
		name         string
		annotations  map[string]string
		def          cmmeta.IssuerReference
		want         cmmeta.IssuerReference
		wantFindings []string
	}{
		{
			name:        "issuer names a namespaced Issuer",
			annotations: map[string]string{"cert-manager.io/issuer": "ca"},
			def:         none,
			want:        cmmeta.IssuerReference{Name: "ca", Kind: "Issuer", Group: "cert-manager.io"},
		},
		{
			name:        "cluster-issuer names a ClusterIssuer",
			annotations: map[string]string{"cert-manager.io/cluster-issuer": "ca"},
			def:         none,
			want:        cmmeta.IssuerReference{Name: "ca", Kind: "ClusterIssuer", Group: "cert-manager.io"},
		},
		{
			name:        "issuer with kind and group names an external issuer",
			annotations: map[string]string{"cert-manager.io/issuer": "vault", "cert-manager.io/issuer-kind": "VaultIssuer", "cert-manager.io/issuer-group": "example.io"},
			def:         none,
			want:        cmmeta.IssuerReference{Name: "vault", Kind: "VaultIssuer", Group: "example.io"},
		},
		{
			name: "no annotation falls back to the default",
			def:  caDefault,
			want: caDefault,
		},
		{
			name:         "issuer and cluster-issuer together are an error",
			annotations:  map[string]string{"cert-manager.io/issuer": "a", "cert-manager.io/cluster-issuer": "b"},
			def:          none,
			want:         cmmeta.IssuerReference{Name: "b", Kind: "ClusterIssuer", Group: "cert-manager.io"},
			wantFindings: []string{"error MC1001 metadata.annotations[cert-manager.io/cluster-issuer]"},
		},
		{
			name:         "cluster-issuer with a group is an error",
			annotations:  map[string]string{"cert-manager.io/cluster-issuer": "b", "cert-manager.io/issuer-group": "example.io"},
			def:          none,
			want:         cmmeta.IssuerReference{Name: "b", Kind: "ClusterIssuer", Group: "example.io"},
			wantFindings: []string{"error MC1001 metadata.annotations[cert-manager.io/issuer-group]"},
		},
		{
			name:         "cluster-issuer with a kind is an error",
			annotations:  map[string]string{"cert-manager.io/cluster-issuer": "b", "cert-manager.io/issuer-kind": "Issuer"},
			def:          none,
			want:         cmmeta.IssuerReference{Name: "b", Kind: "Issuer", Group: "cert-manager.io"},
			wantFindings: []string{"error MC1001 metadata.annotations[cert-manager.io/issuer-kind]"},
		},
		{
			name:         "an empty issuer name is an error",
			annotations:  map[string]string{"cert-manager.io/issuer": ""},
			def:          none,
			want:         cmmeta.IssuerReference{Kind: "Issuer", Group: "cert-manager.io"},
			wantFindings: []string{"error MC1001 metadata.annotations[cert-manager.io/issuer]"},
		},
		{
			name:         "only a kind annotation without any name is an error",
			annotations:  map[string]string{"cert-manager.io/issuer-kind": "ClusterIssuer"},
			def:          none,
			want:         cmmeta.IssuerReference{Kind: "ClusterIssuer", Group: "cert-manager.io"},
			wantFindings: []string{"error MC1001 metadata.annotations[cert-manager.io/issuer]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := finding.New(testRef)
			got, _, valid := issuerFromAnnotations(b, tc.annotations, tc.def)
			findings := b.Findings()
			assert.Equal(t, tc.want, got)
			assert.Equal(t, !findings.HasErrors(), valid, "valid must say whether there were errors")
			if tc.wantFindings == nil {
				tc.wantFindings = []string{}
			}
			assert.ElementsMatch(t, tc.wantFindings, summary(findings))
		})
	}
}

func TestTemplateMessagesSayWhatToFix(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        string
	}{
		{name: "an IP in alt-names points at ip-sans", annotations: map[string]string{"cert-manager.io/alt-names": "10.0.0.1"},
			want: `"10.0.0.1" cannot be a DNS name in a certificate: it is an IP address; put IP addresses in cert-manager.io/ip-sans`},
		{name: "a bare star in alt-names says why", annotations: map[string]string{"cert-manager.io/alt-names": "*"},
			want: `"*" cannot be a DNS name in a certificate: a bare "*" host matches every name and cannot be put into a certificate; list the DNS names (or a "*.domain" wildcard) instead`},
		{name: "a rotation policy lists the values in the documented order", annotations: map[string]string{"cert-manager.io/private-key-rotation-policy": "Sometimes"},
			want: `"Sometimes" is not a rotation policy; use Always or Never`},
		{name: "a key algorithm lists the three algorithms", annotations: map[string]string{"cert-manager.io/private-key-algorithm": "DSA"},
			want: `"DSA" is not a private key algorithm; use RSA, ECDSA or Ed25519`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := finding.New(testRef)
			templateFromAnnotations(b, tc.annotations)
			findings := b.Findings()
			if assert.Len(t, findings, 1) {
				assert.Equal(t, tc.want, findings[0].Message)
			}
		})
	}
}

func TestTemplateFromAnnotations(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		// check inspects the resulting spec; nil when only findings matter.
		check   func(t *testing.T, tmpl certificateTemplate)
		wantBad []string
	}{
		{name: "no annotations give an empty spec", check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, cmapi.CertificateSpec{}, tmpl.spec)
		}},
		{name: "common-name sets the common name", annotations: map[string]string{"cert-manager.io/common-name": "web.example.com"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, "web.example.com", tmpl.spec.CommonName)
		}},
		{name: "alt-names adds DNS names", annotations: map[string]string{"cert-manager.io/alt-names": "a.example.com, B.example.com"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, []string{"a.example.com", "b.example.com"}, tmpl.altNames)
		}},
		{name: "ip-sans adds IP addresses", annotations: map[string]string{"cert-manager.io/ip-sans": "10.0.0.1,::1"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, []string{"10.0.0.1", "::1"}, tmpl.spec.IPAddresses)
		}},
		{name: "email-sans adds email addresses", annotations: map[string]string{"cert-manager.io/email-sans": "a@example.com"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, []string{"a@example.com"}, tmpl.spec.EmailAddresses)
		}},
		{name: "subject annotations fill the subject with escaped commas", annotations: map[string]string{
			"cert-manager.io/subject-organizations":       `"Example, Inc",Other`,
			"cert-manager.io/subject-organizationalunits": "Ops",
			"cert-manager.io/subject-countries":           "NL",
			"cert-manager.io/subject-provinces":           "NH",
			"cert-manager.io/subject-localities":          "Amsterdam",
			"cert-manager.io/subject-postalcodes":         "1000",
			"cert-manager.io/subject-streetaddresses":     "Main 1",
			"cert-manager.io/subject-serialnumber":        "42",
		}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, &cmapi.X509Subject{
				Organizations: []string{"Example, Inc", "Other"}, OrganizationalUnits: []string{"Ops"}, Countries: []string{"NL"},
				Provinces: []string{"NH"}, Localities: []string{"Amsterdam"}, PostalCodes: []string{"1000"},
				StreetAddresses: []string{"Main 1"}, SerialNumber: "42",
			}, tmpl.spec.Subject)
		}},
		{name: "duration, renew-before and revision-history-limit are read", annotations: map[string]string{
			"cert-manager.io/duration": "48h", "cert-manager.io/renew-before": "12h", "cert-manager.io/revision-history-limit": "3",
		}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, "48h0m0s", tmpl.spec.Duration.Duration.String())
			assert.Equal(t, "12h0m0s", tmpl.spec.RenewBefore.Duration.String())
			assert.Equal(t, int32(3), *tmpl.spec.RevisionHistoryLimit)
		}},
		{name: "renew-before-percentage is read", annotations: map[string]string{"cert-manager.io/renew-before-percentage": "30"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, int32(30), *tmpl.spec.RenewBeforePercentage)
		}},
		{name: "private key annotations fill the private key", annotations: map[string]string{
			"cert-manager.io/private-key-algorithm": "RSA", "cert-manager.io/private-key-size": "4096",
			"cert-manager.io/private-key-encoding": "PKCS8", "cert-manager.io/private-key-rotation-policy": "Always",
		}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, &cmapi.CertificatePrivateKey{Algorithm: "RSA", Size: 4096, Encoding: "PKCS8", RotationPolicy: "Always"}, tmpl.spec.PrivateKey)
		}},
		{name: "usages are read", annotations: map[string]string{"cert-manager.io/usages": "server auth, client auth"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, []cmapi.KeyUsage{"server auth", "client auth"}, tmpl.spec.Usages)
		}},
		{name: "secret-template sets labels and annotations", annotations: map[string]string{"cert-manager.io/secret-template": `{"annotations":{"a":"b"}}`}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, map[string]string{"a": "b"}, tmpl.spec.SecretTemplate.Annotations)
		}},
		{name: "a common name of exactly 64 characters is accepted", annotations: map[string]string{"cert-manager.io/common-name": strings.Repeat("a", 64)}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Len(t, tmpl.spec.CommonName, 64)
		}},
		{name: "a revision history limit of 1 is accepted", annotations: map[string]string{"cert-manager.io/revision-history-limit": "1"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, int32(1), *tmpl.spec.RevisionHistoryLimit)
		}},
		{name: "an empty secret template sets no template", annotations: map[string]string{"cert-manager.io/secret-template": `{"labels":{},"annotations":{}}`}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Nil(t, tmpl.spec.SecretTemplate)
		}},
		{name: "a secret template with labels only is kept", annotations: map[string]string{"cert-manager.io/secret-template": `{"labels":{"team":"a"}}`}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, map[string]string{"team": "a"}, tmpl.spec.SecretTemplate.Labels)
		}},
		{name: "the smallest RSA key size, 2048, is accepted", annotations: map[string]string{"cert-manager.io/private-key-size": "2048"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, 2048, tmpl.spec.PrivateKey.Size)
		}},
		{name: "the largest RSA key size, 8192, is accepted", annotations: map[string]string{"cert-manager.io/private-key-algorithm": "RSA", "cert-manager.io/private-key-size": "8192"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, 8192, tmpl.spec.PrivateKey.Size)
		}},
		{name: "an RSA key size over 8192 is rejected", annotations: map[string]string{"cert-manager.io/private-key-size": "8193"}, wantBad: []string{"cert-manager.io/private-key-size"}},
		{name: "a percentage leaving half of a one-hour certificate is accepted", annotations: map[string]string{"cert-manager.io/duration": "1h", "cert-manager.io/renew-before-percentage": "50"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, int32(50), *tmpl.spec.RenewBeforePercentage)
		}},
		{name: "a percentage leaving exactly five minutes is accepted", annotations: map[string]string{"cert-manager.io/duration": "100m", "cert-manager.io/renew-before-percentage": "95"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, int32(95), *tmpl.spec.RenewBeforePercentage)
		}},
		{name: "empty list entries, as a template's trailing comma leaves them, are ignored", annotations: map[string]string{
			"cert-manager.io/alt-names": "a.example.com,, ", "cert-manager.io/ip-sans": "10.0.0.1,", "cert-manager.io/email-sans": ",a@example.com", "cert-manager.io/usages": "server auth,",
		}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, []string{"a.example.com"}, tmpl.altNames)
			assert.Equal(t, []string{"10.0.0.1"}, tmpl.spec.IPAddresses)
			assert.Equal(t, []string{"a@example.com"}, tmpl.spec.EmailAddresses)
			assert.Equal(t, []cmapi.KeyUsage{"server auth"}, tmpl.spec.Usages)
		}},
		{name: "empty list annotations are ignored", annotations: map[string]string{
			"cert-manager.io/alt-names": "", "cert-manager.io/ip-sans": "", "cert-manager.io/email-sans": "", "cert-manager.io/usages": "",
		}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, cmapi.CertificateSpec{}, tmpl.spec)
			assert.Empty(t, tmpl.altNames)
		}},
		{name: "IP SANs are written in canonical form", annotations: map[string]string{"cert-manager.io/ip-sans": "2001:DB8:0::A, 10.0.0.1"}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, []string{"2001:db8::a", "10.0.0.1"}, tmpl.spec.IPAddresses)
		}},
		{name: "an IPv6 zone is rejected, as cert-manager's webhook rejects it", annotations: map[string]string{"cert-manager.io/ip-sans": "fe80::1%eth0"}, wantBad: []string{"cert-manager.io/ip-sans"}},
		{name: "a common name over 64 characters is rejected", annotations: map[string]string{"cert-manager.io/common-name": string(make([]byte, 65))}, wantBad: []string{"cert-manager.io/common-name"}},
		{name: "an IP in alt-names is rejected", annotations: map[string]string{"cert-manager.io/alt-names": "10.0.0.1"}, wantBad: []string{"cert-manager.io/alt-names"}},
		{name: "a bare star in alt-names is rejected", annotations: map[string]string{"cert-manager.io/alt-names": "*"}, wantBad: []string{"cert-manager.io/alt-names"}},
		{name: "a bad IP SAN is rejected", annotations: map[string]string{"cert-manager.io/ip-sans": "10.0.0.300"}, wantBad: []string{"cert-manager.io/ip-sans"}},
		{name: "a bad email is rejected", annotations: map[string]string{"cert-manager.io/email-sans": "Someone <a@example.com>"}, wantBad: []string{"cert-manager.io/email-sans"}},
		{name: "an unbalanced quote in a subject list is rejected", annotations: map[string]string{"cert-manager.io/subject-countries": `"NL`}, wantBad: []string{"cert-manager.io/subject-countries"}},
		{name: "an unparsable duration is rejected", annotations: map[string]string{"cert-manager.io/duration": "90 days"}, wantBad: []string{"cert-manager.io/duration"}},
		{name: "a duration under an hour is rejected", annotations: map[string]string{"cert-manager.io/duration": "30m"}, wantBad: []string{"cert-manager.io/duration"}},
		{name: "renew-before under five minutes is rejected", annotations: map[string]string{"cert-manager.io/renew-before": "1m"}, wantBad: []string{"cert-manager.io/renew-before"}},
		{name: "renew-before as long as the duration is rejected", annotations: map[string]string{"cert-manager.io/duration": "2h", "cert-manager.io/renew-before": "2h"}, wantBad: []string{"cert-manager.io/renew-before"}},
		{name: "renew-before longer than the default duration is rejected", annotations: map[string]string{"cert-manager.io/renew-before": "3000h"}, wantBad: []string{"cert-manager.io/renew-before"}},
		{name: "renew-before with renew-before-percentage is rejected", annotations: map[string]string{"cert-manager.io/renew-before": "1h", "cert-manager.io/renew-before-percentage": "20"}, wantBad: []string{"cert-manager.io/renew-before-percentage"}},
		{name: "a percentage over 99 is rejected", annotations: map[string]string{"cert-manager.io/renew-before-percentage": "100"}, wantBad: []string{"cert-manager.io/renew-before-percentage"}},
		{name: "a percentage that leaves too little time is rejected", annotations: map[string]string{"cert-manager.io/duration": "1h", "cert-manager.io/renew-before-percentage": "95"}, wantBad: []string{"cert-manager.io/renew-before-percentage"}},
		{name: "a non-number percentage is rejected", annotations: map[string]string{"cert-manager.io/renew-before-percentage": "ten"}, wantBad: []string{"cert-manager.io/renew-before-percentage"}},
		{name: "an unknown usage is rejected", annotations: map[string]string{"cert-manager.io/usages": "server auth,teleport"}, wantBad: []string{"cert-manager.io/usages"}},
		{name: "a zero revision history limit is rejected", annotations: map[string]string{"cert-manager.io/revision-history-limit": "0"}, wantBad: []string{"cert-manager.io/revision-history-limit"}},
		{name: "an unknown key algorithm is rejected", annotations: map[string]string{"cert-manager.io/private-key-algorithm": "DSA"}, wantBad: []string{"cert-manager.io/private-key-algorithm"}},
		{name: "an unknown key encoding is rejected", annotations: map[string]string{"cert-manager.io/private-key-encoding": "DER"}, wantBad: []string{"cert-manager.io/private-key-encoding"}},
		{name: "a too small RSA key is rejected", annotations: map[string]string{"cert-manager.io/private-key-size": "1024"}, wantBad: []string{"cert-manager.io/private-key-size"}},
		{name: "an odd ECDSA size is rejected", annotations: map[string]string{"cert-manager.io/private-key-algorithm": "ECDSA", "cert-manager.io/private-key-size": "512"}, wantBad: []string{"cert-manager.io/private-key-size"}},
		{name: "a non-number key size is rejected", annotations: map[string]string{"cert-manager.io/private-key-size": "big"}, wantBad: []string{"cert-manager.io/private-key-size"}},
		{name: "an unknown rotation policy is rejected", annotations: map[string]string{"cert-manager.io/private-key-rotation-policy": "Sometimes"}, wantBad: []string{"cert-manager.io/private-key-rotation-policy"}},
		{name: "a secret template with unknown fields is rejected", annotations: map[string]string{"cert-manager.io/secret-template": `{"lables":{}}`}, wantBad: []string{"cert-manager.io/secret-template"}},
		{name: "a secret template may ask for direct injection, as cert-manager allows", annotations: map[string]string{"cert-manager.io/secret-template": `{"annotations":{"cert-manager.io/allow-direct-injection":"true"}}`}, check: func(t *testing.T, tmpl certificateTemplate) {
			assert.Equal(t, map[string]string{"cert-manager.io/allow-direct-injection": "true"}, tmpl.spec.SecretTemplate.Annotations)
		}},
		{name: "a secret template label value that is no label value is rejected", annotations: map[string]string{"cert-manager.io/secret-template": `{"labels":{"team":"a b"}}`}, wantBad: []string{"cert-manager.io/secret-template"}},
		{name: "a secret template label key that is no label key is rejected", annotations: map[string]string{"cert-manager.io/secret-template": `{"labels":{"bad key":"a"}}`}, wantBad: []string{"cert-manager.io/secret-template"}},
		{name: "a secret template annotation key that is no key is rejected", annotations: map[string]string{"cert-manager.io/secret-template": `{"annotations":{"/x":"a"}}`}, wantBad: []string{"cert-manager.io/secret-template"}},
		{name: "a secret template with cert-manager annotations is rejected", annotations: map[string]string{"cert-manager.io/secret-template": `{"annotations":{"cert-manager.io/x":"y"}}`}, wantBad: []string{"cert-manager.io/secret-template"}},
		{name: "every bad annotation is reported, not just the first", annotations: map[string]string{"cert-manager.io/duration": "x", "cert-manager.io/usages": "y"}, wantBad: []string{"cert-manager.io/duration", "cert-manager.io/usages"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := finding.New(testRef)
			tmpl, valid := templateFromAnnotations(b, tc.annotations)
			findings := b.Findings()
			assert.Equal(t, len(tc.wantBad) == 0, valid, "valid must say whether an annotation was bad")
			var bad []string
			for _, f := range findings {
				assert.Equal(t, finding.SeverityError, f.Severity)
				assert.Equal(t, finding.CodeInvalidCertificateAnnotation, f.Code)
				assert.NotEmpty(t, f.Message)
				bad = append(bad, f.Field)
			}
			want := make([]string, 0, len(tc.wantBad))
			for _, k := range tc.wantBad {
				want = append(want, annotationPath(k).String())
			}
			if bad == nil {
				bad = []string{}
			}
			assert.ElementsMatch(t, want, bad)
			if tc.check != nil {
				tc.check(t, tmpl)
			}
		})
	}
}
