package certs

import (
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
)

// Labels and annotations meshcert reads and writes.
const (
	// AnnotationInject set to "false" on a Gateway opts it out.
	AnnotationInject = "meshcert.io/inject"
	// LabelInject set to "enabled" on a namespace lets the default issuer
	// manage that namespace's Gateways without an issuer annotation.
	LabelInject = "meshcert.io/inject"
	// LabelInjectEnabled is the value of LabelInject that enables management.
	LabelInjectEnabled = "enabled"
	// AnnotationCredentialNamespace overrides where a Gateway's credentials
	// (and so its Certificates) live.
	AnnotationCredentialNamespace = "meshcert.io/credential-namespace" //nolint:gosec // An annotation key, not a credential.

	// LabelManagedBy marks Certificates meshcert created.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is LabelManagedBy's value on meshcert's Certificates.
	ManagedByValue = "meshcert"
	// LabelGatewayNamespace and LabelGatewayName identify the source Gateway
	// so Certificates in another namespace can be found and pruned; values
	// longer than a label allows are hashed.
	LabelGatewayNamespace = "meshcert.io/gateway-namespace"
	LabelGatewayName      = "meshcert.io/gateway-name"
	// AnnotationGateway holds the full "namespace/name" of the source Gateway.
	AnnotationGateway = "meshcert.io/gateway"

	// DefaultCredentialNamespace is where Istio's default ingress gateway runs.
	DefaultCredentialNamespace = "istio-system"
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
func (o Options) lenient() Severity {
	if o.Strict {
		return SeverityError
	}
	return SeverityWarning
}

func (o Options) credentialNamespace() string {
	if o.DefaultCredentialNamespace == "" {
		return DefaultCredentialNamespace
	}
	return o.DefaultCredentialNamespace
}
