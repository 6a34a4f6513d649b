package certs

import (
	"strings"
)

// What istiod does with a credential reference, mirrored from the pinned
// Istio: pilot/pkg/model/credentials (ToResourceName, ParseResourceName),
// pilot/pkg/security/model (ConstructSdsSecretConfigForCredential,
// ApplyCredentialSDSToServerCommonTLSContext), pilot/pkg/model/gateway.go
// (mergeGateways' verified references) and pilot/pkg/xds/sds.go
// (filterAuthorizedResources, generate). The e2e credentials oracle runs
// that code on the same inputs and compares.

// Istio's credential URI schemes.
const (
	schemeKubernetes        = "kubernetes://"
	schemeKubernetesGateway = "kubernetes-gateway://"
	schemeConfigMap         = "configmap://"
	schemeBuiltin           = "builtin://"
	schemeInvalid           = "invalid://"
	schemeExternalSDS       = "sds://"
)

// CredentialKind is what a credential reference makes istiod read.
type CredentialKind string

const (
	// CredentialNone is an empty reference.
	CredentialNone CredentialKind = ""
	// CredentialSecret is a Kubernetes Secret.
	CredentialSecret CredentialKind = "Secret"
	// CredentialConfigMap is a Kubernetes ConfigMap, read for CA
	// certificates only.
	CredentialConfigMap CredentialKind = "ConfigMap"
	// CredentialBuiltin is the workload's own mesh certificate (builtin://):
	// no object at all.
	CredentialBuiltin CredentialKind = "Builtin"
	// CredentialInvalid is a reference istiod serves nothing for: invalid://,
	// or one its parser refuses.
	CredentialInvalid CredentialKind = "Invalid"
)

// CredentialRef is the object istiod reads for one credential reference of
// a Gateway server, as seen by a gateway proxy in ProxyNamespace.
type CredentialRef struct {
	// Reference is the credentialName, credentialNames entry or
	// caCertCredentialName as written.
	Reference string
	// Resource is the SDS resource name the gateway asks istiod for.
	Resource string
	Kind     CredentialKind
	// Namespace and Name locate the Secret or ConfigMap.
	Namespace, Name string
	// External is true for sds:// references: with an SDS socket on the
	// gateway or an SDS extension provider in the mesh config, an external
	// SDS server answers them; otherwise istiod reads the Secret named here.
	External bool
	// CAOnly is true when istiod reads the object as CA certificates only
	// (a name ending in -cacert, or a ConfigMap), never a key pair.
	CAOnly bool
	// Served is false when istiod refuses the proxy this object whatever
	// exists; Refusal says why.
	Served  bool
	Refusal string
}

// Key returns "namespace/name" of the object, or "" when it is no object.
func (r CredentialRef) Key() string {
	if r.Kind != CredentialSecret && r.Kind != CredentialConfigMap {
		return ""
	}
	return r.Namespace + "/" + r.Name
}

// IsSecret reports whether istiod reads a Secret for this reference.
func (r CredentialRef) IsSecret() bool { return r.Kind == CredentialSecret }

// Reads lists the objects istiod tries for the reference, in order: for a
// CA-only Secret "<name>-cacert", that Secret and then, when it does not
// exist, the CA keys of "<name>" (GetCaCert); otherwise the one object.
func (r CredentialRef) Reads() []CredentialRef {
	if r.Kind != CredentialSecret || !r.CAOnly {
		return []CredentialRef{r}
	}
	fallback := r
	fallback.Name = strings.TrimSuffix(r.Name, caCertSuffix)
	return []CredentialRef{r, fallback}
}

// Served as what istiod's SDS generates from the object it reads.
const (
	ServedAsKeyPair  = "tls_certificate"
	ServedAsClientCA = "validation_context"
)

// ServedAs is what istiod makes of the object: CA certificates for a
// ConfigMap or a CA-only Secret, else a certificate and key, whichever role
// the reference has in the server (sds.go generate).
func (r CredentialRef) ServedAs() string {
	switch {
	case r.Kind == CredentialConfigMap, r.Kind == CredentialSecret && r.CAOnly:
		return ServedAsClientCA
	case r.Kind == CredentialSecret:
		return ServedAsKeyPair
	}
	return ""
}

// ResolveCredential turns a credential reference of an Istio Gateway in
// gatewayNamespace into the object a gateway proxy running in
// proxyNamespace gets from istiod. Every form the pinned Istio accepts is
// handled: a bare name, kubernetes://name, kubernetes://namespace/name,
// kubernetes-gateway://namespace/name, configmap://namespace/name,
// builtin://, invalid:// and sds://name (resolved as istiod's fallback
// reads it; External says an SDS server may answer instead).
func ResolveCredential(reference, proxyNamespace, gatewayNamespace string) CredentialRef {
	r := CredentialRef{Reference: reference}
	if reference == "" {
		return r
	}
	name := reference
	// ConstructSdsSecretConfigForCredential: builtin:// exactly is the
	// workload certificate; sds:// is stripped when istiod answers itself.
	if name == schemeBuiltin || name == schemeBuiltin+caCertSuffix {
		r.Kind, r.Served = CredentialBuiltin, true
		return r
	}
	if rest, ok := strings.CutPrefix(name, schemeExternalSDS); ok {
		r.External = true
		name = rest
	}
	r.Resource = toResourceName(name)
	parseResource(&r, proxyNamespace)
	if r.Kind == CredentialSecret {
		r.CAOnly = strings.HasSuffix(r.Name, caCertSuffix)
	}
	authorize(&r, proxyNamespace, gatewayNamespace)
	return r
}

// toResourceName is Istio's credentials.ToResourceName.
func toResourceName(name string) string {
	switch {
	case strings.HasPrefix(name, schemeBuiltin):
		return "default"
	case strings.HasPrefix(name, schemeInvalid):
		return schemeInvalid
	case strings.HasPrefix(name, schemeConfigMap), strings.HasPrefix(name, schemeKubernetes),
		strings.HasPrefix(name, schemeKubernetesGateway):
		return name
	}
	return schemeKubernetes + name
}

// parseResource is Istio's credentials.ParseResourceName: the namespace of
// kubernetes:// defaults to the proxy's, a path of more than two parts
// keeps the first two, and the other schemes need both parts.
func parseResource(r *CredentialRef, proxyNamespace string) {
	if rest, ok := strings.CutPrefix(r.Resource, schemeKubernetes); ok {
		first, second, more := pathParts(rest)
		r.Kind, r.Namespace, r.Name = CredentialSecret, proxyNamespace, first
		if more {
			r.Namespace, r.Name = first, second
		}
		return
	}
	for _, scheme := range []struct {
		prefix string
		kind   CredentialKind
	}{{schemeConfigMap, CredentialConfigMap}, {schemeKubernetesGateway, CredentialSecret}} {
		rest, ok := strings.CutPrefix(r.Resource, scheme.prefix)
		if !ok {
			continue
		}
		first, second, more := pathParts(rest)
		if !more || first == "" || second == "" {
			r.Kind, r.Refusal = CredentialInvalid, "istiod needs "+scheme.prefix+"<namespace>/<name>"
			return
		}
		r.Kind, r.Namespace, r.Name = scheme.kind, first, second
		if r.Kind == CredentialConfigMap {
			// GetConfigMapCaCert reads the ConfigMap without the suffix.
			r.Name = strings.TrimSuffix(r.Name, caCertSuffix)
		}
		return
	}
	r.Kind = CredentialInvalid
	if r.Resource == schemeInvalid {
		r.Refusal = "invalid:// makes istiod serve nothing"
		return
	}
	r.Refusal = "istiod cannot parse it as a credential"
}

// pathParts are the first two parts of path split at "/", as
// strings.Split(path, "/")[0] and [1] (more reports whether there is a
// second), without building the slice: every credential of every server
// is resolved several times per plan.
func pathParts(path string) (first, second string, more bool) {
	first, rest, more := strings.Cut(path, "/")
	second, _, _ = strings.Cut(rest, "/")
	return first, second, more
}

// authorize is istiod's filterAuthorizedResources for an Istio Gateway:
// kubernetes:// only from the proxy's own namespace (a CA-only name needs
// no other right; otherwise the gateway's service account must be allowed
// to list Secrets there, which Istio's gateway chart grants);
// kubernetes-gateway:// only when the Gateway, the Secret and the proxy
// share a namespace (or a ReferenceGrant allows it, which meshcert does not
// read); ConfigMaps from anywhere.
func authorize(r *CredentialRef, proxyNamespace, gatewayNamespace string) {
	switch {
	case r.Kind == CredentialConfigMap:
		r.Served, r.CAOnly = true, true
	case r.Kind != CredentialSecret:
	case strings.HasPrefix(r.Resource, schemeKubernetesGateway):
		r.Served = gatewayNamespace == proxyNamespace && r.Namespace == proxyNamespace
		if !r.Served {
			r.Refusal = "istiod serves kubernetes-gateway:// credentials only when the Gateway, the Secret and the gateway workload share a namespace (or a ReferenceGrant allows it)"
		}
	default:
		r.Served = r.Namespace == proxyNamespace
		if !r.Served {
			r.Refusal = "istiod serves a gateway only Secrets of the gateway workload's own namespace, " + quoteJoin([]string{proxyNamespace})
		}
	}
}

// ClientCARefs returns what a MUTUAL or OPTIONAL_MUTUAL server verifies
// client certificates with, in the order istiod tries them: the
// caCertCredentialName, else "<first credential>-cacert", which istiod
// reads from the Secret of that name and, when there is none, from the CA
// keys of the credential's own Secret. nil for other modes, and for a
// server without credentials, which istiod builds from the proxy's own
// files whatever caCertCredentialName says (BuildListenerTLSContext).
func ClientCARefs(tls *ServerTLS, proxyNamespace, gatewayNamespace string) []CredentialRef {
	if tls == nil || (tls.Mode != ModeMutual && tls.Mode != ModeOptionalMutual) {
		return nil
	}
	credentials := tls.Credentials()
	if len(credentials) == 0 {
		return nil
	}
	reference := tls.CACertCredentialName
	if reference == "" {
		reference = credentials[0] + caCertSuffix
	}
	primary := ResolveCredential(reference, proxyNamespace, gatewayNamespace)
	// mergeGateways verifies a kubernetes-gateway:// companion only for
	// MUTUAL, so OPTIONAL_MUTUAL gets no client CA through it.
	if tls.CACertCredentialName == "" && tls.Mode == ModeOptionalMutual &&
		strings.HasPrefix(primary.Resource, schemeKubernetesGateway) {
		primary.Served = false
		primary.Refusal = "istiod verifies the -cacert companion of a kubernetes-gateway:// credential only for MUTUAL"
	}
	return primary.Reads()
}
