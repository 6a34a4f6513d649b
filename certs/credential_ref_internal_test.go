package certs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// pathParts must read a path as Istio's ParseResourceName does, with
// strings.Split.
func TestPathPartsIsSplit(t *testing.T) {
	for _, path := range []string{"", "/", "//", "name", "ns/name", "ns/name/extra", "/name", "ns/", "a/b/c/d", "ns//name"} {
		parts := strings.Split(path, "/")
		first, second, more := pathParts(path)
		assert.Equal(t, parts[0], first, "first part of %q", path)
		assert.Equal(t, len(parts) > 1, more, "more than one part in %q", path)
		if len(parts) > 1 {
			assert.Equal(t, parts[1], second, "second part of %q", path)
		}
	}
}

func FuzzPathParts(f *testing.F) {
	f.Add("ns/name/extra")
	f.Fuzz(func(t *testing.T, path string) {
		parts := strings.Split(path, "/")
		first, second, more := pathParts(path)
		if first != parts[0] || more != (len(parts) > 1) || (more && second != parts[1]) {
			t.Fatalf("pathParts(%q) = %q, %q, %v; strings.Split gives %q", path, first, second, more, parts)
		}
	})
}
