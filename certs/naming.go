package certs

import (
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
	sum := sha256.Sum256([]byte(strconv.Itoa(len(namespace)) + ":" + namespace +
		strconv.Itoa(len(gateway)) + ":" + gateway + serverKey))
	hash := hex.EncodeToString(sum[:])[:credentialHashLen]

	readable := sanitizeDNS(namespace + "-" + gateway + "-" + serverKey)
	// Leave room for "-" + hash.
	maxReadable := validation.DNS1123SubdomainMaxLength - credentialHashLen - 1
	if len(readable) > maxReadable {
		readable = strings.TrimRight(readable[:maxReadable], "-.")
	}
	if readable == "" {
		return "cred-" + hash
	}
	return readable + "-" + hash
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
