package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/finding"
)

const (
	findingsExamples = "../../../testdata/findings"
	findingsDoc      = "../../../docs/findings.md"
)

const findingsDocIntro = "# Findings\n\n" +
	"<!-- Generated from finding.Catalog, testdata/findings/ and meshcert check's output by\n" +
	"     TestFindingsDocGolden (cmd/meshcert/app); regenerate with `make golden`. -->\n\n" +
	`Every finding meshcert reports has a stable code, a severity, the object, the field path and a
message that says what to do. Codes are never renumbered or reused. ` + "`meshcert check`" + ` prints them;
the validating webhook returns errors as denials and warnings as admission warnings.

Severities: **error** fails ` + "`meshcert check`" + ` (exit 1) and denies admission; **warning** is printed;
**info** explains. Findings marked *lenient* are warnings by default and errors under ` + "`--strict`" + `
(and, in the cluster, under enforcement), because they may only mean that objects are applied in
another order.

Each example below is a file under ` + "`testdata/findings/`" + `, followed by what ` + "`meshcert check`" + `
prints for it; the page is generated from the examples and the real output, so it cannot drift.

`

// TestFindingsDocGolden keeps docs/findings.md, finding.Catalog and the
// examples in step: every code has an example that produces it with its
// documented severity, and the page shows exactly what meshcert check prints
// for each example. UPDATE_GOLDEN=1 rewrites the page.
func TestFindingsDocGolden(t *testing.T) {
	var doc strings.Builder
	doc.WriteString(findingsDocIntro)
	doc.WriteString("| code | severity | what |\n|---|---|---|\n")
	for _, c := range finding.Catalog {
		fmt.Fprintf(&doc, "| [%s](#%s) | %s | %s |\n", c.Code, strings.ToLower(string(c.Code)), severityText(c), lowerFirst(c.Summary))
	}
	for _, c := range finding.Catalog {
		example := filepath.Join(findingsExamples, string(c.Code)+".yaml")
		input, err := os.ReadFile(example)
		require.NoError(t, err, "%s has no example %s", c.Code, example)
		stdout, stderr, exit := run(t, "", "check", "-f", example)
		require.NotEqual(t, exitInput, exit, stderr)
		var lines []string
		for line := range strings.SplitSeq(strings.TrimSpace(stdout), "\n") {
			if strings.Contains(line, " "+string(c.Code)+" ") {
				lines = append(lines, strings.TrimPrefix(line, findingsExamples+"/"))
			}
		}
		require.NotEmpty(t, lines, "%s does not produce %s:\n%s", example, c.Code, stdout)
		assert.Contains(t, lines[0], ": "+string(c.Severity)+" "+string(c.Code)+" ",
			"%s: the example must show the documented severity %s", c.Code, c.Severity)
		fmt.Fprintf(&doc, "\n## %s\n\n%s\n", c.Code, c.Summary)
		if c.Note != "" {
			fmt.Fprintf(&doc, "\n%s\n", c.Note)
		}
		fmt.Fprintf(&doc, "\n`testdata/findings/%s.yaml`:\n\n```yaml\n%s\n```\n\n```\n%s\n```\n",
			c.Code, elideLongLines(strings.TrimRight(string(input), "\n")), strings.Join(lines, "\n"))
	}

	if updateGolden {
		require.NoError(t, os.WriteFile(findingsDoc, []byte(doc.String()), 0o644))
	}
	current, err := os.ReadFile(findingsDoc)
	require.NoError(t, err)
	if want := doc.String(); want != string(current) {
		t.Errorf("docs/findings.md is stale (run make golden); first difference:\n%s", firstDifference(want, string(current)))
	}

	examples, err := filepath.Glob(filepath.Join(findingsExamples, "*.yaml"))
	require.NoError(t, err)
	for _, e := range examples {
		code := finding.Code(strings.TrimSuffix(filepath.Base(e), ".yaml"))
		_, ok := finding.Info(code)
		assert.True(t, ok, "example %s is for a code that is not in finding.Catalog", e)
	}
}

// elideLongLines shortens example lines too long to read in the docs
// (1,001 hosts in a flow list, say); the file keeps them whole.
func elideLongLines(s string) string {
	const limit = 160
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if len(line) > limit {
			lines[i] = fmt.Sprintf("%s … (%d characters in the file)", line[:100], len(line))
		}
	}
	return strings.Join(lines, "\n")
}

func severityText(c finding.CodeInfo) string {
	s := string(c.Severity)
	if c.Lenient {
		s += " (lenient)"
	}
	if c.Offline {
		s += " (CLI only)"
	}
	return s
}

// lowerFirst starts a summary lower-case for the table, unless it starts
// with an acronym or constant such as ISTIO_MUTUAL.
func lowerFirst(s string) string {
	if len(s) < 2 || (s[1] >= 'A' && s[1] <= 'Z') {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// firstDifference shows the first line where want and got differ.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d\nwant: %s\ngot:  %s", i+1, wl, gl)
		}
	}
	return ""
}
