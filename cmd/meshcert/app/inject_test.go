package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// updateGolden regenerates the inject golden files: UPDATE_GOLDEN=1 go test ./cmd/meshcert/...
var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

const injectTestdata = "testdata/inject"

// run runs meshcert with args and returns stdout, stderr and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main("meshcert", args, strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// flagsOf reads "# flags: ..." from an input's first line.
func flagsOf(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(data), "\n")
	if rest, ok := strings.CutPrefix(first, "# flags:"); ok {
		return strings.Fields(rest)
	}
	return nil
}

func TestInjectGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(injectTestdata, "*"))
	require.NoError(t, err)
	wantGoldens := map[string]bool{}
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.yaml") {
			continue
		}
		golden := strings.TrimSuffix(in, filepath.Ext(in)) + ".golden.yaml"
		wantGoldens[golden] = true
		t.Run(filepath.Base(in), func(t *testing.T) {
			args := append([]string{"inject", "-f", in}, flagsOf(t, in)...)
			stdout, stderr, code := run(t, "", args...)
			require.NotEqual(t, exitInput, code, "stderr: %s", stderr)
			// The golden holds the output stream, then the findings and the
			// exit code as YAML comments, so it stays one applyable file.
			var got strings.Builder
			got.WriteString(stdout)
			for line := range strings.SplitSeq(strings.TrimRight(stderr, "\n"), "\n") {
				if line != "" {
					got.WriteString("# " + line + "\n")
				}
			}
			got.WriteString("# exit code: " + string(rune('0'+code)) + "\n")
			if updateGolden {
				require.NoError(t, os.WriteFile(golden, []byte(got.String()), 0o600))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "missing golden file; run with UPDATE_GOLDEN=1")
			assert.Equal(t, string(want), got.String(), "output differs from %s; run with UPDATE_GOLDEN=1 to accept", golden)
		})
	}
	// A golden file whose input is gone would pass silently forever.
	goldens, err := filepath.Glob(filepath.Join(injectTestdata, "*.golden.yaml"))
	require.NoError(t, err)
	for _, g := range goldens {
		assert.True(t, wantGoldens[g], "orphaned golden file %s: delete it or restore its input", g)
	}
}

func TestInjectOutputIsStableUnderReinjection(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(injectTestdata, "*"))
	require.NoError(t, err)
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.yaml") {
			continue
		}
		t.Run(filepath.Base(in), func(t *testing.T) {
			flags := flagsOf(t, in)
			first, _, code := run(t, "", append([]string{"inject", "-f", in}, flags...)...)
			require.NotEqual(t, exitInput, code)
			// Feeding the output back (with meshcert's own Certificates in
			// it) must give the same stream: injection is idempotent and
			// meshcert recognises its own Certificates.
			second, stderr, code := run(t, first, append([]string{"inject", "-f", "-"}, flags...)...)
			require.NotEqual(t, exitInput, code, stderr)
			assert.Equal(t, first, second)
		})
	}
}
