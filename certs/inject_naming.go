package certs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// credentialHashLen is the number of hex characters of the hash that makes
// every derived credential name unique. 10 hex characters (40 bits) keep the
// chance of two Gateways colliding in one namespace negligible while leaving
// the readable part long.
const credentialHashLen = 10

// ServerKey names a server for credential derivation: its name, else its
// port's name, else its port number.
func ServerKey(s Server) string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Port.Name != "":
		return s.Port.Name
	default:
		return strconv.FormatInt(s.Port.Number, 10)
	}
}

// CredentialName derives the Secret name meshcert injects for a server: a
// readable DNS-1123 form of "<namespace>-<gateway>-<serverKey>" followed by
// a short hash of the exact triple. The hash is always there because the
// readable part alone is ambiguous ("a-b"+"c" and "a"+"b-c" read the same),
// and it keeps names distinct after sanitising or cutting to 253 characters.
func CredentialName(namespace, gateway, serverKey string) string {
	// Length-prefixed so no choice of characters in the parts can make two
	// different triples hash the same input.
	var stack [256]byte
	in := stack[:0]
	for _, part := range []string{namespace, gateway} {
		in = strconv.AppendInt(in, int64(len(part)), 10)
		in = append(in, ':')
		in = append(in, part...)
	}
	in = append(in, serverKey...)
	sum := sha256.Sum256(in)
	var hash [credentialHashLen]byte
	hex.Encode(hash[:], sum[:credentialHashLen/2])

	// One buffer for the readable part, "-" and the hash: this runs for
	// every injected server on the admission path.
	var stackOut [128]byte
	out := stackOut[:0]
	out = appendDNS(out, namespace)
	out = appendDNS(out, gateway)
	out = appendDNS(out, serverKey)
	out = bytes.TrimRight(out, "-")
	// Leave room for "-" + hash.
	if maxReadable := validation.DNS1123SubdomainMaxLength - credentialHashLen - 1; len(out) > maxReadable {
		out = bytes.TrimRight(out[:maxReadable], "-")
	}
	if len(out) == 0 {
		out = append(out, "cred"...)
	}
	out = append(out, '-')
	out = append(out, hash[:]...)
	return string(out)
}

// appendDNS appends s lower-cased, with every run of characters a DNS-1123
// label cannot hold turned into one "-", followed by a "-" separator.
func appendDNS(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			out = append(out, c)
		case c >= 'A' && c <= 'Z':
			out = append(out, c+('a'-'A'))
		case len(out) > 0 && out[len(out)-1] != '-':
			out = append(out, '-')
		}
	}
	if len(out) > 0 && out[len(out)-1] != '-' {
		out = append(out, '-')
	}
	return out
}

// sanitizeDNS lower-cases s and turns every run of characters a DNS-1123
// label cannot hold into one "-", trimming dashes at both ends. Dots are
// replaced too so the name is also a valid label-style Certificate name.
func sanitizeDNS(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}
