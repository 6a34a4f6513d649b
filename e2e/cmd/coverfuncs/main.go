// Command coverfuncs prints the statement coverage of the functions a root
// function reaches, from a text coverage profile (`go tool covdata textfmt`)
// of a binary built with `go build -cover -coverpkg=...`. `make
// fidelity-coverage` runs it on the Istio oracle's profile with Istio's
// ValidateGateway as the root (docs/fidelity.md, "Coverage of Istio's
// Gateway validation").
//
//	coverfuncs -profile FILE -moddir DIR -root PKG.NAME [-unreachable FILE] [-min PERCENT]
//
// The functions are found in the source of the profile's packages (located
// with `go list` in -moddir, the module the binary was built in): a
// function reaches every package-level function or function-valued
// variable it names, in its own package or, qualified, in another of the
// profile's packages, and every method of those packages whose name it
// selects (x.Name). That over-approximates calls through interfaces and
// methods, never misses a direct one. A closure counts with the function
// or package-level variable it is written in, as `go tool cover -func`
// counts it; a variable such as `var ValidateGateway =
// RegisterValidateFunc("ValidateGateway", func(...) {...})` is one
// function.
//
// -unreachable names statements no input of the root's kind can reach
// (dead code, or branches for other kinds): one per line, `FUNCTION |
// TEXT | REASON`, where the statement block's source contains TEXT (`*`:
// every block of the function). Each line must match a block, so the list
// cannot rot. The figure is printed both with and without them; -min
// fails (exit 1) when the figure without them is below PERCENT.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

func main() {
	profile := flag.String("profile", "", "text coverage profile (go tool covdata textfmt -o)")
	moddir := flag.String("moddir", ".", "module the covered binary was built in (go list runs there)")
	root := flag.String("root", "", "root function, import/path.Name (a method: import/path.(Type).Name)")
	unreachable := flag.String("unreachable", "", "file of statements the root's inputs cannot reach: FUNCTION | TEXT | REASON")
	minimum := flag.Float64("min", 0, "exit 1 when the coverage of the reachable statements is below this percentage")
	flag.Parse()
	if *profile == "" || *root == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: coverfuncs -profile FILE -moddir DIR -root PKG.NAME [-unreachable FILE] [-min PERCENT]")
		os.Exit(2)
	}
	if err := run(os.Stdout, *profile, *moddir, *root, *unreachable, *minimum); err != nil {
		fmt.Fprintf(os.Stderr, "coverfuncs: %v\n", err)
		os.Exit(1)
	}
}

// block is one statement block of the profile.
type block struct {
	file                               string // import path + "/" + file name, as in the profile
	startLine, startCol, endLine, endC int
	stmts                              int
	count                              int
}

// function is a function declaration or a package-level variable whose
// value holds a function literal.
type function struct {
	key        string // import/path.Name or import/path.(Type).Name
	pkg        string
	file       string // as in the profile
	pos, end   token.Position
	decl       ast.Node
	fileImport map[string]string // local name -> import path, of its file
	source     []byte            // the whole file
	blocks     []*block
}

type exclusion struct {
	function, text, reason string
	matched                int
}

func run(w io.Writer, profilePath, moddir, root, unreachablePath string, minimum float64) error {
	blocks, err := readProfile(profilePath)
	if err != nil {
		return err
	}
	pkgs := map[string]bool{}
	for _, b := range blocks {
		pkgs[path.Dir(b.file)] = true
	}
	dirs, err := packageDirs(moddir, pkgs)
	if err != nil {
		return err
	}
	funcs, pkgNames, err := parsePackages(dirs)
	if err != nil {
		return err
	}
	byFile := map[string][]*function{}
	for _, f := range funcs {
		byFile[f.file] = append(byFile[f.file], f)
	}
	for _, b := range blocks {
		for _, f := range byFile[b.file] {
			if contains(f, b) {
				f.blocks = append(f.blocks, b)
				break
			}
		}
	}
	reached, err := reachable(funcs, pkgNames, root)
	if err != nil {
		return err
	}
	var exclusions []*exclusion
	if unreachablePath != "" {
		if exclusions, err = readExclusions(unreachablePath); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "Functions %s reaches (%d), statements covered:\n", root, len(reached))
	var total, covered, exTotal int
	var missed []string
	for _, f := range reached {
		fs, fc := 0, 0
		for _, b := range f.blocks {
			fs += b.stmts
			if b.count > 0 {
				fc += b.stmts
				continue
			}
			text := blockText(f, b)
			if ex := excluded(exclusions, f, text); ex != nil {
				ex.matched++
				exTotal += b.stmts
				missed = append(missed, fmt.Sprintf("  %s:%d  %s  %d stmt  [unreachable: %s]  %s", b.file, b.startLine, shortKey(f.key), b.stmts, ex.reason, firstLine(text)))
				continue
			}
			missed = append(missed, fmt.Sprintf("  %s:%d  %s  %d stmt  %s", b.file, b.startLine, shortKey(f.key), b.stmts, firstLine(text)))
		}
		total += fs
		covered += fc
		fmt.Fprintf(w, "  %6s  %3d/%-3d  %s  (%s:%d)\n", percent(fc, fs), fc, fs, shortKey(f.key), f.file, f.pos.Line)
	}
	fmt.Fprintf(w, "Total: %d of %d statements, %s\n", covered, total, percent(covered, total))
	reachableTotal := total - exTotal
	fmt.Fprintf(w, "Without the %d statements listed as unreachable: %d of %d statements, %s\n",
		exTotal, covered, reachableTotal, percent(covered, reachableTotal))
	fmt.Fprintf(w, "Statements not covered (%d blocks):\n", len(missed))
	for _, m := range missed {
		fmt.Fprintln(w, m)
	}
	var rotten []string
	for _, ex := range exclusions {
		if ex.matched == 0 {
			rotten = append(rotten, fmt.Sprintf("%s | %s", ex.function, ex.text))
		}
	}
	if len(rotten) > 0 {
		return fmt.Errorf("%s: these lines match no uncovered statement block (covered now, or the source changed): remove or fix them:\n  %s",
			unreachablePath, strings.Join(rotten, "\n  "))
	}
	if reachableTotal > 0 && float64(covered)*100 < minimum*float64(reachableTotal) {
		return fmt.Errorf("coverage %s of the reachable statements is below -min %.1f%%", percent(covered, reachableTotal), minimum)
	}
	return nil
}

func percent(n, d int) string {
	if d == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(n)*100/float64(d), 'f', 1, 64) + "%"
}

// shortKey drops the import path's directories: validation.validateServer.
func shortKey(key string) string {
	dot := strings.Index(key[strings.LastIndex(key, "/")+1:], ".") + strings.LastIndex(key, "/") + 1
	return path.Base(key[:dot]) + key[dot:]
}

// firstLine is the first line of a block's source.
func firstLine(text string) string {
	text = strings.TrimSpace(text)
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = text[:i] + " …"
	}
	return text
}

// readProfile reads a text profile; blocks that several runs report are
// merged (the counts added).
func readProfile(name string) ([]*block, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]*block{}
	var out []*block
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if line == 1 && strings.HasPrefix(text, "mode:") || text == "" {
			continue
		}
		// file:startLine.startCol,endLine.endCol numStmts count
		colon := strings.LastIndex(text, ":")
		fields := strings.Fields(text[colon+1:])
		if colon < 0 || len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: not a coverage line: %q", name, line, text)
		}
		b := &block{file: text[:colon]}
		if _, err := fmt.Sscanf(fields[0], "%d.%d,%d.%d", &b.startLine, &b.startCol, &b.endLine, &b.endC); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if b.stmts, err = strconv.Atoi(fields[1]); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if b.count, err = strconv.Atoi(fields[2]); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		key := b.file + ":" + fields[0]
		if prev, ok := seen[key]; ok {
			prev.count += b.count
			continue
		}
		seen[key] = b
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no coverage blocks", name)
	}
	return out, nil
}

// packageDirs asks go list, in the covered binary's module, where each
// package's source is.
func packageDirs(moddir string, pkgs map[string]bool) (map[string]string, error) {
	args := []string{"list", "-f", "{{.ImportPath}}\t{{.Dir}}"}
	for p := range pkgs {
		args = append(args, p)
	}
	sort.Strings(args[3:])
	cmd := exec.Command("go", args...)
	cmd.Dir = moddir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list in %s: %w\n%s", moddir, err, stderr.String())
	}
	dirs := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		imp, dir, ok := strings.Cut(line, "\t")
		if !ok {
			return nil, fmt.Errorf("go list: unexpected line %q", line)
		}
		dirs[imp] = dir
	}
	for p := range pkgs {
		if dirs[p] == "" {
			return nil, fmt.Errorf("go list in %s: no directory for %s", moddir, p)
		}
	}
	return dirs, nil
}

// parsePackages finds the functions of the packages' non-test Go files
// that the profile covers (the files of the build: a file the profile
// never names is not parsed).
func parsePackages(dirs map[string]string) (funcs []*function, pkgNames map[string]string, err error) {
	pkgNames = map[string]string{}
	fset := token.NewFileSet()
	for imp, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return nil, nil, err
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			src, err := os.ReadFile(name)
			if err != nil {
				return nil, nil, err
			}
			file, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
			if err != nil {
				return nil, nil, err
			}
			if !buildable(file) {
				continue
			}
			pkgNames[imp] = file.Name.Name
			imports := map[string]string{}
			for _, is := range file.Imports {
				p, _ := strconv.Unquote(is.Path.Value)
				local := path.Base(p)
				if is.Name != nil {
					local = is.Name.Name
				}
				imports[local] = p
			}
			profileName := imp + "/" + filepath.Base(name)
			add := func(key string, node ast.Node) {
				funcs = append(funcs, &function{
					key: imp + "." + key, pkg: imp, file: profileName,
					pos: fset.Position(node.Pos()), end: fset.Position(node.End()),
					decl: node, fileImport: imports, source: src,
				})
			}
			for _, d := range file.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					name := d.Name.Name
					if d.Recv != nil && len(d.Recv.List) == 1 {
						name = "(" + receiverType(d.Recv.List[0].Type) + ")." + name
					}
					add(name, d)
				case *ast.GenDecl:
					if d.Tok != token.VAR {
						continue
					}
					for _, spec := range d.Specs {
						vs := spec.(*ast.ValueSpec)
						if len(vs.Names) == 1 && holdsFuncLit(vs) {
							add(vs.Names[0].Name, vs)
						}
					}
				}
			}
		}
	}
	return funcs, pkgNames, nil
}

// buildable reports whether a file is built for linux/amd64 without tags:
// a //go:build line that mentions a tag other than linux, amd64, unix or
// a negation is taken as excluding it.
func buildable(file *ast.File) bool {
	for _, cg := range file.Comments {
		if cg.Pos() > file.Package {
			break
		}
		for _, c := range cg.List {
			expr, ok := strings.CutPrefix(c.Text, "//go:build ")
			if !ok {
				continue
			}
			for _, f := range strings.FieldsFunc(expr, func(r rune) bool { return strings.ContainsRune(" ()&|", r) }) {
				switch f {
				case "linux", "amd64", "unix", "!windows", "!darwin", "go1.21", "go1.22":
				default:
					if !strings.HasPrefix(f, "!") {
						return false
					}
				}
			}
		}
	}
	return true
}

func receiverType(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return receiverType(t.X)
	case *ast.IndexExpr:
		return receiverType(t.X)
	case *ast.IndexListExpr:
		return receiverType(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}

func holdsFuncLit(vs *ast.ValueSpec) bool {
	found := false
	for _, v := range vs.Values {
		ast.Inspect(v, func(n ast.Node) bool {
			if _, ok := n.(*ast.FuncLit); ok {
				found = true
			}
			return !found
		})
	}
	return found
}

func contains(f *function, b *block) bool {
	after := func(l1, c1, l2, c2 int) bool { return l1 > l2 || l1 == l2 && c1 >= c2 }
	return after(b.startLine, b.startCol, f.pos.Line, f.pos.Column) && after(f.end.Line, f.end.Column, b.endLine, b.endC)
}

// reachable walks the names each function mentions, from root.
func reachable(funcs []*function, pkgNames map[string]string, root string) ([]*function, error) {
	byKey := map[string]*function{}
	methods := map[string][]*function{} // method name -> methods
	for _, f := range funcs {
		byKey[f.key] = f
		if i := strings.Index(f.key, ".("); i >= 0 {
			name := f.key[strings.LastIndex(f.key, ".")+1:]
			methods[name] = append(methods[name], f)
		}
	}
	start := byKey[root]
	if start == nil {
		return nil, fmt.Errorf("root %s is not a function of the profile's packages", root)
	}
	parsed := map[string]bool{}
	for p := range pkgNames {
		parsed[p] = true
	}
	seen := map[*function]bool{start: true}
	queue := []*function{start}
	visit := func(g *function) {
		if g != nil && !seen[g] {
			seen[g] = true
			queue = append(queue, g)
		}
	}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		body := f.decl
		if fd, ok := f.decl.(*ast.FuncDecl); ok {
			if fd.Body == nil {
				continue
			}
			body = fd.Body
		}
		ast.Inspect(body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok {
					if imp, ok := f.fileImport[x.Name]; ok {
						if parsed[imp] {
							visit(byKey[imp+"."+n.Sel.Name])
						}
						return false
					}
				}
				for _, m := range methods[n.Sel.Name] {
					visit(m)
				}
				ast.Inspect(n.X, func(n ast.Node) bool { return inspectIdent(n, f, byKey, visit) })
				return false
			default:
				return inspectIdent(n, f, byKey, visit)
			}
		})
	}
	var out []*function
	for f := range seen {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].file != out[j].file {
			return out[i].file < out[j].file
		}
		return out[i].pos.Line < out[j].pos.Line
	})
	return out, nil
}

func inspectIdent(n ast.Node, f *function, byKey map[string]*function, visit func(*function)) bool {
	if id, ok := n.(*ast.Ident); ok {
		visit(byKey[f.pkg+"."+id.Name])
	}
	return true
}

// blockText is the source of the lines a block spans, whole: a block that
// starts at the brace of an if or case has its condition in its text.
func blockText(f *function, b *block) string {
	lines := strings.Split(string(f.source), "\n")
	if b.startLine < 1 || b.endLine > len(lines) || b.startLine > b.endLine {
		return ""
	}
	return strings.Join(lines[b.startLine-1:b.endLine], "\n")
}

func readExclusions(name string) ([]*exclusion, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []*exclusion
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, " | ", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s:%d: want FUNCTION | TEXT | REASON", name, i+1)
		}
		out = append(out, &exclusion{function: strings.TrimSpace(parts[0]), text: strings.TrimSpace(parts[1]), reason: strings.TrimSpace(parts[2])})
	}
	if len(out) == 0 {
		return nil, errors.New(name + ": no exclusions")
	}
	return out, nil
}

// excluded returns the exclusion that names this uncovered block.
func excluded(exclusions []*exclusion, f *function, text string) *exclusion {
	for _, ex := range exclusions {
		if ex.function != shortKey(f.key) && ex.function != f.key {
			continue
		}
		if ex.text == "*" || strings.Contains(text, ex.text) {
			return ex
		}
	}
	return nil
}
