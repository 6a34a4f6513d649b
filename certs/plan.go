package certs

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshcert/meshcert/finding"
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
	// OutsidePolicy is true when the namespace's policy forbids a host or
	// issuer of this managed Gateway: it gets no Certificate, and the
	// controller withdraws those it made.
	OutsidePolicy bool
	Findings      finding.Findings
}

// PlanGateway decides everything about one Istio Gateway: whether meshcert
// manages it, which credentialNames to inject, which Certificates it needs
// in which namespaces, and what is wrong with it. It is pure: the same
// Gateway, lookup answers and options always give the same plan.
func PlanGateway(ctx context.Context, gw *Gateway, lookup Lookup, opts Options) *GatewayPlan {
	p := &GatewayPlan{Gateway: gw}
	b := finding.Builder{Object: gw.Ref}
	b.Append(gw.Findings...)
	p.Managed = isManaged(ctx, &b, gw, lookup, opts)
	beside := besideOf(ctx, lookup, gw)
	p.CredentialNamespaces = credentialNamespaces(ctx, &b, gw, beside.Namespaces, lookup, opts)
	checkServerTLS(&b, gw, p.Managed)
	checkServerPorts(&b, gw)
	checkServerHosts(&b, gw)

	// credentials[i] is what server i reads after injection.
	credentials := serverCredentials(gw)
	if p.Managed {
		p.Injections = injections(ctx, &b, gw, credentials, p.CredentialNamespaces, lookup, opts)
		p.Certificates = desiredCertificates(ctx, &b, gw, p.CredentialNamespaces, credentials, lookup, opts)
	}
	checkCredentials(ctx, &b, gw, p.Managed, credentials, p.CredentialNamespaces, p.Certificates, lookup, opts)
	wl := resolveWorkloads(ctx, lookup, gw.Selector)
	checkServicePorts(ctx, &b, gw, wl, lookup)
	checkManagedGateways(ctx, &b, gw, beside, credentials)
	if hijacked := checkConflicts(ctx, &b, gw, wl, beside, credentials, p.CredentialNamespaces, lookup, opts); len(hijacked) > 0 {
		// No certificate for a host another namespace holds, even when
		// the webhook was bypassed and only the controller sees this.
		p.Certificates = slices.DeleteFunc(p.Certificates, func(crt *cmapi.Certificate) bool {
			return slices.ContainsFunc(crt.Spec.DNSNames, func(name string) bool { return hijacked[name] })
		})
	}
	if p.Managed && !checkNamespacePolicy(ctx, &b, gw, p.Certificates, lookup, opts) {
		p.OutsidePolicy = true
		p.Certificates = nil
	}
	p.Findings = b.Findings()
	p.Findings.Sort()
	return p
}

// PlanInjections is the part of PlanGateway the mutating webhook answers
// with: Managed, and the Injections PlanGateway gives the same Gateway with
// the same lookup and options. Nothing else is decided, no Certificate is
// built and Findings stay empty: the validating webhook, which sees the
// Gateway after every mutating webhook has run, judges it.
func PlanInjections(ctx context.Context, gw *Gateway, lookup Lookup, opts Options) *GatewayPlan {
	p := &GatewayPlan{Gateway: gw}
	// The findings made on the way are the validating webhook's to report.
	var b finding.Builder
	p.Managed = isManaged(ctx, &b, gw, lookup, opts)
	if !p.Managed {
		return p
	}
	beside := besideOf(ctx, lookup, gw)
	namespaces := credentialNamespaces(ctx, &b, gw, beside.Namespaces, lookup, opts)
	p.Injections = injections(ctx, &b, gw, serverCredentials(gw), namespaces, lookup, opts)
	return p
}

// serverCredentials are the credentials each server of gw names, before
// injection.
func serverCredentials(gw *Gateway) [][]string {
	out := make([][]string, len(gw.Servers))
	for i, srv := range gw.Servers {
		out[i] = srv.TLS.Credentials()
	}
	return out
}

// injections are what a managed Gateway gets injected: credentialNames
// where servers have none, and the client CA bundle of its annotation.
func injections(ctx context.Context, b *finding.Builder, gw *Gateway, credentials [][]string, namespaces []string, lookup Lookup, opts Options) []Injection {
	out := injectCredentials(gw, credentials)
	return append(out, injectClientCA(ctx, b, gw, namespaces, lookup, opts)...)
}

func isManaged(ctx context.Context, b *finding.Builder, gw *Gateway, lookup Lookup, opts Options) bool {
	if v, ok := gw.Annotations[AnnotationInject]; ok {
		switch v {
		case "false":
			return false
		case "true":
		default:
			b.Warningf(finding.CodeInvalidMeshcertAnnotation, annotationPath(AnnotationInject),
				`%q is not "true" or "false"; meshcert leaves this Gateway alone until it is`, v)
			return false
		}
	}
	if hasIssuerAnnotation(gw.Annotations) {
		return true
	}
	if opts.DefaultIssuer.Name == "" {
		return false
	}
	ns, ok := lookup.Namespace(ctx, gw.Namespace)
	return ok && ns.Labels[LabelInject] == LabelInjectEnabled
}

// credentialNamespaces decides where the Gateway's credentials live: the
// annotation wins, then the namespaces of the gateway workloads the selector
// matches (Istio reads the Secret in the workload's namespace), then the
// default.
func credentialNamespaces(ctx context.Context, b *finding.Builder, gw *Gateway, gatewayAPI []string, lookup Lookup, opts Options) []string {
	var workloads []string
	if len(gw.Selector) > 0 {
		// The gateways istiod deploys for Gateway API Gateways are
		// workloads too, whether or not their Pods are known.
		workloads = lookup.WorkloadNamespaces(ctx, gw.Selector)
		workloads = append(workloads, gatewayAPI...)
		slices.Sort(workloads)
		workloads = slices.Compact(workloads)
		// Wherever the credentials are said to live, a selector matching no
		// gateway applies the Gateway to none.
		if len(workloads) == 0 && lookup.KnowsWorkloads(ctx) {
			b.Addf(opts.lenient(), finding.CodeSelectorMatchesNoWorkload, specPath.Child("selector"),
				"selector %s matches none of the gateway workloads meshcert knows, so Istio applies this Gateway to no gateway: fix the labels, or deploy the gateway",
				labels.SelectorFromSet(gw.Selector).String())
		}
	}
	if ns, ok := gw.Annotations[AnnotationCredentialNamespace]; ok {
		if len(validation.IsDNS1123Label(ns)) > 0 {
			b.Errorf(finding.CodeInvalidMeshcertAnnotation, annotationPath(AnnotationCredentialNamespace),
				"%q is not a namespace name (lower-case letters, digits and '-', at most 63); set it to the namespace of the gateway pods", ns)
			return []string{opts.credentialNamespace()}
		}
		if len(workloads) > 0 && !slices.Contains(workloads, ns) {
			b.Warningf(finding.CodeCredentialNamespaceMismatch, annotationPath(AnnotationCredentialNamespace),
				"the gateway workloads this Gateway selects run in %s, where Istio reads the credentials, not in %q: remove the annotation or make it name their namespace",
				quoteJoin(workloads), ns)
		}
		return []string{ns}
	}
	if len(workloads) > 0 {
		return workloads
	}
	return []string{opts.credentialNamespace()}
}

// Mutated returns the Gateway with the injected credentialNames: the input
// object itself when nothing is injected, else a copy. It is built on
// demand, since only `meshcert inject` needs it, and treated as read-only:
// it shares the parts it does not change with the input. An error means
// the object changed shape since it was parsed.
func (p *GatewayPlan) Mutated() (*unstructured.Unstructured, error) {
	if len(p.Injections) == 0 {
		return p.Gateway.Object, nil
	}
	mutated := &unstructured.Unstructured{Object: maps.Clone(p.Gateway.Object.Object)}
	copied := map[string]any{}
	for _, inj := range p.Injections {
		tls, err := inj.path().parent(mutated.Object, copied)
		if err != nil {
			return nil, p.injectError(inj, err)
		}
		tls[inj.Key()] = inj.Value()
	}
	return mutated, nil
}

// InjectedGateway returns what ParseGateway reads from Mutated's object,
// with Object nil, built from the parsed Gateway without copying or
// parsing the object: what a planner that goes on to plan other Gateways
// against this one holds. ok is false when it cannot be built that way
// (the Gateway had parse findings, or an injection names a server not
// parsed with tls settings); then parse Mutated's object instead.
func (p *GatewayPlan) InjectedGateway() (gw *Gateway, ok bool) {
	if len(p.Gateway.Findings) > 0 {
		// A malformed field an injection overwrites would lose its finding.
		return nil, false
	}
	injected := *p.Gateway
	injected.Object, injected.Previous = nil, nil
	injected.Servers = slices.Clone(p.Gateway.Servers)
	for _, inj := range p.Injections {
		// Servers are parsed in spec order, so their indexes ascend.
		i, found := slices.BinarySearchFunc(injected.Servers, inj.Server, func(s Server, index int) int { return cmp.Compare(s.Index, index) })
		if !found || injected.Servers[i].TLS == nil {
			return nil, false
		}
		tls := *injected.Servers[i].TLS
		if inj.CACertCredentialName != "" {
			tls.CACertCredentialName = inj.CACertCredentialName
		} else {
			tls.CredentialName = inj.CredentialName
		}
		injected.Servers[i].TLS = &tls
	}
	return &injected, true
}

// Patch returns the JSON patch that adds each injected field to the
// Gateway, as the mutating webhook answers: what diffing the input against
// Mutated would give, without building the copy or encoding either.
// Injections only fill fields that are not set, so every operation is an
// add. Like Mutated, it errors when the object changed shape since it was
// parsed, for a patch to a missing tls object would fail.
func (p *GatewayPlan) Patch() ([]jsonpatch.JsonPatchOperation, error) {
	if len(p.Injections) == 0 {
		return nil, nil
	}
	ops := make([]jsonpatch.JsonPatchOperation, len(p.Injections))
	for i, inj := range p.Injections {
		path := inj.path()
		if _, err := path.parent(p.Gateway.Object.Object, nil); err != nil {
			return nil, p.injectError(inj, err)
		}
		ops[i] = jsonpatch.NewOperation("add", path.Pointer(), inj.Value())
	}
	return ops, nil
}

func (p *GatewayPlan) injectError(inj Injection, err error) error {
	return fmt.Errorf("failed to inject %s into Gateway %s/%s: %w", inj.Field(), p.Gateway.Namespace, p.Gateway.Name, err)
}
