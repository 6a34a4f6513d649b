package certs

import (
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The package comment is the design map a newcomer reads first; a file
// added, renamed or removed without it makes the map lie.
func TestDesignMapNamesEveryFile(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.PackageClauseOnly|parser.ParseComments)
	require.NoError(t, err)
	require.NotNil(t, f.Doc, "doc.go has no package comment")
	mapped := map[string]bool{}
	for _, name := range regexp.MustCompile(`\b[a-z0-9_]+\.go\b`).FindAllString(f.Doc.Text(), -1) {
		mapped[name] = true
	}

	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	files := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || name == "doc.go" {
			continue
		}
		files[name] = true
		assert.True(t, mapped[name], "%s is not in the design map of doc.go: add it to the step it serves", name)
	}
	for name := range mapped {
		assert.True(t, files[name], "doc.go names %s, which is not a file of the package", name)
	}
}
