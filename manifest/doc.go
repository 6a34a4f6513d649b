// Package manifest reads and writes Kubernetes manifests for meshcert's
// offline commands (`meshcert inject` and `meshcert check`).
//
// Read accepts files, directories and stdin; Decode turns one file's bytes
// into objects. Every object is an *unstructured.Unstructured so that fields
// meshcert does not know about survive a read/modify/write cycle untouched.
//
// Values are decoded the way kubectl decodes them: a YAML stream is split
// on lines starting with "---" and each document goes through
// sigs.k8s.io/yaml (YAML 1.1: `yes` and `on` are booleans, `0x1F` is an
// integer, timestamps stay strings); input starting with '{' is a stream of
// JSON values. Numbers become int64 when integral and float64 otherwise.
// Positions come from a separate yaml.v3 parse of each document, used only
// for Object.Line and Object.LineOf; where yaml.v3 cannot parse what
// sigs.k8s.io/yaml accepted, lines fall back to the object's first line.
//
// Write emits a YAML stream with sigs.k8s.io/yaml, so output looks exactly
// like `kubectl get -o yaml`, and decodes back to equal objects.
package manifest
