// Package meshca decides what istiod's CA Secret holds: the intermediate
// cert-manager issued, and the roots istiod trusts and hands out. It is the
// root rotation as a pure state machine: what the cluster holds now in,
// what to write next out. Nothing here talks to a cluster; the controller
// reads the state, calls Plan and writes what it says, so a restart of
// meshcert resumes from what the cluster holds.
//
// Why the Secret is composed rather than written by cert-manager: istiod
// reloads its CA from the mounted cacerts files and refuses a new root file
// unless it is a subset or a superset of the one it runs with
// (pilot/pkg/bootstrap/istio_ca.go handleEvent, pemBundleHasSubsetRelation,
// with ISTIO_MULTIROOT_MESH on). cert-manager writes one root in ca.crt, so a
// new issuer's Secret replaces the root in one step, which istiod ignores.
// meshcert writes istiod's root file instead, only ever by pure additions or
// pure removals, and only once istiod has loaded the previous one.
package meshca

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshcert/meshcert/certs"
)

// Names and keys of what meshcert writes for istiod's CA.
const (
	// CACertsSecret is the Secret istiod loads its CA from (tls.crt,
	// tls.key and ca.crt, the layout istiod detects first).
	CACertsSecret = "cacerts"
	// IssuedSecret is where cert-manager writes the Certificate cacerts.
	IssuedSecret = "cacerts-issued"
	// IstioRootConfigMap is where istiod publishes the root file it runs
	// with, verbatim, in every namespace (key IstioRootKey).
	IstioRootConfigMap = "istio-ca-root-cert"
	IstioRootKey       = "root-cert.pem"

	// AnnotationPhase on cacerts is the rotation's step; absent when none
	// runs.
	AnnotationPhase = "meshcert.io/root-rotation"
	// AnnotationRetiringRoot is the SHA-256 of the root being rotated away
	// from, while workloads may still hold certificates chaining to it.
	AnnotationRetiringRoot = "meshcert.io/retiring-root"
	// AnnotationSwitched is when istiod was first seen signing with the new
	// intermediate (RFC 3339): the drain is counted from it.
	AnnotationSwitched = "meshcert.io/root-rotation-switched"

	// PublishedConfigMapPrefix starts the name of the ConfigMap each
	// cluster publishes for its peers: <prefix>-<cluster>.
	PublishedConfigMapPrefix = "meshcert-mesh-ca"
	// LabelMeshCA marks published ConfigMaps; its value is the cluster.
	// Copies of peers' ConfigMaps keep it, which is how meshcert tells them.
	LabelMeshCA = "meshcert.io/mesh-ca"
	// PublishedRootsKey holds the roots this cluster's workload
	// certificates chain to or soon will: what its peers must trust. It is
	// ca.crt so the ConfigMap is also a trust bundle.
	PublishedRootsKey = "ca.crt"
	// PublishedTrustedKey holds the roots this cluster's istiod hands out
	// now (its published root file): what peers wait for.
	PublishedTrustedKey = "trusted.pem"
	// PublishedStepKey and PublishedWaitingKey say where this cluster's
	// rotation is and what it waits for, for whoever reads the ConfigMap.
	PublishedStepKey    = "step"
	PublishedWaitingKey = "waiting"
)

// StepName names a phase for people and metrics: steady, trusting or
// switching.
func StepName(p Phase) string {
	if p == Steady {
		return "steady"
	}
	return string(p)
}

// Phase is a step of a root rotation.
type Phase string

const (
	// Steady: istiod signs with the issued intermediate; no rotation.
	Steady Phase = ""
	// Trusting: a new root was issued. istiod keeps signing with the old
	// intermediate and trusts both roots; peers are asked to trust the new
	// one. It ends when istiod and every peer trust the new root.
	Trusting Phase = "trusting"
	// Switching: istiod signs with the new intermediate and still trusts
	// the old root, until every workload certificate signed before the
	// switch has expired.
	Switching Phase = "switching"
)

// Material is a CA read from a Secret: the chain (intermediate first), its
// key and the roots of its ca.crt.
type Material struct {
	Chain, Key []byte
	Roots      []certs.TrustAnchor
}

// Current is istiod's Secret cacerts as it is.
type Current struct {
	Material
	// RootFile is its ca.crt, verbatim: istiod's root file.
	RootFile []byte
	Phase    Phase
	// Retiring is the fingerprint of the root rotated away from.
	Retiring string
	// Switched is when istiod was seen loading the switch; zero before.
	Switched time.Time
}

// Peer is what another cluster published.
type Peer struct {
	Cluster string
	// Roots are those its workloads' certificates chain to; Trusted those
	// its istiod hands out.
	Roots, Trusted []certs.TrustAnchor
}

// Observed is what the controller read.
type Observed struct {
	Now time.Time
	// Issued is the Secret cert-manager wrote; nil before it has.
	Issued *Material
	// Current is Secret cacerts; nil when it does not exist.
	Current *Current
	// Loaded is the root file istiod publishes (IstioRootConfigMap in its
	// namespace); LoadedFound is false when there is none, that is, no
	// istiod runs there yet.
	Loaded      []byte
	LoadedFound bool
	Peers       []Peer
	// Drain is the longest a workload certificate lives.
	Drain time.Duration
}

// Contents is what Secret cacerts must hold.
type Contents struct {
	Chain, Key, RootFile []byte
	Phase                Phase
	Retiring             string
	Switched             time.Time
}

// Decision is what to do next.
type Decision struct {
	// Write is what Secret cacerts must hold; nil leaves it as it is.
	Write *Contents
	// Phase is the rotation's step once Write is written.
	Phase Phase
	// Roots are what this cluster's peers must trust for it (published),
	// signing root first.
	Roots []certs.TrustAnchor
	// Waiting says what the rotation waits for, empty when it waits for
	// nothing.
	Waiting string
	// Problem says why meshcert cannot go on, empty when it can.
	Problem string
	// RecheckAfter is when to look again even if nothing changes; zero
	// means only on change.
	RecheckAfter time.Duration
}

// Poll is how often a running rotation looks at what it waits for.
const Poll = 5 * time.Second

// Plan decides what Secret cacerts holds next. After a write, and while a
// rotation runs, it asks to be called again soon: istiod's reload, a
// peer's trust and the drain show only by looking.
func Plan(o Observed) Decision {
	d := plan(o)
	if (d.Write != nil || d.Phase != Steady) && d.RecheckAfter == 0 {
		d.RecheckAfter = Poll
	}
	return d
}

func plan(o Observed) Decision {
	if o.Issued == nil {
		if o.Current == nil {
			return Decision{Waiting: "cert-manager to issue the Certificate " + CACertsSecret}
		}
		return Decision{Phase: o.Current.Phase, Roots: ownRoots(o.Current, signingRoot(o.Current.Material)), Waiting: "cert-manager to issue the Certificate " + CACertsSecret}
	}
	issuedRoot := signingRoot(*o.Issued)
	if issuedRoot == nil {
		return Decision{Problem: "the intermediate cert-manager issued chains to none of the roots in its ca.crt, so meshcert cannot tell which root istiod would hand out: use an issuer that writes its root to ca.crt"}
	}
	if o.Current == nil {
		return Decision{Write: compose(*o.Issued, *issuedRoot, nil, o.Peers, Steady, "", time.Time{}), Roots: []certs.TrustAnchor{*issuedRoot}}
	}
	cur := o.Current
	currentRoot := signingRoot(cur.Material)
	if currentRoot == nil {
		// A Secret meshcert did not compose (cert-manager's, from before
		// meshcert composed it) that does not chain: start over from what
		// was issued, as cert-manager would have written it.
		return Decision{Write: compose(*o.Issued, *issuedRoot, nil, o.Peers, Steady, "", time.Time{}), Roots: []certs.TrustAnchor{*issuedRoot}}
	}
	loaded := !o.LoadedFound || bytes.Equal(o.Loaded, cur.RootFile)
	sameRoot := issuedRoot.Fingerprint == currentRoot.Fingerprint

	switch {
	case cur.Phase == Switching:
		return planSwitching(o, cur, *currentRoot, loaded, sameRoot)
	case sameRoot:
		// Steady (or a rotation back to the root in use, before the
		// switch): sign with what was issued, trust the signing root.
		d := settle(o, cur, compose(*o.Issued, *issuedRoot, nil, o.Peers, Steady, "", time.Time{}), loaded)
		d.Roots = []certs.TrustAnchor{*issuedRoot}
		return d
	default:
		return planTrusting(o, cur, *currentRoot, *issuedRoot, loaded)
	}
}

// planTrusting keeps signing with the current intermediate, trusts the new
// root beside it, and switches once istiod and every peer trust it.
func planTrusting(o Observed, cur *Current, currentRoot, newRoot certs.TrustAnchor, loaded bool) Decision {
	own := []certs.TrustAnchor{currentRoot, newRoot}
	want := compose(cur.Material, currentRoot, []certs.TrustAnchor{newRoot}, o.Peers, Trusting, "", time.Time{})
	d := settle(o, cur, want, loaded)
	d.Roots = own
	if d.Write != nil || d.Waiting != "" {
		return d
	}
	if !loaded {
		d.Waiting, d.RecheckAfter = "istiod to load the roots meshcert wrote to cacerts", Poll
		return d
	}
	if missing := peersMissing(o.Peers, newRoot); len(missing) > 0 {
		d.Waiting = fmt.Sprintf("peer clusters %s to trust the new root %s", strings.Join(missing, ", "), short(newRoot.Fingerprint))
		d.RecheckAfter = Poll
		return d
	}
	// Switch: the new intermediate signs; the old root stays trusted while
	// certificates it signed live. The signing root goes first, so the
	// root file's bytes change and istiod's reload of it shows.
	switched := compose(*o.Issued, newRoot, []certs.TrustAnchor{currentRoot}, o.Peers, Switching, currentRoot.Fingerprint, time.Time{})
	d = Decision{Write: switched, Phase: Switching, Roots: []certs.TrustAnchor{newRoot, currentRoot}, RecheckAfter: Poll}
	if o.LoadedFound {
		d.Waiting = "istiod to load the new intermediate"
	}
	return d
}

// planSwitching drains: the new intermediate signs, the retiring root
// stays trusted until every certificate signed before istiod loaded the
// switch has expired, then it goes.
func planSwitching(o Observed, cur *Current, signing certs.TrustAnchor, loaded, sameRoot bool) Decision {
	retiring, ok := rootByFingerprint(cur.Roots, cur.Retiring)
	material := cur.Material
	if sameRoot {
		material = *o.Issued // a renewal of the new intermediate
	}
	if !ok {
		// The retiring root is gone from the file already: done.
		d := settle(o, cur, compose(material, signing, nil, o.Peers, Steady, "", time.Time{}), loaded)
		d.Roots = []certs.TrustAnchor{signing}
		return d
	}
	own := []certs.TrustAnchor{signing, retiring}
	switched := cur.Switched
	if switched.IsZero() && loaded && o.LoadedFound {
		switched = o.Now
	}
	if switched.IsZero() && !o.LoadedFound {
		switched = o.Now // no istiod runs: nothing signed before the switch
	}
	want := compose(material, signing, []certs.TrustAnchor{retiring}, o.Peers, Switching, retiring.Fingerprint, switched)
	d := settle(o, cur, want, loaded)
	d.Roots = own
	if d.Write != nil || d.Waiting != "" {
		if d.Waiting == "" && switched.IsZero() {
			d.Waiting = "istiod to load the new intermediate"
		}
		return d
	}
	if switched.IsZero() {
		d.Waiting, d.RecheckAfter = "istiod to load the new intermediate", Poll
		return d
	}
	if left := switched.Add(o.Drain).Sub(o.Now); left > 0 {
		d.Waiting = "the workload certificates signed before the switch to expire, at " + switched.Add(o.Drain).UTC().Format(time.RFC3339)
		d.RecheckAfter = min(left, time.Minute)
		return d
	}
	// With another root issued meanwhile, material is still the current
	// intermediate: that rotation starts once this one ends.
	done := compose(material, signing, nil, o.Peers, Steady, "", time.Time{})
	return Decision{Write: done, Phase: Steady, Roots: []certs.TrustAnchor{signing}, RecheckAfter: Poll}
}

// settle returns want as the Decision when the Secret must change and istiod
// lets it, and a wait otherwise: a root file that is neither a subset nor a
// superset of the current one is first widened to their union, and no root
// file changes before istiod has loaded the current one.
func settle(o Observed, cur *Current, want *Contents, loaded bool) Decision {
	d := Decision{Phase: cur.Phase}
	if sameContents(cur, want) {
		return d
	}
	if bytes.Equal(cur.RootFile, want.RootFile) {
		d.Write, d.Phase = want, want.Phase
		return d
	}
	if !loaded {
		d.Waiting, d.RecheckAfter = "istiod to load the roots meshcert wrote to cacerts", Poll
		return d
	}
	have, _ := certs.ParseTrustAnchors(cur.RootFile, o.Now)
	next, _ := certs.ParseTrustAnchors(want.RootFile, o.Now)
	if subsetOrSuperset(fingerprints(have), fingerprints(next)) {
		d.Write, d.Phase = want, want.Phase
		return d
	}
	// Widen first: everything trusted now and next. The material and
	// phase stay as they are until the narrowing write.
	union := *want
	union.Chain, union.Key, union.Phase, union.Retiring, union.Switched = cur.Chain, cur.Key, cur.Phase, cur.Retiring, cur.Switched
	union.RootFile = orderedRootFile(next[0], append(next[1:], have...))
	d.Write = &union
	d.Waiting, d.RecheckAfter = "istiod to load the widened roots", Poll
	return d
}

// compose builds the Secret's contents: the material's chain and key, and
// the root file: signing first, then the other roots it must trust and its
// peers', by fingerprint.
func compose(m Material, signing certs.TrustAnchor, others []certs.TrustAnchor, peers []Peer, phase Phase, retiring string, switched time.Time) *Contents {
	rest := slices.Clone(others)
	for _, p := range peers {
		rest = append(rest, p.Roots...)
	}
	return &Contents{
		Chain:    m.Chain,
		Key:      m.Key,
		RootFile: orderedRootFile(signing, rest),
		Phase:    phase,
		Retiring: retiring,
		Switched: switched,
	}
}

// orderedRootFile writes the roots as PEM, each once: signing first, the
// others by fingerprint, so the same roots always give the same bytes.
func orderedRootFile(signing certs.TrustAnchor, others []certs.TrustAnchor) []byte {
	rest := slices.Clone(others)
	slices.SortFunc(rest, func(a, b certs.TrustAnchor) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	var b bytes.Buffer
	seen := map[string]bool{}
	for _, a := range append([]certs.TrustAnchor{signing}, rest...) {
		if seen[a.Fingerprint] {
			continue
		}
		seen[a.Fingerprint] = true
		b.WriteString(a.PEM)
	}
	return b.Bytes()
}

func sameContents(cur *Current, want *Contents) bool {
	return bytes.Equal(cur.Chain, want.Chain) && bytes.Equal(cur.Key, want.Key) && bytes.Equal(cur.RootFile, want.RootFile) &&
		cur.Phase == want.Phase && cur.Retiring == want.Retiring && cur.Switched.Equal(want.Switched)
}

// signingRoot is the root among m.Roots that m's chain verifies to.
func signingRoot(m Material) *certs.TrustAnchor {
	chain := parseChain(m.Chain)
	if len(chain) == 0 {
		return nil
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	for i := range m.Roots {
		roots := x509.NewCertPool()
		roots.AddCert(m.Roots[i].Cert)
		// The chain of a CA: any usage; the time is the issuer's business.
		opts := x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: chain[0].NotBefore.Add(time.Second)}
		if chain[0].Equal(m.Roots[i].Cert) {
			return &m.Roots[i]
		}
		if _, err := chain[0].Verify(opts); err == nil {
			return &m.Roots[i]
		}
	}
	return nil
}

func parseChain(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// ownRoots are the roots this cluster's workloads chain to under cur.
func ownRoots(cur *Current, signing *certs.TrustAnchor) []certs.TrustAnchor {
	if signing == nil {
		return nil
	}
	out := []certs.TrustAnchor{*signing}
	if r, ok := rootByFingerprint(cur.Roots, cur.Retiring); ok && cur.Phase == Switching {
		out = append(out, r)
	}
	return out
}

func rootByFingerprint(roots []certs.TrustAnchor, fingerprint string) (certs.TrustAnchor, bool) {
	for _, r := range roots {
		if fingerprint != "" && r.Fingerprint == fingerprint {
			return r, true
		}
	}
	return certs.TrustAnchor{}, false
}

// peersMissing names the peers that do not hand out root yet.
func peersMissing(peers []Peer, root certs.TrustAnchor) []string {
	var out []string
	for _, p := range peers {
		if !slices.ContainsFunc(p.Trusted, func(a certs.TrustAnchor) bool { return a.Fingerprint == root.Fingerprint }) {
			out = append(out, p.Cluster)
		}
	}
	slices.Sort(out)
	return out
}

func fingerprints(anchors []certs.TrustAnchor) map[string]bool {
	out := make(map[string]bool, len(anchors))
	for _, a := range anchors {
		out[a.Fingerprint] = true
	}
	return out
}

// subsetOrSuperset is istiod's rule for a new root file
// (pemBundleHasSubsetRelation): one set holds the other, and neither is
// empty.
func subsetOrSuperset(a, b map[string]bool) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	contains := func(x, y map[string]bool) bool {
		for k := range y {
			if !x[k] {
				return false
			}
		}
		return true
	}
	return contains(a, b) || contains(b, a)
}

// short is the start of a fingerprint, for messages.
func short(fingerprint string) string {
	if len(fingerprint) > 12 {
		return "SHA-256 " + fingerprint[:12] + "…"
	}
	return "SHA-256 " + fingerprint
}
