package meshca

import (
	"testing"
	"time"

	"github.com/meshcert/meshcert/certs"
)

// FuzzPlan plans from states built out of a few CAs, chosen by the input,
// and checks what istiod requires of every write: the root file holds the
// root the written intermediate chains to, and a root file istiod has
// loaded is only ever replaced by one that holds it or is held by it
// (istiod ignores any other).
func FuzzPlan(f *testing.F) {
	roots := []testCA{newCA(f, "root 0", nil), newCA(f, "root 1", nil), newCA(f, "root 2", nil),
		newCAValid(f, "expired root", nil, now.Add(-48*time.Hour), now.Add(-time.Hour))}
	var intermediates []testCA
	for i := range roots {
		intermediates = append(intermediates, newCA(f, "intermediate", &roots[i]))
	}
	f.Add([]byte{0, 1, 0, 0, 1, 1, 0, 5})
	f.Add([]byte{1, 0, 2, 1, 0, 3, 1, 9})
	f.Add([]byte{2, 2, 1, 2, 2, 1, 1, 40})
	f.Add([]byte{0, 1, 0, 1, 3, 1, 1, 20, 1, 5, 0, 30})
	f.Fuzz(func(t *testing.T, in []byte) {
		at := func(i int) int {
			if i < len(in) {
				return int(in[i])
			}
			return 0
		}
		pick := func(i int) int { return at(i) % len(roots) }
		o := Observed{Now: now, Drain: time.Duration(at(7)) * time.Second, MultiRoot: at(8)%4 != 0, Propagation: time.Duration(at(9)) * time.Second}
		if at(0)%4 != 3 {
			o.Issued = issued(t, intermediates[pick(0)], roots[pick(1)])
		}
		if at(2)%4 != 3 {
			cur := current(t, issued(t, intermediates[pick(2)], roots[pick(2)]), []Phase{Steady, Trusting, Switching}[at(3)%3], roots[pick(2)], roots[pick(4)])
			if cur.Phase == Trusting && at(10)%2 == 0 {
				cur.Trusted = now.Add(-time.Duration(at(11)) * time.Second)
			}
			if cur.Phase == Switching {
				cur.Retiring = roots[pick(4)].anchor.Fingerprint
				if at(5)%2 == 0 {
					cur.Switched = now.Add(-time.Duration(at(6)) * time.Second)
				}
			}
			o.Current = cur
			if at(5)%3 != 2 {
				o.Loaded, o.LoadedFound = cur.RootFile, true
			}
		}
		if at(6)%2 == 1 {
			o.Peers = []Peer{{Cluster: "peer", Roots: []certs.TrustAnchor{roots[pick(6)].anchor}, Trusted: []certs.TrustAnchor{roots[pick(5)].anchor}}}
		}
		d := Plan(o)
		if d.Write == nil {
			return
		}
		// An expired root may stay in the file (istiod keeps whatever the
		// file holds); a usable one must be there.
		written, problems := certs.ParseTrustAnchors(d.Write.RootFile, now)
		if len(written) == 0 {
			t.Fatalf("root file written holds no usable root: %v", problems)
		}
		if signingRoot(Material{Chain: d.Write.Chain, Roots: written}) == nil {
			t.Fatalf("the written intermediate chains to none of the written roots %v", cns(d.Write.RootFile))
		}
		if o.Current != nil && string(o.Current.RootFile) != string(d.Write.RootFile) {
			if o.LoadedFound && string(o.Loaded) != string(o.Current.RootFile) {
				t.Fatalf("root file written while istiod runs an older one")
			}
			if o.LoadedFound && !subsetOrSuperset(blockSet(pemCertificates(o.Current.RootFile)), blockSet(pemCertificates(d.Write.RootFile))) {
				t.Fatalf("root file %v replaced by %v, which istiod refuses", cns(o.Current.RootFile), cns(d.Write.RootFile))
			}
		}
	})
}
