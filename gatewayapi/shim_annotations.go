package gatewayapi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	apiutil "github.com/cert-manager/cert-manager/pkg/api/util"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/util"
	"github.com/cert-manager/cert-manager/pkg/util/pki"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshcert/meshcert/certs"
)

// applySpecAnnotations writes the cert-manager.io Certificate spec
// annotations into crt exactly as the shim's translateAnnotations
// (pkg/controller/certificate-shim/helper.go) does, values as written:
// what the shim stores, not what meshcert would normalise. Its error means
// the shim's sync fails and it writes nothing for the object; meshcert's own
// checks (certs.SpecFromAnnotations) say why, on the annotation at fault.
//
//nolint:gocyclo // One branch per annotation, in the shim's order, so the two can be read side by side.
func applySpecAnnotations(crt *cmapi.Certificate, ann map[string]string) error {
	if v, ok := ann[cmapi.CommonNameAnnotationKey]; ok {
		crt.Spec.CommonName = v
	}
	if v, ok := ann[cmapi.AltNamesAnnotationKey]; ok && v != "" {
		crt.Spec.DNSNames = append(crt.Spec.DNSNames, strings.Split(v, ",")...)
	}
	if v, ok := ann[cmapi.IPSANAnnotationKey]; ok && v != "" {
		crt.Spec.IPAddresses = append(crt.Spec.IPAddresses, strings.Split(v, ",")...)
	}
	if v, ok := ann[cmapi.EmailsAnnotationKey]; ok {
		crt.Spec.EmailAddresses = strings.Split(v, ",")
	}

	subject := &cmapi.X509Subject{}
	for _, s := range certs.SubjectAnnotations(subject) {
		if v, ok := ann[s.Key]; ok {
			values, err := util.SplitWithEscapeCSV(v)
			if err != nil {
				return annotationError(s.Key, err.Error())
			}
			*s.Target = values
		}
	}
	if v, ok := ann[cmapi.SubjectSerialNumberAnnotationKey]; ok {
		subject.SerialNumber = v
	}
	if len(subject.Organizations) > 0 || len(subject.OrganizationalUnits) > 0 || len(subject.Countries) > 0 ||
		len(subject.Provinces) > 0 || len(subject.Localities) > 0 || len(subject.PostalCodes) > 0 ||
		len(subject.StreetAddresses) > 0 || subject.SerialNumber != "" {
		crt.Spec.Subject = subject
	}

	for _, d := range []struct {
		key    string
		target **metav1.Duration
	}{
		{cmapi.DurationAnnotationKey, &crt.Spec.Duration},
		{cmapi.RenewBeforeAnnotationKey, &crt.Spec.RenewBefore},
	} {
		if v, ok := ann[d.key]; ok {
			duration, err := time.ParseDuration(v)
			if err != nil {
				return annotationError(d.key, err.Error())
			}
			*d.target = &metav1.Duration{Duration: duration}
		}
	}
	if v, ok := ann[cmapi.RenewBeforePercentageAnnotationKey]; ok {
		pct, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return annotationError(cmapi.RenewBeforePercentageAnnotationKey, err.Error())
		}
		crt.Spec.RenewBeforePercentage = new(int32(pct))
	}
	if v, ok := ann[cmapi.UsagesAnnotationKey]; ok {
		var usages []cmapi.KeyUsage
		for name := range strings.SplitSeq(v, ",") {
			usage := cmapi.KeyUsage(strings.Trim(name, " "))
			_, isKU := apiutil.KeyUsageType(usage)
			_, isEKU := apiutil.ExtKeyUsageType(usage)
			if !isKU && !isEKU {
				return annotationError(cmapi.UsagesAnnotationKey, fmt.Sprintf("invalid key usage name %q", name))
			}
			usages = append(usages, usage)
		}
		crt.Spec.Usages = usages
	}
	if v, ok := ann[cmapi.RevisionHistoryLimitAnnotationKey]; ok {
		limit, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return annotationError(cmapi.RevisionHistoryLimitAnnotationKey, err.Error())
		}
		if limit < 1 {
			return annotationError(cmapi.RevisionHistoryLimitAnnotationKey, "revision history limit must be a positive number")
		}
		crt.Spec.RevisionHistoryLimit = new(int32(limit))
	}
	return applyPrivateKeyAnnotations(crt, ann)
}

func applyPrivateKeyAnnotations(crt *cmapi.Certificate, ann map[string]string) error {
	key := func() *cmapi.CertificatePrivateKey {
		if crt.Spec.PrivateKey == nil {
			crt.Spec.PrivateKey = &cmapi.CertificatePrivateKey{}
		}
		return crt.Spec.PrivateKey
	}
	if v, ok := ann[cmapi.PrivateKeyAlgorithmAnnotationKey]; ok {
		switch algorithm := cmapi.PrivateKeyAlgorithm(v); algorithm {
		case cmapi.RSAKeyAlgorithm, cmapi.ECDSAKeyAlgorithm, cmapi.Ed25519KeyAlgorithm:
			key().Algorithm = algorithm
		default:
			return annotationError(cmapi.PrivateKeyAlgorithmAnnotationKey, fmt.Sprintf("invalid private key algorithm %q", v))
		}
	}
	if v, ok := ann[cmapi.PrivateKeyEncodingAnnotationKey]; ok {
		encoding := cmapi.PrivateKeyEncoding(v)
		if encoding != cmapi.PKCS1 && encoding != cmapi.PKCS8 {
			return annotationError(cmapi.PrivateKeyEncodingAnnotationKey, fmt.Sprintf("invalid private key encoding %q", v))
		}
		key().Encoding = encoding
	}
	if v, ok := ann[cmapi.PrivateKeySizeAnnotationKey]; ok {
		size, err := strconv.Atoi(v)
		if err != nil {
			return annotationError(cmapi.PrivateKeySizeAnnotationKey, err.Error())
		}
		algorithm := cmapi.RSAKeyAlgorithm
		if crt.Spec.PrivateKey != nil && crt.Spec.PrivateKey.Algorithm != "" {
			algorithm = crt.Spec.PrivateKey.Algorithm
		}
		switch {
		case algorithm == cmapi.RSAKeyAlgorithm && (size < pki.MinRSAKeySize || size > pki.MaxRSAKeySize),
			algorithm == cmapi.ECDSAKeyAlgorithm && size != 256 && size != 384 && size != 521:
			return annotationError(cmapi.PrivateKeySizeAnnotationKey, fmt.Sprintf("invalid private key size for %s algorithm %q", algorithm, v))
		}
		key().Size = size
	}
	if v, ok := ann[cmapi.PrivateKeyRotationPolicyAnnotationKey]; ok {
		policy := cmapi.PrivateKeyRotationPolicy(v)
		if policy != cmapi.RotationPolicyNever && policy != cmapi.RotationPolicyAlways {
			return annotationError(cmapi.PrivateKeyRotationPolicyAnnotationKey, fmt.Sprintf("invalid private key rotation policy %q", v))
		}
		key().RotationPolicy = policy
	}
	if v, ok := ann[cmapi.IngressSecretTemplate]; ok {
		decoder := json.NewDecoder(strings.NewReader(v))
		decoder.DisallowUnknownFields()
		tmpl := new(cmapi.CertificateSecretTemplate)
		if err := decoder.Decode(tmpl); err != nil {
			return annotationError(cmapi.IngressSecretTemplate, "error parsing secret template JSON: "+err.Error())
		}
		for k := range tmpl.Annotations {
			if strings.HasPrefix(k, "cert-manager.io/") {
				return annotationError(cmapi.IngressSecretTemplate, fmt.Sprintf("secretTemplate must not have cert-manager.io/ annotations: %q", k))
			}
		}
		if len(tmpl.Annotations) > 0 || len(tmpl.Labels) > 0 {
			crt.Spec.SecretTemplate = tmpl
		}
	}
	return nil
}

// shimAnnotationError is the shim's own reason for failing a sync, kept for
// the finding when meshcert's stricter checks have none of their own.
type shimAnnotationError struct {
	key, reason string
}

func (e *shimAnnotationError) Error() string {
	return fmt.Sprintf("invalid ingress annotation %q: %s", e.key, e.reason)
}

func annotationError(key, reason string) error { return &shimAnnotationError{key: key, reason: reason} }
