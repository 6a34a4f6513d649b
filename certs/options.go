package certs

import (
	"time"

	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"

	"github.com/meshcert/meshcert/finding"
)

// Options are the settings the planner's callers configure by flag.
type Options struct {
	// DefaultIssuer is used for Gateways with no issuer annotation in
	// namespaces labelled meshcert.io/inject=enabled. An empty Name means no
	// default issuer.
	DefaultIssuer cmmeta.IssuerReference
	// DefaultCredentialNamespace is used when neither the annotation nor a
	// known gateway workload says where credentials live.
	DefaultCredentialNamespace string
	// Strict turns findings that may only mean "applied in another order"
	// (an issuer or credential not found yet) into errors.
	Strict bool
	// ClusterResourceNamespace is where cert-manager reads the Secrets of
	// ClusterIssuers (its --cluster-resource-namespace); "" means
	// cert-manager's default, DefaultClusterResourceNamespace.
	ClusterResourceNamespace string
	// Now is the clock certificate validity is judged by; nil means
	// time.Now. Tests set it so expiry is decided by the fixture.
	Now func() time.Time
	// NamespacePolicy says what a namespace without policy annotations
	// may do (PolicyRequired: nothing). "" enforces only the policies
	// namespaces carry, as PolicyOptional does; DefaultOptions and the
	// flags start from PolicyRequired.
	NamespacePolicy PolicyMode
	// PolicyOnlyForKnownNamespaces skips the policy of a namespace the
	// lookup does not know. The CLI sets it: its input rarely holds the
	// Namespace. The server refuses such a namespace instead.
	PolicyOnlyForKnownNamespaces bool
	// ComposeCACerts has istiod's CA Certificate written to Secret
	// cacerts-issued, from which the server's controller composes the
	// Secret cacerts istiod reads (package meshca), so a new root reaches
	// istiod in steps it accepts. The server sets it. The CLI does not:
	// outside a cluster nothing composes cacerts, so the Certificate writes
	// it.
	ComposeCACerts bool
}

// DefaultClusterResourceNamespace is cert-manager's default
// --cluster-resource-namespace.
const DefaultClusterResourceNamespace = "cert-manager"

// Time returns the planner's current time.
func (o Options) Time() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// IssuerSecretNamespace is where cert-manager reads the Secret of an issuer
// of kind (Issuer or ClusterIssuer) that lives in namespace.
func (o Options) IssuerSecretNamespace(kind, namespace string) string {
	if kind != "ClusterIssuer" {
		return namespace
	}
	if o.ClusterResourceNamespace == "" {
		return DefaultClusterResourceNamespace
	}
	return o.ClusterResourceNamespace
}

// DefaultOptions returns the options the CLI and server start from.
func DefaultOptions() Options {
	return Options{
		DefaultIssuer:              cmmeta.IssuerReference{Kind: "Issuer", Group: CertManagerGroup},
		DefaultCredentialNamespace: DefaultCredentialNamespace,
		NamespacePolicy:            PolicyRequired,
	}
}

// lenient is the severity of findings that may only mean the objects have
// not all been applied yet.
func (o Options) lenient() finding.Severity {
	if o.Strict {
		return finding.SeverityError
	}
	return finding.SeverityWarning
}

func (o Options) credentialNamespace() string {
	if o.DefaultCredentialNamespace == "" {
		return DefaultCredentialNamespace
	}
	return o.DefaultCredentialNamespace
}
