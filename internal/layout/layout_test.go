package layout_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/internal/layout"
)

type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// goList describes every package of the module with its direct and
// transitive imports.
func goList(t *testing.T) map[string]listed {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-json", "-deps=false", layout.Module+"/...").Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		t.Fatalf("go list: %v: %s", err, exitErr.Stderr)
	}
	require.NoError(t, err)
	pkgs := map[string]listed{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, layout.Module), "/")] = p
	}
	return pkgs
}

func abs(prefix string) string {
	if rest, ok := strings.CutPrefix(prefix, "./"); ok {
		return layout.Module + "/" + rest
	}
	return prefix
}

func reaches(imports []string, prefix string) []string {
	var out []string
	for _, imp := range imports {
		if imp == prefix || strings.HasPrefix(imp, prefix+"/") {
			out = append(out, imp)
		}
	}
	return out
}

// TestLayout fails when a package imports, directly or not, what its rule
// forbids: a pure planner reaching a client or a door, or one door another.
func TestLayout(t *testing.T) {
	pkgs := goList(t)
	for _, rule := range layout.Rules {
		t.Run(rule.Package, func(t *testing.T) {
			p, ok := pkgs[rule.Package]
			require.True(t, ok, "package %s is in the layout but not in the module", rule.Package)
			for _, f := range rule.Forbidden {
				assert.Empty(t, reaches(p.Deps, abs(f)), "%s must not import %s", rule.Package, f)
			}
			if slices.Contains(layout.Pure, rule.Package) {
				for _, f := range layout.DirectForbidden {
					assert.Empty(t, reaches(p.Imports, f), "%s must not import %s directly", rule.Package, f)
				}
			}
		})
	}
}

// TestLayoutCoversEveryPackage makes a new package take a place in the map.
func TestLayoutCoversEveryPackage(t *testing.T) {
	for path := range goList(t) {
		if path == "" || strings.HasPrefix(path, "internal/") || path == "cmd/meshcert" {
			continue
		}
		assert.True(t, slices.ContainsFunc(layout.Rules, func(r layout.Rule) bool { return r.Package == path }),
			"package %s has no rule in internal/layout", path)
	}
}
