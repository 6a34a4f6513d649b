package certs

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

	// AnnotationClientCA names a trust-bundle ConfigMap in the credential
	// namespace whose CA certificates MUTUAL and OPTIONAL_MUTUAL servers
	// verify client certificates with (injected as caCertCredentialName).
	AnnotationClientCA = "meshcert.io/client-ca"

	// LabelTrustBundle marks the ConfigMaps meshcert may read CA
	// certificates from (peer roots, client CAs); its value is not read.
	// The server caches only ConfigMaps with this label, not every
	// ConfigMap in the cluster.
	LabelTrustBundle = "meshcert.io/trust-bundle"

	// DefaultCredentialNamespace is where Istio's default ingress gateway runs.
	DefaultCredentialNamespace = "istio-system"
)

// CertManagerGroup is cert-manager's API group; an issuerRef with an empty
// group means this group.
const CertManagerGroup = "cert-manager.io"
