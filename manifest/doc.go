// Package manifest reads and writes Kubernetes manifests for meshcert's
// offline commands (`meshcert inject` and `meshcert check`).
//
// Read accepts files, directories and stdin; Decode turns one file's bytes
// into objects. Every object is an *unstructured.Unstructured so that fields
// meshcert does not know about survive a read/modify/write cycle untouched.
//
// Scalars are interpreted the way kubectl interprets them (sigs.k8s.io/yaml,
// which follows YAML 1.1: `yes` and `on` are booleans, `0x1F` is an integer)
// and numbers are normalised the way the API machinery normalises JSON
// (int64 when integral, float64 otherwise). Decoding does not go through
// sigs.k8s.io/yaml itself: one yaml.v3 parse yields both the values and the
// node tree that Object.LineOf uses to point findings at source lines, which
// is why the YAML 1.1 resolution rules are re-implemented in resolve.go.
//
// Write emits a YAML stream with sigs.k8s.io/yaml, so output looks exactly
// like `kubectl get -o yaml`, and decodes back to equal objects. The few
// objects sigs.k8s.io/yaml would mangle (control characters, a "<<" key)
// go through a yaml.v3 emitter that produces the same layout but quotes
// every risky string.
package manifest
