package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TrustAnchor is one CA certificate read from a trust bundle.
type TrustAnchor struct {
	Cert *x509.Certificate
	// Fingerprint is the SHA-256 of the DER, in lower-case hex: what
	// de-duplicates anchors and records which ones meshcert injected.
	Fingerprint string
	// PEM is the certificate alone, PEM-encoded.
	PEM string
}

// Fingerprint returns the SHA-256 fingerprint meshcert identifies a
// certificate by.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ParseTrustAnchors reads PEM data that must hold only CA certificates
// valid at now: what Istio is given as roots to trust. It returns the
// anchors in the order found and one problem per thing that is wrong, each
// a sentence fragment naming the certificate ("certificate 2 (CN=x) is
// expired ..."). Anything that is not a certificate is a problem; a private
// key is called out, because a trust bundle is copied into places anyone can
// read.
func ParseTrustAnchors(data []byte, now time.Time) ([]TrustAnchor, []string) {
	var anchors []TrustAnchor
	var problems []string
	rest := data
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			what := fmt.Sprintf("a %q PEM block", block.Type)
			if strings.Contains(block.Type, "PRIVATE KEY") {
				what += " (a private key must never be in a trust bundle: remove it, and replace the key if others could read it)"
			}
			problems = append(problems, fmt.Sprintf("PEM block %d is %s, not a CERTIFICATE", n, what))
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			problems = append(problems, fmt.Sprintf("PEM block %d is not a valid X.509 certificate (%v)", n, err))
			continue
		}
		if problem := anchorProblem(cert, now); problem != "" {
			problems = append(problems, fmt.Sprintf("certificate %d (%s) %s", n, describeCert(cert), problem))
			continue
		}
		anchors = append(anchors, TrustAnchor{
			Cert:        cert,
			Fingerprint: Fingerprint(cert.Raw),
			PEM:         string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		})
	}
	trailing := bytes.TrimSpace(rest)
	switch {
	case n == 0 && len(trailing) > 0:
		problems = append(problems, fmt.Sprintf("holds no PEM block, only %d bytes of something else (%s)", len(trailing), preview(trailing)))
	case n == 0:
		problems = append(problems, "holds no PEM certificate")
	case len(trailing) > 0:
		problems = append(problems, fmt.Sprintf("%d bytes after the last PEM block are not PEM (%s)", len(trailing), preview(trailing)))
	}
	return anchors, problems
}

// anchorProblem says why cert cannot be a trust anchor, or "".
func anchorProblem(cert *x509.Certificate, now time.Time) string {
	switch {
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return "is not a CA certificate (no basicConstraints CA:TRUE): a leaf cannot be a root; use the CA that issued it"
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return "is a CA certificate without the keyCertSign key usage, so nothing it signed verifies"
	case now.After(cert.NotAfter):
		return "expired on " + cert.NotAfter.UTC().Format(time.RFC3339) + "; replace it with the CA's current certificate"
	case now.Before(cert.NotBefore):
		return "is not valid before " + cert.NotBefore.UTC().Format(time.RFC3339) + "; check the clock of whoever issued it"
	}
	return ""
}

func describeCert(cert *x509.Certificate) string {
	name := cert.Subject.String()
	if name == "" {
		name = "no subject"
	}
	return name + ", SHA-256 " + Fingerprint(cert.Raw)[:16]
}

func preview(b []byte) string {
	const limit = 24
	s := string(b)
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return strconv.Quote(s)
}

// TrustBundleRef names a ConfigMap key holding CA certificates.
type TrustBundleRef struct {
	Namespace, Name, Key string
}

func (r TrustBundleRef) String() string {
	return "ConfigMap " + r.Namespace + "/" + r.Name + " key " + strconv.Quote(r.Key)
}

// ReadTrustBundle looks up a trust-bundle ConfigMap and reads its anchors.
// found is false when the lookup does not know it; problems say what is
// wrong with it otherwise (the label, the key, the PEM).
func ReadTrustBundle(ctx context.Context, lookup Lookup, ref TrustBundleRef, now time.Time) (anchors []TrustAnchor, found bool, problems []string) {
	cm, ok := lookup.TrustBundle(ctx, ref.Namespace, ref.Name)
	if !ok {
		return nil, false, nil
	}
	anchors, problems = trustBundleAnchors(cm, ref, now)
	return anchors, true, problems
}

// trustBundleAnchors reads the anchors of a trust-bundle ConfigMap the
// lookup returned.
func trustBundleAnchors(cm *corev1.ConfigMap, ref TrustBundleRef, now time.Time) (anchors []TrustAnchor, problems []string) {
	if _, labelled := cm.Labels[LabelTrustBundle]; !labelled {
		problems = append(problems, fmt.Sprintf("is not labelled %s, and meshcert in the cluster reads only ConfigMaps with that label: label it (kubectl label configmap -n %s %s %s=true)",
			LabelTrustBundle, ref.Namespace, ref.Name, LabelTrustBundle))
	}
	data, ok := configMapValue(cm, ref.Key)
	if !ok {
		return nil, append(problems, fmt.Sprintf("has no key %q (it has %s)", ref.Key, keysOf(cm)))
	}
	anchors, pemProblems := ParseTrustAnchors(data, now)
	return anchors, append(problems, pemProblems...)
}

func configMapValue(cm *corev1.ConfigMap, key string) ([]byte, bool) {
	if v, ok := cm.Data[key]; ok {
		return []byte(v), true
	}
	v, ok := cm.BinaryData[key]
	return v, ok
}

func keysOf(cm *corev1.ConfigMap) string {
	var keys []string
	for k := range cm.Data {
		keys = append(keys, strconv.Quote(k))
	}
	for k := range cm.BinaryData {
		keys = append(keys, strconv.Quote(k))
	}
	if len(keys) == 0 {
		return "no keys"
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}
