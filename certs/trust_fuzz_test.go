package certs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

// FuzzParseTrustAnchors reads arbitrary bytes as a trust bundle: anything
// that is not a valid CA certificate must come back as a problem, never as
// an anchor, and nothing may panic.
func FuzzParseTrustAnchors(f *testing.F) {
	for _, name := range []string{"root-a.pem", "leaf.pem", "expired.pem", "ca-without-certsign.pem", "pathlen0-ca.key"} {
		f.Add([]byte(pkiFile(f, name)))
	}
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\ntrailing"))
	f.Add([]byte(""))
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		anchors, problems := certs.ParseTrustAnchors(data, now)
		require.True(t, len(anchors) > 0 || len(problems) > 0, "an empty answer would inject nothing silently")
		for _, a := range anchors {
			require.True(t, a.Cert.IsCA)
			require.False(t, now.After(a.Cert.NotAfter))
			require.Len(t, a.Fingerprint, 64)
			again, more := certs.ParseTrustAnchors([]byte(a.PEM), now)
			require.Empty(t, more)
			require.Len(t, again, 1, "an anchor's PEM is itself one anchor")
		}
	})
}
