package finding

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryCodeHasOneSummary: each code declared in codes.go has a Catalog
// entry, the one place its meaning is written, and no summary of its own
// beside it that could disagree.
func TestEveryCodeHasOneSummary(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "codes.go", nil, parser.ParseComments)
	require.NoError(t, err)
	declared := 0
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				require.True(t, ok, "%s is a literal", name.Name)
				value, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				declared++
				info, found := Info(Code(value))
				assert.True(t, found, "%s (%s) has no Catalog entry: add one, and an example under testdata/findings/", name.Name, value)
				assert.Equal(t, strings.TrimPrefix(name.Name, "Code"), info.Name, "%s's Catalog entry is named after its constant", value)
				assert.Nil(t, vs.Doc, "%s has a comment of its own: its meaning belongs in its Catalog entry only", name.Name)
			}
		}
	}
	assert.Equal(t, len(Catalog), declared, "every Catalog entry is a declared code, once")
}
