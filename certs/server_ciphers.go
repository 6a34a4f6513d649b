package certs

import (
	"slices"
	"strings"
	"unicode"

	"github.com/meshcert/meshcert/finding"
)

// validCipherSuites are the cipher suites Envoy (BoringSSL) supports on a
// gateway server: Istio's pkg/config/security.ValidCipherSuites at the
// pinned version. istiod drops any other, and repeats, before it configures
// Envoy; its validation warns about both. The e2e tests compare meshcert's
// warnings with Istio's on the same Gateways.
var validCipherSuites = map[string]bool{
	"ECDHE-ECDSA-AES128-GCM-SHA256": true,
	"ECDHE-RSA-AES128-GCM-SHA256":   true,
	"ECDHE-ECDSA-AES256-GCM-SHA384": true,
	"ECDHE-RSA-AES256-GCM-SHA384":   true,
	"ECDHE-ECDSA-CHACHA20-POLY1305": true,
	"ECDHE-RSA-CHACHA20-POLY1305":   true,
	"ECDHE-ECDSA-AES128-SHA":        true,
	"ECDHE-RSA-AES128-SHA":          true,
	"ECDHE-ECDSA-AES256-SHA":        true,
	"ECDHE-RSA-AES256-SHA":          true,
	"AES128-GCM-SHA256":             true,
	"AES256-GCM-SHA384":             true,
	"AES128-SHA":                    true,
	"AES256-SHA":                    true,
	"DES-CBC3-SHA":                  true,
}

// isValidCipherSuite is Istio's IsValidCipherSuite: "", "ALL" and anything
// not starting with a letter or digit (BoringSSL's "-" and "+" operators)
// pass unchecked.
func isValidCipherSuite(s string) bool {
	if s == "" || s == "ALL" {
		return true
	}
	// Istio looks at the first byte as a rune, so a multi-byte first
	// character is judged by its lead byte.
	if first := rune(s[0]); !unicode.IsNumber(first) && !unicode.IsLetter(first) {
		return true
	}
	return validCipherSuites[s]
}

// checkCipherSuites gives Istio's warnings about a server's cipher suites
// and minimum TLS version (validateTLSOptions).
func checkCipherSuites(b *finding.Builder, srv Server) {
	t := srv.TLS
	if (t.MinProtocolVersion == "TLSV1_0" || t.MinProtocolVersion == "TLSV1_1") && len(t.CipherSuites) == 0 {
		b.Warningf(finding.CodeIgnoredCipherSuites, tlsPath(srv.Index, "minProtocolVersion"),
			"%s allows TLS below 1.2, but Envoy's default cipher suites hold none those versions can use, so such clients fail the handshake: list compatible cipherSuites, or require TLSV1_2", t.MinProtocolVersion)
	}
	var invalid, duplicate []string
	seen := map[string]bool{}
	for _, s := range t.CipherSuites {
		switch {
		case !isValidCipherSuite(s):
			invalid = append(invalid, s)
		case seen[s]:
			duplicate = append(duplicate, s)
		}
		seen[s] = true
	}
	if len(invalid) > 0 {
		b.Warningf(finding.CodeIgnoredCipherSuites, tlsPath(srv.Index, "cipherSuites"),
			"istiod drops the cipher suites Envoy does not support, %s; use names from Istio's list, such as ECDHE-ECDSA-AES128-GCM-SHA256", quoteSorted(invalid))
	}
	if len(duplicate) > 0 {
		b.Warningf(finding.CodeIgnoredCipherSuites, tlsPath(srv.Index, "cipherSuites"),
			"istiod drops the repeated cipher suites %s; list each once", quoteSorted(duplicate))
	}
}

// quoteSorted quotes the distinct names in sorted order, comma-separated.
func quoteSorted(names []string) string {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	for i, n := range names {
		names[i] = `"` + n + `"`
	}
	return strings.Join(names, ", ")
}
