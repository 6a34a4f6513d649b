package certs_test

import (
	"slices"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// validationCase is one Certificate spec and the fields cert-manager's
// webhook rejects in it, once per error it reports. "Cert-manager" below is
// internal/apis/certmanager/validation/certificate.go of v1.21.2,
// ValidateCertificateSpec and the functions it calls.
type validationCase struct {
	name string
	// spec is the body of a flow mapping; valid holds the fields every
	// case needs unless it is about them.
	spec string
	// rejected are the MC3007 fields, one per error cert-manager reports.
	rejected []string
	// also are other findings the case must produce (MC5001 where meshcert's
	// issuer check already says what cert-manager says).
	also []string
	// message is part of one of the MC3007 messages.
	message string
}

const valid = "secretName: web-tls, issuerRef: {name: ca, kind: ClusterIssuer}, dnsNames: [web.example.com]"

const validNoNames = "secretName: web-tls, issuerRef: {name: ca, kind: ClusterIssuer}"

var validationCases = []validationCase{
	{name: "a Certificate with a Secret, an issuer and a DNS name is valid", spec: valid},

	// spec.secretName: required, and a DNS subdomain (NameIsDNSSubdomain).
	{name: "a Certificate without a secretName is rejected", spec: "issuerRef: {name: ca, kind: ClusterIssuer}, dnsNames: [a.example.com]", rejected: []string{"spec.secretName"}, message: "secretName is required"},
	{name: "a secretName in upper case with an underscore is rejected", spec: "secretName: Web_TLS, issuerRef: {name: ca, kind: ClusterIssuer}, dnsNames: [a.example.com]", rejected: []string{"spec.secretName"}, message: `"Web_TLS" is not a valid Secret name`},
	{name: "a secretName of 254 characters is rejected for its length", spec: "secretName: " + strings.Repeat("a", 254) + ", issuerRef: {name: ca}, dnsNames: [a.example.com]", rejected: []string{"spec.secretName"}},

	// spec.issuerRef (validateIssuerRef): a name; in cert-manager's group
	// (or none) a kind of Issuer or ClusterIssuer, any kind in another
	// group. meshcert's issuer check reports these as MC5001 already, the
	// kind only when the name is not blank: MC3007 adds only the rest.
	{name: "an issuerRef without a name is rejected, once, as MC5001", spec: "secretName: a, issuerRef: {kind: ClusterIssuer}, dnsNames: [a.example.com]", also: []string{"error MC5001 spec.issuerRef"}},
	{name: "an unknown kind without a group is rejected, once, as MC5001", spec: "secretName: a, issuerRef: {name: ca, kind: VenafiIssuer}, dnsNames: [a.example.com]", also: []string{"error MC5001 spec.issuerRef"}},
	{name: "an unknown kind with a blank name gets MC3007 for the kind, which MC5001 leaves out", spec: "secretName: a, issuerRef: {name: ' ', kind: VenafiIssuer}, dnsNames: [a.example.com]", rejected: []string{"spec.issuerRef.kind"}, also: []string{"error MC5001 spec.issuerRef"}, message: "set issuerRef.group"},
	{name: "an unknown kind in cert-manager's group without a name is rejected twice", spec: "secretName: a, issuerRef: {group: cert-manager.io, kind: Foo}, dnsNames: [a.example.com]", rejected: []string{"spec.issuerRef.kind"}, also: []string{"error MC5001 spec.issuerRef"}},
	{name: "any kind of an external issuer group is accepted", spec: "secretName: a, issuerRef: {name: ca, kind: AWSPCAClusterIssuer, group: awspca.cert-manager.io}, dnsNames: [a.example.com]"},

	// At least one of commonName (or a CN of literalSubject), dnsNames,
	// uris, emailAddresses, ipAddresses, otherNames.
	{name: "a Certificate naming nothing is rejected at spec", spec: validNoNames, rejected: []string{"spec"}, message: "names nothing to certify"},
	{name: "a commonName alone is enough for cert-manager", spec: validNoNames + ", commonName: web.example.com"},
	{name: "a URI alone is enough", spec: validNoNames + ", uris: ['spiffe://cluster.local/ns/a/sa/b']"},
	{name: "an email address alone is enough", spec: validNoNames + ", emailAddresses: [a@example.com]"},
	{name: "an IP address alone is enough", spec: validNoNames + ", ipAddresses: [10.0.0.1]"},
	{name: "an otherName alone is enough", spec: validNoNames + ", otherNames: [{oid: 1.3.6.1.4.1.311.20.2.3, utf8Value: upn@example.com}]"},
	{name: "a literalSubject with a CN is enough", spec: validNoNames + ", literalSubject: 'CN=web.example.com,O=Example'"},
	{name: "a literalSubject without a CN is not enough", spec: validNoNames + ", literalSubject: 'O=Example,C=DE'", rejected: []string{"spec"}},

	// The common name holds at most 64 bytes (len, not runes).
	{name: "a commonName of 64 characters is accepted", spec: valid + ", commonName: " + strings.Repeat("a", 64)},
	{name: "a commonName of 65 characters is rejected", spec: valid + ", commonName: " + strings.Repeat("a", 65), rejected: []string{"spec.commonName"}, message: "65 bytes long"},
	{name: "a commonName of 33 two-byte letters is 66 bytes and rejected", spec: valid + ", commonName: " + strings.Repeat("é", 33), rejected: []string{"spec.commonName"}},
	{name: "a CN of 65 characters in literalSubject is rejected at spec.commonName", spec: valid + ", literalSubject: 'CN=" + strings.Repeat("a", 65) + "'", rejected: []string{"spec.commonName"}},
	{name: "the last CN of literalSubject is the one measured", spec: valid + ", literalSubject: 'CN=" + strings.Repeat("a", 65) + "+CN=short'"},

	// literalSubject: no commonName and no subject beside it; an RFC 4514
	// DN (pki.UnmarshalSubjectStringToRDNSequence); only known types or OIDs.
	{name: "a literalSubject with a commonName is rejected at spec.commonName", spec: valid + ", commonName: a.example.com, literalSubject: 'CN=a.example.com'", rejected: []string{"spec.commonName"}, message: "cannot be set together with literalSubject"},
	{name: "a literalSubject with subject organizations is rejected at spec.subject", spec: valid + ", literalSubject: 'CN=a', subject: {organizations: [Acme]}", rejected: []string{"spec.subject"}},
	{name: "a literalSubject with a subject serial number is rejected at spec.subject", spec: valid + ", literalSubject: 'CN=a', subject: {serialNumber: '1'}", rejected: []string{"spec.subject"}},
	{name: "a literalSubject with an empty subject is accepted", spec: valid + ", literalSubject: 'CN=a', subject: {}"},
	{name: "a literalSubject that is no DN is rejected", spec: valid + ", literalSubject: 'web.example.com'", rejected: []string{"spec.literalSubject"}, message: "RFC 4514"},
	{name: "a literalSubject with an unknown attribute type is rejected", spec: valid + ", literalSubject: 'CN=a,FOO=bar'", rejected: []string{"spec.literalSubject"}, message: `"bar"`},
	{name: "a literalSubject with a dotted OID type is accepted", spec: valid + ", literalSubject: 'CN=a,1.2.840.113549.1.9.1=a@example.com'"},

	// ipAddresses: net.ParseIP.
	{name: "IPv4, IPv6 and IPv4-mapped addresses are accepted", spec: valid + ", ipAddresses: [10.0.0.1, '::1', '::ffff:10.0.0.1']"},
	{name: "an IPv6 zone, a prefix, brackets, a bad octet and an empty entry are rejected each", spec: valid + ", ipAddresses: ['fe80::1%eth0', 10.0.0.0/8, '[::1]', 999.1.1.1, '', 10.0.0.1]",
		rejected: []string{"spec.ipAddresses[0]", "spec.ipAddresses[1]", "spec.ipAddresses[2]", "spec.ipAddresses[3]", "spec.ipAddresses[4]"}, message: "not an IP address"},

	// emailAddresses: net/mail.ParseAddress, and nothing but the address.
	{name: "a plain email address is accepted", spec: valid + ", emailAddresses: [a@example.com, 'first.last+tag@sub.example.com']"},
	{name: "an email address with a display name is rejected", spec: valid + ", emailAddresses: ['Ann <a@example.com>']", rejected: []string{"spec.emailAddresses[0]"}, message: `list only the address itself, "a@example.com"`},
	{name: "a string without @ and an empty one are not email addresses", spec: valid + ", emailAddresses: [not-an-email, '']", rejected: []string{"spec.emailAddresses[0]", "spec.emailAddresses[1]"}},

	// otherNames (feature gate OtherNames, on by default): an oid that
	// pki.ParseObjectIdentifier reads, a non-empty UTF-8 value.
	{name: "an otherName without an oid is rejected twice at its oid (required, and no OID)", spec: valid + ", otherNames: [{utf8Value: x}]", rejected: []string{"spec.otherNames[0].oid", "spec.otherNames[0].oid"}},
	{name: "an otherName with a malformed oid is rejected", spec: valid + ", otherNames: [{oid: 1.3.x, utf8Value: x}]", rejected: []string{"spec.otherNames[0].oid"}, message: `"1.3.x" is not an object identifier`},
	{name: "an otherName without a value is rejected", spec: valid + ", otherNames: [{oid: 1.3.6.1.4.1.311.20.2.3}]", rejected: []string{"spec.otherNames[0].utf8Value"}},

	// privateKey: RSA (or no algorithm) from 2048 to 8192 bits, ECDSA 256,
	// 384 or 521, Ed25519 any size, no other algorithm; size 0 is unset.
	{name: "an RSA key of 2048 bits, cert-manager's minimum, is accepted", spec: valid + ", privateKey: {algorithm: RSA, size: 2048}"},
	{name: "an RSA key of 8192 bits is accepted", spec: valid + ", privateKey: {algorithm: RSA, size: 8192}"},
	{name: "an ECDSA key of 384 bits is accepted", spec: valid + ", privateKey: {algorithm: ECDSA, size: 384}"},
	{name: "an Ed25519 key ignores its size", spec: valid + ", privateKey: {algorithm: Ed25519, size: 7}"},
	{name: "an RSA key of 1024 bits is rejected", spec: valid + ", privateKey: {algorithm: RSA, size: 1024}", rejected: []string{"spec.privateKey.size"}, message: "use 2048, 3072 or 4096"},
	{name: "an RSA key of 8193 bits is rejected", spec: valid + ", privateKey: {size: 8193}", rejected: []string{"spec.privateKey.size"}},
	{name: "a negative size counts as unset", spec: valid + ", privateKey: {algorithm: ECDSA, size: -1}"},
	{name: "an RSA key of size 0 takes the default size", spec: valid + ", privateKey: {algorithm: RSA, size: 0}"},
	{name: "an ECDSA key of size 0 takes the default size", spec: valid + ", privateKey: {algorithm: ECDSA, size: 0}"},
	{name: "an ECDSA key of 2048 bits is rejected", spec: valid + ", privateKey: {algorithm: ECDSA, size: 2048}", rejected: []string{"spec.privateKey.size"}},
	{name: "an algorithm in lower case is rejected", spec: valid + ", privateKey: {algorithm: rsa}", rejected: []string{"spec.privateKey.algorithm"}, message: "spelt so"},

	// signatureAlgorithm: one of those of the key algorithm (RSA when
	// unset); none checked for an unknown key algorithm.
	{name: "an RSA signature without a key algorithm is accepted", spec: valid + ", signatureAlgorithm: SHA384WithRSA"},
	{name: "an ECDSA signature without a key algorithm is rejected, the key being RSA", spec: valid + ", signatureAlgorithm: ECDSAWithSHA256", rejected: []string{"spec.signatureAlgorithm"}, message: "SHA256WithRSA, SHA384WithRSA, SHA512WithRSA"},
	{name: "PureEd25519 with an Ed25519 key is accepted", spec: valid + ", signatureAlgorithm: PureEd25519, privateKey: {algorithm: Ed25519}"},
	{name: "an unknown signature algorithm is rejected", spec: valid + ", signatureAlgorithm: MD5WithRSA, privateKey: {algorithm: RSA}", rejected: []string{"spec.signatureAlgorithm"}},
	{name: "with an unknown key algorithm only the key algorithm is rejected", spec: valid + ", signatureAlgorithm: SHA256WithRSA, privateKey: {algorithm: DSA}", rejected: []string{"spec.privateKey.algorithm"}},

	// ValidateDuration, only when duration or renewBefore is set: duration
	// at least 1h (90 days when unset); renewBefore at least 5m and below
	// the duration; not both renewBefore and renewBeforePercentage; the
	// percentage's renewBefore at least 5m and below the duration.
	{name: "a duration of an hour with renewBefore of five minutes is accepted", spec: valid + ", duration: 1h, renewBefore: 5m"},
	{name: "a duration of 59 minutes is rejected", spec: valid + ", duration: 59m", rejected: []string{"spec.duration"}, message: "shorter than cert-manager's minimum of 1h0m0s"},
	{name: "a duration of zero is rejected", spec: valid + ", duration: 0s", rejected: []string{"spec.duration"}},
	{name: "a renewBefore of four minutes is rejected", spec: valid + ", renewBefore: 4m", rejected: []string{"spec.renewBefore"}},
	{name: "a negative renewBefore is rejected", spec: valid + ", duration: 2h, renewBefore: -5m", rejected: []string{"spec.renewBefore"}},
	{name: "a renewBefore equal to the default duration is rejected", spec: valid + ", renewBefore: 2160h", rejected: []string{"spec.renewBefore"}, message: "not shorter than the certificate's duration 2160h0m0s"},
	{name: "a renewBefore longer than the duration is rejected", spec: valid + ", duration: 1h, renewBefore: 2h", rejected: []string{"spec.renewBefore"}},
	{name: "a short duration and a short renewBefore are rejected each", spec: valid + ", duration: 30m, renewBefore: 1m", rejected: []string{"spec.duration", "spec.renewBefore"}},
	{name: "renewBefore and renewBeforePercentage together are rejected at both", spec: valid + ", renewBefore: 1h, renewBeforePercentage: 10", rejected: []string{"spec.renewBefore", "spec.renewBeforePercentage"}},
	{name: "a renewBeforePercentage of 50 with a duration is accepted", spec: valid + ", duration: 24h, renewBeforePercentage: 50"},
	{name: "a renewBeforePercentage of 100 leaves no time to renew", spec: valid + ", duration: 24h, renewBeforePercentage: 100", rejected: []string{"spec.renewBeforePercentage"}},
	{name: "a renewBeforePercentage renewing exactly five minutes before expiry is accepted", spec: valid + ", duration: 100m, renewBeforePercentage: 95"},
	{name: "a renewBeforePercentage of 95 on one hour renews three minutes before expiry and is rejected", spec: valid + ", duration: 1h, renewBeforePercentage: 95", rejected: []string{"spec.renewBeforePercentage"}},
	{name: "a renewBeforePercentage of 0 renews at issuance and is rejected", spec: valid + ", duration: 2h, renewBeforePercentage: 0", rejected: []string{"spec.renewBeforePercentage"}},
	{name: "a negative renewBeforePercentage is rejected", spec: valid + ", duration: 2h, renewBeforePercentage: -10", rejected: []string{"spec.renewBeforePercentage"}},
	{name: "a renewBeforePercentage without duration or renewBefore is not checked at all", spec: valid + ", renewBeforePercentage: 100"},

	// usages: util.KeyUsageType or util.ExtKeyUsageType, exact names.
	{name: "known usages are accepted", spec: valid + ", usages: [digital signature, key encipherment, server auth, client auth]"},
	{name: "an unknown usage and one in the wrong case are rejected", spec: valid + ", usages: [server auth, bogus, Server Auth]", rejected: []string{"spec.usages[1]", "spec.usages[2]"}},

	// revisionHistoryLimit at least 1.
	{name: "a revisionHistoryLimit of 1 is accepted", spec: valid + ", revisionHistoryLimit: 1"},
	{name: "a revisionHistoryLimit of 0 is rejected", spec: valid + ", revisionHistoryLimit: 0", rejected: []string{"spec.revisionHistoryLimit"}},

	// secretTemplate: labels by metavalidation.ValidateLabels; annotations
	// no cert-manager.io/ key but allow-direct-injection, and
	// apivalidation.ValidateAnnotations (qualified names, 256 KiB).
	{name: "ordinary labels and annotations are accepted", spec: valid + ", secretTemplate: {labels: {team: a}, annotations: {example.com/Owner: team-a, cert-manager.io/allow-direct-injection: 'true'}}"},
	{name: "a label key with a space is rejected", spec: valid + ", secretTemplate: {labels: {'bad key': a}}", rejected: []string{"spec.secretTemplate.labels"}},
	{name: "a label value of 64 characters is rejected", spec: valid + ", secretTemplate: {labels: {team: " + strings.Repeat("v", 64) + "}}", rejected: []string{"spec.secretTemplate.labels"}},
	{name: "a cert-manager.io annotation is rejected", spec: valid + ", secretTemplate: {annotations: {cert-manager.io/issuer-name: x}}", rejected: []string{"spec.secretTemplate.annotations"}, message: `annotation "cert-manager.io/issuer-name"`},
	{name: "an annotation key with a space is rejected", spec: valid + ", secretTemplate: {annotations: {'bad key': x}}", rejected: []string{"spec.secretTemplate.annotations"}},
	{name: "annotations over 256 KiB are rejected", spec: valid + ", secretTemplate: {annotations: {big: " + strings.Repeat("x", 256*1024) + "}}", rejected: []string{"spec.secretTemplate.annotations"}},

	// nameConstraints (feature gate NameConstraints, on by default): only
	// with isCA, and with permitted or excluded.
	{name: "name constraints on a CA are accepted", spec: valid + ", isCA: true, nameConstraints: {permitted: {dnsDomains: [example.com]}}"},
	{name: "name constraints without isCA are rejected", spec: valid + ", nameConstraints: {excluded: {dnsDomains: [example.org]}}", rejected: []string{"spec.nameConstraints"}, message: "set isCA: true"},
	{name: "empty name constraints without isCA are rejected twice", spec: valid + ", nameConstraints: {critical: true}", rejected: []string{"spec.nameConstraints", "spec.nameConstraints"}},

	// additionalOutputFormats: each type once.
	{name: "DER and CombinedPEM once each are accepted", spec: valid + ", additionalOutputFormats: [{type: DER}, {type: CombinedPEM}]"},
	{name: "a format listed three times is rejected twice", spec: valid + ", additionalOutputFormats: [{type: DER}, {type: DER}, {type: DER}]", rejected: []string{"spec.additionalOutputFormats[type]", "spec.additionalOutputFormats[type]"}},

	// keystores: exactly one of password and passwordSecretRef, and a
	// literal password not empty, for JKS and PKCS#12 alike.
	{name: "keystores with a password Secret or a literal password are accepted", spec: valid + ", keystores: {jks: {create: true, passwordSecretRef: {name: p, key: k}}, pkcs12: {create: true, password: changeit}}"},
	{name: "a JKS keystore without a password is rejected", spec: valid + ", keystores: {jks: {create: true}}", rejected: []string{"spec.keystores.jks"}, message: "needs a password"},
	{name: "a PKCS#12 keystore with both passwords is rejected", spec: valid + ", keystores: {pkcs12: {create: true, password: a, passwordSecretRef: {name: p}}}", rejected: []string{"spec.keystores.pkcs12"}},
	{name: "an empty literal password is rejected", spec: valid + ", keystores: {jks: {create: true, password: ''}}", rejected: []string{"spec.keystores.jks.password"}},
	{name: "an empty literal password beside a Secret is rejected twice", spec: valid + ", keystores: {pkcs12: {create: false, password: '', passwordSecretRef: {name: p}}}", rejected: []string{"spec.keystores.pkcs12", "spec.keystores.pkcs12.password"}},

	// renewal: policy RenewBefore or Disabled; no windows when Disabled;
	// each window a windowDuration, an IANA timezone and a cron schedule
	// (util.CronParse, in that timezone).
	{name: "renewal windows with a timezone and a descriptor are accepted", spec: valid + ", renewal: {policy: RenewBefore, windows: [{cron: '0 2 * * 1-5', windowDuration: 2h, timezone: Europe/Berlin}, {cron: '@daily', windowDuration: 1h}]}"},
	{name: "renewal disabled is accepted", spec: valid + ", renewal: {policy: Disabled}"},
	{name: "renewal disabled with windows is rejected", spec: valid + ", renewal: {policy: Disabled, windows: [{cron: 'nonsense'}]}", rejected: []string{"spec.renewal.windows"}},
	{name: "an unknown policy is rejected, and its windows are checked still", spec: valid + ", renewal: {policy: Sometimes, windows: [{cron: '0 2 * * *'}]}", rejected: []string{"spec.renewal.policy", "spec.renewal.windows[0].windowDuration"}},
	{name: "an empty policy is rejected", spec: valid + ", renewal: {}", rejected: []string{"spec.renewal.policy"}},
	{name: "an unknown timezone is rejected, and the cron in it too", spec: valid + ", renewal: {policy: RenewBefore, windows: [{cron: '0 2 * * *', windowDuration: 1h, timezone: Mars/Olympus}]}", rejected: []string{"spec.renewal.windows[0].timezone", "spec.renewal.windows[0].cron"}, message: "IANA time zone"},
	{name: "a cron of four fields and an empty one are rejected", spec: valid + ", renewal: {policy: RenewBefore, windows: [{cron: '0 2 * *', windowDuration: 1h}, {windowDuration: 1h}]}", rejected: []string{"spec.renewal.windows[0].cron", "spec.renewal.windows[1].cron"}},
}

// certificateOf decodes a Certificate with the given spec, as meshcert
// reads the input.
func certificateOf(t *testing.T, spec string) *cmapi.Certificate {
	t.Helper()
	crt := &cmapi.Certificate{}
	doc := "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: web, namespace: istio-system}\nspec: {" + spec + "}\n"
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(objectFromYAML(t, doc).Object, crt))
	return crt
}

// TestCertificateValidation pins meshcert's restatement of cert-manager's
// Certificate validation, rule by rule: every field cert-manager rejects,
// as often as it rejects it, is an MC3007 error (or the MC5001 meshcert's
// issuer check reports instead), and nothing else is. The e2e test
// TestInputCertificatesAgreeWithCertManager compares the same with
// cert-manager's code on a generated corpus.
func TestCertificateValidation(t *testing.T) {
	index := indexOf(t, cluster)
	for _, tc := range validationCases {
		t.Run(tc.name, func(t *testing.T) {
			findings := certs.CheckCertificate(t.Context(), certificateOf(t, tc.spec), index, cliOptions())
			var rejected, messages []string
			for _, f := range findings {
				if f.Code != finding.CodeCertificateRejected {
					continue
				}
				assert.Equal(t, finding.SeverityError, f.Severity)
				assert.True(t, strings.HasPrefix(f.Message, "cert-manager's webhook rejects this Certificate: "), f.Message)
				rejected = append(rejected, f.Field)
				messages = append(messages, f.Message)
			}
			assert.ElementsMatch(t, tc.rejected, rejected, "MC3007 fields; all findings: %v", summary(findings))
			for _, want := range tc.also {
				assert.Contains(t, summary(findings), want)
			}
			if tc.message != "" {
				assert.True(t, slices.ContainsFunc(messages, func(m string) bool { return strings.Contains(m, tc.message) }),
					"no MC3007 message contains %q: %q", tc.message, messages)
			}
		})
	}
}

// TestCertificateValidationCasesAreDistinct keeps the table readable: no
// two cases share a name or a spec.
func TestCertificateValidationCasesAreDistinct(t *testing.T) {
	var names, specs []string
	for _, tc := range validationCases {
		assert.NotContains(t, names, tc.name)
		assert.NotContains(t, specs, tc.spec, tc.name)
		names = append(names, tc.name)
		specs = append(specs, tc.spec)
	}
	assert.True(t, slices.ContainsFunc(validationCases, func(tc validationCase) bool { return len(tc.rejected) == 0 && len(tc.also) == 0 }), "some case is valid")
}
