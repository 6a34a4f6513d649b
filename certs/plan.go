package certs

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	networking "istio.io/api/networking/v1alpha3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// GatewayPlan is the planner's answer for one Gateway.
type GatewayPlan struct {
	Gateway *Gateway
	// Managed is true when meshcert injects credentials and owns
	// Certificates for this Gateway.
	Managed bool
	// Injections lists what was injected, in server order.
	Injections []Injection
	// Certificates are the Certificates meshcert should own for this
	// Gateway, sorted by namespace and name.
	Certificates []*cmapi.Certificate
	// CredentialNamespaces are the namespaces where this Gateway's
	// credentials must live, sorted.
	CredentialNamespaces []string
	Findings             Findings

	// labels and annotations are shared by the plan's Certificates.
	labels, annotations map[string]string
}

// Injection is one credentialName the injector sets.
type Injection struct {
	// Server is the index of the server in spec.servers.
	Server         int
	CredentialName string
}

// Field is the field path the injection sets. It is built on demand: the
// planner runs on every admission and most callers never print it.
func (i Injection) Field() string {
	return "spec.servers[" + strconv.Itoa(i.Server) + "].tls.credentialName"
}

// PlanGateway decides everything about one Istio Gateway: whether meshcert
// manages it, which credentialNames to inject, which Certificates it needs
// in which namespaces, and what is wrong with it. It is pure: the same
// Gateway, lookup answers and options always give the same plan.
func PlanGateway(gw *Gateway, lookup Lookup, opts Options) *GatewayPlan {
	p := &GatewayPlan{Gateway: gw}
	p.Findings = append(p.Findings, gw.Findings...)

	var managedFindings Findings
	p.Managed, managedFindings = isManaged(gw, lookup, opts)
	p.Findings = append(p.Findings, managedFindings...)

	var nsFindings Findings
	p.CredentialNamespaces, nsFindings = credentialNamespaces(gw, lookup, opts)
	p.Findings = append(p.Findings, nsFindings...)

	p.Findings = append(p.Findings, checkServerTLS(gw, p.Managed)...)

	// credentials[i] is what server i reads after injection.
	credentials := make([][]string, len(gw.Servers))
	for i, srv := range gw.Servers {
		credentials[i] = srv.TLS.Credentials()
	}
	if p.Managed {
		p.inject(credentials)
		p.planCertificates(credentials, lookup, opts)
	}
	p.Findings = append(p.Findings, checkCredentials(gw, p.Managed, credentials, p.CredentialNamespaces, p.Certificates, lookup, opts)...)
	p.Findings = append(p.Findings, checkConflicts(gw, credentials, lookup)...)
	p.Findings.Sort()
	return p
}

// eligible reports whether meshcert can give a server a certificate: it
// terminates TLS with a server certificate read over SDS.
func eligible(s Server) bool {
	return s.TLS.TerminatesWithCredential() && !s.TLS.UsesFiles()
}

func isManaged(gw *Gateway, lookup Lookup, opts Options) (bool, Findings) {
	if v, ok := gw.Annotations[AnnotationInject]; ok {
		switch v {
		case "false":
			return false, nil
		case "true":
		default:
			return false, Findings{{
				Severity: SeverityWarning, Code: CodeInvalidMeshcertAnnotation, Object: gw.Ref,
				Field:   annotationPath(AnnotationInject).String(),
				Message: fmt.Sprintf(`%q is not "true" or "false"; meshcert leaves this Gateway alone until it is`, v),
			}}
		}
	}
	if hasIssuerAnnotation(gw.Annotations) {
		return true, nil
	}
	if opts.DefaultIssuer.Name == "" {
		return false, nil
	}
	labels, _ := lookup.NamespaceLabels(gw.Namespace)
	return labels[LabelInject] == LabelInjectEnabled, nil
}

// credentialNamespaces decides where the Gateway's credentials live: the
// annotation wins, then the namespaces of the gateway workloads the selector
// matches (Istio reads the Secret in the workload's namespace), then the
// default.
func credentialNamespaces(gw *Gateway, lookup Lookup, opts Options) ([]string, Findings) {
	if ns, ok := gw.Annotations[AnnotationCredentialNamespace]; ok {
		if len(validation.IsDNS1123Label(ns)) > 0 {
			return []string{opts.credentialNamespace()}, Findings{{
				Severity: SeverityError, Code: CodeInvalidMeshcertAnnotation, Object: gw.Ref,
				Field:   annotationPath(AnnotationCredentialNamespace).String(),
				Message: fmt.Sprintf("%q is not a namespace name (lower-case letters, digits and '-', at most 63); set it to the namespace of the gateway pods", ns),
			}}
		}
		return []string{ns}, nil
	}
	if len(gw.Selector) > 0 {
		if nss := lookup.WorkloadNamespaces(gw.Selector); len(nss) > 0 {
			return nss, nil
		}
	}
	return []string{opts.credentialNamespace()}, nil
}

// checkServerTLS checks each server's TLS mode against its credential
// settings the way Istio's validation does.
func checkServerTLS(gw *Gateway, managed bool) Findings {
	var findings Findings
	add := func(sev Severity, code Code, field, msg string) {
		findings = append(findings, Finding{Severity: sev, Code: code, Object: gw.Ref, Field: field, Message: msg})
	}
	for _, srv := range gw.Servers {
		t := srv.TLS
		if t == nil {
			continue
		}
		if _, known := networking.ServerTLSSettings_TLSmode_value[t.Mode]; !known {
			add(SeverityError, CodeUnknownTLSMode, tlsField(srv.Index, "mode"),
				fmt.Sprintf("%q is not an Istio TLS mode; use SIMPLE, MUTUAL, OPTIONAL_MUTUAL, PASSTHROUGH, AUTO_PASSTHROUGH or ISTIO_MUTUAL", t.Mode))
			continue
		}
		sources := 0
		if t.CredentialName != "" {
			sources++
		}
		if len(t.CredentialNames) > 0 {
			sources++
		}
		if t.UsesFiles() {
			sources++
		}
		if sources > 1 {
			add(SeverityError, CodeConflictingCredentialSources, tlsField(srv.Index),
				"set only one of credentialName, credentialNames, or serverCertificate with privateKey")
		}
		if len(t.CredentialNames) > 2 {
			add(SeverityError, CodeConflictingCredentialSources, tlsField(srv.Index, "credentialNames"),
				fmt.Sprintf("%d credentialNames given; Istio takes at most 2 (one RSA and one ECDSA certificate)", len(t.CredentialNames)))
		}
		for i, name := range t.Credentials() {
			if isDNS1123Subdomain(secretNameOf(name)) {
				continue
			}
			fp := serverPath(srv.Index).Child("tls", "credentialName")
			if t.CredentialName == "" {
				fp = serverPath(srv.Index).Child("tls", "credentialNames").Index(i)
			}
			sev := SeverityWarning
			if managed && t.TerminatesWithCredential() {
				sev = SeverityError
			}
			add(sev, CodeInvalidCredentialName, fp.String(),
				fmt.Sprintf("%q is not a valid Secret name; use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", name))
		}
		hasCredential := sources > 0
		switch t.Mode {
		case ModeIstioMutual:
			if t.CredentialName != "" || len(t.CredentialNames) > 0 {
				add(SeverityError, CodeIstioMutualWithCredential, tlsField(srv.Index, "credentialName"),
					"ISTIO_MUTUAL uses the mesh's own workload certificates and Istio rejects a credentialName with it; remove the credential or use MUTUAL")
			}
		case ModePassthrough, ModeAutoPassthrough:
			if hasCredential {
				add(SeverityWarning, CodePassthroughWithCredential, tlsField(srv.Index),
					t.Mode+" does not terminate TLS, so the credential is ignored; remove it, or use SIMPLE to terminate TLS at the gateway")
			}
		case ModeSimple, ModeMutual, ModeOptionalMutual:
			switch {
			case t.UsesFiles():
				if managed {
					add(SeverityInfo, CodeFileCertificate, tlsField(srv.Index, "serverCertificate"),
						"this server reads its certificate from files mounted into the gateway pod, not from a Secret; meshcert leaves it alone")
				}
			case !hasCredential && !managed:
				add(SeverityError, CodeMissingCredential, tlsField(srv.Index, "credentialName"),
					fmt.Sprintf("%s needs a credential and Istio rejects the server without one; set credentialName, or annotate the Gateway with %s so meshcert provides one",
						t.Mode, cmapi.IngressClusterIssuerNameAnnotationKey))
			}
		}
	}
	return findings
}

// tlsField renders spec.servers[i].tls[.names] for a finding.
func tlsField(i int, names ...string) string {
	return serverPath(i).Child("tls", names...).String()
}

// secretNameOf strips the "kubernetes://" scheme Istio accepts in front of
// a credentialName.
func secretNameOf(credential string) string {
	return strings.TrimPrefix(credential, "kubernetes://")
}

// inject gives every eligible server without a credential a derived
// credentialName. Existing credentials are never changed, which also makes
// injecting twice the same as injecting once.
func (p *GatewayPlan) inject(credentials [][]string) {
	gw := p.Gateway
	keys := make([]string, len(gw.Servers))
	for i, srv := range gw.Servers {
		keys[i] = ServerKey(srv)
	}
	var counts map[string]int // only for many servers; a scan is cheaper for a few
	if len(keys) > 32 {
		counts = make(map[string]int, len(keys))
		for _, k := range keys {
			counts[k]++
		}
	}
	var injected []string // one backing array for every injected name
	for i, srv := range gw.Servers {
		if !eligible(srv) || len(credentials[i]) > 0 {
			continue
		}
		// Servers sharing a key (say two "https" ports without names) get
		// their position among those servers added, so their credentials differ.
		key := keys[i]
		total, position := 0, 0
		if counts != nil {
			total = counts[key]
		}
		if counts == nil || total > 1 {
			total = 0
			for j, k := range keys {
				if k == key {
					total++
					if j <= i {
						position++
					}
				}
			}
		}
		if total > 1 {
			key += "-" + strconv.Itoa(position)
		}
		name := CredentialName(gw.Namespace, gw.Name, key)
		if injected == nil {
			injected = make([]string, len(gw.Servers))
		}
		injected[i] = name
		credentials[i] = injected[i : i+1 : i+1]
		p.Injections = append(p.Injections, Injection{
			Server:         srv.Index,
			CredentialName: name,
		})
	}
}

// Mutated returns the Gateway with the injected credentialNames: the input
// object itself when nothing is injected, else a copy. It is built on
// demand, since only the mutating webhook and `meshcert inject` need it,
// and treated as read-only: it shares the parts it does not change with
// the input. An error means the object changed shape since it was parsed.
func (p *GatewayPlan) Mutated() (*unstructured.Unstructured, error) {
	if len(p.Injections) == 0 {
		return p.Gateway.Object, nil
	}
	mutated := shallowCopyServers(p.Gateway.Object)
	for _, inj := range p.Injections {
		if err := setCredentialName(mutated, inj.Server, inj.CredentialName); err != nil {
			return nil, fmt.Errorf("failed to inject %s into Gateway %s/%s: %w", inj.Field(), p.Gateway.Namespace, p.Gateway.Name, err)
		}
	}
	return mutated, nil
}

// shallowCopyServers copies obj down to its spec.servers slice. Together
// with setCredentialName copying the server and tls maps it changes, the
// input is never modified, while everything meshcert does not touch is
// shared rather than deep-copied (a deep copy was a sixth of the planner's
// time). Callers treat GatewayPlan.Mutated's result as read-only.
func shallowCopyServers(obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := &unstructured.Unstructured{Object: maps.Clone(obj.Object)}
	if spec, ok := out.Object["spec"].(map[string]any); ok {
		spec = maps.Clone(spec)
		if servers, ok := spec["servers"].([]any); ok {
			spec["servers"] = slices.Clone(servers)
		}
		out.Object["spec"] = spec
	}
	return out
}

// setCredentialName sets spec.servers[index].tls.credentialName in a copy
// made by shallowCopyServers, copying the server and its tls map first.
func setCredentialName(obj *unstructured.Unstructured, index int, name string) error {
	spec, ok := obj.Object["spec"].(map[string]any)
	if !ok {
		return errors.New("spec is not an object")
	}
	servers, ok := spec["servers"].([]any)
	if !ok || index >= len(servers) {
		return fmt.Errorf("spec.servers[%d] not found", index)
	}
	srv, ok := servers[index].(map[string]any)
	if !ok {
		return fmt.Errorf("spec.servers[%d] is not an object", index)
	}
	tls, ok := srv["tls"].(map[string]any)
	if !ok {
		return fmt.Errorf("spec.servers[%d].tls is not an object", index)
	}
	srv = maps.Clone(srv)
	tls = maps.Clone(tls)
	tls["credentialName"] = name
	srv["tls"] = tls
	servers[index] = srv
	return nil
}

// secretGroup is the servers of one Gateway that share a Secret.
type secretGroup struct {
	secret  string
	servers []Server
}

func groupBySecret(gw *Gateway, credentials [][]string) []secretGroup {
	groups := make([]secretGroup, 0, len(gw.Servers))
	var index map[string]int // only for many servers; a scan is cheaper for a few
	if len(gw.Servers) > 16 {
		index = make(map[string]int, len(gw.Servers))
	}
	for i, srv := range gw.Servers {
		if !eligible(srv) || len(credentials[i]) != 1 || len(srv.TLS.CredentialNames) > 0 {
			// credentialNames pairs an RSA with an ECDSA certificate; which
			// is which is not written down, so meshcert does not guess.
			continue
		}
		secret := secretNameOf(credentials[i][0])
		if !isDNS1123Subdomain(secret) {
			continue
		}
		var j int
		var ok bool
		if index != nil {
			j, ok = index[secret]
		} else {
			j = slices.IndexFunc(groups, func(g secretGroup) bool { return g.secret == secret })
			ok = j >= 0
		}
		if !ok {
			// The first server's slice points into gw.Servers: no copy
			// unless a second server shares the Secret.
			groups = append(groups, secretGroup{secret: secret, servers: gw.Servers[i : i+1 : i+1]})
			if index != nil {
				index[secret] = len(groups) - 1
			}
			continue
		}
		groups[j].servers = append(groups[j].servers, srv)
	}
	return groups
}

func (p *GatewayPlan) planCertificates(credentials [][]string, lookup Lookup, opts Options) {
	gw := p.Gateway
	groups := groupBySecret(gw, credentials)
	if len(groups) == 0 {
		if !slices.ContainsFunc(gw.Servers, func(s Server) bool { return s.TLS.TerminatesWithCredential() }) {
			p.Findings = append(p.Findings, Finding{
				Severity: SeverityWarning, Code: CodeNoEligibleServer, Object: gw.Ref, Field: serversPath.String(),
				Message: "meshcert manages this Gateway but no server terminates TLS with SIMPLE, MUTUAL or OPTIONAL_MUTUAL, so there is nothing to certify; remove the issuer annotation or add such a server",
			})
		}
		return
	}

	issuer, src, issuerFindings := issuerFromAnnotations(gw.Ref, gw.Annotations, opts.DefaultIssuer)
	tmpl, tmplFindings := templateFromAnnotations(gw.Ref, gw.Annotations)
	p.Findings = append(p.Findings, issuerFindings...)
	p.Findings = append(p.Findings, tmplFindings...)
	if issuerFindings.HasErrors() || tmplFindings.HasErrors() {
		return
	}
	issuerField := ""
	if src.field != "" {
		issuerField = annotationPath(src.field).String()
	}

	for _, ns := range p.CredentialNamespaces {
		found, issuerChecks := checkIssuerRef(IssuerCheck{
			Object: gw.Ref, Field: issuerField, Ref: issuer, Namespace: ns,
			FromGateway: ns != gw.Namespace, GatewayNamespace: gw.Namespace,
		}, lookup, opts)
		p.Findings = append(p.Findings, issuerChecks...)
		for _, g := range groups {
			crt, findings := p.certificateFor(g, ns, issuer, tmpl, lookup)
			p.Findings = append(p.Findings, findings...)
			if crt == nil {
				continue
			}
			p.Findings = append(p.Findings, checkMutualClientCA(gw, g.servers, ns, g.secret, found, lookup)...)
			p.Certificates = append(p.Certificates, crt)
		}
	}
	slices.SortFunc(p.Certificates, func(a, b *cmapi.Certificate) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// certificateFor builds the Certificate for one Secret of the Gateway in one
// credential namespace, or explains why meshcert must not own it.
func (p *GatewayPlan) certificateFor(g secretGroup, ns string, issuer cmmeta.IssuerReference, tmpl certificateTemplate, lookup Lookup) (*cmapi.Certificate, Findings) {
	gw := p.Gateway
	var findings Findings
	firstField := func() string { return serverPath(g.servers[0].Index).Child("tls", "credentialName").String() }

	// Never take over a Certificate meshcert did not create, nor one that
	// another Gateway's plan owns; two writers of one Secret fight forever.
	if existing, ok := lookup.Certificate(ns, g.secret); ok && !OwnedBy(existing, gw.Namespace, gw.Name) {
		return nil, Findings{notOwnedFinding(gw, firstField(), existing)}
	}
	for _, other := range lookup.CertificatesForSecret(ns, g.secret) {
		if other.Name != g.secret && !OwnedBy(other, gw.Namespace, gw.Name) {
			return nil, Findings{notOwnedFinding(gw, firstField(), other)}
		}
	}

	hostCount := len(tmpl.altNames)
	for _, srv := range g.servers {
		hostCount += len(srv.Hosts)
	}
	dnsNames := make([]string, 0, hostCount)
	var ips []string
	for _, srv := range g.servers {
		for h, host := range srv.Hosts {
			name := strings.ToLower(DNSNameOf(host))
			if problem := hostProblem(name); problem != "" {
				findings = append(findings, Finding{
					Severity: SeverityError, Code: CodeUncertifiableHost, Object: gw.Ref,
					Field:   serverPath(srv.Index).Child("hosts").Index(h).String(),
					Message: fmt.Sprintf("host %q cannot go into the certificate for Secret %q: %s", host, g.secret, problem),
				})
				continue
			}
			if isIP(name) {
				ips = append(ips, name)
			} else {
				dnsNames = append(dnsNames, name)
			}
		}
	}
	dnsNames = append(dnsNames, tmpl.altNames...)
	// Sorting then compacting de-duplicates without a set.
	slices.Sort(dnsNames)
	dnsNames = slices.Compact(dnsNames)
	slices.Sort(ips)
	ips = slices.Compact(ips)

	crt := &cmapi.Certificate{
		TypeMeta: metav1.TypeMeta{APIVersion: certificateAPIVersion, Kind: cmapi.CertificateKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:        g.secret,
			Namespace:   ns,
			Labels:      p.ownerLabels(),
			Annotations: p.ownerAnnotations(),
		},
	}
	tmpl.spec.DeepCopyInto(&crt.Spec)
	crt.Spec.SecretName = g.secret
	crt.Spec.IssuerRef = issuer
	crt.Spec.DNSNames = dnsNames
	crt.Spec.IPAddresses = append(ips, crt.Spec.IPAddresses...)
	if len(crt.Spec.DNSNames) == 0 && len(crt.Spec.IPAddresses) == 0 && crt.Spec.CommonName == "" &&
		len(crt.Spec.EmailAddresses) == 0 {
		findings = append(findings, Finding{
			Severity: SeverityError, Code: CodeUncertifiableHost, Object: gw.Ref, Field: firstField(),
			Message: fmt.Sprintf("no host of the servers using Secret %q can go into a certificate, so meshcert creates none; list DNS names in hosts or in %s",
				g.secret, cmapi.AltNamesAnnotationKey),
		})
		return nil, findings
	}
	if ns == gw.Namespace && gw.UID != "" {
		crt.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: gw.Ref.APIVersion,
			Kind:       gw.Ref.Kind,
			Name:       gw.Name,
			UID:        types.UID(gw.UID),
			Controller: new(true),
		}}
	}
	return crt, findings
}

func notOwnedFinding(gw *Gateway, field string, existing *cmapi.Certificate) Finding {
	msg := fmt.Sprintf("Certificate %s/%s already provides Secret %q and was not created by meshcert for this Gateway, so meshcert leaves it untouched and creates none; make sure it covers this Gateway's hosts, or use another credentialName",
		existing.Namespace, existing.Name, existing.Spec.SecretName)
	code := CodeCertificateNotOwned
	if gwRef, ok := existing.Annotations[AnnotationGateway]; ok && existing.Labels[LabelManagedBy] == ManagedByValue {
		code = CodeCredentialSharedAcrossGateways
		msg = fmt.Sprintf("Secret %q in %q is already provided by meshcert for Gateway %s; two Gateways sharing one credential is ambiguous (Istio's IST0138): give this server its own credentialName",
			existing.Spec.SecretName, existing.Namespace, gwRef)
	}
	return Finding{Severity: SeverityWarning, Code: code, Object: gw.Ref, Field: field, Message: msg}
}

// OwnedBy reports whether crt is meshcert's Certificate for the Gateway
// namespace/name: meshcert's label and that Gateway's annotation.
func OwnedBy(crt *cmapi.Certificate, namespace, name string) bool {
	return crt.Labels[LabelManagedBy] == ManagedByValue &&
		crt.Annotations[AnnotationGateway] == namespace+"/"+name
}

// IsManagedCertificate reports whether meshcert created crt.
func IsManagedCertificate(crt *cmapi.Certificate) bool {
	return crt.Labels[LabelManagedBy] == ManagedByValue && crt.Annotations[AnnotationGateway] != ""
}

// ownerLabels identify the source Gateway on its Certificates, so the
// controller can find them by label in any namespace. The Certificates of
// one plan share this map and the annotations map; they are read-only.
func (p *GatewayPlan) ownerLabels() map[string]string {
	if p.labels == nil {
		p.labels = map[string]string{
			LabelManagedBy:        ManagedByValue,
			LabelGatewayNamespace: LabelValue(p.Gateway.Namespace),
			LabelGatewayName:      LabelValue(p.Gateway.Name),
		}
	}
	return p.labels
}

// ownerAnnotations hold the full reference of the source Gateway.
func (p *GatewayPlan) ownerAnnotations() map[string]string {
	if p.annotations == nil {
		p.annotations = map[string]string{AnnotationGateway: p.Gateway.Namespace + "/" + p.Gateway.Name}
	}
	return p.annotations
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
