package istiooperator

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/meshca"
)

// The mesh CA's key unless the private-key annotations say otherwise:
// RSA 4096, as Istio's own tooling makes plugged-in intermediates
// (tools/certs in istio/istio).
const (
	DefaultCAKeyAlgorithm = cmapi.RSAKeyAlgorithm
	DefaultCAKeySize      = 4096
	// certificateNameAnnotation is what cert-manager writes on the Secrets
	// it issues: the Certificate's name.
	certificateNameAnnotation = cmapi.CertificateNameKey
	// maxCommonName is X.509's upper bound for a common name.
	maxCommonName = 64
)

// caUsages are the key usages of a CA that signs workload certificates.
var caUsages = []cmapi.KeyUsage{cmapi.UsageCertSign, cmapi.UsageCRLSign, cmapi.UsageDigitalSignature}

// annotationsNotForCA are Certificate annotations that make no sense on a
// CA: a mesh CA names no endpoints, and its usages are fixed.
var annotationsNotForCA = []string{
	cmapi.AltNamesAnnotationKey,
	cmapi.IPSANAnnotationKey,
	cmapi.EmailsAnnotationKey,
	cmapi.UsagesAnnotationKey,
}

var annotationsPath = field.NewPath("metadata", "annotations")

// meshCA plans the Certificate for istiod's cacerts, or returns nil with
// findings saying why not.
func (pl *planner) meshCA(ctx context.Context, namespace string) *cmapi.Certificate {
	ann := pl.obj.GetAnnotations()
	ref, refPath, refOK := certs.IssuerFromAnnotations(pl.Builder, ann, cmmeta.IssuerReference{})
	spec, _, specOK := certs.SpecFromAnnotations(pl.Builder, ann)
	for _, key := range annotationsNotForCA {
		if _, ok := ann[key]; ok {
			specOK = false
			pl.Errorf(finding.CodeInvalidCertificateAnnotation, annotationsPath.Key(key),
				"%s has no place on istiod's CA certificate: a mesh CA names no endpoints and its key usages are fixed (cert sign, crl sign, digital signature); remove the annotation", key)
		}
	}
	if !refOK || !specOK {
		return nil
	}
	if refPath == nil {
		refPath = annotationsPath
	}
	iss := certs.CheckIssuer(ctx, pl.Builder, refPath, ref, namespace, pl.lookup, pl.opts)
	if !pl.canSignCA(ctx, refPath, ref, iss) || !pl.cacertsFree(ctx, namespace) {
		return nil
	}

	spec.SecretName = CACertsSecret
	if pl.opts.ComposeCACerts {
		// cert-manager writes the intermediate beside cacerts; the
		// controller composes cacerts from it (package meshca), so a new
		// root reaches istiod in steps it accepts.
		spec.SecretName = meshca.IssuedSecret
	}
	spec.IssuerRef = ref
	spec.IsCA = true
	spec.Usages = caUsages
	if spec.CommonName == "" {
		spec.CommonName = pl.commonName()
	}
	if spec.PrivateKey == nil {
		spec.PrivateKey = &cmapi.CertificatePrivateKey{}
	}
	if spec.PrivateKey.Algorithm == "" {
		spec.PrivateKey.Algorithm = DefaultCAKeyAlgorithm
		if spec.PrivateKey.Size == 0 {
			spec.PrivateKey.Size = DefaultCAKeySize
		}
	}
	return &cmapi.Certificate{
		TypeMeta: metav1.TypeMeta{APIVersion: cmapi.SchemeGroupVersion.String(), Kind: cmapi.CertificateKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:        CACertsSecret,
			Namespace:   namespace,
			Labels:      pl.kind.CertificateLabels(pl.obj.GetNamespace(), pl.obj.GetName()),
			Annotations: map[string]string{pl.kind.ownerAnnotation: pl.kind.Key(pl.obj.GetNamespace(), pl.obj.GetName())},
		},
		Spec: spec,
	}
}

// Key is how a mesh CA Certificate records its IstioOperator.
func Key(namespace, name string) string { return namespace + "/" + name }

// commonName names the cluster, so `openssl x509 -subject` on any workload
// chain says which cluster's istiod signed it.
func (pl *planner) commonName() string {
	name := "istiod CA"
	if cluster := pl.clusterName(); cluster != "" && len(name)+len(" for cluster ")+len(cluster) <= maxCommonName {
		name += " for cluster " + cluster
	}
	return name
}

// canSignCA reports an issuer that cannot issue a CA certificate: an ACME
// issuer, or a CA issuer whose own certificate is not a CA or forbids CAs
// below it (path length 0). Issuers meshcert cannot see into (Vault,
// Venafi, external ones, or a CA Secret the lookup does not hold) pass.
func (pl *planner) canSignCA(ctx context.Context, path *field.Path, ref cmmeta.IssuerReference, iss cmapi.GenericIssuer) bool {
	if iss == nil {
		return true
	}
	spec := iss.GetSpec()
	kind := ref.Kind
	if kind == "" {
		kind = cmapi.IssuerKind
	}
	switch {
	case spec.ACME != nil:
		pl.Errorf(finding.CodeIssuerCannotSignCA, path,
			"%s %q is an ACME issuer, and ACME servers such as Let's Encrypt issue only leaf certificates for DNS names, never a CA istiod could sign with: use a CA issuer holding an intermediate of your mesh root (or Vault)",
			kind, ref.Name)
		return false
	case spec.CA != nil:
		secretNS := pl.opts.IssuerSecretNamespace(kind, iss.GetNamespace())
		secret, known := pl.lookup.Secret(ctx, secretNS, spec.CA.SecretName)
		if !known || secret == nil {
			return true
		}
		block, _ := pem.Decode(secret.Data["tls.crt"])
		if block == nil {
			return true // cert-manager marks such an issuer not Ready itself
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return true
		}
		switch {
		case !cert.IsCA:
			pl.Errorf(finding.CodeIssuerCannotSignCA, path,
				"%s %q signs with Secret %s/%s, whose certificate (%s) is not a CA certificate; give the issuer a CA",
				kind, ref.Name, secretNS, spec.CA.SecretName, cert.Subject)
			return false
		case cert.MaxPathLen == 0 && cert.MaxPathLenZero:
			pl.Errorf(finding.CodeIssuerCannotSignCA, path,
				"%s %q signs with a CA whose path length is 0 (%s): it may sign only leaf certificates, so clients reject every workload certificate istiod would sign under it; issue the issuer's CA with a path length of at least 1, or none",
				kind, ref.Name, strings.TrimSpace(cert.Subject.String()))
			return false
		}
	}
	return true
}

// Where istiod and istio-agent take workload certificate lifetimes from
// (pilot/pkg/bootstrap/istio_ca.go, pkg/istio-agent), and Istio's default.
const (
	maxWorkloadCertTTLEnv    = "MAX_WORKLOAD_CERT_TTL"
	secretTTLProxyMetadata   = "SECRET_TTL"
	DefaultWorkloadCertTTL   = 24 * time.Hour
	workloadCertTTLFromIstio = "Istio's default SECRET_TTL"
)

// WorkloadCertificateTTL is the longest a workload certificate istiod signs
// lives, as the object configures it: istiod's MAX_WORKLOAD_CERT_TTL (it
// refuses longer requests), else the SECRET_TTL proxies ask for by default
// (meshConfig.defaultConfig.proxyMetadata), else Istio's 24h. A root
// rotation keeps the old root trusted that long after the switch. The
// second value names where it came from.
func (pl *planner) workloadCertificateTTL() (time.Duration, string) {
	if value, path, found := componentEnv(pl.spec, maxWorkloadCertTTLEnv); found {
		if d, ok := positiveDuration(value); ok {
			return d, path.String()
		}
	}
	if value, found, _ := unstructured.NestedFieldNoCopy(pl.spec, "values", "pilot", "env", maxWorkloadCertTTLEnv); found {
		if d, ok := positiveDuration(value); ok {
			return d, "spec.values.pilot.env." + maxWorkloadCertTTLEnv
		}
	}
	fields := pl.kind.meshConfigFields("defaultConfig", "proxyMetadata", secretTTLProxyMetadata)
	if value, found, _ := unstructured.NestedFieldNoCopy(pl.spec, fields...); found {
		if d, ok := positiveDuration(value); ok {
			return d, "spec." + strings.Join(fields, ".")
		}
	}
	return DefaultWorkloadCertTTL, workloadCertTTLFromIstio
}

// positiveDuration reads a Go duration as Istio's env parsing does.
func positiveDuration(v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	return d, err == nil && d > 0
}

// rotationPropagation reads AnnotationRotationPropagation.
func (pl *planner) rotationPropagation() time.Duration {
	value, ok := pl.obj.GetAnnotations()[AnnotationRotationPropagation]
	if !ok {
		return DefaultRotationPropagation
	}
	d, valid := positiveDuration(value)
	if !valid {
		pl.Errorf(finding.CodeInvalidRotationSetting, annotationsPath.Key(AnnotationRotationPropagation),
			"%q is not a positive duration; it is how long a root rotation waits for what istiod publishes to reach every Pod and istiod replica: write it as a Go duration such as 2m (the default when it is absent)", value)
		return DefaultRotationPropagation
	}
	return d
}

// multiRootEnabled reports whether istiod, installed from obj, runs with
// ISTIO_MULTIROOT_MESH=true: the k8s.env entry istioctl renders over
// values.pilot.env, else values.pilot.env.
func multiRootEnabled(obj *unstructured.Unstructured) bool {
	spec, _ := obj.Object["spec"].(map[string]any)
	if value, _, found := componentEnv(spec, multiRootEnv); found {
		return isTrue(value)
	}
	value, _, _ := unstructured.NestedFieldNoCopy(spec, "values", "pilot", "env", multiRootEnv)
	return isTrue(value)
}
