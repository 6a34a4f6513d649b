package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A module of two packages: Root reaches helper (a call), other.Used (a
// qualified name), T.Method (a selected method) and the closure of Var;
// Unused is reached by nothing.
var files = map[string]string{
	"go.mod": "module example.com/m\n\ngo 1.22\n",
	"p/p.go": `package p

import "example.com/m/other"

var Var = wrap(func(x int) int {
	if x > 0 {
		return helper(x)
	}
	return 0
})

func wrap(f func(int) int) func(int) int { return f }

func Root(x int) int {
	var t other.T
	return Var(x) + other.Used() + t.Method()
}

func helper(x int) int {
	if x > 10 {
		return 10
	}
	return x
}

func Unused() int { return 1 }
`,
	"other/other.go": `package other

type T struct{}

func (T) Method() int {
	if false {
		return 2
	}
	return 1
}

func Used() int { return 3 }

func NotUsed() int { return 4 }
`,
}

// profile has every block of the module: helper's x > 10 branch and
// Method's dead branch are not covered.
const profile = `mode: set
example.com/m/p/p.go:5.34,6.11 1 1
example.com/m/p/p.go:6.11,8.3 1 1
example.com/m/p/p.go:9.2,9.10 1 1
example.com/m/p/p.go:12.42,12.53 1 1
example.com/m/p/p.go:14.25,17.2 2 1
example.com/m/p/p.go:19.26,20.12 1 1
example.com/m/p/p.go:20.12,22.3 1 0
example.com/m/p/p.go:23.2,23.10 1 1
example.com/m/p/p.go:26.19,26.30 1 0
example.com/m/other/other.go:5.22,6.11 1 1
example.com/m/other/other.go:6.11,8.3 1 0
example.com/m/other/other.go:9.2,9.10 1 1
example.com/m/other/other.go:12.17,12.28 1 1
example.com/m/other/other.go:14.20,14.31 1 0
`

func writeModule(t *testing.T) (dir, prof string) {
	t.Helper()
	dir = t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	prof = filepath.Join(dir, "profile.txt")
	if err := os.WriteFile(prof, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, prof
}

func TestReachableFunctionsAndTheirCoverage(t *testing.T) {
	dir, prof := writeModule(t)
	var out bytes.Buffer
	if err := run(&out, prof, dir, "example.com/m/p.Root", "", 0); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"reaches (6)",
		"p.Root", "p.Var", "p.wrap", "p.helper", "other.(T).Method", "other.Used",
		"Total: 11 of 13 statements, 84.6%",
		"other.(T).Method  1 stmt  if false {",
		"p.helper  1 stmt  if x > 10 {",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"p.Unused", "other.NotUsed"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("output names %s, which Root does not reach:\n%s", unwanted, got)
		}
	}
}

func TestUnreachableStatementsAndMinimum(t *testing.T) {
	dir, prof := writeModule(t)
	unreachable := filepath.Join(dir, "unreachable.txt")
	if err := os.WriteFile(unreachable, []byte("# comment\nother.(T).Method | if false { | dead code\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(&out, prof, dir, "example.com/m/p.Root", unreachable, 90); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if want := "Without the 1 statements listed as unreachable: 11 of 12 statements, 91.7%"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	if err := run(&bytes.Buffer{}, prof, dir, "example.com/m/p.Root", unreachable, 95); err == nil || !strings.Contains(err.Error(), "below -min 95.0%") {
		t.Errorf("run with -min 95: got %v, want a coverage error", err)
	}

	// A line that matches no uncovered block is an error: the list cannot rot.
	if err := os.WriteFile(unreachable, []byte("p.helper | return x | covered\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(&bytes.Buffer{}, prof, dir, "example.com/m/p.Root", unreachable, 0); err == nil || !strings.Contains(err.Error(), "match no uncovered statement block") {
		t.Errorf("run with a stale line: got %v, want an error", err)
	}
}

func TestUnknownRoot(t *testing.T) {
	dir, prof := writeModule(t)
	if err := run(&bytes.Buffer{}, prof, dir, "example.com/m/p.Nope", "", 0); err == nil {
		t.Error("an unknown root is not an error")
	}
}
