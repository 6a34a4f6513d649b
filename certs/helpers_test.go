package certs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/offline"
)

// objectsFromYAML decodes a "---"-separated YAML stream into objects.
func objectsFromYAML(t testing.TB, stream string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for doc := range strings.SplitSeq(stream, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		m := map[string]any{}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &m), "decoding test YAML:\n%s", doc)
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func objectFromYAML(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	objs := objectsFromYAML(t, doc)
	require.Len(t, objs, 1)
	return objs[0]
}

func indexOf(t testing.TB, stream string) *offline.Index {
	t.Helper()
	x := offline.NewIndex()
	for _, obj := range objectsFromYAML(t, stream) {
		require.NoError(t, x.Add(obj))
	}
	return x
}

// summary renders findings as "severity code field" lines, which is what
// table tests compare; messages are checked separately where they matter.
func summary(fs finding.Findings) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s", f.Severity, f.Code, f.Field))
	}
	return out
}

// cliOptions are the options `meshcert check` plans with: the index stands
// for its input files, which rarely hold the Namespaces, so only the
// policies of Namespaces in the index are enforced. Tests of other rules
// use it; tenancy_policy_test.go covers the server's stricter reading.
func cliOptions() certs.Options {
	opts := certs.DefaultOptions()
	opts.PolicyOnlyForKnownNamespaces = true
	return opts
}
