package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// upstreamDir holds Istio's own Gateways and IstioOperators, taken from
// Istio's repositories (testdata/upstream/README.md).
var upstreamDir = filepath.Join(repoRoot, "testdata", "upstream")

// upstreamBrokenHeading starts the table in docs/fidelity.md of the
// upstream files meshcert reports an error on although Istio's validation
// accepts their Gateways, each with why it really is broken.
const upstreamBrokenHeading = "## Upstream manifests meshcert reports as broken"

// minUpstreamFiles is the size the corpus must keep.
const minUpstreamFiles = 150

// TestUpstreamCorpus runs meshcert check and Istio's own Gateway validation
// on every manifest of testdata/upstream. meshcert must never exit 2 (it
// cannot read the input), and must report no error on a Gateway Istio
// accepts, unless docs/fidelity.md lists the file as really broken; a
// listed file must still get such an error.
func TestUpstreamCorpus(t *testing.T) {
	tools, meshcert := fidelityTools(t)

	files := upstreamFiles(t)
	require.GreaterOrEqual(t, len(files), minUpstreamFiles, "testdata/upstream holds too few manifests")
	var failures []string
	failures = append(failures, checkUpstreamSources(t, files)...)

	broken := upstreamBrokenFiles(t)
	for file := range broken {
		if !slices.Contains(files, file) {
			failures = append(failures, file+": listed in docs/fidelity.md, but not in testdata/upstream")
		}
	}

	// Istio's verdicts, one oracle process for the whole corpus.
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(upstreamDir, f)
	}
	verdicts := map[string][]istioVerdict{}
	gateways := 0
	for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, nil, tools.IstioOracle, append([]string{"validate"}, paths...)...)), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var v istioVerdict
		require.NoError(t, json.Unmarshal(line, &v), string(line))
		rel, err := filepath.Rel(upstreamDir, v.File)
		require.NoError(t, err)
		verdicts[rel] = append(verdicts[rel], v)
		gateways++
	}
	require.Positive(t, gateways, "Istio's validation judged no Gateway")

	// meshcert, one process per file, as many at once as there are CPUs.
	results := make([]upstreamCheck, len(files))
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	for i, f := range files {
		g.Go(func() error {
			results[i] = checkUpstreamFile(t, meshcert, f)
			return nil
		})
	}
	require.NoError(t, g.Wait())

	exits := map[int]int{}
	accepted, rejected, exempted := 0, 0, 0
	var missed []string
	for i, file := range files {
		r := results[i]
		exits[r.exit]++
		if r.failure != "" {
			failures = append(failures, file+": "+r.failure)
			continue
		}
		errorsOn := map[string][]string{}
		for _, f := range r.findings {
			if f.Object.Kind == "Gateway" && f.Severity == "error" {
				key := f.Object.Namespace + "/" + f.Object.Name
				errorsOn[key] = append(errorsOn[key], f.Code+" "+f.Field)
			}
		}
		why, listed := broken[file]
		erroredOnAccepted := false
		for _, v := range verdicts[file] {
			key := v.Namespace + "/" + v.Name
			found := errorsOn[key]
			if !v.Valid {
				rejected++
				if len(found) == 0 {
					missed = append(missed, fmt.Sprintf("%s %s: %s", file, key, strings.Join(v.Errors, "; ")))
				}
				continue
			}
			accepted++
			if len(found) == 0 {
				continue
			}
			erroredOnAccepted = true
			if listed {
				exempted++
				continue
			}
			failures = append(failures, fmt.Sprintf("%s: Gateway %s: Istio accepts it, meshcert reports %s", file, key, strings.Join(found, ", ")))
		}
		if listed && !erroredOnAccepted {
			failures = append(failures, fmt.Sprintf("%s: listed in docs/fidelity.md as broken (%s), but meshcert reports no error on a Gateway Istio accepts in it: remove it from the table", file, why))
		}
	}

	// All files at once, as one cluster: cross-file conflicts are findings
	// (exit 1), but the input must still be readable.
	all := checkUpstreamFile(t, meshcert, ".")
	if all.exit == 2 || all.failure != "" {
		failures = append(failures, "all files at once: "+all.failure)
	}

	t.Logf("%d files, %d Gateways: Istio accepts %d and rejects %d; meshcert exit codes per file %v, all at once %d", len(files), gateways, accepted, rejected, exits, all.exit)
	t.Logf("%d Gateways Istio accepts have meshcert errors in files docs/fidelity.md lists as broken", exempted)
	// The other direction is TestGatewayValidityAgreesWithIstio's on the
	// repository's corpus; here it is only reported.
	sort.Strings(missed)
	for _, m := range missed {
		t.Logf("Istio rejects, meshcert reports no error: %s", m)
	}
	if len(failures) > 0 {
		sort.Strings(failures)
		t.Errorf("%d failures on the upstream corpus:\n%s", len(failures), strings.Join(failures, "\n"))
	}
}

// upstreamFiles lists the manifests of testdata/upstream, relative to it.
func upstreamFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(upstreamDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml", ".json":
			rel, err := filepath.Rel(upstreamDir, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(files)
	return files
}

var commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// checkUpstreamSources checks that testdata/upstream/SOURCES names exactly
// the files present, each once, with a repository, a path and a full commit.
func checkUpstreamSources(t *testing.T, files []string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(upstreamDir, "SOURCES"))
	require.NoError(t, err)
	var failures []string
	listed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 4 || !commitPattern.MatchString(fields[3]) {
			failures = append(failures, fmt.Sprintf("SOURCES:%d: want <local file> <repository> <path> <40-hex commit>, got %q", n, line))
			continue
		}
		if listed[fields[0]] {
			failures = append(failures, fmt.Sprintf("SOURCES:%d: %s is listed twice", n, fields[0]))
		}
		listed[fields[0]] = true
	}
	require.NoError(t, sc.Err())
	for _, f := range files {
		if !listed[f] {
			failures = append(failures, f+": not in SOURCES")
		}
		delete(listed, f)
	}
	for f := range listed {
		failures = append(failures, f+": in SOURCES, but not in testdata/upstream")
	}
	return failures
}

// upstreamBrokenFiles parses the table under upstreamBrokenHeading in
// docs/fidelity.md: file (relative to testdata/upstream) and why.
func upstreamBrokenFiles(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "fidelity.md"))
	require.NoError(t, err)
	_, section, found := strings.Cut(string(data), "\n"+upstreamBrokenHeading+"\n")
	require.True(t, found, "docs/fidelity.md has no %q section", upstreamBrokenHeading)
	if next := strings.Index(section, "\n## "); next >= 0 {
		section = section[:next]
	}
	broken := map[string]string{}
	header := true
	for line := range strings.SplitSeq(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header || strings.Trim(cells[0], "-: ") == "" {
			header = false // the column names, then the separator row
			continue
		}
		require.Len(t, cells, 2, "docs/fidelity.md %s: want | file | why |, got %q", upstreamBrokenHeading, line)
		file := strings.Trim(cells[0], "`")
		require.NotEmpty(t, cells[1], "docs/fidelity.md: %s is listed without why", file)
		require.NotContains(t, broken, file, "docs/fidelity.md lists %s twice", file)
		broken[file] = cells[1]
	}
	return broken
}

// upstreamCheck is what `meshcert check` said about one input.
type upstreamCheck struct {
	exit     int
	findings []meshcertFinding
	// failure says why the run does not count: exit 2 (or another), or
	// output that is not meshcert's JSON report.
	failure string
}

// checkUpstreamFile runs `meshcert check -o json -f PATH` on a file of
// testdata/upstream (or on all of it, with file "."), without --strict, so
// a missing workload or Secret is a warning, as for a manifest applied on
// its own. It runs in any goroutine: it reports, it does not fail t.
func checkUpstreamFile(t *testing.T, meshcert, file string) upstreamCheck {
	cmd := exec.CommandContext(t.Context(), meshcert, "check", "-o", "json", "-f", filepath.Join(upstreamDir, file))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var r upstreamCheck
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.exit = exit.ExitCode()
	default:
		r.exit = -1
		r.failure = fmt.Sprintf("meshcert check did not run: %v", err)
		return r
	}
	if r.exit != 0 && r.exit != 1 {
		r.failure = fmt.Sprintf("meshcert check exits %d: %s", r.exit, strings.TrimSpace(stderr.String()))
		return r
	}
	var report struct {
		Findings []meshcertFinding `json:"findings"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		r.failure = fmt.Sprintf("meshcert check -o json printed no report (%v): %s", err, strings.TrimSpace(stderr.String()))
		return r
	}
	r.findings = report.Findings
	hasError := slices.ContainsFunc(r.findings, func(f meshcertFinding) bool { return f.Severity == "error" })
	if hasError != (r.exit == 1) {
		r.failure = fmt.Sprintf("meshcert check exits %d, and its report has error findings: %t", r.exit, hasError)
	}
	return r
}
