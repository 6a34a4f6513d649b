package certs

import (
	"context"
	"slices"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// Whose Secret it is. cert-manager writes a Certificate's Secret whether or
// not someone else made it, so a Certificate meshcert plans for Secret S in
// namespace N overwrites whatever S was. meshcert therefore plans one only
// when S is this Gateway's to write (docs/security.md):
//   - no Certificate but this Gateway's writes S (certificateFor);
//   - no other Gateway that named S first serves it (otherServers);
//   - where the lookup sees Secrets (the CLI's input), S does not exist
//     without a Certificate behind it (unownedSecret);
//   - in a namespace other than the Gateway's own, S is a name meshcert
//     derives for this Gateway (CredentialName), or one its Certificate
//     already writes (namePart). The server cannot see Secrets there, and
//     a derived name carries the Gateway's namespace and a hash of its
//     identity, so no other team's Secret has it by chance.

// secretServer is another Gateway that serves a Secret.
type secretServer struct {
	gateway *Gateway
	first   bool // it named the Secret before the Gateway being planned
}

// otherServers returns the Gateways other than gw that serve Secret ns/name
// to a gateway workload in ns, however they spell the reference.
func otherServers(ctx context.Context, gw *Gateway, ns, name string, lookup Lookup, opts Options) []secretServer {
	var out []secretServer
	for _, other := range lookup.GatewaysClaiming(ctx, CredentialKey(name)) {
		if sameGateway(gw, other) || !servesSecret(ctx, other, ns, name, lookup, opts, false) {
			continue
		}
		out = append(out, secretServer{gateway: other, first: claimedFirst(other, gw, gw.addsSecret(ns, name))})
	}
	return out
}

// IstioGatewaysServing returns the Istio Gateways whose gateway workloads
// in ns get Secret ns/name from istiod for one of their servers, however
// they spell the reference: who else a Gateway API listener naming that
// Secret would share a key with.
func IstioGatewaysServing(ctx context.Context, ns, name string, lookup Lookup, opts Options) []*Gateway {
	var out []*Gateway
	for _, gw := range lookup.GatewaysClaiming(ctx, CredentialKey(name)) {
		if servesSecret(ctx, gw, ns, name, lookup, opts, false) {
			out = append(out, gw)
		}
	}
	return out
}

// servesSecret reports whether gw's workloads in ns get Secret ns/name from
// istiod for one of gw's servers; with passthrough, a passthrough server
// naming it counts too, as istioctl's IST0138 counts it.
func servesSecret(ctx context.Context, gw *Gateway, ns, name string, lookup Lookup, opts Options, passthrough bool) bool {
	var discard finding.Builder
	namespaces := credentialNamespaces(ctx, &discard, gw, besideOf(ctx, lookup, gw).Namespaces, lookup, opts)
	if !slices.Contains(namespaces, ns) {
		return false
	}
	return slices.ContainsFunc(gw.Servers, func(srv Server) bool {
		if srv.TLS == nil || !passthrough && srv.TLS.passesThrough() {
			return false
		}
		return readsSecret(srv.TLS, srv.TLS.Credentials(), ns, gw.Namespace, name)
	})
}

// certificateClaimedFirst reports whether the Certificate crt existed before
// gw: gw is then the newcomer. An admission CREATE (gw not stored yet), or
// an UPDATE that makes gw read the Certificate's Secret, is always the
// newcomer.
func certificateClaimedFirst(crt *cmapi.Certificate, gw *Gateway) bool {
	created := crt.CreationTimestamp.Time
	switch {
	case gw.Created.IsZero() || gw.addsSecret(crt.Namespace, crt.Spec.SecretName):
		return true
	case created.IsZero():
		return false
	}
	return !gw.Created.Before(created.Truncate(time.Second))
}

// unownedSecret reports a Secret the lookup shows in ns with no Certificate
// behind it: made by hand, or by another tool. A Secret cert-manager wrote
// for the Certificate meshcert would create (its certificate-name
// annotation) is meshcert's to write again.
func unownedSecret(ctx context.Context, ns, name string, lookup Lookup) bool {
	exists, known := lookup.SecretExists(ctx, ns, name)
	if !known || !exists || len(lookup.CertificatesForSecret(ctx, ns, name)) > 0 {
		return false
	}
	if secret, ok := lookup.Secret(ctx, ns, name); ok && secret.Annotations[cmapi.CertificateNameKey] == name {
		return false
	}
	return true
}

// inNamePart reports whether meshcert may write Secret name for the
// Gateway in ns, a namespace other than the Gateway's own: name is what
// meshcert derives for one of its servers, or a Certificate meshcert made
// for the Gateway already writes it.
func inNamePart(ctx context.Context, own *owner, ns, name string, lookup Lookup) bool {
	gw := own.gateway
	if ns == gw.Namespace || own.derivedNames()[name] {
		return true
	}
	for _, crt := range lookup.CertificatesForSecret(ctx, ns, name) {
		if OwnedBy(crt, gw.Namespace, gw.Name) {
			return true
		}
	}
	return false
}

// mayWriteSecret applies the rules above for a Certificate gw would own in
// ns writing Secret name for servers, reporting why not on b.
func mayWriteSecret(ctx context.Context, b *finding.Builder, own *owner, servers []Server, ns, name string, path *field.Path, lookup Lookup, opts Options) bool {
	gw := own.gateway
	// A name meshcert derives for this Gateway carries a hash of its
	// namespace, name and server: whoever else serves it copied it, and is
	// the one told (hijacks), whatever the timestamps say.
	for _, s := range otherServers(ctx, gw, ns, name, lookup, opts) {
		// Derived names are built only when another Gateway serves the
		// Secret: hashing one per server cost a 100-server review 7%.
		if !s.first || own.derivedNames()[name] {
			continue
		}
		other := s.gateway
		if other.Namespace != gw.Namespace {
			b.Errorf(finding.CodeCredentialHijack, path,
				"Secret %q in %q is served by Gateway %s/%s of another namespace, which named it first; meshcert writes no Secret another team serves: remove this credentialName so meshcert makes this server its own, or use a credential of yours",
				name, ns, other.Namespace, other.Name)
			return false
		}
		b.Warningf(finding.CodeSecretNotOwned, path,
			"Secret %q in %q is served by Gateway %s/%s, which named it first, so meshcert does not write it and creates no Certificate; remove this credentialName so meshcert makes this server its own, or share that Gateway's certificate knowingly",
			name, ns, other.Namespace, other.Name)
		return false
	}
	if unownedSecret(ctx, ns, name, lookup) {
		b.Warningf(finding.CodeSecretNotOwned, path,
			"Secret %q already exists in %q and no Certificate writes it, so meshcert does not overwrite it and creates no Certificate; remove this credentialName so meshcert injects a name of its own, or delete the Secret if it is unused",
			name, ns)
		return false
	}
	if !inNamePart(ctx, own, ns, name, lookup) {
		b.Errorf(finding.CodeSecretOutsideNamePart, path,
			"Secret %q would be written in %q, a namespace other than this Gateway's, where meshcert cannot see whose Secrets exist; there it writes only names it derives for the Gateway: remove this credentialName so meshcert injects %q, or create the Certificate yourself",
			name, ns, derivedCredential(gw, servers[0].Index))
		return false
	}
	return true
}

// derivedNames are the credentialNames meshcert derives for the servers of
// the Gateway: by server key and position, as injected, and by server key
// alone, which a server had before another of its key was added. Built
// once per plan, on first use.
func (o *owner) derivedNames() map[string]bool {
	if o.derived != nil {
		return o.derived
	}
	gw := o.gateway
	base, derived := derivedKeys(gw.Servers)
	o.derived = make(map[string]bool, 2*len(base))
	for i, key := range base {
		o.derived[CredentialName(gw.Namespace, gw.Name, key)] = true
		if derived[i] != key {
			o.derived[CredentialName(gw.Namespace, gw.Name, derived[i])] = true
		}
	}
	return o.derived
}

// derivedCredential is the credentialName meshcert injects into the server
// at that spec index when it has none.
func derivedCredential(gw *Gateway, index int) string {
	_, keys := derivedKeys(gw.Servers)
	for i, srv := range gw.Servers {
		if srv.Index == index {
			return CredentialName(gw.Namespace, gw.Name, keys[i])
		}
	}
	// Not reached: callers pass the index of one of gw's servers.
	return ""
}
