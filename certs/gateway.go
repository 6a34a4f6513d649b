package certs

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// IstioNetworkingGroup is the API group of Istio's Gateway.
const IstioNetworkingGroup = "networking.istio.io"

// GatewayGVK is the version of Istio's Gateway meshcert reads from the API
// server. It serves v1, v1beta1 and v1alpha3 from one storage, so reading
// v1 sees every Gateway whatever version it was written in.
var GatewayGVK = schema.GroupVersionKind{Group: IstioNetworkingGroup, Version: "v1", Kind: "Gateway"}

// GatewayVersions are the served versions of networking.istio.io Gateway;
// they share one schema.
var GatewayVersions = []string{"v1", "v1beta1", "v1alpha3"}

// IsGateway reports whether gvk is an Istio Gateway of a served version.
func IsGateway(gvk schema.GroupVersionKind) bool {
	if gvk.Group != IstioNetworkingGroup || gvk.Kind != "Gateway" {
		return false
	}
	for _, v := range GatewayVersions {
		if gvk.Version == v {
			return true
		}
	}
	return false
}

// Istio's TLS modes (istio.io/api networking ServerTLSSettings.TLSmode).
const (
	ModePassthrough     = "PASSTHROUGH"
	ModeSimple          = "SIMPLE"
	ModeMutual          = "MUTUAL"
	ModeAutoPassthrough = "AUTO_PASSTHROUGH"
	ModeIstioMutual     = "ISTIO_MUTUAL"
	ModeOptionalMutual  = "OPTIONAL_MUTUAL"
)

// Gateway is the part of an Istio Gateway the planner reads. It is a view:
// Object stays the source of truth, so fields meshcert does not know survive
// untouched when the object is mutated and written back.
type Gateway struct {
	Object    *unstructured.Unstructured
	Ref       finding.ObjectRef
	Namespace string
	Name      string
	UID       string
	// Created is metadata.creationTimestamp; zero for an object not stored
	// yet (an admission CREATE, a file).
	Created time.Time
	// Previous is the stored Gateway an admission UPDATE replaces, or nil.
	// A host or credential it did not claim is claimed now, so an edited
	// old Gateway is the newcomer for what the edit adds.
	Previous    *Gateway
	Annotations map[string]string
	Selector    map[string]string
	Servers     []Server
	// finding.Findings are problems with the shape of the object found while reading it.
	Findings finding.Findings
}

// Server is one entry of spec.servers.
type Server struct {
	Index int
	Name  string
	Hosts []string
	// Bind is the address the server listens on: an IP, or unix://path.
	Bind string
	// HasPort is false when the server has no port at all.
	HasPort bool
	Port    Port
	TLS     *ServerTLS
}

// Port is a server's port.
type Port struct {
	Number   int64
	Name     string
	Protocol string
	// TargetPort is set by some manifests, and Istio rejects it on a
	// Gateway.
	TargetPort int64
}

// ServerTLS is the subset of a server's tls settings that decides which
// credential it uses.
type ServerTLS struct {
	// Mode is the TLS mode; Istio's default (the enum's zero value) is PASSTHROUGH.
	Mode                 string
	CredentialName       string
	CredentialNames      []string
	ServerCertificate    string
	PrivateKey           string
	CACertificates       string
	CACertCredentialName string
	// CACrl is the file of a certificate revocation list.
	CACrl string
	// TLSCertificates are file pairs (an RSA and an ECDSA certificate).
	TLSCertificates []TLSCertificateFiles
	// HTTPSRedirect answers every plain-HTTP request with a redirect to
	// HTTPS (a port-80 server's tls.httpsRedirect).
	HTTPSRedirect bool
	// CipherSuites and MinProtocolVersion are read only for the warnings
	// Istio's validation gives about them.
	CipherSuites       []string
	MinProtocolVersion string
}

// Credentials lists the credential references the server reads:
// credentialNames, else credentialName.
func (t *ServerTLS) Credentials() []string {
	if t == nil {
		return nil
	}
	// istiod takes credentialNames when both are set (validation rejects
	// that, reported as MC2004).
	if len(t.CredentialNames) > 0 {
		return t.CredentialNames
	}
	if t.CredentialName != "" {
		return []string{t.CredentialName}
	}
	return nil
}

// TerminatesWithCredential reports whether the mode terminates TLS with a
// server certificate (and so needs a credential).
func (t *ServerTLS) TerminatesWithCredential() bool {
	if t == nil {
		return false
	}
	switch t.Mode {
	case ModeSimple, ModeMutual, ModeOptionalMutual:
		return true
	default:
		return false
	}
}

// passesThrough reports a PASSTHROUGH or AUTO_PASSTHROUGH mode, which
// terminates nothing.
func (t *ServerTLS) passesThrough() bool {
	return t.Mode == ModePassthrough || t.Mode == ModeAutoPassthrough
}

// TLSCertificateFiles is one entry of tls.tlsCertificates.
type TLSCertificateFiles struct {
	ServerCertificate, PrivateKey, CACertificates string
}

// UsesFiles reports whether the server reads its certificate from files
// mounted into the gateway pod rather than from a Secret over SDS: any of
// serverCertificate, privateKey or tlsCertificates. A credential injected
// beside them would be a second certificate source, which Istio rejects.
func (t *ServerTLS) UsesFiles() bool {
	return t != nil && (t.ServerCertificate != "" || t.PrivateKey != "" || len(t.TLSCertificates) > 0)
}

// filePairs are the server certificate and key files Istio verifies:
// tlsCertificates, else serverCertificate with privateKey.
func (t *ServerTLS) filePairs() []TLSCertificateFiles {
	if len(t.TLSCertificates) > 0 {
		return t.TLSCertificates
	}
	return []TLSCertificateFiles{{ServerCertificate: t.ServerCertificate, PrivateKey: t.PrivateKey}}
}

// certifiableSecret returns the Secret a credential names when meshcert can
// give it a Certificate: a Secret of the gateway workload's own namespace
// (a bare name or kubernetes://name) that istiod reads as a key pair.
// Namespaced, external, CA-only and other references are the user's wiring.
func certifiableSecret(credential string) (string, bool) {
	ref := ResolveCredential(credential, "", "")
	path, isKubernetes := strings.CutPrefix(ref.Resource, schemeKubernetes)
	if !isKubernetes || ref.External || ref.CAOnly || strings.Contains(path, "/") || !isDNS1123Subdomain(ref.Name) {
		return "", false
	}
	return ref.Name, true
}

// secretNameOf is the Secret name a credential reference names, whatever
// its scheme; "" when it names none.
func secretNameOf(credential string) string {
	ref := ResolveCredential(credential, "", "")
	if ref.Kind != CredentialSecret {
		return ""
	}
	return ref.Name
}

// Field paths findings point at.
var (
	specPath    = field.NewPath("spec")
	serversPath = specPath.Child("servers")
)

func serverPath(i int) *field.Path { return serversPath.Index(i) }

// tlsPath is spec.servers[i].tls[.names].
func tlsPath(i int, names ...string) *field.Path {
	return serverPath(i).Child("tls", names...)
}

var annotationsPath = field.NewPath("metadata", "annotations")

func annotationPath(key string) *field.Path { return annotationsPath.Key(key) }
