package certs

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// IstioNetworkingGroup is the API group of Istio's Gateway.
const IstioNetworkingGroup = "networking.istio.io"

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
	Object      *unstructured.Unstructured
	Ref         ObjectRef
	Namespace   string
	Name        string
	UID         string
	Annotations map[string]string
	Selector    map[string]string
	// SelectorKey is SelectorKey(Selector), computed once: Gateways with
	// equal keys configure the same gateway workload.
	SelectorKey string
	Servers     []Server
	// Findings are problems with the shape of the object found while reading it.
	Findings Findings
}

// Server is one entry of spec.servers.
type Server struct {
	Index int
	Name  string
	Hosts []string
	Port  Port
	TLS   *ServerTLS
}

// Port is a server's port.
type Port struct {
	Number   int64
	Name     string
	Protocol string
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
}

// Credentials lists the Secret names the server reads: credentialName or the
// credentialNames entries.
func (t *ServerTLS) Credentials() []string {
	if t == nil {
		return nil
	}
	if t.CredentialName != "" {
		return []string{t.CredentialName}
	}
	return t.CredentialNames
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

// UsesFiles reports whether the server reads its certificate from files
// mounted into the gateway pod rather than from a Secret over SDS.
func (t *ServerTLS) UsesFiles() bool {
	return t != nil && (t.ServerCertificate != "" || t.PrivateKey != "")
}

// SelectorAnnotationPath and friends are field paths findings point at.
var (
	specPath    = field.NewPath("spec")
	serversPath = specPath.Child("servers")
)

func serverPath(i int) *field.Path { return serversPath.Index(i) }

// ParseGateway reads the planner's view of an Istio Gateway. It never fails:
// parts that do not have the shape Istio's schema requires are reported as
// MalformedGateway findings and skipped.
func ParseGateway(obj *unstructured.Unstructured) *Gateway {
	gw := &Gateway{
		Object:      obj,
		Ref:         refOf(obj),
		Namespace:   obj.GetNamespace(),
		Name:        obj.GetName(),
		UID:         string(obj.GetUID()),
		Annotations: obj.GetAnnotations(),
	}
	spec, ok := obj.Object["spec"]
	if !ok || spec == nil {
		return gw
	}
	specMap, ok := spec.(map[string]any)
	if !ok {
		gw.malformed(specPath, "an object")
		return gw
	}
	if sel, found := specMap["selector"]; found && sel != nil {
		selMap, ok := sel.(map[string]any)
		if !ok {
			gw.malformed(specPath.Child("selector"), "a map of label names to values")
		} else {
			gw.Selector = make(map[string]string, len(selMap))
			for k, v := range selMap {
				s, ok := v.(string)
				if !ok {
					gw.malformed(specPath.Child("selector").Key(k), "a string")
					continue
				}
				gw.Selector[k] = s
			}
		}
	}
	gw.SelectorKey = SelectorKey(gw.Selector)
	servers, found := specMap["servers"]
	if !found || servers == nil {
		return gw
	}
	list, ok := servers.([]any)
	if !ok {
		gw.malformed(serversPath, "a list of servers")
		return gw
	}
	gw.Servers = make([]Server, 0, len(list))
	for i, raw := range list {
		srvMap, ok := raw.(map[string]any)
		if !ok {
			gw.malformed(serverPath(i), "an object")
			continue
		}
		gw.Servers = append(gw.Servers, gw.parseServer(i, srvMap))
	}
	return gw
}

// malformed records a part of the spec that does not have the shape Istio's
// schema requires.
func (gw *Gateway) malformed(p *field.Path, want string) {
	gw.Findings = append(gw.Findings, Finding{
		Severity: SeverityError,
		Code:     CodeMalformedGateway,
		Object:   gw.Ref,
		Field:    p.String(),
		Message:  fmt.Sprintf("must be %s, as Istio's Gateway schema requires; fix the manifest", want),
	})
}

// parseServer reads one server.
func (gw *Gateway) parseServer(i int, m map[string]any) Server {
	srv := Server{Index: i}
	if s, ok := stringField(m, "name"); ok {
		srv.Name = s
	} else {
		gw.malformed(serverPath(i).Child("name"), "a string")
	}
	if hosts, found := m["hosts"]; found && hosts != nil {
		srv.Hosts = gw.stringList(hosts, i, "hosts")
	}
	if port, found := m["port"]; found && port != nil {
		portMap, ok := port.(map[string]any)
		if !ok {
			gw.malformed(serverPath(i).Child("port"), "an object")
		} else {
			srv.Port.Name = gw.field(i, portMap, "port", "name")
			srv.Port.Protocol = gw.field(i, portMap, "port", "protocol")
			if n, found := portMap["number"]; found && n != nil {
				num, ok := asInt(n)
				if !ok {
					gw.malformed(serverPath(i).Child("port", "number"), "an integer")
				}
				srv.Port.Number = num
			}
		}
	}
	if tls, found := m["tls"]; found && tls != nil {
		tlsMap, ok := tls.(map[string]any)
		if !ok {
			gw.malformed(serverPath(i).Child("tls"), "an object")
			return srv
		}
		srv.TLS = &ServerTLS{
			Mode:                 gw.field(i, tlsMap, "tls", "mode"),
			CredentialName:       gw.field(i, tlsMap, "tls", "credentialName"),
			ServerCertificate:    gw.field(i, tlsMap, "tls", "serverCertificate"),
			PrivateKey:           gw.field(i, tlsMap, "tls", "privateKey"),
			CACertificates:       gw.field(i, tlsMap, "tls", "caCertificates"),
			CACertCredentialName: gw.field(i, tlsMap, "tls", "caCertCredentialName"),
		}
		if srv.TLS.Mode == "" {
			srv.TLS.Mode = ModePassthrough
		}
		if names, found := tlsMap["credentialNames"]; found && names != nil {
			srv.TLS.CredentialNames = gw.stringList(names, i, "tls", "credentialNames")
		}
	}
	return srv
}

// field reads m[key], where m is the object at spec.servers[i].<parent>.
func (gw *Gateway) field(i int, m map[string]any, parent, key string) string {
	s, ok := stringField(m, key)
	if !ok {
		gw.malformed(serverPath(i).Child(parent, key), "a string")
	}
	return s
}

// stringField returns m[key] as a string; ok is false when it is set to
// something else.
func stringField(m map[string]any, key string) (string, bool) {
	v, found := m[key]
	if !found || v == nil {
		return "", true
	}
	s, ok := v.(string)
	return s, ok
}

// stringList reads a list of strings at spec.servers[i].<names>.
func (gw *Gateway) stringList(v any, i int, names ...string) []string {
	list, ok := v.([]any)
	if !ok {
		gw.malformed(serverPath(i).Child(names[0], names[1:]...), "a list of strings")
		return nil
	}
	out := make([]string, 0, len(list))
	for j, item := range list {
		s, ok := item.(string)
		if !ok {
			gw.malformed(serverPath(i).Child(names[0], names[1:]...).Index(j), "a string")
			continue
		}
		out = append(out, s)
	}
	return out
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	case string:
		// Istio's port number is a uint32; YAML authors sometimes quote it.
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			return i, true
		}
	}
	return 0, false
}

func refOf(obj *unstructured.Unstructured) ObjectRef {
	return ObjectRef{
		APIVersion: obj.GetAPIVersion(),
		Kind:       obj.GetKind(),
		Namespace:  obj.GetNamespace(),
		Name:       obj.GetName(),
	}
}
