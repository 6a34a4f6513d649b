package certs

import (
	"iter"
	"slices"
	"strconv"
	"strings"
)

// GatewayClaims returns the keys under which a Gateway is indexed for
// GatewaysClaiming: a HostKey for every host of every server, and a
// CredentialKey for every credential (or certificate file pair) a server
// with tls settings names. Keys leave the selector out, so Gateways with
// different but overlapping selectors meet under one key; the planner then
// compares their selectors.
func GatewayClaims(gw *Gateway) []string {
	var keys []string
	for _, srv := range gw.Servers {
		for _, h := range srv.Hosts {
			keys = append(keys, HostKey(srv.Port.Number, srv.Bind, normalHost(h)))
		}
		for c := range certificateSources(srv.TLS, srv.TLS.Credentials()) {
			keys = append(keys, CredentialKey(c))
		}
	}
	return dedupe(keys)
}

// HostKey is the key of a server serving host (normalHost) on a port and
// bind address: what istiod's merge of the Gateways on one workload keys
// servers by.
func HostKey(port int64, bind, host string) string {
	// One allocation: the builder's buffer becomes the string.
	var b strings.Builder
	b.Grow(len(bind) + len(host) + 24)
	b.WriteString("h\x00")
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], port, 10))
	b.WriteByte(0)
	b.WriteString(bind)
	b.WriteByte(0)
	b.WriteString(host)
	return b.String()
}

// CredentialKey is the key of a certificate source (certificateSources)
// used by a server.
func CredentialKey(source string) string {
	return "c\x00" + source
}

// normalHost is a host as conflicts compare it: the DNS name, lower case,
// without its namespace part, as TLS clients send it in SNI.
func normalHost(host string) string {
	return strings.ToLower(DNSNameOf(host))
}

// certificateSources names where a server with tls settings gets its
// certificate: each credential (a Secret name, without the kubernetes://
// scheme), or its serverCertificate/privateKey file pair. Two servers with
// a source in common serve the same certificate.
func certificateSources(tls *ServerTLS, credentials []string) iter.Seq[string] {
	return func(yield func(string) bool) {
		if tls == nil {
			return
		}
		for _, c := range credentials {
			if name := secretNameOf(c); name != "" && !yield(name) {
				return
			}
		}
		// Istio's IST0138 counts a file pair only when both paths are set.
		if tls.ServerCertificate != "" && tls.PrivateKey != "" {
			yield(filesSource + tls.ServerCertificate + "\x00" + tls.PrivateKey)
		}
	}
}

// filesSource starts the certificate source of a file pair; no Secret name
// contains a colon.
const filesSource = "files:"

// selectorsOverlap reports whether two Gateway selectors may pick the same
// gateway workload: one is a subset of the other (an empty selector is a
// subset of every selector), as istioctl analyze counts them for IST0138
// and IST0145.
func selectorsOverlap(a, b map[string]string) bool {
	return selectorSubset(a, b) || selectorSubset(b, a)
}

// selectorSubset reports whether every label of a is in b with its value:
// labels.SelectorFromSet(a).Matches(labels.Set(b)), without building a
// selector for every Gateway a conflict check compares.
func selectorSubset(a, b map[string]string) bool {
	if len(a) > len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func dedupe(keys []string) []string {
	slices.Sort(keys)
	return slices.Compact(keys)
}
