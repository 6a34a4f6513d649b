package meshca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

var now = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	anchor certs.TrustAnchor
}

func newCA(t testing.TB, name string, parent *testCA) testCA {
	t.Helper()
	return newCAValid(t, name, parent, now.Add(-24*time.Hour), now.Add(365*24*time.Hour))
}

func newCAValid(t testing.TB, name string, parent *testCA, notBefore, notAfter time.Time) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	issuer, issuerKey := template, key
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer, key.Public(), issuerKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return testCA{cert: cert, key: key, anchor: certs.TrustAnchor{Cert: cert, Fingerprint: certs.Fingerprint(der), PEM: string(pemOf(cert))}}
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(t testing.TB, ca testCA) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// issued is what cert-manager writes for an intermediate of root: tls.crt
// the intermediate, ca.crt the root.
func issued(t testing.TB, intermediate, root testCA) *Material {
	t.Helper()
	return &Material{Chain: pemOf(intermediate.cert), Key: keyPEM(t, intermediate), Roots: []certs.TrustAnchor{root.anchor}}
}

// file is a root file of the anchors, in order.
func file(cas ...testCA) []byte {
	var out []byte
	for _, ca := range cas {
		out = append(out, pemOf(ca.cert)...)
	}
	return out
}

// cns names the certificates of PEM data by common name, for readable
// failures.
func cns(data []byte) []string {
	var out []string
	for _, c := range parseChain(data) {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

// names is cns of the test CAs' certificates.
func names(cas ...testCA) []string {
	return cns(file(cas...))
}

// current is Secret cacerts holding m and the root file.
func current(t testing.TB, m *Material, phase Phase, roots ...testCA) *Current {
	t.Helper()
	// As the controller reads it: roots istiod cannot use are not anchors,
	// but stay in the file.
	anchors, _ := certs.ParseTrustAnchors(file(roots...), now)
	return &Current{Material: Material{Chain: m.Chain, Key: m.Key, Roots: anchors}, RootFile: file(roots...), Phase: phase}
}

// rawCurrent is a Steady cacerts with a root file as given, valid or not.
func rawCurrent(m *Material, rootFile []byte) *Current {
	anchors, _ := certs.ParseTrustAnchors(rootFile, now)
	return &Current{Material: Material{Chain: m.Chain, Key: m.Key, Roots: anchors}, RootFile: rootFile}
}

func TestPlan(t *testing.T) {
	oldRoot := newCA(t, "old root", nil)
	newRoot := newCA(t, "new root", nil)
	oldCA := newCA(t, "old intermediate", &oldRoot)
	renewedOldCA := newCA(t, "old intermediate, renewed", &oldRoot)
	newCA1 := newCA(t, "new intermediate", &newRoot)
	peerRoot := newCA(t, "peer root", nil)
	// An intermediate issued a minute before its root's NotBefore.
	backdatedCA := newCAValid(t, "backdated intermediate", &oldRoot, oldRoot.cert.NotBefore.Add(-time.Minute), now.Add(time.Hour))
	expiredRoot := newCAValid(t, "expired root", nil, now.Add(-48*time.Hour), now.Add(-time.Hour))
	otherPeerRoot := newCA(t, "other peer root", nil)
	stranger := newCA(t, "stranger", nil)

	peerTrusting := func(roots ...testCA) Peer {
		p := Peer{Cluster: "cluster-b"}
		for _, r := range roots {
			p.Trusted = append(p.Trusted, r.anchor)
		}
		return p
	}
	const drain = 30 * time.Second

	cases := []struct {
		name    string
		in      Observed
		check   func(t *testing.T, d Decision)
		phase   Phase
		waiting string
		// singleRoot runs istiod without ISTIO_MULTIROOT_MESH.
		singleRoot bool
	}{
		{
			name:    "nothing issued and no cacerts: it waits for cert-manager and writes nothing",
			in:      Observed{Now: now},
			waiting: "cert-manager to issue",
			check:   func(t *testing.T, d Decision) { assert.Nil(t, d.Write) },
		},
		{
			name: "the first issuance becomes cacerts: the intermediate, its key and its root",
			in:   Observed{Now: now, Issued: issued(t, oldCA, oldRoot)},
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(oldCA), cns(d.Write.Chain))
				assert.Equal(t, keyPEM(t, oldCA), d.Write.Key)
				assert.Equal(t, names(oldRoot), cns(d.Write.RootFile))
				assert.Equal(t, []certs.TrustAnchor{oldRoot.anchor}, d.Roots)
			},
		},
		{
			name: "the first cacerts trusts the roots peers publish, after its own",
			in:   Observed{Now: now, Issued: issued(t, oldCA, oldRoot), Peers: []Peer{{Cluster: "cluster-b", Roots: []certs.TrustAnchor{peerRoot.anchor}}}},
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(oldRoot, peerRoot), cns(d.Write.RootFile))
				assert.Equal(t, []certs.TrustAnchor{oldRoot.anchor}, d.Roots, "peers' roots are not published as this cluster's")
			},
		},
		{
			name:    "a renewal under the same root replaces the intermediate at once, the root file unchanged, even while istiod runs an older file",
			waiting: "istiod to load the roots",
			in: Observed{Now: now, Issued: issued(t, renewedOldCA, oldRoot), Current: current(t, issued(t, oldCA, oldRoot), Steady, oldRoot),
				Loaded: []byte("something else"), LoadedFound: true},
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(renewedOldCA), cns(d.Write.Chain))
				assert.Equal(t, names(oldRoot), cns(d.Write.RootFile))
			},
		},
		{
			name: "nothing changed: nothing is written and nothing waited for",
			in:   Observed{Now: now, Issued: issued(t, oldCA, oldRoot), Current: current(t, issued(t, oldCA, oldRoot), Steady, oldRoot), Loaded: file(oldRoot), LoadedFound: true},
			check: func(t *testing.T, d Decision) {
				assert.Nil(t, d.Write)
				assert.Zero(t, d.RecheckAfter)
			},
		},
		{
			name:  "a new root is issued: istiod keeps signing with the old intermediate and trusts both roots",
			in:    Observed{Now: now, Issued: issued(t, newCA1, newRoot), Current: current(t, issued(t, oldCA, oldRoot), Steady, oldRoot), Loaded: file(oldRoot), LoadedFound: true},
			phase: Trusting,
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(oldCA), cns(d.Write.Chain), "the old intermediate still signs")
				assert.Equal(t, keyPEM(t, oldCA), d.Write.Key)
				assert.Equal(t, names(oldRoot, newRoot), cns(d.Write.RootFile), "the signing root first, then the new one")
				assert.Equal(t, []certs.TrustAnchor{oldRoot.anchor, newRoot.anchor}, d.Roots, "peers are asked to trust both")
			},
		},
		{
			name:    "trusting waits for istiod to load the widened roots",
			in:      Observed{Now: now, Issued: issued(t, newCA1, newRoot), Current: current(t, issued(t, oldCA, oldRoot), Trusting, oldRoot, newRoot), Loaded: file(oldRoot), LoadedFound: true},
			phase:   Trusting,
			waiting: "istiod to load",
			check:   func(t *testing.T, d Decision) { assert.Nil(t, d.Write); assert.Equal(t, Poll, d.RecheckAfter) },
		},
		{
			name: "trusting waits for each peer that does not hand out the new root yet",
			in: Observed{Now: now, Issued: issued(t, newCA1, newRoot), Current: current(t, issued(t, oldCA, oldRoot), Trusting, oldRoot, newRoot),
				Loaded: file(oldRoot, newRoot), LoadedFound: true, Peers: []Peer{peerTrusting(oldRoot)}},
			phase:   Trusting,
			waiting: "peer clusters cluster-b to trust the new root",
			check:   func(t *testing.T, d Decision) { assert.Nil(t, d.Write) },
		},
		{
			name: "once istiod and every peer trust the new root, it records when, so workloads can learn it",
			in: Observed{Now: now, Issued: issued(t, newCA1, newRoot), Current: current(t, issued(t, oldCA, oldRoot), Trusting, oldRoot, newRoot),
				Loaded: file(oldRoot, newRoot), LoadedFound: true, Peers: []Peer{peerTrusting(oldRoot, newRoot)}},
			phase: Trusting,
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, now, d.Write.Trusted)
				assert.Equal(t, names(oldCA), cns(d.Write.Chain), "the old intermediate still signs")
			},
		},
		{
			name: "trusting holds for half the workload certificate lifetime and the propagation, for workloads to renew and learn the new root",
			in: Observed{Now: now, Drain: drain, Propagation: 2 * time.Minute, Issued: issued(t, newCA1, newRoot), Current: trusted(current(t, issued(t, oldCA, oldRoot), Trusting, oldRoot, newRoot), now.Add(-time.Minute)),
				Loaded: file(oldRoot, newRoot), LoadedFound: true, Peers: []Peer{peerTrusting(oldRoot, newRoot)}},
			phase:   Trusting,
			waiting: "workloads to renew their certificates and learn the new root, until 2026-12-07T10:01:15Z",
			check:   func(t *testing.T, d Decision) { assert.Nil(t, d.Write); assert.Equal(t, time.Minute, d.RecheckAfter) },
		},
		{
			name: "after the hold, the new intermediate signs, its root first, the old one retiring",
			in: Observed{Now: now, Drain: drain, Propagation: 2 * time.Minute, Issued: issued(t, newCA1, newRoot), Current: trusted(current(t, issued(t, oldCA, oldRoot), Trusting, oldRoot, newRoot), now.Add(-drain/2-2*time.Minute)),
				Loaded: file(oldRoot, newRoot), LoadedFound: true, Peers: []Peer{peerTrusting(oldRoot, newRoot)}},
			phase:   Switching,
			waiting: "istiod to load the new intermediate",
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(newCA1), cns(d.Write.Chain))
				assert.Equal(t, keyPEM(t, newCA1), d.Write.Key)
				assert.Equal(t, names(newRoot, oldRoot), cns(d.Write.RootFile), "the same roots, so istiod takes it; reordered, so its reload shows")
				assert.Equal(t, oldRoot.anchor.Fingerprint, d.Write.Retiring)
				assert.True(t, d.Write.Switched.IsZero(), "the drain starts when istiod has loaded it")
			},
		},
		{
			name: "switching: the drain starts when istiod publishes the switched root file",
			in: Observed{Now: now, Issued: issued(t, newCA1, newRoot), Current: switching(t, current(t, issued(t, newCA1, newRoot), Switching, newRoot, oldRoot), oldRoot, time.Time{}),
				Loaded: file(newRoot, oldRoot), LoadedFound: true},
			phase: Switching,
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, now, d.Write.Switched)
				assert.Equal(t, names(newRoot, oldRoot), cns(d.Write.RootFile))
			},
		},
		{
			name: "switching keeps trusting the old root until the longest workload certificate signed before the switch has expired",
			in: Observed{Now: now, Drain: drain, Issued: issued(t, newCA1, newRoot), Current: switching(t, current(t, issued(t, newCA1, newRoot), Switching, newRoot, oldRoot), oldRoot, now.Add(-10*time.Second)),
				Loaded: file(newRoot, oldRoot), LoadedFound: true},
			phase:   Switching,
			waiting: "to expire, at 2026-12-07T10:00:20Z",
			check: func(t *testing.T, d Decision) {
				assert.Nil(t, d.Write)
				assert.Equal(t, 20*time.Second, d.RecheckAfter)
				assert.Equal(t, []certs.TrustAnchor{newRoot.anchor, oldRoot.anchor}, d.Roots)
			},
		},
		{
			name: "after the drain the old root leaves the root file",
			in: Observed{Now: now, Drain: drain, Issued: issued(t, newCA1, newRoot), Current: switching(t, current(t, issued(t, newCA1, newRoot), Switching, newRoot, oldRoot), oldRoot, now.Add(-drain)),
				Loaded: file(newRoot, oldRoot), LoadedFound: true},
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(newRoot), cns(d.Write.RootFile))
				assert.Empty(t, d.Write.Retiring)
				assert.Equal(t, []certs.TrustAnchor{newRoot.anchor}, d.Roots)
			},
		},
		{
			name: "after the drain a peer still publishing the old root keeps it trusted",
			in: Observed{Now: now, Drain: drain, Issued: issued(t, newCA1, newRoot), Current: switching(t, current(t, issued(t, newCA1, newRoot), Switching, newRoot, oldRoot), oldRoot, now.Add(-drain)),
				Loaded: file(newRoot, oldRoot), LoadedFound: true, Peers: []Peer{{Cluster: "cluster-b", Roots: []certs.TrustAnchor{oldRoot.anchor, newRoot.anchor}}}},
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(newRoot, oldRoot), cns(d.Write.RootFile))
				assert.Equal(t, Steady, d.Write.Phase)
			},
		},
		{
			name: "a root file that neither holds nor is held by the one istiod runs is widened to both first",
			in: Observed{Now: now, Issued: issued(t, oldCA, oldRoot), Current: current(t, issued(t, oldCA, oldRoot), Steady, oldRoot, peerRoot),
				Loaded: file(oldRoot, peerRoot), LoadedFound: true, Peers: []Peer{{Cluster: "cluster-b", Roots: []certs.TrustAnchor{otherPeerRoot.anchor}}}},
			waiting: "widened",
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				written := cns(d.Write.RootFile)
				assert.Equal(t, "old root", written[0], "the signing root first")
				assert.ElementsMatch(t, names(oldRoot, peerRoot, otherPeerRoot), written)
			},
		},
		{
			name: "no root file is written before istiod has loaded the current one",
			in: Observed{Now: now, Issued: issued(t, oldCA, oldRoot), Current: current(t, issued(t, oldCA, oldRoot), Steady, oldRoot),
				Loaded: file(stranger), LoadedFound: true, Peers: []Peer{{Cluster: "cluster-b", Roots: []certs.TrustAnchor{peerRoot.anchor}}}},
			waiting: "istiod to load the roots",
			check:   func(t *testing.T, d Decision) { assert.Nil(t, d.Write) },
		},
		{
			name:  "without istiod running, a new root switches without waiting for it",
			in:    Observed{Now: now, Issued: issued(t, newCA1, newRoot), Current: trusted(current(t, issued(t, oldCA, oldRoot), Trusting, oldRoot, newRoot), now.Add(-time.Second))},
			phase: Switching,
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(newCA1), cns(d.Write.Chain))
			},
		},
		{
			name: "an intermediate that predates its root by a clock's skew still chains to it",
			in:   Observed{Now: now, Issued: issued(t, backdatedCA, oldRoot), Current: current(t, issued(t, oldCA, oldRoot), Steady, oldRoot), Loaded: file(oldRoot), LoadedFound: true},
			check: func(t *testing.T, d Decision) {
				assert.Empty(t, d.Problem)
				require.NotNil(t, d.Write)
				assert.Equal(t, names(backdatedCA), cns(d.Write.Chain))
			},
		},
		{
			name: "istiod without multi-root trust is never given a new root, and never a peer's: a problem naming the switch",
			in: Observed{Now: now, Issued: issued(t, newCA1, newRoot), Current: current(t, issued(t, oldCA, oldRoot), Steady, oldRoot), Loaded: file(oldRoot), LoadedFound: true,
				Peers: []Peer{{Cluster: "cluster-b", Roots: []certs.TrustAnchor{peerRoot.anchor}}}},
			singleRoot: true,
			check: func(t *testing.T, d Decision) {
				assert.Nil(t, d.Write)
				assert.Contains(t, d.Problem, "ISTIO_MULTIROOT_MESH")
				assert.Equal(t, ProblemRecheck, d.RecheckAfter)
			},
		},
		{
			name: "without multi-root trust, renewals go on and peers' roots stay out",
			in: Observed{Now: now, Issued: issued(t, renewedOldCA, oldRoot), Current: current(t, issued(t, oldCA, oldRoot), Steady, oldRoot), Loaded: file(oldRoot), LoadedFound: true,
				Peers: []Peer{{Cluster: "cluster-b", Roots: []certs.TrustAnchor{peerRoot.anchor}}}},
			singleRoot: true,
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(oldRoot), cns(d.Write.RootFile))
			},
		},
		{
			name: "an expired root in the file counts for istiod's subset rule: dropping it and adding a peer's is widened first",
			in: Observed{Now: now, Issued: issued(t, oldCA, oldRoot), Current: rawCurrent(issued(t, oldCA, oldRoot), file(oldRoot, expiredRoot)),
				Loaded: file(oldRoot, expiredRoot), LoadedFound: true, Peers: []Peer{{Cluster: "cluster-b", Roots: []certs.TrustAnchor{peerRoot.anchor}}}},
			waiting: "widened",
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.ElementsMatch(t, names(oldRoot, peerRoot, expiredRoot), cns(d.Write.RootFile))
			},
		},
		{
			name: "in steady state too, a root file istiod has not loaded is waited for, and said",
			in: Observed{Now: now, Issued: issued(t, oldCA, oldRoot), Current: current(t, issued(t, oldCA, oldRoot), Steady, oldRoot, peerRoot), Loaded: file(oldRoot), LoadedFound: true,
				Peers: []Peer{{Cluster: "cluster-b", Roots: []certs.TrustAnchor{peerRoot.anchor}}}},
			waiting: "istiod to load the roots meshcert wrote",
			check:   func(t *testing.T, d Decision) { assert.Nil(t, d.Write); assert.Equal(t, Poll, d.RecheckAfter) },
		},
		{
			name:  "a cacerts that no longer chains in the middle of a rotation is a problem, not a fresh start",
			in:    Observed{Now: now, Issued: issued(t, newCA1, newRoot), Current: current(t, issued(t, newCA1, newRoot), Switching, oldRoot), Loaded: file(oldRoot), LoadedFound: true},
			phase: Switching,
			check: func(t *testing.T, d Decision) {
				assert.Nil(t, d.Write)
				assert.Contains(t, d.Problem, "no longer holds an intermediate that chains")
			},
		},
		{
			name: "an issued intermediate that chains to nothing in its ca.crt is a problem, and nothing is written",
			in:   Observed{Now: now, Issued: issued(t, newCA1, oldRoot), Current: current(t, issued(t, oldCA, oldRoot), Steady, oldRoot)},
			check: func(t *testing.T, d Decision) {
				assert.Nil(t, d.Write)
				assert.Contains(t, d.Problem, "chains to none of the roots in its ca.crt")
			},
		},
		{
			name: "going back to the old root before the switch drops the new one again",
			in: Observed{Now: now, Issued: issued(t, renewedOldCA, oldRoot), Current: current(t, issued(t, oldCA, oldRoot), Trusting, oldRoot, newRoot),
				Loaded: file(oldRoot, newRoot), LoadedFound: true},
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(oldRoot), cns(d.Write.RootFile))
				assert.Equal(t, names(renewedOldCA), cns(d.Write.Chain))
				assert.Equal(t, Steady, d.Write.Phase)
			},
		},
		{
			name: "a root issued during the drain waits for it to end, the current intermediate still signing",
			in: Observed{Now: now, Drain: drain, Issued: issued(t, oldCA, oldRoot), Current: switching(t, current(t, issued(t, newCA1, newRoot), Switching, newRoot, oldRoot), oldRoot, now.Add(-drain)),
				Loaded: file(newRoot, oldRoot), LoadedFound: true},
			check: func(t *testing.T, d Decision) {
				require.NotNil(t, d.Write)
				assert.Equal(t, names(newCA1), cns(d.Write.Chain))
				assert.Equal(t, names(newRoot), cns(d.Write.RootFile))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.MultiRoot = !tc.singleRoot
			d := Plan(tc.in)
			if d.Write != nil {
				assert.Equal(t, tc.phase, d.Write.Phase, "phase written")
			}
			assert.Equal(t, tc.phase, d.Phase, "phase")
			if tc.waiting == "" {
				assert.Empty(t, d.Waiting)
			} else {
				assert.Contains(t, d.Waiting, tc.waiting)
			}
			tc.check(t, d)
		})
	}
}

// trusted marks cur as trusting the new root since at.
func trusted(cur *Current, at time.Time) *Current {
	cur.Trusted = at
	return cur
}

// switching marks cur as draining root since switched.
func switching(t testing.TB, cur *Current, retiring testCA, switched time.Time) *Current {
	t.Helper()
	cur.Retiring, cur.Switched = retiring.anchor.Fingerprint, switched
	return cur
}
