package certs

import (
	"net/netip"
	"path"
	"strconv"
	"strings"

	"github.com/meshcert/meshcert/finding"
)

// protocolKind is what Istio makes of a server port's protocol
// (istio.io/istio pkg/config/protocol: Parse, IsTLS, IsHTTP).
type protocolKind int

const (
	protocolUnsupported protocolKind = iota
	// protocolTLS: HTTPS and TLS, the ports that terminate or pass TLS.
	protocolTLS
	// protocolHTTP: HTTP, HTTP2, HTTP_PROXY, GRPC and GRPC-WEB, plain text.
	protocolHTTP
	// protocolOther: TCP, UDP, MONGO, REDIS and MYSQL.
	protocolOther
)

// protocols are the port protocols Istio knows, by kind.
var protocols = []struct {
	name string
	kind protocolKind
}{
	{"HTTPS", protocolTLS}, {"TLS", protocolTLS},
	{"HTTP", protocolHTTP}, {"HTTP2", protocolHTTP}, {"HTTP_PROXY", protocolHTTP}, {"GRPC", protocolHTTP}, {"GRPC-WEB", protocolHTTP},
	{"TCP", protocolOther}, {"UDP", protocolOther}, {"MONGO", protocolOther}, {"REDIS", protocolOther}, {"MYSQL", protocolOther},
}

// kindOf reads a port protocol case-insensitively, as Istio does. It runs
// for every server on every admission, so it compares without allocating.
func kindOf(protocol string) protocolKind {
	for _, p := range protocols {
		if strings.EqualFold(protocol, p.name) {
			return p.kind
		}
	}
	return protocolUnsupported
}

// eligible reports whether meshcert can give a server a certificate: it
// terminates TLS with a server certificate read over SDS, on a port where
// Istio serves TLS.
func eligible(s Server) bool {
	return s.TLS.TerminatesWithCredential() && !s.TLS.UsesFiles() && servesTLS(s)
}

// servesTLS reports whether Istio serves TLS on the server's port, so a
// credential there is used: its port is HTTPS or TLS and otherwise valid.
func servesTLS(s Server) bool {
	return kindOf(s.Port.Protocol) == protocolTLS && portProblem(s) == ""
}

// portProblem says why Istio rejects a server's port, or "" (validateServerPort).
func portProblem(s Server) string {
	switch {
	case !s.HasPort:
		return "the server has no port; set port.number, port.name and port.protocol"
	case kindOf(s.Port.Protocol) == protocolUnsupported:
		return strconv.Quote(s.Port.Protocol) + " is not a protocol Istio supports; use HTTPS or TLS to terminate TLS, or HTTP, HTTP2, GRPC, GRPC-WEB, TCP, MONGO, REDIS or MYSQL"
	case (s.Port.Number < 1 || s.Port.Number > 65535) && !onUnixSocketPort0(s):
		return "port number " + strconv.FormatInt(s.Port.Number, 10) + " is not between 1 and 65535"
	case s.Port.Name == "":
		return "the port has no name; Istio requires one, unique within the Gateway"
	}
	return ""
}

// onUnixSocketPort0 reports a server bound to a unix socket with port
// number 0, the one case where Istio takes 0 as a port number.
func onUnixSocketPort0(s Server) bool {
	return s.Port.Number == 0 && strings.HasPrefix(s.Bind, unixPrefix)
}

// unixPrefix starts a bind address that is a unix domain socket.
const unixPrefix = "unix://"

// bindProblem says why Istio rejects a server's bind address, or ""
// (validateServerBind): an IP address, or unix:// with an absolute path (or
// an @abstract name) and port number 0.
func bindProblem(s Server) string {
	if socket, ok := strings.CutPrefix(s.Bind, unixPrefix); ok {
		switch {
		case socket == "":
			return "the unix socket address is empty"
		case !strings.HasPrefix(socket, "@") && (!path.IsAbs(socket) || strings.HasSuffix(socket, "/")):
			return strconv.Quote(socket) + " is not an absolute path to a socket file"
		case s.Port.Number != 0:
			return "a server bound to a unix socket must have port number 0"
		}
		return ""
	}
	if s.Bind != "" {
		if _, err := netip.ParseAddr(s.Bind); err != nil {
			return strconv.Quote(s.Bind) + " is not an IP address or unix://path"
		}
	}
	return ""
}

// checkServerPorts applies Istio's rules that tie a server's port to its
// tls block (validateServer in istio.io/istio pkg/config/validation): an
// HTTPS or TLS port needs tls; a plain-text HTTP port may only carry a
// passthrough tls block (httpsRedirect) without certificate files; other
// ports no tls at all. Port names must be unique within the Gateway.
func checkServerPorts(b *finding.Builder, gw *Gateway) {
	// The first server with a port of each name, to find duplicates in one
	// pass: comparing every server with every earlier one was a twentieth
	// of planning a 100-server Gateway.
	firstWithName := make(map[string]int, len(gw.Servers))
	for i, srv := range gw.Servers {
		earlier, duplicate := firstWithName[srv.Port.Name]
		if _, seen := firstWithName[srv.Port.Name]; srv.HasPort && !seen {
			firstWithName[srv.Port.Name] = i
		}
		if problem := bindProblem(srv); problem != "" {
			b.Errorf(finding.CodeInvalidBind, serverPath(srv.Index).Child("bind"), "%s; Istio rejects the server", problem)
		}
		if srv.Port.TargetPort > 0 {
			b.Errorf(finding.CodeInvalidServerPort, serverPath(srv.Index).Child("port", "targetPort"),
				"targetPort has no effect on a Gateway, and Istio's validation rejects it: remove it (the gateway Service maps its ports to the gateway's)")
		}
		if problem := portProblem(srv); problem != "" {
			b.Errorf(finding.CodeInvalidServerPort, serverPath(srv.Index).Child("port"), "%s", problem)
			continue
		}
		t := srv.TLS
		switch kindOf(srv.Port.Protocol) {
		case protocolTLS:
			if t == nil {
				b.Errorf(finding.CodeTLSServerWithoutTLS, serverPath(srv.Index).Child("port", "protocol"),
					"%s servers need tls settings and Istio rejects this one without; add tls with mode SIMPLE (or PASSTHROUGH)", strings.ToUpper(srv.Port.Protocol))
			}
		case protocolHTTP:
			// validateServer: passthrough only, and none of these files.
			if t != nil && (!t.passesThrough() || t.ServerCertificate != "" || t.PrivateKey != "" || t.CACertificates != "") {
				b.Errorf(finding.CodeTLSOnPlainTextPort, tlsPath(srv.Index),
					"port protocol %s is plain text: Istio rejects tls settings here except httpsRedirect; use protocol HTTPS to terminate TLS, or keep only httpsRedirect", srv.Port.Protocol)
			}
		default:
			if t != nil {
				b.Errorf(finding.CodeTLSOnPlainTextPort, tlsPath(srv.Index),
					"port protocol %s is not HTTPS or TLS, and Istio rejects tls settings on it; use protocol TLS or HTTPS, or remove tls", srv.Port.Protocol)
			}
		}
		if duplicate {
			b.Errorf(finding.CodeDuplicatePortName, serverPath(srv.Index).Child("port", "name"),
				"port name %q is also used by spec.servers[%d]; Istio requires port names to be unique within a Gateway", srv.Port.Name, gw.Servers[earlier].Index)
		}
	}
}
