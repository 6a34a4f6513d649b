package certs

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshcert/meshcert/finding"
)

// configMapCredentialPrefix is how Istio's caCertCredentialName names a
// ConfigMap (pilot/pkg/model/credentials: configmap://namespace/name); a
// plain name means a Secret in the gateway's namespace.
const configMapCredentialPrefix = "configmap://" //nolint:gosec // A URI scheme, not a credential.

// clientCAKeys are the keys Istio reads a CA from, in its order
// (pilot/pkg/credentials/kube ExtractRoot).
var clientCAKeys = []string{"cacert", "ca.crt"}

// ClientCACredential is the caCertCredentialName that makes Istio read a
// ConfigMap's CA certificates.
func ClientCACredential(namespace, name string) string {
	return configMapCredentialPrefix + namespace + "/" + name
}

// injectClientCA gives every MUTUAL and OPTIONAL_MUTUAL server of a managed
// Gateway that has no client CA of its own the trust bundle named by
// meshcert.io/client-ca, as caCertCredentialName: the client CA then is
// exactly the roots in that ConfigMap (other clusters' roots, say), not
// the ca.crt of the server's own certificate. The ConfigMap is checked
// (found, labelled, holding valid CA certificates where Istio reads them),
// but injected even when it is not there yet, so the order of applies does
// not matter: the finding says what is missing.
func injectClientCA(ctx context.Context, b *finding.Builder, gw *Gateway, namespaces []string, lookup Lookup, opts Options) []Injection {
	name, ok := gw.Annotations[AnnotationClientCA]
	if !ok {
		return nil
	}
	path := annotationPath(AnnotationClientCA)
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		b.Errorf(finding.CodeInvalidMeshcertAnnotation, path,
			"%q is not a ConfigMap name (%s); name the trust-bundle ConfigMap, in the credential namespace, that holds the CAs client certificates must chain to",
			name, strings.Join(errs, ", "))
		return nil
	}
	if len(namespaces) != 1 {
		b.Errorf(finding.CodeInvalidMeshcertAnnotation, path,
			"this Gateway's credentials live in %d namespaces (%s), and caCertCredentialName can name a ConfigMap in only one: set %s to one namespace",
			len(namespaces), quoteJoin(namespaces), AnnotationCredentialNamespace)
		return nil
	}
	ns := namespaces[0]
	credential := ClientCACredential(ns, name)
	var injections []Injection
	for _, srv := range gw.Servers {
		if srv.TLS == nil || (srv.TLS.Mode != ModeMutual && srv.TLS.Mode != ModeOptionalMutual) || !eligible(srv) {
			continue
		}
		if srv.TLS.CACertCredentialName != "" {
			// Theirs, or injected before: never changed.
			continue
		}
		// The server's place in spec.servers: servers that do not parse are
		// not in gw.Servers.
		injections = append(injections, Injection{Server: srv.Index, CACertCredentialName: credential})
	}
	checkClientCA(ctx, b, TrustBundleRef{Namespace: ns, Name: name}, lookup, opts)
	return injections
}

// checkClientCA checks the client-CA ConfigMap where Istio reads it.
func checkClientCA(ctx context.Context, b *finding.Builder, ref TrustBundleRef, lookup Lookup, opts Options) {
	path := annotationPath(AnnotationClientCA)
	cm, ok := lookup.TrustBundle(ctx, ref.Namespace, ref.Name)
	if !ok {
		b.Addf(opts.lenient(), finding.CodeTrustBundleNotFound, path,
			"ConfigMap %s/%s not found (meshcert reads only ConfigMaps labelled %s); create it in the credential namespace with the client CAs under %q, and label it",
			ref.Namespace, ref.Name, LabelTrustBundle, "ca.crt")
		return
	}
	ref.Key = clientCAKeys[len(clientCAKeys)-1]
	// istiod reads a client-CA ConfigMap's data only (ExtractRootFromString
	// over cm.Data), never its binaryData.
	inData := false
	for _, k := range clientCAKeys {
		if v := cm.Data[k]; v != "" {
			ref.Key, inData = k, true
			break
		}
	}
	if !inData {
		for _, k := range clientCAKeys {
			if len(cm.BinaryData[k]) > 0 {
				b.Errorf(finding.CodeInvalidTrustBundle, path,
					"%s holds the client CAs under binaryData, which istiod never reads for a client CA: move them to data under %q",
					TrustBundleRef{Namespace: ref.Namespace, Name: ref.Name, Key: k}, k)
				return
			}
		}
	}
	_, problems := trustBundleAnchors(cm, ref, opts.Time())
	if len(problems) > 0 {
		b.Errorf(finding.CodeInvalidTrustBundle, path,
			"%s cannot verify client certificates: %s; Istio reads the client CAs from key %q or %q",
			ref, strings.Join(problems, "; "), clientCAKeys[0], clientCAKeys[1])
	}
}
