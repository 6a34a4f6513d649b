package certs

import (
	"context"
	"slices"
	"strings"

	"github.com/meshcert/meshcert/finding"
)

type portHost struct {
	port int64
	host string
}

type claim struct {
	gateway    *Gateway
	server     int
	credential string
}

// checkConflicts finds servers on the same gateway workload (this Gateway,
// and other Gateways with the same selector) that claim one host on one port
// with different credentials (Istio's IST0145), and credentials shared by
// different Gateways on one workload (IST0138).
func checkConflicts(ctx context.Context, b *finding.Builder, gw *Gateway, credentials [][]string, lookup Lookup) {
	claims := map[portHost]claim{}
	for i, srv := range gw.Servers {
		if !srv.TLS.TerminatesWithCredential() || len(credentials[i]) == 0 {
			continue
		}
		credential := strings.Join(credentials[i], ",")
		for h, host := range srv.Hosts {
			key := portHost{srv.Port.Number, strings.ToLower(DNSNameOf(host))}
			prev, ok := claims[key]
			if !ok {
				claims[key] = claim{gateway: gw, server: srv.Index, credential: credential}
				continue
			}
			if prev.credential != credential {
				hostConflict(b, srv.Index, h, key, "server "+serverPath(prev.server).String(), prev.credential, credential)
			}
		}
	}
	if len(gw.Selector) == 0 || len(claims) == 0 {
		return
	}
	// A Gateway alone on its workload (the common per-team gateway) needs
	// no per-host lookups at all.
	if !slices.ContainsFunc(lookup.GatewaysClaiming(ctx, gw.SelectorKey), func(other *Gateway) bool {
		return other.Namespace != gw.Namespace || other.Name != gw.Name
	}) {
		return
	}
	// Other Gateways on the same workload, found by what they claim, so the
	// cost does not grow with the number of Gateways.
	reported := map[string]bool{}
	for i, creds := range credentials {
		if !gw.Servers[i].TLS.TerminatesWithCredential() {
			continue
		}
		for _, c := range creds {
			if reported[c] {
				continue
			}
			for _, other := range lookup.GatewaysClaiming(ctx, CredentialKey(gw.SelectorKey, c)) {
				if other.Namespace == gw.Namespace && other.Name == gw.Name {
					continue
				}
				reported[c] = true
				b.Addf(finding.SeverityWarning, finding.CodeCredentialSharedAcrossGateways, serverPath(gw.Servers[i].Index).Child("tls", "credentialName"), "credential %q is also used by Gateway %s/%s on the same gateway workload (Istio's IST0138); give each Gateway its own credential", c, other.Namespace, other.Name)
				break
			}
		}
	}
	for key, mine := range claims {
		for _, other := range lookup.GatewaysClaiming(ctx, HostKey(gw.SelectorKey, key.port, key.host)) {
			if other.Namespace == gw.Namespace && other.Name == gw.Name {
				continue
			}
			credential, ok := credentialFor(other, key)
			if !ok || credential == mine.credential {
				continue
			}
			h := slices.IndexFunc(gw.Servers[serverPos(gw, mine.server)].Hosts, func(x string) bool {
				return strings.EqualFold(DNSNameOf(x), key.host)
			})
			hostConflict(b, mine.server, h, key, "Gateway "+other.Namespace+"/"+other.Name, credential, mine.credential)
		}
	}
}

// credentialFor returns the credential a Gateway serves host on port with.
func credentialFor(gw *Gateway, key portHost) (string, bool) {
	for _, srv := range gw.Servers {
		if srv.Port.Number != key.port || !srv.TLS.TerminatesWithCredential() || len(srv.TLS.Credentials()) == 0 {
			continue
		}
		for _, h := range srv.Hosts {
			if strings.EqualFold(DNSNameOf(h), key.host) {
				return strings.Join(srv.TLS.Credentials(), ","), true
			}
		}
	}
	return "", false
}

func serverPos(gw *Gateway, index int) int {
	return slices.IndexFunc(gw.Servers, func(s Server) bool { return s.Index == index })
}

func hostConflict(b *finding.Builder, server, host int, key portHost, other, otherCredential, credential string) {
	p := serverPath(server).Child("hosts")
	if host >= 0 {
		p = p.Index(host)
	}
	b.Errorf(finding.CodeHostConflict, p,
		"host %q on port %d is also claimed by %s with credential %q, while this server uses %q; the gateway can serve only one: use one credential or different hosts",
		key.host, key.port, other, otherCredential, credential)
}
