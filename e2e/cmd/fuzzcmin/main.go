// Command fuzzcmin keeps, of a fuzz target's checked-in corpus
// (testdata/fuzz/FuzzName), only the inputs that add statement coverage,
// so the repository carries what protects it and no more. `make
// fuzz-minimize` runs it on every fuzz target (docs/development.md,
// "Fuzz corpora").
//
//	fuzzcmin -moddir DIR -pkg PKG -fuzz FuzzName [-coverpkg PATTERN] [-j N] [-dry-run]
//
// It builds the package's test binary with -cover, runs the target's f.Add
// seeds once (their coverage is there anyway), then every corpus file on
// its own, and picks greedily the file that covers the most statements no
// kept input covers yet, until no file adds any. Files whose name is not a
// fuzzer's 16-digit hash (a regression input named for its bug) are always
// kept. A corpus file that fails its test stops the run with nothing
// removed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/tools/cover"
)

// fuzzerName is how `go test -fuzz` names the inputs it writes.
var fuzzerName = regexp.MustCompile(`^[0-9a-f]{16}$`)

type input struct {
	name   string
	size   int64
	blocks map[string]bool
}

func main() {
	moddir := flag.String("moddir", ".", "module directory to build the test binary in")
	pkg := flag.String("pkg", "", "package holding the fuzz target, as go test names it (./certs)")
	fuzzName := flag.String("fuzz", "", "fuzz target name (FuzzPlanGateway)")
	coverpkg := flag.String("coverpkg", "github.com/meshcert/meshcert/...", "packages whose statements count")
	jobs := flag.Int("j", runtime.NumCPU(), "inputs run at once")
	dryRun := flag.Bool("dry-run", false, "report what would be removed, remove nothing")
	flag.Parse()
	if *pkg == "" || *fuzzName == "" {
		fmt.Fprintln(os.Stderr, "fuzzcmin: -pkg and -fuzz are required")
		os.Exit(2)
	}
	if err := run(*moddir, *pkg, *fuzzName, *coverpkg, *jobs, *dryRun); err != nil {
		fmt.Fprintf(os.Stderr, "fuzzcmin: %s %s: %v\n", *pkg, *fuzzName, err)
		os.Exit(1)
	}
}

func run(moddir, pkg, fuzzName, coverpkg string, jobs int, dryRun bool) error {
	tmp, err := os.MkdirTemp("", "fuzzcmin-")
	if err != nil {
		return fmt.Errorf("failed to create a temporary directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	bin := filepath.Join(tmp, "fuzz.test")
	build := exec.Command("go", "test", "-c", "-cover", "-covermode=set", "-coverpkg="+coverpkg, "-o", bin, pkg)
	build.Dir, build.Stdout, build.Stderr = moddir, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("failed to build the test binary: %w", err)
	}
	list := exec.Command("go", "list", "-f", "{{.Dir}}", pkg)
	list.Dir = moddir
	out, err := list.Output()
	if err != nil {
		return fmt.Errorf("failed to locate the package: %w", err)
	}
	pkgDir := strings.TrimSpace(string(out))
	corpus := filepath.Join(pkgDir, "testdata", "fuzz", fuzzName)

	entries, err := os.ReadDir(corpus)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Printf("%s %s: no corpus\n", pkg, fuzzName)
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read the corpus: %w", err)
	}
	inputs := make([]*input, 0, len(entries))
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("failed to stat %s: %w", e.Name(), err)
		}
		if !e.IsDir() {
			inputs = append(inputs, &input{name: e.Name(), size: info.Size()})
		}
	}

	seeds, err := coverageOf(bin, pkgDir, tmp, "^"+fuzzName+"$/^seed#", "seeds")
	if err != nil {
		return err
	}
	if err := measure(bin, pkgDir, tmp, fuzzName, inputs, jobs); err != nil {
		return err
	}

	covered := maps.Clone(seeds)
	keep := map[string]bool{}
	for _, in := range inputs {
		if !fuzzerName.MatchString(in.name) {
			keep[in.name] = true
			union(covered, in.blocks)
		}
	}
	for {
		best, gain := (*input)(nil), 0
		for _, in := range inputs {
			if keep[in.name] {
				continue
			}
			g := newBlocks(covered, in.blocks)
			if g > gain || g == gain && g > 0 && best != nil && (in.size < best.size || in.size == best.size && in.name < best.name) {
				best, gain = in, g
			}
		}
		if best == nil {
			break
		}
		keep[best.name] = true
		union(covered, best.blocks)
	}

	removed := 0
	for _, in := range inputs {
		if keep[in.name] {
			continue
		}
		removed++
		if !dryRun {
			if err := os.Remove(filepath.Join(corpus, in.name)); err != nil {
				return fmt.Errorf("failed to remove %s: %w", in.name, err)
			}
		}
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	fmt.Printf("%s %s: kept %d of %d inputs, %s %d; seeds cover %d blocks, the kept inputs %d more\n",
		pkg, fuzzName, len(inputs)-removed, len(inputs), verb, removed, len(seeds), len(covered)-len(seeds))
	return nil
}

// measure runs every input alone, jobs at a time, and records the blocks it
// covers.
func measure(bin, pkgDir, tmp, fuzzName string, inputs []*input, jobs int) error {
	work := make(chan *input)
	errs := make(chan error, len(inputs))
	var wg sync.WaitGroup
	for range max(jobs, 1) {
		wg.Go(func() {
			for in := range work {
				blocks, err := coverageOf(bin, pkgDir, tmp, "^"+fuzzName+"$/^"+regexp.QuoteMeta(in.name)+"$", in.name)
				if err != nil {
					errs <- err
					continue
				}
				in.blocks = blocks
			}
		})
	}
	for _, in := range inputs {
		work <- in
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// coverageOf runs the tests -run selects and returns the blocks they cover.
func coverageOf(bin, pkgDir, tmp, runPattern, label string) (map[string]bool, error) {
	profile, err := os.CreateTemp(tmp, "cover-*.out")
	if err != nil {
		return nil, fmt.Errorf("failed to create a profile file: %w", err)
	}
	_ = profile.Close()
	defer func() { _ = os.Remove(profile.Name()) }()

	cmd := exec.Command(bin, "-test.run", runPattern, "-test.count=1", "-test.v", "-test.coverprofile", profile.Name())
	cmd.Dir = pkgDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("failed to run %s (a corpus input that fails must be fixed, not dropped): %w\n%s", label, err, out)
	}
	if label != "seeds" && !strings.Contains(string(out), "/"+label) {
		return nil, fmt.Errorf("failed to run %s: the test binary did not run it\n%s", label, out)
	}
	profiles, err := cover.ParseProfiles(profile.Name())
	if err != nil {
		return nil, fmt.Errorf("failed to read the coverage of %s: %w", label, err)
	}
	blocks := map[string]bool{}
	for _, p := range profiles {
		for _, b := range p.Blocks {
			if b.Count > 0 {
				blocks[fmt.Sprintf("%s:%d.%d,%d.%d", p.FileName, b.StartLine, b.StartCol, b.EndLine, b.EndCol)] = true
			}
		}
	}
	return blocks, nil
}

func union(into, from map[string]bool) {
	for k := range from {
		into[k] = true
	}
}

func newBlocks(covered, blocks map[string]bool) int {
	n := 0
	for k := range blocks {
		if !covered[k] {
			n++
		}
	}
	return n
}
