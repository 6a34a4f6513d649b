package certs

import (
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
}

// DefaultOptions returns the options the CLI and server start from.
func DefaultOptions() Options {
	return Options{
		DefaultIssuer:              cmmeta.IssuerReference{Kind: "Issuer", Group: CertManagerGroup},
		DefaultCredentialNamespace: DefaultCredentialNamespace,
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
