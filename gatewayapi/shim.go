package gatewayapi

import (
	"cmp"
	"errors"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// ShimOptions are the cert-manager controller's settings the gateway-shim
// reads (its flags of the same names).
type ShimOptions struct {
	// DefaultIssuer is --default-issuer-name, -kind and -group. Only kind
	// and group ever matter here: the shim acts only on objects whose
	// annotations name an issuer. An empty kind or group is cert-manager's
	// default (Issuer, cert-manager.io).
	DefaultIssuer cmmeta.IssuerReference
	// ExtraProtocols is --gateway-api-extra-protocols: listener protocols
	// taken as TLS besides HTTPS and TLS, matched exactly.
	ExtraProtocols []string
	// ExtraCertificateAnnotations is --extra-certificate-annotations: keys
	// copied from the object onto its Certificates.
	ExtraCertificateAnnotations []string
}

// DefaultShimOptions are cert-manager's defaults.
func DefaultShimOptions() ShimOptions {
	return ShimOptions{DefaultIssuer: cmmeta.IssuerReference{Kind: cmapi.IssuerKind, Group: certs.CertManagerGroup}}
}

// applysetLabel is dropped from the labels the shim copies, since kubectl's
// applyset would otherwise prune the Certificates (cert-manager issue 7306).
const applysetLabel = "applyset.kubernetes.io/part-of"

// ShimPlan is what cert-manager's gateway-shim does with one Gateway or
// ListenerSet: the Certificates it creates (or updates to), and, as
// findings, every reason it skips a listener or the whole object.
type ShimPlan struct {
	Object *Object
	// Acts is true when the shim syncs the object at all: its annotations
	// (a ListenerSet's with the parent Gateway's inherited) name an issuer
	// and it is not being deleted.
	Acts bool
	// Annotations are the ones the shim reads: a ListenerSet's own with
	// those it inherits from its parent Gateway.
	Annotations  map[string]string
	Certificates []*cmapi.Certificate
	// Hosts maps each Certificate (namespace/name) to the listeners whose
	// hostnames it holds, in order, for findings on the right field.
	Hosts    map[string][]Listener
	Findings finding.Findings
	// stricter are meshcert's findings on annotations the shim takes as
	// written; Plan reports them as warnings unless cert-manager's webhook
	// refuses a Certificate anyway.
	stricter finding.Findings
}

// PlanShim predicts the gateway-shim of the pinned cert-manager
// (pkg/controller/certificate-shim sync.go, gateways and listenerset
// controllers) for obj. parent is a ListenerSet's parent Gateway, nil when
// unknown; it is ignored for a Gateway. Certificates that already exist are
// not looked at: the shim creates each one, or updates one it controls to
// this.
func PlanShim(obj *Object, parent *Object, opts ShimOptions) *ShimPlan {
	p := &ShimPlan{Object: obj, Annotations: obj.Annotations, Hosts: map[string][]Listener{}}
	b := finding.Builder{Object: obj.Ref}
	defer func() {
		p.Findings = b.Findings()
		p.Findings.Sort()
	}()

	if obj.Kind == KindListenerSet {
		if parent == nil || parent.Deleted {
			return p
		}
		p.Annotations = inheritAnnotations(obj.Annotations, parent.Annotations)
	}
	if !shimActsOn(p.Annotations) || obj.Deleting {
		return p
	}
	p.Acts = true

	def := opts.DefaultIssuer
	def.Kind = cmp.Or(def.Kind, cmapi.IssuerKind)
	def.Group = cmp.Or(def.Group, certs.CertManagerGroup)
	issuer, _, issuerOK := certs.IssuerFromAnnotations(&b, p.Annotations, def)
	if !issuerOK {
		return p
	}
	// The shim judges the listeners first, and reads the spec annotations
	// only for a Certificate it builds.
	hosts, order := listenerHosts(&b, obj, p.Annotations, opts)
	var own finding.Builder
	certs.SpecFromAnnotations(&own, p.Annotations)
	refused := shimRefusals(p.Annotations)
	if len(refused) > 0 && len(order) > 0 {
		reportRefusals(&b, obj, own.Findings(), refused)
		return p
	}
	// The shim takes every annotation as written (or reads none, having no
	// Certificate to build). What meshcert would refuse in them anyway is
	// a warning: cert-manager's webhook judges the Certificate itself (see
	// Plan).
	for _, f := range own.Findings() {
		note := finding.Builder{Object: obj.Ref}
		key := annotationKeyOf(f.Field)
		why := "cert-manager's gateway-shim writes it into the Certificate as given"
		if _, refuses := refused[key]; refuses {
			why = "cert-manager's gateway-shim reads it only for a Certificate it builds, none yet, and will then refuse it and create none"
		}
		note.Warningf(f.Code, field.NewPath("metadata", "annotations").Key(key), "%s (%s)", f.Message, why)
		p.stricter = append(p.stricter, note.Findings()...)
	}
	extra := extraAnnotations(p.Annotations, opts.ExtraCertificateAnnotations)
	for _, ref := range order {
		dnsNames, ips := splitHosts(hosts[ref])
		labels := maps.Clone(obj.Labels)
		delete(labels, applysetLabel)
		crt := &cmapi.Certificate{
			TypeMeta: metav1.TypeMeta{APIVersion: cmapi.SchemeGroupVersion.String(), Kind: cmapi.CertificateKind},
			ObjectMeta: metav1.ObjectMeta{
				Name:            ref.Name,
				Namespace:       ref.Namespace,
				Labels:          labels,
				Annotations:     maps.Clone(extra),
				OwnerReferences: []metav1.OwnerReference{controllerRef(obj)},
			},
			Spec: cmapi.CertificateSpec{
				DNSNames:    dnsNames,
				IPAddresses: ips,
				SecretName:  ref.Name,
				IssuerRef:   issuer,
				Usages:      cmapi.DefaultKeyUsages(),
			},
		}
		setParentRefAnnotations(crt, obj, p.Annotations)
		// shimRefusals found none, so this cannot fail.
		_ = applySpecAnnotations(crt, p.Annotations)
		p.Certificates = append(p.Certificates, crt)
		p.Hosts[ref.Namespace+"/"+ref.Name] = hosts[ref].listeners
	}
	return p
}

// shimRefusals are the annotations the shim's translateAnnotations refuses,
// with its reasons: it stops at the first, so each is found by dropping the
// ones found before and trying again.
func shimRefusals(ann map[string]string) map[string]string {
	refused := map[string]string{}
	rest := maps.Clone(ann)
	for {
		err := applySpecAnnotations(&cmapi.Certificate{}, rest)
		var shimErr *shimAnnotationError
		if !errors.As(err, &shimErr) {
			return refused
		}
		refused[shimErr.key] = shimErr.reason
		delete(rest, shimErr.key)
	}
}

// reportRefusals reports each annotation the shim refuses, with meshcert's
// own finding on it (own, from certs.SpecFromAnnotations) where there is one
// (it says what to write instead), else the shim's reason.
func reportRefusals(b *finding.Builder, obj *Object, own finding.Findings, refused map[string]string) {
	for _, key := range slices.Sorted(maps.Keys(refused)) {
		path := field.NewPath("metadata", "annotations").Key(key)
		said := false
		for _, f := range own {
			if annotationKeyOf(f.Field) == key {
				b.Errorf(f.Code, path, "%s; cert-manager's gateway-shim refuses it and creates no Certificate for this %s", f.Message, obj.Kind)
				said = true
			}
		}
		if !said {
			b.Errorf(finding.CodeInvalidCertificateAnnotation, path,
				"cert-manager's gateway-shim refuses this annotation (%s) and creates no Certificate for this %s", refused[key], obj.Kind)
		}
	}
}

// annotationKeyOf is the key of a metadata.annotations[key] field path.
func annotationKeyOf(fieldPath string) string {
	key, ok := strings.CutPrefix(fieldPath, "metadata.annotations[")
	if !ok {
		return ""
	}
	return strings.TrimSuffix(key, "]")
}

// shimActsOn is the shim's trigger for Gateway API objects: the issuer or
// cluster-issuer annotation key, whatever its value
// (kubernetes.io/tls-acme counts for Ingresses only).
func shimActsOn(ann map[string]string) bool {
	_, issuer := ann[cmapi.IngressIssuerNameAnnotationKey]
	_, clusterIssuer := ann[cmapi.IngressClusterIssuerNameAnnotationKey]
	return issuer || clusterIssuer
}

// inheritAnnotations gives a ListenerSet its parent Gateway's issuer, as the
// shim's listenerset controller does: the issuer and cluster-issuer when the
// ListenerSet names neither, and the issuer kind and group always.
func inheritAnnotations(own, gateway map[string]string) map[string]string {
	out := maps.Clone(own)
	if out == nil {
		out = map[string]string{}
	}
	_, hasIssuer := own[cmapi.IngressIssuerNameAnnotationKey]
	_, hasClusterIssuer := own[cmapi.IngressClusterIssuerNameAnnotationKey]
	keys := []string{cmapi.IssuerKindAnnotationKey, cmapi.IssuerGroupAnnotationKey}
	if !hasIssuer && !hasClusterIssuer {
		keys = append(keys, cmapi.IngressClusterIssuerNameAnnotationKey, cmapi.IngressIssuerNameAnnotationKey)
	}
	for _, k := range keys {
		if v, ok := gateway[k]; ok {
			out[k] = v
		}
	}
	return out
}

type secretRef struct{ Namespace, Name string }

type hostList struct {
	hosts     []string
	listeners []Listener
}

// listenerHosts collects, per Secret, the hostnames of the listeners the
// shim issues for, in listener order, and reports each listener it skips
// with a BadConfig event.
func listenerHosts(b *finding.Builder, obj *Object, ann map[string]string, opts ShimOptions) (map[secretRef]*hostList, []secretRef) {
	hosts := map[secretRef]*hostList{}
	var order []secretRef
	ignored := map[string]bool{}
	if v, ok := ann[cmapi.CertificateIgnoreTLSListeners]; ok {
		for name := range strings.SplitSeq(v, ",") {
			ignored[strings.TrimSpace(name)] = true
		}
	}
	for _, l := range obj.Listeners {
		if l.Protocol != string(gwapi.HTTPSProtocolType) && l.Protocol != string(gwapi.TLSProtocolType) && !slices.Contains(opts.ExtraProtocols, l.Protocol) {
			continue
		}
		if l.TLS != nil && *l.TLS.Mode == gwapi.TLSModePassthrough {
			continue
		}
		if ignored[l.Name] {
			continue
		}
		if !listenerIssuable(b, obj, l) {
			continue
		}
		for _, ref := range l.TLS.CertificateRefs {
			key := secretRef{Namespace: obj.Namespace, Name: string(ref.Name)}
			if ref.Namespace != nil {
				key.Namespace = string(*ref.Namespace)
			}
			if hosts[key] == nil {
				hosts[key] = &hostList{}
				order = append(order, key)
			}
			hosts[key].hosts = append(hosts[key].hosts, l.Hostname)
			hosts[key].listeners = append(hosts[key].listeners, l)
		}
	}
	return hosts, order
}

// listenerIssuable applies the shim's validateGatewayListenerBlock: a
// listener it skips gets no certificate, and cert-manager says so only in
// a BadConfig Event after the fact, so meshcert says it at admission, as a
// warning: the Gateway is valid (a catch-all listener's Secret may come from
// elsewhere), and the other listeners still get their certificates.
func listenerIssuable(b *finding.Builder, obj *Object, l Listener) bool {
	var problems []string
	var path *field.Path
	note := func(p *field.Path, problem string) {
		if path == nil {
			path = p
		}
		problems = append(problems, problem)
	}
	if !l.HasHostname || l.Hostname == "" {
		note(l.Path().Child("hostname"), "it has no hostname, and cert-manager issues only for the hostname a listener names")
	}
	if l.TLS == nil {
		note(l.Path().Child("tls"), "it has no tls block with certificateRefs")
	} else {
		if len(l.TLS.CertificateRefs) == 0 {
			note(l.Path().Child("tls", "certificateRefs"), "it has no tls.certificateRefs naming the Secret to write")
		}
		for j, ref := range l.TLS.CertificateRefs {
			refPath := l.Path().Child("tls", "certificateRefs").Index(j)
			if g := *ref.Group; g != "" && g != "core" {
				note(refPath.Child("group"), "certificateRefs["+strconv.Itoa(j)+"] has group "+strconv.Quote(string(g))+", and cert-manager writes only core Secrets")
			}
			if k := *ref.Kind; k != "" && k != "Secret" {
				note(refPath.Child("kind"), "certificateRefs["+strconv.Itoa(j)+"] is a "+strconv.Quote(string(k))+", and cert-manager writes only Secrets")
			}
			if ref.Namespace != nil && string(*ref.Namespace) != obj.Namespace {
				note(refPath.Child("namespace"), "certificateRefs["+strconv.Itoa(j)+"] is in namespace "+strconv.Quote(string(*ref.Namespace))+", and cert-manager refuses cross-namespace references even where a ReferenceGrant allows them")
			}
		}
		if *l.TLS.Mode != gwapi.TLSModeTerminate {
			note(l.Path().Child("tls", "mode"), "its tls.mode is "+strconv.Quote(string(*l.TLS.Mode))+", not Terminate")
		}
	}
	if len(problems) == 0 {
		return true
	}
	b.Warningf(finding.CodeListenerSkippedByShim, path,
		"cert-manager's gateway-shim skips listener %q (BadConfig) and issues no certificate for it: %s; fix the listener, or list it in the %s annotation",
		l.Name, strings.Join(problems, "; "), cmapi.CertificateIgnoreTLSListeners)
	return false
}

// splitHosts is the shim's: hosts de-duplicated in first-seen order, IP
// addresses (as net.ParseIP reads them) apart from DNS names.
func splitHosts(list *hostList) (dnsNames, ips []string) {
	seen := map[string]bool{}
	for _, h := range list.hosts {
		if seen[h] {
			continue
		}
		seen[h] = true
		if net.ParseIP(h) != nil {
			ips = append(ips, h)
		} else {
			dnsNames = append(dnsNames, h)
		}
	}
	return dnsNames, ips
}

func extraAnnotations(ann map[string]string, keys []string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := ann[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// controllerRef is metav1.NewControllerRef for the object's kind at v1.
func controllerRef(obj *Object) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         Group + "/v1",
		Kind:               obj.Kind,
		Name:               obj.Name,
		UID:                types.UID(obj.UID),
		Controller:         new(true),
		BlockOwnerDeletion: new(true),
	}
}

// setParentRefAnnotations is the shim's setIssuerSpecificConfig: the
// HTTP-01 overrides an ACME solver reads, and the parent the solver's
// HTTPRoute attaches to.
func setParentRefAnnotations(crt *cmapi.Certificate, obj *Object, ann map[string]string) {
	set := func(k, v string) {
		if crt.Annotations == nil {
			crt.Annotations = map[string]string{}
		}
		crt.Annotations[k] = v
	}
	if ann[cmacme.IngressEditInPlaceAnnotationKey] == "true" {
		set(cmacme.ACMECertificateHTTP01IngressNameOverride, obj.Name)
		set(cmapi.IssueTemporaryCertificateAnnotation, "true")
	}
	if v := ann[cmapi.IngressACMEIssuerHTTP01IngressClassAnnotationKey]; v != "" {
		set(cmacme.ACMECertificateHTTP01IngressClassOverride, v)
	}
	if v := ann[cmapi.IngressACMEIssuerHTTP01IngressClassNameAnnotationKey]; v != "" {
		set(cmacme.ACMECertificateHTTP01IngressClassNameOverride, v)
	}
	if obj.Kind == KindGateway {
		set(cmacme.ACMECertificateHTTP01ParentRefKind, KindGateway)
		set(cmacme.ACMECertificateHTTP01ParentRefName, obj.Name)
		return
	}
	if fallback, _ := strconv.ParseBool(ann[cmacme.ACMECertificateHTTP01ParentRefFallback]); fallback {
		set(cmacme.ACMECertificateHTTP01ParentRefKind, KindGateway)
		set(cmacme.ACMECertificateHTTP01ParentRefName, obj.ParentName)
		set(cmacme.ACMECertificateHTTP01ParentRefNamespace, obj.ParentNamespace)
		return
	}
	set(cmacme.ACMECertificateHTTP01ParentRefKind, KindListenerSet)
	set(cmacme.ACMECertificateHTTP01ParentRefName, obj.Name)
	delete(crt.Annotations, cmacme.ACMECertificateHTTP01ParentRefNamespace)
}
