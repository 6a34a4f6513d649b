package certs

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// listenerHost is what istiod's merge of the Gateways on one workload
// (pilot's mergeGateways) keys servers by: a host, on a port and bind.
type listenerHost struct {
	port int64
	bind string
	host string
}

func (k listenerHost) key() string { return HostKey(k.port, k.bind, k.host) }

// served is a server serving a listenerHost.
type served struct {
	server int
	hostAt int
	tls    bool
	// credential is what the server reads, comma-joined, or "".
	credential string
}

// checkConflicts finds what istiod cannot serve when it merges the Gateways
// on one gateway workload, and what istioctl analyze reports about it:
//   - one host on one port and bind in two servers with tls settings,
//     in this Gateway or another: istiod skips one server (MC3003);
//   - one host on one port and bind in another Gateway otherwise (MC3004,
//     Istio's IST0145);
//   - one credential used by another Gateway (MC4003, Istio's IST0138).
//
// Gateway API listeners istiod merges with gw (beside) count as servers of
// other Gateways, by their own namespace and creationTimestamp.
//
// Gateways are on one workload when their selectors overlap
// (selectorsOverlap). Other Gateways are found by what they claim
// (GatewayClaims), so the cost does not grow with the number of Gateways.
//
// A host another namespace's Gateway claimed first on the same workload,
// port and bind is a host hijack (MC8002) instead; checkConflicts returns
// those hosts, so the plan makes no certificate for them.
func checkConflicts(ctx context.Context, b *finding.Builder, gw *Gateway, wl workloadsOf, beside Beside, credentials [][]string, namespaces []string, lookup Lookup, opts Options) (hijacked map[string]bool) {
	hosts := 0
	for _, srv := range gw.Servers {
		hosts += len(srv.Hosts)
	}
	mine := make(map[listenerHost]served, hosts)
	// Keys in server order, so findings come out in a stable order.
	order := make([]listenerHost, 0, hosts)
	for i, srv := range gw.Servers {
		this := served{server: srv.Index, tls: srv.TLS != nil, credential: strings.Join(credentials[i], ",")}
		for h, host := range srv.Hosts {
			key := listenerHost{srv.Port.Number, srv.Bind, normalHost(host)}
			this.hostAt = h
			prev, ok := mine[key]
			if !ok {
				mine[key] = this
				order = append(order, key)
				continue
			}
			// Within one Gateway, plain-text servers of one host merge;
			// servers with tls settings become SNI filter chains, which
			// must be unique.
			if prev.server != this.server && prev.tls && this.tls {
				hostConflict(b, this, key, "server "+serverPath(prev.server).String(), prev.credential)
			}
		}
	}
	if len(beside.Apart) > 0 {
		b.Warningf(finding.CodeNotMergedOntoGateway, specPath.Child("selector"),
			"this selector picks the Pods of the gateway istiod deploys for Gateway API Gateway %s, onto which istiod merges only the Istio Gateways of the namespaces of that Gateway and of its ListenerSets (PILOT_ENABLE_STRICT_GATEWAY_MERGING, on by default), so none of this Gateway's servers is served there: serve the hosts from a listener of that Gateway, or from a ListenerSet of this namespace attached to it",
			nameList(beside.Apart))
	}
	for _, key := range order {
		this := mine[key]
		var skipped, merged, owners, listeners []string
		for _, l := range beside.Listeners {
			if l.Port != key.port || key.bind != "" || l.Host != key.host || !this.tls {
				continue
			}
			name := l.Kind + " " + l.Namespace + "/" + l.Name + " (listener " + strconv.Quote(l.Listener) + ")"
			if l.Kind == "Gateway" {
				name = "Gateway API " + name
			}
			if key.host != "*" && l.Namespace != gw.Namespace && claimedBefore(l.Created, l.Namespace, l.Name, gw, gw.addsHost(key)) {
				owners = append(owners, name)
				continue
			}
			listeners = append(listeners, name)
		}
		for _, other := range lookup.GatewaysClaiming(ctx, key.key()) {
			if sameGateway(gw, other) || !wl.shares(other.Selector) {
				continue
			}
			theirs, ok := servedBy(other, key)
			switch {
			case !ok:
			case key.host != "*" && other.Namespace != gw.Namespace && claimedFirst(other, gw, gw.addsHost(key)):
				// "*" names no host: it is the catch-all Istio's samples
				// (bookinfo, httpbin) each put on port 80 side by side.
				owners = append(owners, "Gateway "+other.Namespace+"/"+other.Name)
			case this.tls && theirs.tls:
				name := "Gateway " + other.Namespace + "/" + other.Name
				if theirs.credential != "" {
					name += " (credential " + strconv.Quote(theirs.credential) + ")"
				}
				skipped = append(skipped, name)
			default:
				merged = append(merged, "Gateway "+other.Namespace+"/"+other.Name)
			}
		}
		if len(owners) > 0 {
			if hijacked == nil {
				hijacked = map[string]bool{}
			}
			hijacked[key.host] = true
			b.Errorf(finding.CodeHostHijack, hostPath(this),
				"host %q on port %d%s is served on the same gateway workload by %s of another namespace, which claimed it first; a Gateway may not take a host from another namespace, and meshcert makes no certificate for it: use another host, or agree with its owner to move it",
				key.host, key.port, bindText(key.bind), nameList(owners))
		}
		if len(skipped) > 0 {
			b.Errorf(finding.CodeHostConflict, hostPath(this),
				"host %q on port %d%s is also served with tls settings by %s; istiod keeps one server for it and skips the others: serve each host from one server per port, or bind them to different addresses",
				key.host, key.port, bindText(key.bind), nameList(skipped))
		}
		if len(listeners) > 0 {
			b.Errorf(finding.CodeHostConflict, hostPath(this),
				"host %q on port %d is also served with tls settings by %s, which istiod merges onto this Gateway's workload; it cannot serve both: it skips one server, or, where the two spell the host differently (a listener's is namespace/host), sends two identical SNI matches that the gateway's Envoy rejects: serve the host from one of them",
				key.host, key.port, nameList(listeners))
		}
		if len(merged) > 0 {
			b.Warningf(finding.CodeHostSharedAcrossGateways, hostPath(this),
				"host %q on port %d%s is also served by %s on the same gateway workload (Istio's IST0145); istiod merges them into one listener, where the routes bound to each Gateway compete for the host: serve it from one Gateway",
				key.host, key.port, bindText(key.bind), nameList(merged))
		}
	}
	checkSharedCredentials(ctx, b, gw, wl, credentials, namespaces, lookup, opts)
	return hijacked
}

// claimedFirst reports whether other claimed a host or credential before
// gw: it was stored earlier, or gw is not stored yet (an admission CREATE),
// or gw claims it only now (claimedNow: an admission UPDATE adding it).
// When neither is stored (files in CI) both count as first, so both are
// told. The order is istiod's (configCompareByCreationTime), which decides
// whose server it keeps: creation time, then name, then namespace.
func claimedFirst(other, gw *Gateway, claimedNow bool) bool {
	return claimedBefore(other.Created, other.Namespace, other.Name, gw, claimedNow)
}

// claimedBefore is claimedFirst for an object created at created: an Istio
// Gateway, or a Gateway API object whose listeners istiod merges with gw.
func claimedBefore(created time.Time, namespace, name string, gw *Gateway, claimedNow bool) bool {
	switch {
	case gw.Created.IsZero() || claimedNow:
		return true
	case created.IsZero():
		return false
	case created.Equal(gw.Created):
		// Timestamps have a one-second resolution.
		if name != gw.Name {
			return name < gw.Name
		}
		return namespace < gw.Namespace
	}
	return created.Before(gw.Created)
}

// addsHost reports whether an admission UPDATE of gw adds the host on its
// port and bind: the stored Gateway did not serve it.
func (gw *Gateway) addsHost(key listenerHost) bool {
	if gw.Previous == nil {
		return false
	}
	_, served := servedBy(gw.Previous, key)
	return !served
}

// addsSecret reports whether an admission UPDATE of gw makes it read
// Secret ns/name, which the stored Gateway did not.
func (gw *Gateway) addsSecret(ns, name string) bool {
	if gw.Previous == nil {
		return false
	}
	return !slices.ContainsFunc(gw.Previous.Servers, func(srv Server) bool {
		return readsSecret(srv.TLS, srv.TLS.Credentials(), ns, gw.Previous.Namespace, name)
	})
}

// checkSharedCredentials reports a credential (or file pair) that other
// Gateways on the same workload use too (IST0138), once per credential,
// naming them all.
func checkSharedCredentials(ctx context.Context, b *finding.Builder, gw *Gateway, wl workloadsOf, credentials [][]string, namespaces []string, lookup Lookup, opts Options) {
	reported := map[string]bool{}
	for i, srv := range gw.Servers {
		for source := range certificateSources(srv.TLS, credentials[i]) {
			if reported[source] {
				continue
			}
			reported[source] = true
			var others []string
			for _, other := range lookup.GatewaysClaiming(ctx, CredentialKey(source)) {
				if sameGateway(gw, other) || !wl.shares(other.Selector) {
					continue
				}
				// The key is the Secret's name; the other Gateway shares it
				// only when istiod reads the same Secret for both.
				if !strings.HasPrefix(source, filesSource) && !slices.ContainsFunc(namespaces, func(ns string) bool {
					return readsSecret(srv.TLS, credentials[i], ns, gw.Namespace, source) &&
						servesSecret(ctx, other, ns, source, lookup, opts, true)
				}) {
					continue
				}
				others = append(others, "Gateway "+other.Namespace+"/"+other.Name)
			}
			if len(others) == 0 {
				continue
			}
			path, what := tlsPath(srv.Index, "credentialName"), "credential "+strconv.Quote(source)
			switch {
			case len(srv.TLS.CredentialNames) > 0:
				path = tlsPath(srv.Index, "credentialNames")
			case strings.HasPrefix(source, filesSource):
				path, what = tlsPath(srv.Index, "serverCertificate"), "certificate file "+strconv.Quote(srv.TLS.ServerCertificate)
			}
			b.Warningf(finding.CodeCredentialSharedAcrossGateways, path,
				"%s is also used by %s on the same gateway workload (Istio's IST0138); give each Gateway its own credential",
				what, nameList(others))
		}
	}
}

// readsSecret reports whether a server reading credentials gets Secret
// ns/name from istiod.
func readsSecret(tls *ServerTLS, credentials []string, ns, gatewayNamespace, name string) bool {
	if tls == nil {
		return false
	}
	return slices.ContainsFunc(credentials, func(c string) bool {
		ref := ResolveCredential(c, ns, gatewayNamespace)
		// A passthrough server's credential is never served; IST0138
		// counts it by the Secret it names.
		return ref.IsSecret() && (ref.Served || tls.passesThrough()) && ref.Namespace == ns && ref.Name == name
	})
}

// servedBy finds the server of another Gateway serving key.
func servedBy(gw *Gateway, key listenerHost) (served, bool) {
	for _, srv := range gw.Servers {
		if srv.Port.Number != key.port || srv.Bind != key.bind {
			continue
		}
		if h := slices.IndexFunc(srv.Hosts, func(x string) bool { return normalHost(x) == key.host }); h >= 0 {
			return served{server: srv.Index, hostAt: h, tls: srv.TLS != nil, credential: strings.Join(srv.TLS.Credentials(), ",")}, true
		}
	}
	return served{}, false
}

// maxNamed is how many other Gateways a finding names; a host claimed by
// hundreds of Gateways needs one finding, not a list of all of them.
const maxNamed = 5

// nameList joins names, sorted, naming at most maxNamed of them.
func nameList(names []string) string {
	slices.Sort(names)
	if len(names) <= maxNamed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxNamed], ", ") + " and " + strconv.Itoa(len(names)-maxNamed) + " more"
}

// hostPath is spec.servers[i].hosts[j] of a served host, built only for a
// finding.
func hostPath(this served) *field.Path {
	return serverPath(this.server).Child("hosts").Index(this.hostAt)
}

func sameGateway(a, b *Gateway) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name
}

func bindText(bind string) string {
	if bind == "" {
		return ""
	}
	return " (bind " + bind + ")"
}

// hostConflict reports this server's host, which istiod cannot serve twice.
func hostConflict(b *finding.Builder, this served, key listenerHost, other, otherCredential string) {
	p := hostPath(this)
	if this.credential != "" && otherCredential != "" && this.credential != otherCredential {
		b.Errorf(finding.CodeHostConflict, p,
			"host %q on port %d%s is also served by %s with credential %q, while this server uses %q; the gateway can serve only one: use one credential or different hosts",
			key.host, key.port, bindText(key.bind), other, otherCredential, this.credential)
		return
	}
	b.Errorf(finding.CodeHostConflict, p,
		"host %q on port %d%s is also served with tls settings by %s; istiod keeps one of the two servers and skips the other: serve each host once per port, or bind them to different addresses",
		key.host, key.port, bindText(key.bind), other)
}
