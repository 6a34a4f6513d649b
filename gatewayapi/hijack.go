package gatewayapi

import (
	"context"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// credentialHijacks reports listeners that name a Secret meshcert manages
// for an Istio Gateway of another namespace: istiod serves whatever Secret
// a certificateRef names (kubernetes-gateway://), so the listener would
// serve that Gateway's private key, and the shim would find its
// Certificate taken. The Secret lives in the object's namespace (or one a
// ReferenceGrant opens), which is where meshcert writes for Istio
// Gateways whose gateway workload runs there: a Gateway API object in
// istio-system, say. Unlike between Istio Gateways, the Secret is never
// the listener's to claim first: meshcert's Certificate names its Gateway.
func credentialHijacks(ctx context.Context, b *finding.Builder, obj *Object, lookup certs.Lookup, opts certs.Options) (secrets map[string]bool) {
	secrets = map[string]bool{}
	for _, l := range obj.Listeners {
		if l.TLS == nil {
			continue
		}
		for i, ref := range l.TLS.CertificateRefs {
			if ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != "Secret" {
				continue
			}
			ns := obj.Namespace
			if ref.Namespace != nil && *ref.Namespace != "" {
				ns = string(*ref.Namespace)
			}
			name := string(ref.Name)
			path := l.Path().Child("tls", "certificateRefs").Index(i)
			if other := olderIstioGateway(ctx, obj, ns, name, lookup, opts); other != nil {
				secrets[ns+"/"+name] = true
				b.Errorf(finding.CodeCredentialHijack, path,
					"Secret %q in %q is served by Istio Gateway %s/%s of another namespace, which named it first, and the shim would write it for this listener: name a Secret of your own",
					name, ns, other.Namespace, other.Name)
				continue
			}
			for _, crt := range lookup.CertificatesForSecret(ctx, ns, name) {
				owner, ok := managedForOtherNamespace(crt, obj.Namespace)
				if !ok {
					continue
				}
				secrets[ns+"/"+name] = true
				b.Errorf(finding.CodeCredentialHijack, path,
					"Secret %q in %q is the credential meshcert manages for Istio Gateway %s of another namespace, and istiod would serve its private key on this listener: name a Secret of your own",
					name, ns, owner)
				break
			}
		}
	}
	return secrets
}

// managedForOtherNamespace returns the Istio Gateway meshcert made crt for,
// when that Gateway is of a namespace other than ns.
func managedForOtherNamespace(crt *cmapi.Certificate, ns string) (string, bool) {
	if !certs.IsManagedCertificate(crt) {
		return "", false
	}
	owner := crt.Annotations[certs.AnnotationGateway]
	ownerNS, _, _ := strings.Cut(owner, "/")
	return owner, ownerNS != ns
}

// olderIstioGateway returns an Istio Gateway of another namespace that
// serves Secret ns/name and was there before obj: the incumbent, as
// between Istio Gateways. obj without a creationTimestamp (being created,
// or read from a file) is the newcomer.
func olderIstioGateway(ctx context.Context, obj *Object, ns, name string, lookup certs.Lookup, opts certs.Options) *certs.Gateway {
	for _, gw := range certs.IstioGatewaysServing(ctx, ns, name, lookup, opts) {
		if gw.Namespace == obj.Namespace {
			continue
		}
		if obj.Created.IsZero() || !gw.Created.IsZero() && !obj.Created.Before(gw.Created) {
			return gw
		}
	}
	return nil
}
