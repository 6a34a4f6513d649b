package certs

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// ManagedByMeshcert reports whether obj carries meshcert's managed-by
// label: meshcert made it, for a Gateway or for an IstioOperator. Which
// source it belongs to is the annotation's to say (IsManagedCertificate,
// OwnedBy, istiooperator.OwnsCertificate).
func ManagedByMeshcert(obj metav1.Object) bool {
	return obj.GetLabels()[LabelManagedBy] == ManagedByValue
}

// IsCertificate reports whether gvk is a cert-manager Certificate, of any
// version: the API server and the decoders settle the version.
func IsCertificate(gvk schema.GroupVersionKind) bool {
	return gvk.Group == CertManagerGroup && gvk.Kind == cmapi.CertificateKind
}

// OwnedBy reports whether crt is meshcert's Certificate for the Gateway
// namespace/name: meshcert's label and that Gateway's annotation.
func OwnedBy(crt *cmapi.Certificate, namespace, name string) bool {
	return ManagedByMeshcert(crt) && crt.Annotations[AnnotationGateway] == namespace+"/"+name
}

// IsManagedCertificate reports whether meshcert created crt for a Gateway,
// any Gateway. A mesh CA Certificate meshcert made for an IstioOperator is
// not one.
func IsManagedCertificate(crt *cmapi.Certificate) bool {
	return ManagedByMeshcert(crt) && crt.Annotations[AnnotationGateway] != ""
}

// ShimController returns the Gateway API Gateway or ListenerSet that
// controls crt (the owner reference cert-manager's gateway-shim sets on
// the Certificates it creates), if one does.
func ShimController(crt *cmapi.Certificate) (kind, name string, ok bool) {
	ref := metav1.GetControllerOfNoCopy(crt)
	if ref == nil || (ref.Kind != kindGateway && ref.Kind != kindListenerSet) {
		return "", "", false
	}
	if group, _, _ := strings.Cut(ref.APIVersion, "/"); group != gatewayAPIGroup {
		return "", "", false
	}
	return ref.Kind, ref.Name, true
}

// owner is the source Gateway as its Certificates record it: labels that
// let the controller find them by label in any namespace, and an annotation
// with the full reference. The Certificates of one plan share both maps,
// built on first use; they are read-only.
type owner struct {
	gateway            *Gateway
	labelMap, annotMap map[string]string
	derived            map[string]bool // derivedNames
}

func (o *owner) labels() map[string]string {
	if o.labelMap == nil {
		o.labelMap = map[string]string{
			LabelManagedBy:        ManagedByValue,
			LabelGatewayNamespace: LabelValue(o.gateway.Namespace),
			LabelGatewayName:      LabelValue(o.gateway.Name),
		}
	}
	return o.labelMap
}

func (o *owner) annotations() map[string]string {
	if o.annotMap == nil {
		o.annotMap = map[string]string{AnnotationGateway: o.gateway.Namespace + "/" + o.gateway.Name}
		maps.Copy(o.annotMap, acmeShimOverrides(o.gateway.Annotations, o.gateway.Name))
	}
	return o.annotMap
}

// LabelValue returns v when it is a valid label value, else a readable
// prefix plus a hash, since Gateway names can be longer than the 63
// characters a label value allows.
func LabelValue(v string) string {
	// Namespace and Gateway names are DNS-1123, so the fast check settles
	// nearly every call without the regular expression.
	if len(v) <= validation.LabelValueMaxLength && isDNS1123Subdomain(v) || len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	hash := hex.EncodeToString(sum[:])[:credentialHashLen]
	prefix := sanitizeDNS(v)
	if maxLen := validation.LabelValueMaxLength - credentialHashLen - 1; len(prefix) > maxLen {
		prefix = strings.TrimRight(prefix[:maxLen], "-")
	}
	if prefix == "" {
		return hash
	}
	return prefix + "-" + hash
}

// notOwned reports a Certificate meshcert would create that exists and is
// not this Gateway's: someone else's, or another Gateway's (IST0138), which
// is a hijack when that Gateway is of another namespace and was there
// first.
func notOwned(b *finding.Builder, path *field.Path, gw *Gateway, existing *cmapi.Certificate) {
	if IsManagedCertificate(existing) && ownerNamespace(existing) != gw.Namespace && certificateClaimedFirst(existing, gw) {
		credentialHijack(b, path, existing)
		return
	}
	b.Warningf(finding.CodeCertificateNotOwned, path,
		"Certificate %s/%s already provides Secret %q and was not created by meshcert for this Gateway, so meshcert leaves it untouched and creates none; make sure it covers this Gateway's hosts, or use another credentialName",
		existing.Namespace, existing.Name, existing.Spec.SecretName)
}

// ownerNamespace is the namespace of the Gateway meshcert made crt for.
func ownerNamespace(crt *cmapi.Certificate) string {
	ns, _, _ := strings.Cut(crt.Annotations[AnnotationGateway], "/")
	return ns
}

// credentialHijack denies reading a credential meshcert manages for another
// Gateway: whoever serves it serves that Gateway's private key.
func credentialHijack(b *finding.Builder, path *field.Path, owned *cmapi.Certificate) {
	b.Errorf(finding.CodeCredentialHijack, path,
		"Secret %q in %q is the credential meshcert manages for Gateway %s; a Gateway may not serve another Gateway's key: remove this credentialName so meshcert makes this server its own, or use a credential of yours",
		owned.Spec.SecretName, owned.Namespace, owned.Annotations[AnnotationGateway])
}
