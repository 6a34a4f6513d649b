package gatewayapi

import (
	"maps"
	"reflect"
	"slices"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/utils/ptr"
)

// ShimSync is what the shim's sync does to a Certificate that exists.
type ShimSync int

const (
	// ShimLeaves leaves it as it is.
	ShimLeaves ShimSync = iota
	// ShimUpdates updates it in place.
	ShimUpdates
	// ShimRecreates deletes it and creates it anew on its next sync.
	ShimRecreates
)

// Update is what the shim's syncs make of existing, a Certificate that
// already has the name of desired (one of p's Certificates) and that p's
// object controls (the shim leaves any other alone, see Plan):
//
//   - when none of the fields cert-manager's certNeedsUpdate compares
//     differ, existing, left as it is;
//   - otherwise existing with desired's spec and labels, and the extra
//     Certificate annotations merged over its own (its other annotations,
//     the HTTP-01 parent ones among them, stay as they are);
//   - but when existing's secretName is none the object's listeners name,
//     the same sync then deletes it (findCertificatesToBeRemoved goes by the
//     Certificates as listed before the update), and the next one creates
//     desired anew.
//
// This is the shim's update without the ServerSideApply feature gate, off
// by default in the pinned cert-manager.
func (p *ShimPlan) Update(existing, desired *cmapi.Certificate, opts ShimOptions) (*cmapi.Certificate, ShimSync) {
	if !shimNeedsUpdate(existing, desired) {
		return existing, ShimLeaves
	}
	desired = desired.DeepCopy()
	if !p.Object.NamesSecret(existing.Spec.SecretName) {
		return desired, ShimRecreates
	}
	updated := existing.DeepCopy()
	updated.Spec = desired.Spec
	updated.Labels = desired.Labels
	if extra := extraAnnotations(p.Annotations, opts.ExtraCertificateAnnotations); len(extra) > 0 {
		if updated.Annotations == nil {
			updated.Annotations = map[string]string{}
		}
		maps.Copy(updated.Annotations, extra)
	}
	return updated, ShimUpdates
}

// NamesSecret is the shim's secretNameUsedIn: whether any listener's
// certificateRefs (of any kind, namespace or protocol) has the name.
func (o *Object) NamesSecret(name string) bool {
	for _, l := range o.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, ref := range l.TLS.CertificateRefs {
			if string(ref.Name) == name {
				return true
			}
		}
	}
	return false
}

// shimNeedsUpdate is cert-manager v1.21.2's certNeedsUpdate
// (pkg/controller/certificate-shim/sync.go, unexported), restated field
// for field: usages, IP addresses, subject, the issuer's group and the
// Certificate's annotations are not compared, so a change to only those
// is never written.
func shimNeedsUpdate(a, b *cmapi.Certificate) bool {
	// reflect.DeepEqual as the shim has it: no labels and an empty map
	// differ.
	if a.Name != b.Name || !reflect.DeepEqual(a.Labels, b.Labels) {
		return true
	}
	if a.Spec.CommonName != b.Spec.CommonName || !slices.Equal(a.Spec.DNSNames, b.Spec.DNSNames) ||
		a.Spec.SecretName != b.Spec.SecretName ||
		a.Spec.IssuerRef.Name != b.Spec.IssuerRef.Name || a.Spec.IssuerRef.Kind != b.Spec.IssuerRef.Kind ||
		!ptr.Equal(a.Spec.RevisionHistoryLimit, b.Spec.RevisionHistoryLimit) {
		return true
	}
	ak, bk := privateKeyOf(a), privateKeyOf(b)
	if ak.Algorithm != bk.Algorithm || ak.Encoding != bk.Encoding || ak.RotationPolicy != bk.RotationPolicy {
		return true
	}
	// The size is ignored for Ed25519 (the existing Certificate's algorithm).
	if ak.Algorithm != cmapi.Ed25519KeyAlgorithm && ak.Size != bk.Size {
		return true
	}
	return !ptr.Equal(a.Spec.Duration, b.Spec.Duration) || !ptr.Equal(a.Spec.RenewBefore, b.Spec.RenewBefore)
}

func privateKeyOf(crt *cmapi.Certificate) cmapi.CertificatePrivateKey {
	if crt.Spec.PrivateKey == nil {
		return cmapi.CertificatePrivateKey{}
	}
	return *crt.Spec.PrivateKey
}
