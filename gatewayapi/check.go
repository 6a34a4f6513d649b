package gatewayapi

import (
	"context"
	"slices"
	"strconv"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// checkShimCertificate judges a Certificate the shim will create as
// meshcert judges any Certificate (certs.CheckCertificate: the issuer,
// cert-manager's validation, the ACME solver for each name), and reports
// each finding on the object the user wrote: a name on the listener whose
// hostname brought it, the issuer on the annotation that named it. It
// reports whether cert-manager's webhook refuses the Certificate (MC3007,
// MC5001), which then never exists.
func (p *ShimPlan) checkShimCertificate(ctx context.Context, b *finding.Builder, crt *cmapi.Certificate, lookup certs.Lookup, opts certs.Options) (refused bool) {
	for _, f := range certs.CheckCertificate(ctx, crt, lookup, opts) {
		b.Addf(f.Severity, f.Code, p.fieldOf(crt, f.Field),
			"the Certificate %s/%s cert-manager's gateway-shim creates for this %s: %s: %s",
			crt.Namespace, crt.Name, p.Object.Kind, f.Field, f.Message)
		refused = refused || f.Severity == finding.SeverityError && webhookRefuses[f.Code]
	}
	return refused
}

// webhookRefuses are the codes of CheckCertificate's rules that restate
// cert-manager's webhook validation: a Certificate with such an error is
// never stored. MC5001 is its issuerRef rule, said apart from MC3007.
var webhookRefuses = map[finding.Code]bool{
	finding.CodeCertificateRejected: true,
	finding.CodeInvalidIssuerRef:    true,
}

// fieldOf maps a field of a planned Certificate to the field of the object
// that decided it.
func (p *ShimPlan) fieldOf(crt *cmapi.Certificate, certField string) *field.Path {
	annotations := field.NewPath("metadata", "annotations")
	switch {
	case strings.HasPrefix(certField, "spec.dnsNames["), strings.HasPrefix(certField, "spec.ipAddresses["):
		if l, ok := p.listenerOf(crt, certField); ok {
			return l.Path().Child("hostname")
		}
		if strings.HasPrefix(certField, "spec.dnsNames[") {
			return annotations.Key(cmapi.AltNamesAnnotationKey)
		}
		return annotations.Key(cmapi.IPSANAnnotationKey)
	case strings.HasPrefix(certField, "spec.issuerRef"):
		for _, key := range []string{cmapi.IngressClusterIssuerNameAnnotationKey, cmapi.IngressIssuerNameAnnotationKey} {
			if _, ok := p.Annotations[key]; ok {
				return annotations.Key(key)
			}
		}
	case strings.HasPrefix(certField, "spec.secretName"):
		if ls := p.Hosts[crt.Namespace+"/"+crt.Name]; len(ls) > 0 {
			return ls[0].Path().Child("tls", "certificateRefs")
		}
	}
	return annotations
}

// listenerOf finds the listener whose hostname is the Certificate's name at
// certField (spec.dnsNames[i] or spec.ipAddresses[i]). Listener hostnames
// come first, de-duplicated, so a later repeat of a name is an alt-name.
func (p *ShimPlan) listenerOf(crt *cmapi.Certificate, certField string) (Listener, bool) {
	list, rest := crt.Spec.DNSNames, strings.TrimPrefix(certField, "spec.dnsNames[")
	if strings.HasPrefix(certField, "spec.ipAddresses[") {
		list, rest = crt.Spec.IPAddresses, strings.TrimPrefix(certField, "spec.ipAddresses[")
	}
	i, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if err != nil || i < 0 || i >= len(list) || slices.Index(list, list[i]) != i {
		return Listener{}, false
	}
	for _, l := range p.Hosts[crt.Namespace+"/"+crt.Name] {
		if l.Hostname == list[i] {
			return l, true
		}
	}
	return Listener{}, false
}

// Parents is what a certs.Lookup knows of Gateway API Gateways, so a
// ListenerSet finds its parent; a lookup without it knows none.
type Parents interface {
	APIGateway(ctx context.Context, namespace, name string) (*Object, bool)
}

// Plan is everything meshcert says about one Gateway API object, the same
// for the CLI, the webhook and the controller: what the shim will create
// (PlanShim, its parent Gateway found through lookup), less the
// Certificates cert-manager's webhook refuses, and the findings on both the
// object and those Certificates.
func Plan(ctx context.Context, obj *Object, lookup certs.Lookup, opts certs.Options, shim ShimOptions) *ShimPlan {
	var parent *Object
	if parents, ok := lookup.(Parents); ok && obj.Kind == KindListenerSet && obj.ParentName != "" {
		parent, _ = parents.APIGateway(ctx, obj.ParentNamespace, obj.ParentName)
	}
	plan := PlanShim(obj, parent, shim)
	b := finding.Builder{Object: obj.Ref}
	b.Append(plan.Findings...)
	stored := plan.Certificates[:0:0]
	for _, crt := range plan.Certificates {
		if !plan.checkShimCertificate(ctx, &b, crt, lookup, opts) {
			stored = append(stored, crt)
		}
	}
	if len(stored) == len(plan.Certificates) {
		// Said only when no refusal says it already.
		b.Append(plan.stricter...)
	}
	plan.Certificates = stored
	plan.Findings = b.Findings()
	plan.Findings.Sort()
	return plan
}
