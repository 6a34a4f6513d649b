package certs

import (
	"slices"
	"strconv"
	"strings"
)

// GatewayClaims returns the keys under which a Gateway is indexed for
// GatewaysClaiming: its SelectorKey (every Gateway on the workload), a
// HostKey per host of each server that terminates TLS with a credential,
// and a CredentialKey per credential.
func GatewayClaims(gw *Gateway) []string {
	var keys []string
	if len(gw.Selector) > 0 {
		keys = append(keys, gw.SelectorKey)
	}
	for _, srv := range gw.Servers {
		if !srv.TLS.TerminatesWithCredential() {
			continue
		}
		creds := srv.TLS.Credentials()
		for _, c := range creds {
			keys = append(keys, CredentialKey(gw.SelectorKey, c))
		}
		if len(creds) == 0 {
			continue
		}
		for _, h := range srv.Hosts {
			keys = append(keys, HostKey(gw.SelectorKey, srv.Port.Number, strings.ToLower(DNSNameOf(h))))
		}
	}
	return dedupe(keys)
}

// HostKey is the key of a host claim on a workload: selectorKey is the
// Gateway's SelectorKey, host lower case without its namespace part.
func HostKey(selectorKey string, port int64, host string) string {
	// One allocation: the builder's buffer becomes the string.
	var b strings.Builder
	b.Grow(len(selectorKey) + len(host) + 22)
	b.WriteString(selectorKey)
	b.WriteByte('|')
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], port, 10))
	b.WriteByte('|')
	b.WriteString(host)
	return b.String()
}

// CredentialKey is the key of a credential used on a workload.
func CredentialKey(selectorKey, credential string) string {
	return selectorKey + "|cred|" + credential
}

func dedupe(keys []string) []string {
	slices.Sort(keys)
	return slices.Compact(keys)
}
