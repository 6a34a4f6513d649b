package certs

import (
	"encoding/json"
	"net/mail"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	apiutil "github.com/cert-manager/cert-manager/pkg/api/util"
	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/util"
	"github.com/cert-manager/cert-manager/pkg/util/pki"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// certificateTemplate is the part of a Certificate spec that comes from a
// Gateway's cert-manager.io annotations; it is the same for every
// Certificate of that Gateway.
type certificateTemplate struct {
	spec cmapi.CertificateSpec
	// altNames are extra dnsNames from cert-manager.io/alt-names.
	altNames []string
}

// SubjectAnnotation is one cert-manager.io subject annotation, a
// comma-separated list, and the field of the subject it sets.
type SubjectAnnotation struct {
	Key    string
	Target *[]string
}

// SubjectAnnotations are the list-valued subject annotations, in the order
// cert-manager's shim reads them, each pointing at its field of subject.
func SubjectAnnotations(subject *cmapi.X509Subject) []SubjectAnnotation {
	return []SubjectAnnotation{
		{cmapi.SubjectOrganizationsAnnotationKey, &subject.Organizations},
		{cmapi.SubjectOrganizationalUnitsAnnotationKey, &subject.OrganizationalUnits},
		{cmapi.SubjectCountriesAnnotationKey, &subject.Countries},
		{cmapi.SubjectProvincesAnnotationKey, &subject.Provinces},
		{cmapi.SubjectLocalitiesAnnotationKey, &subject.Localities},
		{cmapi.SubjectPostalCodesAnnotationKey, &subject.PostalCodes},
		{cmapi.SubjectStreetAddressesAnnotationKey, &subject.StreetAddresses},
	}
}

// templateFromAnnotations reads every cert-manager.io Certificate spec
// annotation with cert-manager's ingress-shim semantics and validates the
// result with the rules cert-manager's webhook applies, so an annotation the
// shim or the webhook would reject is reported here, on that annotation.
// Unlike the shim, it reports every bad annotation, not just the first.
// It reports whether every annotation was valid.
func templateFromAnnotations(b *finding.Builder, ann map[string]string) (certificateTemplate, bool) {
	var tmpl certificateTemplate
	problems := annotationProblems{findings: b}
	bad := problems.badf
	spec := &tmpl.spec

	if v, ok := ann[cmapi.CommonNameAnnotationKey]; ok {
		if len(v) > 64 {
			bad(cmapi.CommonNameAnnotationKey, "the common name is %d characters long; X.509 allows at most 64, so leave it out and rely on the DNS names", len(v))
		} else {
			spec.CommonName = v
		}
	}
	if v, ok := ann[cmapi.AltNamesAnnotationKey]; ok {
		for _, name := range commaList(v) {
			if problem := hostProblem(name); problem != "" || isIP(name) {
				if problem == "" {
					problem = "it is an IP address; put IP addresses in " + cmapi.IPSANAnnotationKey
				}
				bad(cmapi.AltNamesAnnotationKey, "%q cannot be a DNS name in a certificate: %s", name, problem)
				continue
			}
			tmpl.altNames = append(tmpl.altNames, certificateName(name))
		}
	}
	if v, ok := ann[cmapi.IPSANAnnotationKey]; ok {
		for _, ip := range commaList(v) {
			addr, err := netip.ParseAddr(ip)
			switch {
			case err != nil:
				bad(cmapi.IPSANAnnotationKey, "%q is not an IP address; list IPv4 or IPv6 addresses separated by commas", ip)
			case addr.Zone() != "":
				// cert-manager's webhook reads IPs with net.ParseIP, which
				// rejects zones; a zone means nothing outside one host.
				bad(cmapi.IPSANAnnotationKey, "%q has an IPv6 zone, which cannot go into a certificate; remove %q", ip, "%"+addr.Zone())
			default:
				spec.IPAddresses = append(spec.IPAddresses, addr.String())
			}
		}
	}
	if v, ok := ann[cmapi.EmailsAnnotationKey]; ok {
		for _, email := range commaList(v) {
			if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
				bad(cmapi.EmailsAnnotationKey, "%q is not a plain email address; list addresses like user@example.com separated by commas", email)
				continue
			}
			spec.EmailAddresses = append(spec.EmailAddresses, email)
		}
	}

	subject := cmapi.X509Subject{}
	for _, s := range SubjectAnnotations(&subject) {
		v, ok := ann[s.Key]
		if !ok {
			continue
		}
		values, err := util.SplitWithEscapeCSV(v)
		if err != nil {
			bad(s.Key, "failed to parse the comma-separated list: %v; quote values that contain commas", err)
			continue
		}
		*s.Target = values
	}
	if v, ok := ann[cmapi.SubjectSerialNumberAnnotationKey]; ok {
		subject.SerialNumber = v
	}
	if !isEmptySubject(subject) {
		spec.Subject = &subject
	}

	spec.Duration = durationAnnotation(ann, cmapi.DurationAnnotationKey, "certificate duration", cmapi.MinimumCertificateDuration, "2160h", bad)
	spec.RenewBefore = durationAnnotation(ann, cmapi.RenewBeforeAnnotationKey, "renew-before", cmapi.MinimumRenewBefore, "720h", bad)
	if v, ok := ann[cmapi.RenewBeforePercentageAnnotationKey]; ok {
		pct, err := strconv.ParseInt(v, 10, 32)
		switch {
		case err != nil:
			bad(cmapi.RenewBeforePercentageAnnotationKey, "%q is not a whole number; use a percentage from 1 to 99", v)
		case pct < 1 || pct > 99:
			bad(cmapi.RenewBeforePercentageAnnotationKey, "renew-before-percentage must be from 1 to 99, got %d", pct)
		default:
			spec.RenewBeforePercentage = new(int32(pct))
		}
	}
	if v, ok := ann[cmapi.UsagesAnnotationKey]; ok {
		for _, name := range commaList(v) {
			usage := cmapi.KeyUsage(name)
			_, isKU := apiutil.KeyUsageType(usage)
			_, isEKU := apiutil.ExtKeyUsageType(usage)
			if !isKU && !isEKU {
				bad(cmapi.UsagesAnnotationKey, "%q is not a key usage cert-manager knows; use names such as \"digital signature\", \"key encipherment\", \"server auth\"", usage)
				continue
			}
			spec.Usages = append(spec.Usages, usage)
		}
	}
	if v, ok := ann[cmapi.RevisionHistoryLimitAnnotationKey]; ok {
		limit, err := strconv.ParseInt(v, 10, 32)
		if err != nil || limit < 1 {
			bad(cmapi.RevisionHistoryLimitAnnotationKey, "%q is not a positive whole number", v)
		} else {
			spec.RevisionHistoryLimit = new(int32(limit))
		}
	}
	privateKeyFromAnnotations(ann, spec, bad)
	if v, ok := ann[cmapi.IngressSecretTemplate]; ok {
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		tmplSecret := new(cmapi.CertificateSecretTemplate)
		if err := dec.Decode(tmplSecret); err != nil {
			bad(cmapi.IngressSecretTemplate, "failed to parse the secret template JSON: %v; use {\"labels\": {...}, \"annotations\": {...}}", err)
		} else if key := cmAnnotationIn(tmplSecret.Annotations); key != "" {
			bad(cmapi.IngressSecretTemplate, "the secret template must not set cert-manager.io/ annotations such as %q; cert-manager owns those", key)
		} else if errs := secretTemplateErrors(tmplSecret); len(errs) > 0 {
			bad(cmapi.IngressSecretTemplate, "cert-manager rejects this secret template: %s", errs.ToAggregate().Error())
		} else if len(tmplSecret.Annotations) > 0 || len(tmplSecret.Labels) > 0 {
			spec.SecretTemplate = tmplSecret
		}
	}

	checkRenewal(bad, ann, spec)
	checkACMEShimAnnotations(bad, ann)
	return tmpl, !problems.any
}

// checkACMEShimAnnotations checks the shim's ACME annotations, which become
// solver overrides on the Certificate (acmeShimOverrides): cert-manager
// fails an order that carries more than one override.
func checkACMEShimAnnotations(bad func(string, string, ...any), ann map[string]string) {
	if set := acmeShimKeys(ann); len(set) > 1 {
		bad(set[1], "%s and %s both override the HTTP-01 solver, and cert-manager fails an order with more than one override (\"may not specify more than one of: name, class, ingressClassName\"); keep one", set[0], set[1])
	}
	if v := ann[cmapi.IngressACMEIssuerHTTP01IngressClassNameAnnotationKey]; v != "" {
		if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
			bad(cmapi.IngressACMEIssuerHTTP01IngressClassNameAnnotationKey, "%q is not an IngressClass name (%s)", v, strings.Join(errs, "; "))
		}
	}
}

// acmeShimKeys are the shim's HTTP-01 annotations on ann that take effect,
// as its setIssuerSpecificConfig reads them: edit-in-place only as "true",
// the two classes only when not empty.
func acmeShimKeys(ann map[string]string) []string {
	var keys []string
	if ann[cmacme.IngressEditInPlaceAnnotationKey] == "true" {
		keys = append(keys, cmacme.IngressEditInPlaceAnnotationKey)
	}
	for _, key := range []string{cmapi.IngressACMEIssuerHTTP01IngressClassAnnotationKey, cmapi.IngressACMEIssuerHTTP01IngressClassNameAnnotationKey} {
		if ann[key] != "" {
			keys = append(keys, key)
		}
	}
	return keys
}

// ACMEShimCertificateAnnotations are every annotation acmeShimOverrides can
// put on a Certificate. One that a Certificate holds and its plan no longer
// wants was left by a shim annotation since removed from the Gateway.
var ACMEShimCertificateAnnotations = append([]string{cmapi.IssueTemporaryCertificateAnnotation}, acmeIngressOverrideKeys...)

// acmeIngressOverrideKeys are the Certificate annotations that override an
// HTTP-01 ingress solver on the Order, sorted.
var acmeIngressOverrideKeys = []string{
	cmacme.ACMECertificateHTTP01IngressClassOverride,
	cmacme.ACMECertificateHTTP01IngressClassNameOverride,
	cmacme.ACMECertificateHTTP01IngressNameOverride,
}

// acmeShimOverrides are the annotations cert-manager's shim puts on the
// Certificate of an annotated object named name: edit-in-place overrides
// the solver's Ingress name with the object's name and asks for a temporary
// certificate; a class annotation overrides the solver's class.
func acmeShimOverrides(ann map[string]string, name string) map[string]string {
	var out map[string]string
	for _, key := range acmeShimKeys(ann) {
		if out == nil {
			out = map[string]string{}
		}
		switch key {
		case cmacme.IngressEditInPlaceAnnotationKey:
			out[cmacme.ACMECertificateHTTP01IngressNameOverride] = name
			out[cmapi.IssueTemporaryCertificateAnnotation] = "true"
		case cmapi.IngressACMEIssuerHTTP01IngressClassAnnotationKey:
			out[cmacme.ACMECertificateHTTP01IngressClassOverride] = ann[key]
		default:
			out[cmacme.ACMECertificateHTTP01IngressClassNameOverride] = ann[key]
		}
	}
	return out
}

// annotationProblems reports invalid cert-manager.io Certificate
// annotations and remembers whether there was any.
type annotationProblems struct {
	findings *finding.Builder
	any      bool
}

func (p *annotationProblems) badf(key, format string, args ...any) {
	p.any = true
	p.findings.Errorf(finding.CodeInvalidCertificateAnnotation, annotationPath(key), format, args...)
}

// commaList splits a comma-separated annotation value into its trimmed
// entries. Empty entries (an empty value, a trailing comma from a template)
// are dropped, as cert-manager tolerates them.
func commaList(v string) []string {
	var out []string
	for entry := range strings.SplitSeq(v, ",") {
		if entry = strings.TrimSpace(entry); entry != "" {
			out = append(out, entry)
		}
	}
	return out
}

// durationAnnotation reads the duration annotation key, at least minimum;
// example is a valid value for the message.
func durationAnnotation(ann map[string]string, key, what string, minimum time.Duration, example string, bad func(string, string, ...any)) *metav1.Duration {
	v, ok := ann[key]
	if !ok {
		return nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		bad(key, "%q is not a duration; use Go duration syntax such as %s", v, example)
	case d < minimum:
		bad(key, "%s must be at least %s, got %s", what, minimum, d)
	default:
		return &metav1.Duration{Duration: d}
	}
	return nil
}

// enumAnnotation reads the annotation key as one of allowed; what names the
// value in the message.
func enumAnnotation[T ~string](ann map[string]string, key, what string, bad func(string, string, ...any), allowed ...T) T {
	v, ok := ann[key]
	if !ok {
		return ""
	}
	if slices.Contains(allowed, T(v)) {
		return T(v)
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	bad(key, "%q is not a %s; use %s", v, what, strings.Join(names[:len(names)-1], ", ")+" or "+names[len(names)-1])
	return ""
}

func privateKeyFromAnnotations(ann map[string]string, spec *cmapi.CertificateSpec, bad func(string, string, ...any)) {
	key := cmapi.CertificatePrivateKey{}
	key.Algorithm = enumAnnotation(ann, cmapi.PrivateKeyAlgorithmAnnotationKey, "private key algorithm", bad,
		cmapi.RSAKeyAlgorithm, cmapi.ECDSAKeyAlgorithm, cmapi.Ed25519KeyAlgorithm)
	key.Encoding = enumAnnotation(ann, cmapi.PrivateKeyEncodingAnnotationKey, "private key encoding", bad, cmapi.PKCS1, cmapi.PKCS8)
	if v, ok := ann[cmapi.PrivateKeySizeAnnotationKey]; ok {
		size, err := strconv.Atoi(v)
		switch {
		case err != nil:
			bad(cmapi.PrivateKeySizeAnnotationKey, "%q is not a whole number", v)
		case key.Algorithm == "" || key.Algorithm == cmapi.RSAKeyAlgorithm:
			if size < pki.MinRSAKeySize || size > pki.MaxRSAKeySize {
				bad(cmapi.PrivateKeySizeAnnotationKey, "RSA key size must be from %d to %d, got %d", pki.MinRSAKeySize, pki.MaxRSAKeySize, size)
			} else {
				key.Size = size
			}
		case key.Algorithm == cmapi.ECDSAKeyAlgorithm:
			if size != 256 && size != 384 && size != 521 {
				bad(cmapi.PrivateKeySizeAnnotationKey, "ECDSA key size must be 256, 384 or 521, got %d", size)
			} else {
				key.Size = size
			}
		default:
			// Ed25519 has one size; cert-manager ignores the field.
			key.Size = size
		}
	}
	key.RotationPolicy = enumAnnotation(ann, cmapi.PrivateKeyRotationPolicyAnnotationKey, "rotation policy", bad,
		cmapi.RotationPolicyAlways, cmapi.RotationPolicyNever)
	if key != (cmapi.CertificatePrivateKey{}) {
		spec.PrivateKey = &key
	}
}

// checkRenewal applies cert-manager's webhook rules that relate duration,
// renew-before and renew-before-percentage to each other.
func checkRenewal(bad func(key, format string, args ...any), ann map[string]string, spec *cmapi.CertificateSpec) {
	if spec.RenewBefore != nil && spec.RenewBeforePercentage != nil {
		bad(cmapi.RenewBeforePercentageAnnotationKey, "%q and %q are mutually exclusive; keep one",
			cmapi.RenewBeforeAnnotationKey, cmapi.RenewBeforePercentageAnnotationKey)
		return
	}
	if _, set := ann[cmapi.DurationAnnotationKey]; set && spec.Duration == nil {
		// The duration itself was invalid and is reported already.
		return
	}
	duration := apiutil.DefaultCertDuration(spec.Duration)
	if spec.RenewBefore != nil && spec.RenewBefore.Duration >= duration {
		bad(cmapi.RenewBeforeAnnotationKey, "renew-before %s must be shorter than the certificate duration %s", spec.RenewBefore.Duration, duration)
	}
	if spec.RenewBeforePercentage != nil {
		renewBefore := time.Duration(float64(duration) * float64(100-*spec.RenewBeforePercentage) / 100)
		if renewBefore < cmapi.MinimumRenewBefore {
			bad(cmapi.RenewBeforePercentageAnnotationKey, "renew-before-percentage %d of duration %s leaves less than %s to renew; lower it",
				*spec.RenewBeforePercentage, duration, cmapi.MinimumRenewBefore)
		}
	}
}

// cmAnnotationIn returns a cert-manager.io/ annotation cert-manager's
// webhook refuses in a secret template, or "".
func cmAnnotationIn(annotations map[string]string) string {
	for k := range annotations {
		if strings.HasPrefix(k, "cert-manager.io/") && k != "cert-manager.io/allow-direct-injection" {
			return k
		}
	}
	return ""
}

// secretTemplateErrors applies the label and annotation syntax rules
// cert-manager's webhook applies to spec.secretTemplate, with the same
// apimachinery validators.
func secretTemplateErrors(tmpl *cmapi.CertificateSecretTemplate) field.ErrorList {
	path := field.NewPath("spec", "secretTemplate")
	errs := metavalidation.ValidateLabels(tmpl.Labels, path.Child("labels"))
	return append(errs, apivalidation.ValidateAnnotations(tmpl.Annotations, path.Child("annotations"))...)
}

func isEmptySubject(s cmapi.X509Subject) bool {
	return len(s.Organizations) == 0 && len(s.OrganizationalUnits) == 0 && len(s.Countries) == 0 &&
		len(s.Provinces) == 0 && len(s.Localities) == 0 && len(s.PostalCodes) == 0 &&
		len(s.StreetAddresses) == 0 && s.SerialNumber == ""
}
