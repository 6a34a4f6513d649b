package certs

import (
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/internal/jsonvalue"
)

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
		Created:     obj.GetCreationTimestamp().Time,
		Annotations: obj.GetAnnotations(),
	}
	p := gatewayParser{gw: gw, findings: finding.Builder{Object: gw.Ref}}
	p.parseSpec(obj)
	// Istio's ValidateGateway: a DNS label as the name (no dots), and at
	// least one server.
	for _, key := range refusedAnnotations {
		if _, found := gw.Annotations[key]; found {
			p.findings.Errorf(finding.CodeMalformedGateway, annotationPath(key),
				"Istio's validation rejects a Gateway with this annotation (one of its internal ones, or dry-run, which only AuthorizationPolicies take): remove it")
		}
	}
	if gw.Name != "" && !IsIstioLabel(gw.Name) && !gw.gatewaySemantics() {
		p.findings.Errorf(finding.CodeInvalidGatewayName, field.NewPath("metadata", "name"),
			"%q is not a DNS label (letters, digits and '-', at most 63, no dots), and Istio's validation rejects the Gateway (invalid gateway name): rename it", gw.Name)
	}
	if servers, _, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "servers"); servers == nil || isEmptyList(servers) {
		p.findings.Errorf(finding.CodeMalformedGateway, serversPath,
			"a Gateway needs at least one server, and Istio's validation rejects it without: add the servers it should listen with")
	}
	gw.Findings = p.findings.Findings()
	return gw
}

func isEmptyList(v any) bool {
	list, ok := v.([]any)
	return ok && len(list) == 0
}

// gatewayParser collects the shape problems of one Gateway while reading it.
type gatewayParser struct {
	gw       *Gateway
	findings finding.Builder
}

func (p *gatewayParser) parseSpec(obj *unstructured.Unstructured) {
	gw := p.gw
	spec, ok := obj.Object["spec"]
	if !ok || spec == nil {
		return
	}
	specMap, ok := spec.(map[string]any)
	if !ok {
		p.malformed(specPath, "an object")
		return
	}
	unknownFields(&p.findings, gatewayDescriptor, specMap, specPath)
	if sel, found := specMap["selector"]; found && sel != nil {
		selMap, ok := sel.(map[string]any)
		if !ok {
			p.malformed(specPath.Child("selector"), "a map of label names to values")
		} else {
			gw.Selector = make(map[string]string, len(selMap))
			for k, v := range selMap {
				s, ok := v.(string)
				if !ok {
					p.malformed(specPath.Child("selector").Key(k), "a string")
					continue
				}
				gw.Selector[k] = s
			}
		}
	}
	servers, found := specMap["servers"]
	if !found || servers == nil {
		return
	}
	list, ok := servers.([]any)
	if !ok {
		p.malformed(serversPath, "a list of servers")
		return
	}
	gw.Servers = make([]Server, 0, len(list))
	for i, raw := range list {
		srvMap, ok := raw.(map[string]any)
		if !ok {
			p.malformed(serverPath(i), "an object")
			continue
		}
		gw.Servers = append(gw.Servers, p.parseServer(i, srvMap))
	}
}

// malformed records a part of the spec that does not have the shape Istio's
// schema requires.
func (p *gatewayParser) malformed(path *field.Path, want string) {
	p.findings.Errorf(finding.CodeMalformedGateway, path, "must be %s, as Istio's Gateway schema requires; fix the manifest", want)
}

// parseServer reads one server.
func (p *gatewayParser) parseServer(i int, m map[string]any) Server {
	srv := Server{Index: i}
	if s, ok := stringField(m, "name"); ok {
		srv.Name = s
	} else {
		p.malformed(serverPath(i).Child("name"), "a string")
	}
	if s, ok := stringField(m, "bind"); ok {
		srv.Bind = s
	} else {
		p.malformed(serverPath(i).Child("bind"), "a string")
	}
	if hosts, found := m["hosts"]; found && hosts != nil {
		srv.Hosts = p.stringList(hosts, i, "hosts")
	}
	if port, found := m["port"]; found && port != nil {
		srv.HasPort = true
		portMap, ok := port.(map[string]any)
		if !ok {
			p.malformed(serverPath(i).Child("port"), "an object")
		} else {
			srv.Port.Name = p.field(i, portMap, "port", "name")
			srv.Port.Protocol = p.field(i, portMap, "port", "protocol")
			if tp, found := portMap["targetPort"]; found && tp != nil {
				if n, ok := portNumber(tp); ok && n > 0 {
					srv.Port.TargetPort = n
				}
			}
			if n, found := portMap["number"]; found && n != nil {
				num, ok := portNumber(n)
				if !ok {
					p.malformed(serverPath(i).Child("port", "number"), "an integer")
				} else if quoted, isString := n.(string); isString {
					p.findings.Errorf(finding.CodeAPIServerRejects, serverPath(i).Child("port", "number"),
						"%q is a string where the Gateway CRD's schema has an integer, so the API server rejects the Gateway (istioctl validate, which reads it as protobuf JSON, does not): write %d without quotes",
						quoted, num)
				}
				srv.Port.Number = num
			}
		}
	}
	if tls, found := m["tls"]; found && tls != nil {
		tlsMap, ok := tls.(map[string]any)
		if !ok {
			p.malformed(serverPath(i).Child("tls"), "an object")
			return srv
		}
		srv.TLS = &ServerTLS{
			Mode:                 p.field(i, tlsMap, "tls", "mode"),
			CredentialName:       p.field(i, tlsMap, "tls", "credentialName"),
			ServerCertificate:    p.field(i, tlsMap, "tls", "serverCertificate"),
			PrivateKey:           p.field(i, tlsMap, "tls", "privateKey"),
			CACertificates:       p.field(i, tlsMap, "tls", "caCertificates"),
			CACertCredentialName: p.field(i, tlsMap, "tls", "caCertCredentialName"),
			CACrl:                p.field(i, tlsMap, "tls", "caCrl"),
		}
		if pairs, found := tlsMap["tlsCertificates"]; found && pairs != nil {
			srv.TLS.TLSCertificates = p.certificateFiles(pairs, i)
		}
		if srv.TLS.Mode == "" {
			srv.TLS.Mode = ModePassthrough
		}
		if redirect, found := tlsMap["httpsRedirect"]; found && redirect != nil {
			on, ok := redirect.(bool)
			if !ok {
				p.malformed(serverPath(i).Child("tls", "httpsRedirect"), "a boolean")
			}
			srv.TLS.HTTPSRedirect = on
		}
		if names, found := tlsMap["credentialNames"]; found && names != nil {
			srv.TLS.CredentialNames = p.stringList(names, i, "tls", "credentialNames")
		}
		if suites, found := tlsMap["cipherSuites"]; found && suites != nil {
			srv.TLS.CipherSuites = p.stringList(suites, i, "tls", "cipherSuites")
		}
		srv.TLS.MinProtocolVersion = p.tlsProtocolVersion(tlsMap, i, "minProtocolVersion")
		p.tlsProtocolVersion(tlsMap, i, "maxProtocolVersion")
	}
	return srv
}

// certificateFiles reads spec.servers[i].tls.tlsCertificates.
func (p *gatewayParser) certificateFiles(v any, i int) []TLSCertificateFiles {
	path := serverPath(i).Child("tls", "tlsCertificates")
	list, ok := v.([]any)
	if !ok {
		p.malformed(path, "a list of serverCertificate, privateKey and caCertificates files")
		return nil
	}
	out := make([]TLSCertificateFiles, 0, len(list))
	for j, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			p.malformed(path.Index(j), "an object")
			continue
		}
		var files TLSCertificateFiles
		for key, into := range map[string]*string{"serverCertificate": &files.ServerCertificate, "privateKey": &files.PrivateKey, "caCertificates": &files.CACertificates} {
			s, ok := stringField(m, key)
			if !ok {
				p.malformed(path.Index(j).Child(key), "a string")
			}
			*into = s
		}
		out = append(out, files)
	}
	return out
}

// field reads m[key], where m is the object at spec.servers[i].<parent>.
func (p *gatewayParser) field(i int, m map[string]any, parent, key string) string {
	s, ok := stringField(m, key)
	if !ok {
		p.malformed(serverPath(i).Child(parent, key), "a string")
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
func (p *gatewayParser) stringList(v any, i int, names ...string) []string {
	list, ok := v.([]any)
	if !ok {
		p.malformed(serverPath(i).Child(names[0], names[1:]...), "a list of strings")
		return nil
	}
	out := make([]string, 0, len(list))
	for j, item := range list {
		s, ok := item.(string)
		if !ok {
			p.malformed(serverPath(i).Child(names[0], names[1:]...).Index(j), "a string")
			continue
		}
		out = append(out, s)
	}
	return out
}

// portNumber reads a port number: an integer, or one quoted as a string,
// as YAML authors sometimes write it.
func portNumber(v any) (int64, bool) {
	if s, ok := v.(string); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	return jsonvalue.Integer(v)
}

func refOf(obj *unstructured.Unstructured) finding.ObjectRef {
	return finding.ObjectRef{
		APIVersion: obj.GetAPIVersion(),
		Kind:       obj.GetKind(),
		Namespace:  obj.GetNamespace(),
		Name:       obj.GetName(),
	}
}

// tlsProtocolVersions are the names the Gateway CRD's schema allows for
// minProtocolVersion and maxProtocolVersion.
var tlsProtocolVersions = []string{"TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"}

// tlsProtocolVersion reads spec.servers[i].tls.<key>, a TLS version name.
// The CRD's schema is a string enum, so the API server rejects anything
// else, a number Istio's own decoder would take included.
func (p *gatewayParser) tlsProtocolVersion(tls map[string]any, i int, key string) string {
	v, found := tls[key]
	if !found || v == nil {
		return ""
	}
	if s, ok := v.(string); ok && slices.Contains(tlsProtocolVersions, s) {
		return s
	}
	p.findings.Errorf(finding.CodeAPIServerRejects, serverPath(i).Child("tls", key),
		"%s is not a TLS version the Gateway CRD allows, so the API server rejects the Gateway: use one of %s", jsonvalue.Describe(v), strings.Join(tlsProtocolVersions, ", "))
	return ""
}
