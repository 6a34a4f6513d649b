package app

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckFailOn(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", goodGateway)
	warning := writeFile(t, dir, "warning.yaml", strings.Replace(goodGateway, "name: ca}", "name: other}", 1))
	errorFinding := writeFile(t, dir, "error.yaml", strings.Replace(goodGateway, "mode: SIMPLE", "mode: ISTIO_MUTUAL, credentialName: x", 1))
	tests := []struct {
		name       string
		args       []string
		wantExit   int
		wantStderr string
	}{
		{name: "by default a warning passes", args: []string{"-f", warning}, wantExit: exitOK},
		{name: "--fail-on warning fails on a warning", args: []string{"--fail-on", "warning", "-f", warning}, wantExit: exitFindings},
		{name: "--fail-on warning passes a clean input", args: []string{"--fail-on", "warning", "-f", good}, wantExit: exitOK},
		{name: "--fail-on error fails on an error", args: []string{"--fail-on", "error", "-f", errorFinding}, wantExit: exitFindings},
		{name: "--fail-on never passes an error, still printed", args: []string{"--fail-on", "never", "-f", errorFinding}, wantExit: exitOK},
		{name: "--fail-on with no threshold exits 2 and lists them", args: []string{"--fail-on", "sometimes", "-f", good}, wantExit: exitInput, wantStderr: `"sometimes" is not a threshold; use error, warning or never`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, "", append([]string{"check"}, tc.args...)...)
			assert.Equal(t, tc.wantExit, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stderr, tc.wantStderr)
			if strings.Contains(strings.Join(tc.args, " "), errorFinding) {
				assert.Contains(t, stdout, "error MC2002", "the finding is printed whatever the threshold")
			}
		})
	}
}

func TestCheckWritesSeveralReportsInOneRun(t *testing.T) {
	dir := t.TempDir()
	input := writeFile(t, dir, "gw.yaml", strings.Replace(goodGateway, "mode: SIMPLE", "mode: ISTIO_MUTUAL, credentialName: x", 1))
	sarifPath, junitPath, githubPath := filepath.Join(dir, "out.sarif"), filepath.Join(dir, "out.xml"), filepath.Join(dir, "out.github")
	require.NoError(t, os.WriteFile(junitPath, []byte("an older report"), 0o600))

	stdout, stderr, code := run(t, "", "check", "-f", input, "-o", "sarif="+sarifPath, "-o", "text", "-o", "junit="+junitPath, "-o", "github="+githubPath)
	require.Equal(t, exitFindings, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "error MC2002 Gateway team-a/web", "text goes to stdout beside the files")

	var sarif struct {
		Runs []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
			} `json:"results"`
		} `json:"runs"`
	}
	data, err := os.ReadFile(sarifPath)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &sarif))
	require.Len(t, sarif.Runs, 1)
	var rules []string
	for _, r := range sarif.Runs[0].Results {
		rules = append(rules, r.RuleID)
	}
	assert.ElementsMatch(t, []string{"MC2001", "MC2002"}, rules, "the ISTIO_MUTUAL server is an error and leaves the Gateway no server meshcert manages")

	var junit struct {
		Failures int `xml:"failures,attr"`
	}
	data, err = os.ReadFile(junitPath)
	require.NoError(t, err)
	require.NoError(t, xml.Unmarshal(data, &junit), "the older file is replaced: %s", data)
	assert.Equal(t, 1, junit.Failures)

	data, err = os.ReadFile(githubPath)
	require.NoError(t, err)
	// The flow mapping `    tls: {mode: ISTIO_MUTUAL, credentialName: x}` puts the key at column 31.
	assert.Contains(t, string(data), "\n::error title=MC2002 Gateway team-a/web,file="+input+",line=13,col=31::spec.servers[0].tls.credentialName: ")

	info, err := os.Stat(sarifPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm(), "a report is an artifact others read")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), "."), "no temporary file is left: %s", e.Name())
	}
}

func TestCheckOutputErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", goodGateway)
	broken := writeFile(t, dir, "broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n")
	report := filepath.Join(dir, "report.sarif")
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{name: "an unknown format lists the formats", args: []string{"-o", "xml", "-f", good}, wantStderr: `unknown output format "xml" in -o xml: use text, json, sarif, junit or github, optionally as format=path`},
		{name: "two outputs on stdout are refused", args: []string{"-o", "text", "-o", "json", "-f", good}, wantStderr: "-o text and -o json both write to stdout"},
		{name: "format=- is stdout too", args: []string{"-o", "text", "-o", "sarif=-", "-f", good}, wantStderr: "both write to stdout"},
		{name: "two reports to one file are refused", args: []string{"-o", "sarif=" + report, "-o", "junit=" + report, "-f", good}, wantStderr: "write the same file"},
		{name: "format= with no file says how to name one", args: []string{"-o", "sarif=", "-f", good}, wantStderr: "-o sarif= names no file: use -o sarif=PATH"},
		{name: "a report into a missing directory names the path", args: []string{"-o", "sarif=" + filepath.Join(dir, "missing", "r.sarif"), "-f", good}, wantStderr: "failed to write the sarif report to " + filepath.Join(dir, "missing", "r.sarif")},
		{name: "unreadable input writes no report", args: []string{"-o", "sarif=" + report, "-f", broken}, wantStderr: broken + ":4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, "", append([]string{"check"}, tc.args...)...)
			assert.Equal(t, exitInput, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stderr, tc.wantStderr)
			assert.NoFileExists(t, report)
		})
	}
}

func TestCheckSARIFFromStdinNeedsAFileName(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "r.sarif")
	_, stderr, code := run(t, goodGateway, "check", "-f", "-", "-o", "sarif="+report)
	assert.Equal(t, exitInput, code)
	assert.Contains(t, stderr, "pass --stdin-filename PATH")
	assert.NoFileExists(t, report)

	stdout, stderr, code := run(t, strings.Replace(goodGateway, "mode: SIMPLE", "mode: ISTIO_MUTUAL, credentialName: x", 1),
		"check", "-f", "-", "--stdin-filename", "rendered/chart.yaml", "-o", "sarif="+report, "-o", "text")
	assert.Equal(t, exitFindings, code, stderr)
	assert.Contains(t, stdout, "rendered/chart.yaml:13: error MC2002")
	data, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"uri": "rendered/chart.yaml"`)
}

func TestCheckReportsFollowLinksAndNeverReplaceSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	input := writeFile(t, dir, "gw.yaml", goodGateway)
	target := filepath.Join(dir, "target.json")
	link := filepath.Join(dir, "link.json")
	require.NoError(t, os.Symlink(target, link))

	_, stderr, code := run(t, "", "check", "-f", input, "-o", "json="+link)
	require.Equal(t, exitOK, code, stderr)
	info, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, info.Mode().Type(), "the link stays a link")
	assert.FileExists(t, target, "the report went where the link points")

	_, stderr, code = run(t, "", "check", "-f", input, "-o", "json="+target, "-o", "sarif="+link)
	assert.Equal(t, exitInput, code)
	assert.Contains(t, stderr, "write the same file", "a link and its target are one file")
	_, stderr, code = run(t, "", "check", "-f", input, "-o", "json="+target, "-o", "sarif="+filepath.Join(dir, "..", filepath.Base(dir), "target.json"))
	assert.Equal(t, exitInput, code)
	assert.Contains(t, stderr, "write the same file", "however the path is spelled")

	_, stderr, code = run(t, "", "check", "-f", input, "-o", "json=/dev/null")
	require.Equal(t, exitOK, code, stderr)
	info, err = os.Stat("/dev/null")
	require.NoError(t, err)
	assert.Equal(t, os.ModeDevice|os.ModeCharDevice, info.Mode().Type(), "/dev/null is written to, never replaced")

	stdout, _, code := run(t, "", "check", "-f", input, "-o", "json=/dev/stdout")
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, `"findings": []`, "/dev/stdout is stdout")

	existing := writeFile(t, dir, "private.json", "old")
	require.NoError(t, os.Chmod(existing, 0o600))
	_, _, code = run(t, "", "check", "-f", input, "-o", "json="+existing)
	require.Equal(t, exitOK, code)
	info, err = os.Stat(existing)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "a report replacing a file keeps its mode")
}
