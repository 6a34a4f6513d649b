package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	findingsExamples = "../../../testdata/findings"
	findingsDoc      = "../../../docs/findings.md"
	codesSource      = "../../../certs/codes.go"
)

// TestEveryFindingCodeHasAWorkingExample keeps docs/findings.md honest: each
// code in certs/codes.go has an example input that produces it, and the
// document lists it.
func TestEveryFindingCodeHasAWorkingExample(t *testing.T) {
	src, err := os.ReadFile(codesSource)
	require.NoError(t, err)
	codes := regexp.MustCompile(`Code = "(MC\d{4})"`).FindAllStringSubmatch(string(src), -1)
	require.NotEmpty(t, codes)
	doc, err := os.ReadFile(findingsDoc)
	require.NoError(t, err)

	for _, m := range codes {
		code := m[1]
		t.Run(code, func(t *testing.T) {
			example := filepath.Join(findingsExamples, code+".yaml")
			stdout, stderr, exit := run(t, "", "check", "-o", "json", "-f", example)
			require.NotEqual(t, exitInput, exit, stderr)
			var out jsonOutput
			require.NoError(t, json.Unmarshal([]byte(stdout), &out))
			found := false
			for _, f := range out.Findings {
				found = found || f.Code == code
			}
			assert.True(t, found, "%s does not produce %s: %s", example, code, stdout)
			assert.Contains(t, string(doc), "## "+code, "docs/findings.md has no section for %s", code)
		})
	}
	examples, err := filepath.Glob(filepath.Join(findingsExamples, "*.yaml"))
	require.NoError(t, err)
	for _, e := range examples {
		code := strings.TrimSuffix(filepath.Base(e), ".yaml")
		assert.Contains(t, string(src), `"`+code+`"`, "example %s is for a code that does not exist", e)
	}
}
