package certs

import (
	"fmt"
	"net"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // Time zones for renewal windows, in an image FROM scratch too (see renewal).
	"unicode/utf8"

	apiutil "github.com/cert-manager/cert-manager/pkg/api/util"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmutil "github.com/cert-manager/cert-manager/pkg/util"
	"github.com/cert-manager/cert-manager/pkg/util/pki"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// This file is cert-manager's own Certificate validation
// (internal/apis/certmanager/validation, ValidateCertificateSpec, v1.21.2),
// which its webhook runs on every Certificate written to the API server.
// That package is internal to cert-manager's module, so the rules are
// restated here over the v1 API types, rule for rule and in the same order,
// with cert-manager's exported helpers wherever it uses one (pki, api/util,
// util.CronParse) and the same apimachinery validators. Each rule is an
// MC3007 error at the field path cert-manager names. The webhook's feature
// gates are taken at their v1.21 defaults, all on: LiteralCertificateSubject,
// OtherNames and NameConstraints are accepted and validated.
// e2e/certmanager_input_test.go compares this with the real validation.

// signatureAlgorithmsFor are the signature algorithms cert-manager allows
// for each private key algorithm (its keyAlgToAllowedSigAlgs).
var signatureAlgorithmsFor = map[cmapi.PrivateKeyAlgorithm][]cmapi.SignatureAlgorithm{
	cmapi.RSAKeyAlgorithm:     {cmapi.SHA256WithRSA, cmapi.SHA384WithRSA, cmapi.SHA512WithRSA},
	cmapi.ECDSAKeyAlgorithm:   {cmapi.ECDSAWithSHA256, cmapi.ECDSAWithSHA384, cmapi.ECDSAWithSHA512},
	cmapi.Ed25519KeyAlgorithm: {cmapi.PureEd25519},
}

// certificateValidation reports the rules of cert-manager's validation
// that one Certificate breaks.
type certificateValidation struct {
	b    *finding.Builder
	spec *cmapi.CertificateSpec
	path *field.Path
}

// rejectf records one rule cert-manager's webhook enforces and the
// Certificate breaks.
func (v certificateValidation) rejectf(path *field.Path, format string, args ...any) {
	v.b.Errorf(finding.CodeCertificateRejected, path, "cert-manager's webhook rejects this Certificate: "+format, args...)
}

// validateCertificateSpec reports, as MC3007 errors, everything
// cert-manager's own validation rejects in crt's spec.
func validateCertificateSpec(b *finding.Builder, crt *cmapi.Certificate) {
	v := certificateValidation{b: b, spec: &crt.Spec, path: field.NewPath("spec")}
	v.secretName()
	v.issuerRef()
	commonName := v.literalSubject()
	v.identities(commonName)
	v.ipAddresses()
	v.emailAddresses()
	v.otherNames()
	v.privateKey()
	v.signatureAlgorithm()
	if v.spec.Duration != nil || v.spec.RenewBefore != nil {
		// Like cert-manager, renewBeforePercentage alone is not checked.
		v.duration()
	}
	v.usages()
	if limit := v.spec.RevisionHistoryLimit; limit != nil && *limit < 1 {
		v.rejectf(v.path.Child("revisionHistoryLimit"), "revisionHistoryLimit is %d and must be at least 1; set 1 or more, or remove it (the default keeps one CertificateRequest)", *limit)
	}
	v.secretTemplate()
	v.nameConstraints()
	v.additionalOutputFormats()
	v.keystores()
	v.renewal()
}

func (v certificateValidation) secretName() {
	path := v.path.Child("secretName")
	if v.spec.SecretName == "" {
		v.rejectf(path, "secretName is required; name the Secret cert-manager should write the certificate and key to")
		return
	}
	for _, msg := range apivalidation.NameIsDNSSubdomain(v.spec.SecretName, false) {
		v.rejectf(path, "%q is not a valid Secret name (%s); use lower-case letters, digits, '-' and '.'", v.spec.SecretName, msg)
	}
}

// issuerRef: a name, and in cert-manager's group a kind it serves.
// checkIssuerRef reports both as MC5001 already, the kind only when the
// name is not blank; here only what it leaves out is added, so one mistake
// is one error (TestCertificateValidation keeps the two in step).
func (v certificateValidation) issuerRef() {
	ref := v.spec.IssuerRef
	if strings.TrimSpace(ref.Name) != "" {
		return
	}
	if ref.Group != "" && ref.Group != CertManagerGroup {
		// An external issuer: cert-manager cannot tell its kinds.
		return
	}
	switch ref.Kind {
	case "", cmapi.IssuerKind, cmapi.ClusterIssuerKind:
		return
	}
	path := v.path.Child("issuerRef", "kind")
	if ref.Group == "" {
		v.rejectf(path, "kind %q is not a cert-manager.io issuer kind (Issuer or ClusterIssuer); if an external issuer serves it, set issuerRef.group to that issuer's API group", ref.Kind)
		return
	}
	v.rejectf(path, "kind %q is not a cert-manager.io issuer kind; use Issuer or ClusterIssuer", ref.Kind)
}

// literalSubject checks spec.literalSubject and returns the common name
// cert-manager goes on with: the last CN of the literal subject, else
// spec.commonName.
func (v certificateValidation) literalSubject() string {
	commonName := v.spec.CommonName
	literal := v.spec.LiteralSubject
	if literal == "" {
		return commonName
	}
	path := v.path.Child("literalSubject")
	if commonName != "" {
		v.rejectf(v.path.Child("commonName"), "commonName cannot be set together with literalSubject; put the common name into literalSubject (CN=%s,...) and remove commonName", commonName)
	}
	if s := v.spec.Subject; s != nil && (len(s.Organizations) > 0 || len(s.Countries) > 0 ||
		len(s.OrganizationalUnits) > 0 || len(s.Localities) > 0 || len(s.Provinces) > 0 ||
		len(s.StreetAddresses) > 0 || len(s.PostalCodes) > 0 || s.SerialNumber != "") {
		v.rejectf(v.path.Child("subject"), "subject cannot be set together with literalSubject; move its attributes into literalSubject (O=...,C=...) and remove subject")
	}
	sequence, err := pki.UnmarshalSubjectStringToRDNSequence(literal)
	if err != nil {
		v.rejectf(path, "%q is not a distinguished name in RFC 4514 form (%v); write it like CN=web.example.com,O=Example,C=DE", literal, err)
	}
	for _, rdn := range sequence {
		for _, atv := range rdn {
			if !atv.Type.Equal(pki.OIDConstants.CommonName) {
				continue
			}
			if s, ok := atv.Value.(string); ok {
				commonName = s
			} else {
				v.rejectf(path, "its CN attribute is not a string; give the common name as text")
			}
		}
	}
	for _, rdn := range sequence {
		for _, atv := range rdn {
			if atv.Type.Equal(nil) {
				v.rejectf(path, "%q holds an attribute type cert-manager does not know (with value %q); use the short names (CN, O, OU, C, L, ST, STREET, POSTALCODE, SERIALNUMBER, DC, UID) or a dotted OID", literal, fmt.Sprint(atv.Value))
			}
		}
	}
	return commonName
}

// identities: a certificate must name something, and an X.509 common name
// holds at most 64 characters.
func (v certificateValidation) identities(commonName string) {
	s := v.spec
	if commonName == "" && len(s.DNSNames) == 0 && len(s.URIs) == 0 && len(s.EmailAddresses) == 0 &&
		len(s.IPAddresses) == 0 && len(s.OtherNames) == 0 {
		v.rejectf(v.path, "it names nothing to certify; set at least one of commonName (or a CN in literalSubject), dnsNames, ipAddresses, emailAddresses, uris or otherNames")
	}
	if len(commonName) > 64 {
		v.rejectf(v.path.Child("commonName"), "the common name is %d bytes long and cert-manager allows at most 64 (the X.509 limit); shorten it, or drop it and list the name in dnsNames, which has no such limit", len(commonName))
	}
}

func (v certificateValidation) ipAddresses() {
	for i, ip := range v.spec.IPAddresses {
		if net.ParseIP(ip) == nil {
			v.rejectf(v.path.Child("ipAddresses").Index(i), "%q is not an IP address; write a plain IPv4 or IPv6 address, without a zone, port, brackets or prefix length", ip)
		}
	}
}

func (v certificateValidation) emailAddresses() {
	for i, email := range v.spec.EmailAddresses {
		path := v.path.Child("emailAddresses").Index(i)
		addr, err := mail.ParseAddress(email)
		switch {
		case err != nil:
			v.rejectf(path, "%q is not an email address (%v); write it as name@domain", email, err)
		case addr.Address != email:
			v.rejectf(path, "%q is more than an email address; list only the address itself, %q", email, addr.Address)
		}
	}
}

func (v certificateValidation) otherNames() {
	for i, other := range v.spec.OtherNames {
		path := v.path.Child("otherNames").Index(i)
		if other.OID == "" {
			v.rejectf(path.Child("oid"), "an otherName needs its oid, the object identifier of its type (for a UPN, 1.3.6.1.4.1.311.20.2.3)")
		}
		if _, err := pki.ParseObjectIdentifier(other.OID); err != nil {
			v.rejectf(path.Child("oid"), "%q is not an object identifier; write it in dotted numbers such as 1.3.6.1.4.1.311.20.2.3", other.OID)
		}
		if other.UTF8Value == "" || !utf8.ValidString(other.UTF8Value) {
			v.rejectf(path.Child("utf8Value"), "an otherName needs a non-empty, valid UTF-8 utf8Value")
		}
	}
}

func (v certificateValidation) privateKey() {
	key := v.spec.PrivateKey
	if key == nil {
		return
	}
	path := v.path.Child("privateKey")
	switch key.Algorithm {
	case "", cmapi.RSAKeyAlgorithm:
		if key.Size > 0 && (key.Size < pki.MinRSAKeySize || key.Size > pki.MaxRSAKeySize) {
			v.rejectf(path.Child("size"), "an RSA key of %d bits is outside the %d to %d cert-manager generates; use 2048, 3072 or 4096", key.Size, pki.MinRSAKeySize, pki.MaxRSAKeySize)
		}
	case cmapi.ECDSAKeyAlgorithm:
		if key.Size > 0 && key.Size != 256 && key.Size != 384 && key.Size != 521 {
			v.rejectf(path.Child("size"), "an ECDSA key has 256, 384 or 521 bits, not %d; use one of those", key.Size)
		}
	case cmapi.Ed25519KeyAlgorithm:
	default:
		v.rejectf(path.Child("algorithm"), "%q is not a private key algorithm cert-manager knows; use RSA, ECDSA or Ed25519, spelt so, or leave it empty for RSA", key.Algorithm)
	}
}

func (v certificateValidation) signatureAlgorithm() {
	sig := v.spec.SignatureAlgorithm
	if sig == "" {
		return
	}
	keyAlg := cmapi.RSAKeyAlgorithm
	if v.spec.PrivateKey != nil && v.spec.PrivateKey.Algorithm != "" {
		keyAlg = v.spec.PrivateKey.Algorithm
	}
	allowed, ok := signatureAlgorithmsFor[keyAlg]
	if !ok || slices.Contains(allowed, sig) {
		// An unknown key algorithm is reported on its own.
		return
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	v.rejectf(v.path.Child("signatureAlgorithm"), "%q cannot sign with a %s key; use %s, or remove it to let cert-manager choose", sig, keyAlg, strings.Join(names, ", "))
}

// duration: cert-manager's ValidateDuration, for a duration or renewBefore
// (a missing duration is its 90-day default).
func (v certificateValidation) duration() {
	s := v.spec
	duration := apiutil.DefaultCertDuration(s.Duration)
	if duration < cmapi.MinimumCertificateDuration {
		v.rejectf(v.path.Child("duration"), "duration %s is shorter than cert-manager's minimum of %s; request at least 1h", duration, cmapi.MinimumCertificateDuration)
	}
	if s.RenewBefore != nil && s.RenewBeforePercentage != nil {
		v.rejectf(v.path.Child("renewBefore"), "renewBefore and renewBeforePercentage cannot both be set; keep one")
		v.rejectf(v.path.Child("renewBeforePercentage"), "renewBefore and renewBeforePercentage cannot both be set; keep one")
	}
	if s.RenewBefore != nil && s.RenewBefore.Duration < cmapi.MinimumRenewBefore {
		v.rejectf(v.path.Child("renewBefore"), "renewBefore %s is shorter than cert-manager's minimum of %s; renew at least %s before expiry", s.RenewBefore.Duration, cmapi.MinimumRenewBefore, cmapi.MinimumRenewBefore)
	}
	if s.RenewBefore != nil && s.RenewBefore.Duration >= duration {
		v.rejectf(v.path.Child("renewBefore"), "renewBefore %s is not shorter than the certificate's duration %s, so it would be renewed as soon as it is issued; shorten renewBefore or lengthen duration", s.RenewBefore.Duration, duration)
	}
	if pct := s.RenewBeforePercentage; pct != nil {
		// As cert-manager computes it, in float64 to avoid an overflow.
		renewBefore := time.Duration(float64(duration) * float64(100-*pct) / 100)
		path := v.path.Child("renewBeforePercentage")
		if renewBefore < cmapi.MinimumRenewBefore {
			v.rejectf(path, "renewBeforePercentage %d of duration %s renews %s before expiry, less than cert-manager's minimum of %s; lower the percentage or lengthen duration", *pct, duration, renewBefore, cmapi.MinimumRenewBefore)
		}
		if renewBefore >= duration {
			v.rejectf(path, "renewBeforePercentage %d of duration %s renews no later than the certificate is issued; use a percentage from 1 to 99", *pct, duration)
		}
	}
}

func (v certificateValidation) usages() {
	for i, u := range v.spec.Usages {
		_, isKU := apiutil.KeyUsageType(u)
		_, isEKU := apiutil.ExtKeyUsageType(u)
		if !isKU && !isEKU {
			v.rejectf(v.path.Child("usages").Index(i), "%q is not a key usage cert-manager knows; use its names, such as \"digital signature\", \"key encipherment\", \"server auth\", \"client auth\"", u)
		}
	}
}

func (v certificateValidation) secretTemplate() {
	tmpl := v.spec.SecretTemplate
	if tmpl == nil {
		return
	}
	if len(tmpl.Labels) > 0 {
		path := v.path.Child("secretTemplate", "labels")
		for _, e := range sortedErrors(metavalidation.ValidateLabels(tmpl.Labels, path)) {
			v.rejectf(path, "label %s; correct it in the secret template", e.ErrorBody())
		}
	}
	if len(tmpl.Annotations) > 0 {
		path := v.path.Child("secretTemplate", "annotations")
		keys := make([]string, 0, len(tmpl.Annotations))
		for k := range tmpl.Annotations {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.HasPrefix(k, "cert-manager.io/") && k != "cert-manager.io/allow-direct-injection" {
				v.rejectf(path, "annotation %q: a secret template may not set cert-manager.io/ annotations (cert-manager writes those itself; only cert-manager.io/allow-direct-injection is allowed); remove it", k)
			}
		}
		for _, e := range sortedErrors(apivalidation.ValidateAnnotations(tmpl.Annotations, path)) {
			v.rejectf(path, "annotation %s; correct it in the secret template", e.ErrorBody())
		}
	}
}

// sortedErrors orders errors found while ranging over a map, so findings
// come out the same every run.
func sortedErrors(errs field.ErrorList) field.ErrorList {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

func (v certificateValidation) nameConstraints() {
	nc := v.spec.NameConstraints
	if nc == nil {
		return
	}
	path := v.path.Child("nameConstraints")
	if !v.spec.IsCA {
		v.rejectf(path, "name constraints belong only in a CA certificate; set isCA: true or remove nameConstraints")
	}
	if nc.Permitted == nil && nc.Excluded == nil {
		v.rejectf(path, "nameConstraints sets neither permitted nor excluded; set one of them or remove nameConstraints")
	}
}

func (v certificateValidation) additionalOutputFormats() {
	seen := map[cmapi.CertificateOutputFormatType]bool{}
	for _, f := range v.spec.AdditionalOutputFormats {
		if seen[f.Type] {
			v.rejectf(v.path.Child("additionalOutputFormats").Key("type"), "output format %q is listed more than once; list each type once", f.Type)
			continue
		}
		seen[f.Type] = true
	}
}

func (v certificateValidation) keystores() {
	ks := v.spec.Keystores
	if ks == nil {
		return
	}
	if jks := ks.JKS; jks != nil {
		v.keystore(v.path.Child("keystores", "jks"), "JKS", jks.Password, jks.PasswordSecretRef.Name)
	}
	if p12 := ks.PKCS12; p12 != nil {
		v.keystore(v.path.Child("keystores", "pkcs12"), "PKCS#12", p12.Password, p12.PasswordSecretRef.Name)
	}
}

// keystore: exactly one of password and passwordSecretRef, and a literal
// password not empty.
func (v certificateValidation) keystore(path *field.Path, what string, password *string, secretName string) {
	if password != nil && secretName != "" {
		v.rejectf(path, "a %s keystore takes its password either literally (password) or from a Secret (passwordSecretRef), not both; remove one", what)
	}
	if password == nil && secretName == "" {
		v.rejectf(path, "a %s keystore needs a password: set passwordSecretRef (a Secret's name and key) or password", what)
	}
	if password != nil && *password == "" {
		v.rejectf(path.Child("password"), "the literal password of a %s keystore cannot be empty; set one, or use passwordSecretRef", what)
	}
}

// renewal: cert-manager's webhook image carries the IANA time zone
// database and reads spec.renewal.windows[].timezone with it; meshcert's
// image is built FROM scratch, so the binary embeds the database
// (time/tzdata), which Go uses only where the system has none.
func (v certificateValidation) renewal() {
	r := v.spec.Renewal
	if r == nil {
		return
	}
	path := v.path.Child("renewal")
	switch r.Policy {
	case cmapi.CertificateRenewalPolicyRenewBefore:
	case cmapi.CertificateRenewalPolicyDisabled:
		if len(r.Windows) > 0 {
			v.rejectf(path.Child("windows"), "renewal windows cannot be set when renewal.policy is Disabled; remove them or use policy RenewBefore")
		}
		return
	default:
		v.rejectf(path.Child("policy"), "renewal.policy %q is not one of RenewBefore or Disabled; use one of them", r.Policy)
	}
	for i, w := range r.Windows {
		wpath := path.Child("windows").Index(i)
		if w.WindowDuration == nil {
			v.rejectf(wpath.Child("windowDuration"), "a renewal window needs its windowDuration, how long it stays open (such as 2h)")
		}
		if _, err := time.LoadLocation(w.Timezone); err != nil && w.Timezone != "" {
			v.rejectf(wpath.Child("timezone"), "%q is not an IANA time zone; use a name such as Europe/Berlin or UTC", w.Timezone)
		}
		if _, err := cmutil.CronParse(w.Cron, w.Timezone); err != nil {
			v.rejectf(wpath.Child("cron"), "%q is not a cron schedule (%v); write five fields, minute hour day-of-month month day-of-week (such as \"0 2 * * 1-5\"), or a descriptor such as @daily", w.Cron, err)
		}
	}
}
