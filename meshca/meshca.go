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
	// AnnotationTrusted is when istiod was first seen trusting the new
	// root (RFC 3339): the switch waits for workloads to learn it.
	AnnotationTrusted = "meshcert.io/root-rotation-trusted"
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
	// Trusted is when istiod was seen loading the trusting root file, and
	// Switched when it was seen loading the switch; zero before.
	Trusted, Switched time.Time
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
	// Propagation is how long a change istiod published takes to reach
	// every consumer: the kubelet's refresh of istio-ca-root-cert in Pods,
	// other istiod replicas' mounts.
	Propagation time.Duration
	// MultiRoot says istiod runs with ISTIO_MULTIROOT_MESH=true; without
	// it, istiod ignores any change of its root file.
	MultiRoot bool
}

// Contents is what Secret cacerts must hold.
type Contents struct {
	Chain, Key, RootFile []byte
	Phase                Phase
	Retiring             string
	Trusted, Switched    time.Time
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

// Poll is how often a running rotation looks at what it waits for;
// ProblemRecheck how often meshcert looks again at what it cannot do.
const (
	Poll           = 5 * time.Second
	ProblemRecheck = time.Minute
)

// waitingForIstiod is what a rotation says while istiod has not published
// the root file meshcert wrote.
const waitingForIstiod = "istiod to load the roots meshcert wrote to cacerts (if this lasts: is istiod running, with cacerts mounted and ISTIO_MULTIROOT_MESH=true?)"

// Plan decides what Secret cacerts holds next. After a write, and while a
// rotation runs, it asks to be called again soon: istiod's reload, a
// peer's trust and the drain show only by looking.
func Plan(o Observed) Decision {
	d := plan(o)
	switch {
	case d.Problem != "":
		d.RecheckAfter = ProblemRecheck
	case (d.Write != nil || d.Phase != Steady) && d.RecheckAfter == 0:
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
	if !o.MultiRoot {
		// istiod ignores any change of its root file: peers' roots stay
		// out, and a new root cannot reach it without a restart.
		o.Peers = nil
	}
	if o.Current == nil {
		return Decision{Write: compose(*o.Issued, *issuedRoot, nil, o.Peers, Steady, "", time.Time{}), Roots: []certs.TrustAnchor{*issuedRoot}}
	}
	cur := o.Current
	loaded := !o.LoadedFound || bytes.Equal(o.Loaded, cur.RootFile)
	currentRoot := signingRoot(cur.Material)
	if currentRoot == nil {
		if cur.Phase != Steady || cur.Retiring != "" {
			return Decision{Phase: cur.Phase, Problem: "Secret " + CACertsSecret + " no longer holds an intermediate that chains to one of its roots, in the middle of a root rotation (was it edited?); meshcert does not guess which root workloads trust: restore it, or delete it to start over from what cert-manager issued"}
		}
		// A Secret meshcert did not compose (cert-manager's, from before
		// meshcert composed it) that does not chain: start over from what
		// was issued, in steps istiod accepts.
		d := settle(cur, compose(*o.Issued, *issuedRoot, nil, o.Peers, Steady, "", time.Time{}), loaded)
		d.Roots = []certs.TrustAnchor{*issuedRoot}
		return d
	}
	sameRoot := issuedRoot.Fingerprint == currentRoot.Fingerprint
	if !sameRoot && !o.MultiRoot && cur.Phase == Steady {
		return Decision{Phase: cur.Phase, Roots: []certs.TrustAnchor{*currentRoot},
			Problem: "cert-manager issued an intermediate of another root, and istiod takes a new root without a restart only with ISTIO_MULTIROOT_MESH=true; meshcert keeps istiod on the current intermediate: set ISTIO_MULTIROOT_MESH to \"true\" in istiod's env (values.pilot.env) and apply the install again, and meshcert rotates the root in steps"}
	}

	switch {
	case cur.Phase == Switching:
		return planSwitching(o, cur, *currentRoot, loaded, sameRoot)
	case sameRoot:
		// Steady (or a rotation back to the root in use, before the
		// switch): sign with what was issued, trust the signing root.
		d := settle(cur, compose(*o.Issued, *issuedRoot, nil, o.Peers, Steady, "", time.Time{}), loaded)
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
	if cur.Phase == Trusting && bytes.Equal(cur.RootFile, want.RootFile) {
		want.Trusted = cur.Trusted
	}
	d := settle(cur, want, loaded)
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
	// Workloads learn the new root when they renew (at half their
	// certificate's life), or at once from the trust bundle istiod pushes;
	// Pods see istio-ca-root-cert after the kubelet refreshes it.
	if cur.Trusted.IsZero() {
		trusted := *want
		trusted.Trusted = o.Now
		return Decision{Write: &trusted, Phase: Trusting, Roots: own, RecheckAfter: Poll}
	}
	if left := cur.Trusted.Add(o.Drain/2 + o.Propagation).Sub(o.Now); left > 0 {
		d.Waiting = "workloads to renew their certificates and learn the new root, until " + cur.Trusted.Add(o.Drain/2+o.Propagation).UTC().Format(time.RFC3339)
		d.RecheckAfter = min(left, time.Minute)
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
		d := settle(cur, compose(material, signing, nil, o.Peers, Steady, "", time.Time{}), loaded)
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
	d := settle(cur, want, loaded)
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
	if left := switched.Add(o.Drain + o.Propagation).Sub(o.Now); left > 0 {
		d.Waiting = "the workload certificates signed before the switch to expire, at " + switched.Add(o.Drain+o.Propagation).UTC().Format(time.RFC3339)
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
func settle(cur *Current, want *Contents, loaded bool) Decision {
	d := Decision{Phase: cur.Phase}
	if !loaded {
		// istiod runs with an older root file. Its reload compares root
		// files first, so nothing written now takes until it has loaded
		// the current one; an intermediate renewal is still written.
		d.Waiting, d.RecheckAfter = waitingForIstiod, Poll
		if !bytes.Equal(cur.RootFile, want.RootFile) || sameContents(cur, want) {
			return d
		}
		d.Write, d.Phase = want, want.Phase
		return d
	}
	if sameContents(cur, want) {
		return d
	}
	if bytes.Equal(cur.RootFile, want.RootFile) {
		d.Write, d.Phase = want, want.Phase
		return d
	}
	// istiod compares every certificate of the files, valid or not.
	have, next := pemCertificates(cur.RootFile), pemCertificates(want.RootFile)
	if subsetOrSuperset(blockSet(have), blockSet(next)) {
		d.Write, d.Phase = want, want.Phase
		return d
	}
	// Widen first: everything in the file now and next. The material and
	// phase stay as they are until the narrowing write.
	union := *want
	union.Chain, union.Key, union.Phase, union.Retiring, union.Trusted, union.Switched = cur.Chain, cur.Key, cur.Phase, cur.Retiring, cur.Trusted, cur.Switched
	union.RootFile = joinBlocks(next, have)
	d.Write = &union
	d.Waiting, d.RecheckAfter = "istiod to load the widened roots", Poll
	return d
}

// pemCertificates returns every CERTIFICATE block of a root file, as
// istiod's subset rule reads it.
func pemCertificates(file []byte) [][]byte {
	var out [][]byte
	for {
		var block *pem.Block
		block, file = pem.Decode(file)
		if block == nil {
			return out
		}
		if block.Type == "CERTIFICATE" {
			out = append(out, block.Bytes)
		}
	}
}

func blockSet(blocks [][]byte) map[string]bool {
	out := make(map[string]bool, len(blocks))
	for _, b := range blocks {
		out[certs.Fingerprint(b)] = true
	}
	return out
}

// joinBlocks writes first's certificates, then those of second not in it.
func joinBlocks(first, second [][]byte) []byte {
	var b bytes.Buffer
	seen := map[string]bool{}
	for _, der := range append(slices.Clone(first), second...) {
		if fp := certs.Fingerprint(der); !seen[fp] {
			seen[fp] = true
			b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		}
	}
	return b.Bytes()
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
		cur.Phase == want.Phase && cur.Retiring == want.Retiring && cur.Trusted.Equal(want.Trusted) && cur.Switched.Equal(want.Switched)
}

// signingRoot is the root among m.Roots that m's chain leads to, by
// signatures alone: when the chain is valid is istiod's and the issuer's
// business (an intermediate may even predate its root by a clock's skew).
func signingRoot(m Material) *certs.TrustAnchor {
	chain := parseChain(m.Chain)
	if len(chain) == 0 {
		return nil
	}
	for i := range m.Roots {
		root := m.Roots[i].Cert
		cert := chain[0]
		for range len(chain) + 1 {
			if cert.Equal(root) || cert.CheckSignatureFrom(root) == nil {
				return &m.Roots[i]
			}
			parent := slices.IndexFunc(chain[1:], func(c *x509.Certificate) bool { return cert.CheckSignatureFrom(c) == nil })
			if parent < 0 {
				break
			}
			cert = chain[1+parent]
		}
	}
	return nil
}

func parseChain(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, der := range pemCertificates(data) {
		if c, err := x509.ParseCertificate(der); err == nil {
			out = append(out, c)
		}
	}
	return out
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
