package reference

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/internal/mddoc"
)

var (
	moduleRoot = filepath.Join("..", "..")
	docsDir    = filepath.Join(moduleRoot, "docs")
	// The packages whose keys the tables describe: the planners and the
	// doors that read or write objects.
	productPackages = []string{"certs", "istiooperator", "meshca", "webhook", "controller", "cluster", "offline", "manifest", "finding", "cmd/meshcert/app"}
)

// keyPattern is an annotation or label key of one of the owners whose
// keys meshcert reads or writes (meshcert, cert-manager, Istio, Kubernetes
// itself), subdomains included: "prefix/name" with a lower-case name, so a
// kind such as "cert-manager.io/Issuer" names no key.
var keyPattern = regexp.MustCompile(`^([a-z0-9-]+\.)*(meshcert\.io|cert-manager\.io|istio\.io|kubernetes\.io)/[a-z0-9][a-z0-9._-]*$`)

func isKey(s string) bool { return keyPattern.MatchString(s) }

// stringConstants maps "pkg.Name" to the value of each string constant
// declared in the Go files of dir (those of tests too when tests is set):
// a literal, or a sum of literals and the package's other constants, as
// k8s.io/api builds its kubectl keys.
func stringConstants(t *testing.T, pkg, dir string, tests bool) map[string]string {
	t.Helper()
	exprs := map[string]ast.Expr{}
	forEachFile(t, dir, tests, func(f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok {
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						exprs[name.Name] = vs.Values[i]
					}
				}
			}
			return true
		})
	})
	var value func(e ast.Expr, depth int) (string, bool)
	value = func(e ast.Expr, depth int) (string, bool) {
		if depth > 10 {
			return "", false
		}
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind != token.STRING {
				return "", false
			}
			v, err := strconv.Unquote(e.Value)
			return v, err == nil
		case *ast.Ident:
			if def, ok := exprs[e.Name]; ok {
				return value(def, depth+1)
			}
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				x, okX := value(e.X, depth+1)
				y, okY := value(e.Y, depth+1)
				return x + y, okX && okY
			}
		}
		return "", false
	}
	out := map[string]string{}
	for name, e := range exprs {
		if v, ok := value(e, 0); ok {
			out[pkg+"."+name] = v
		}
	}
	return out
}

func forEachFile(t *testing.T, dir string, tests bool, fn func(*ast.File)) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || !tests && strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, 0)
		require.NoError(t, err)
		fn(f)
	}
}

func moduleDir(t *testing.T, module string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	require.NoError(t, err, "go list -m %s", module)
	return strings.TrimSpace(string(out))
}

// usedKeys returns every annotation or label key the product code names:
// string literals, its own constants, and cert-manager's constants it
// refers to (read from cert-manager's and k8s.io/api's source, so a key is found by value
// whichever constant names it).
func usedKeys(t *testing.T) map[string][]string {
	t.Helper()
	cm := moduleDir(t, "github.com/cert-manager/cert-manager")
	upstream := map[string]string{}
	for name, v := range stringConstants(t, "cmapi", filepath.Join(cm, "pkg", "apis", "certmanager", "v1"), false) {
		upstream[name] = v
	}
	for name, v := range stringConstants(t, "cmacme", filepath.Join(cm, "pkg", "apis", "acme", "v1"), false) {
		upstream[name] = v
	}
	api := moduleDir(t, "k8s.io/api")
	for alias, dir := range map[string]string{"corev1": "core/v1", "networkingv1": "networking/v1"} {
		for name, v := range stringConstants(t, alias, filepath.Join(api, filepath.FromSlash(dir)), false) {
			upstream[name] = v
		}
	}
	used := map[string][]string{}
	for _, pkg := range productPackages {
		dir := filepath.Join(moduleRoot, pkg)
		forEachFile(t, dir, false, func(f *ast.File) {
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.BasicLit:
					if v, err := strconv.Unquote(n.Value); n.Kind == token.STRING && err == nil && isKey(v) {
						used[v] = append(used[v], pkg)
					}
				case *ast.SelectorExpr:
					if x, ok := n.X.(*ast.Ident); ok {
						if v, ok := upstream[x.Name+"."+n.Sel.Name]; ok && isKey(v) {
							used[v] = append(used[v], pkg+" ("+x.Name+"."+n.Sel.Name+")")
						}
					}
				}
				return true
			})
		})
	}
	return used
}

// notKeys are strings with a key's prefix that name no annotation or
// label: index names of meshcert's cache, and the prefixes meshcert
// matches whole.
var notKeys = map[string]string{
	"meshcert.io/claims":                     "cluster's index of Gateways by claimed host and credential",
	"cert-manager.io/":                       "the prefix of cert-manager's annotations, which the secret template may not carry",
	"cert-manager.io/allow-direct-injection": "the one cert-manager.io/ annotation cert-manager lets a secret template carry",
	"meshcert.io/":                           "the prefix the mutating webhook's matchConditions look for",
	"istio.io/ingress-controller":            "the controller name of Istio's IngressClass, a value, not a key",
	"kubernetes.io/tls":                      "a Secret type, not a key",
}

func TestEveryKeyTheCodeUsesIsDescribed(t *testing.T) {
	described := map[string]bool{}
	for _, k := range slices.Concat(ShimAnnotations, OwnKeys, IstioAndKubernetesKeys) {
		described[k.Key] = true
	}
	used := usedKeys(t)
	require.NotEmpty(t, used, "the scan finds the keys the code uses")
	for key, where := range used {
		if _, ok := notKeys[key]; ok {
			continue
		}
		assert.True(t, described[key], "%s is used in %v but not described in internal/reference: add it, then run make golden", key, where)
	}
	for key := range described {
		_, ok := used[key]
		assert.True(t, ok || key == "app.kubernetes.io/managed-by", "%s is described but no product code uses it", key)
	}
}

func TestKeyTablesAreCurrent(t *testing.T) {
	t.Run("the shim annotations in docs/gateways.md are those meshcert reads", func(t *testing.T) {
		mddoc.Golden(t, filepath.Join(docsDir, "gateways.md"), "shim-annotations", Table(ShimAnnotations))
	})
	t.Run("meshcert's own keys in docs/gateways.md are those it reads and writes", func(t *testing.T) {
		mddoc.Golden(t, filepath.Join(docsDir, "gateways.md"), "meshcert-keys", Table(OwnKeys))
	})
	t.Run("Istio's and Kubernetes' keys in docs/gateways.md are those meshcert reads", func(t *testing.T) {
		mddoc.Golden(t, filepath.Join(docsDir, "gateways.md"), "other-keys", Table(IstioAndKubernetesKeys))
	})
}
