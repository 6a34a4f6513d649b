package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/e2e/framework"
)

// ciCheckout is a repository as the CI examples find it: manifests under
// deploy/, one of them with an error (MC2002, ISTIO_MUTUAL with a
// credential), and meshcert on PATH as its install step leaves it.
func ciCheckout(t *testing.T) (dir string, env []string) {
	t.Helper()
	binary, err := framework.MeshcertBinary(context.Background())
	require.NoError(t, err)
	dir = t.TempDir()
	bin := filepath.Join(dir, ".bin")
	require.NoError(t, os.MkdirAll(bin, 0o750))
	require.NoError(t, os.Symlink(binary, filepath.Join(bin, "meshcert")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "deploy"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "deploy", "gateway.yaml"), []byte(readFile(t, "testdata/findings/MC2002.yaml")), 0o600))
	return dir, append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// fixCheckout replaces the broken Gateway with the valid example.
func fixCheckout(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "deploy")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "deploy"), 0o750))
	for _, f := range []string{"examples/00-namespaces.yaml", "examples/10-issuers.yaml", "examples/20-gateway-pod.yaml", "examples/30-gateway.yaml"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "deploy", filepath.Base(f)), []byte(readFile(t, f)), 0o600))
	}
}

func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestPreCommitHookRunsWhatItDeclares runs the hook of .pre-commit-hooks.yaml
// with the args of the documented .pre-commit-config.yaml, as pre-commit
// runs it: entry, then args, no file names.
func TestPreCommitHookRunsWhatItDeclares(t *testing.T) {
	var hooks []struct {
		ID            string   `json:"id"`
		Name          string   `json:"name"`
		Description   string   `json:"description"`
		Entry         string   `json:"entry"`
		Args          []string `json:"args"`
		Language      string   `json:"language"`
		PassFilenames *bool    `json:"pass_filenames"`
		Files         string   `json:"files"`
		RequireSerial bool     `json:"require_serial"`
	}
	require.NoError(t, yaml.UnmarshalStrict([]byte(readFile(t, ".pre-commit-hooks.yaml")), &hooks), "only fields this test understands")
	var config struct {
		Repos []struct {
			Repo  string `json:"repo"`
			Rev   string `json:"rev"`
			Hooks []struct {
				ID   string   `json:"id"`
				Args []string `json:"args"`
			} `json:"hooks"`
		} `json:"repos"`
	}
	require.NoError(t, yaml.UnmarshalStrict([]byte(readFile(t, "docs/ci/pre-commit-config.yaml")), &config))
	require.Len(t, config.Repos, 1)
	require.Len(t, config.Repos[0].Hooks, 1)
	use := config.Repos[0].Hooks[0]

	require.Len(t, hooks, 1)
	hook := hooks[0]
	require.Equal(t, hook.ID, use.ID, "the documented config uses the hook")
	require.NotNil(t, hook.PassFilenames)
	assert.False(t, *hook.PassFilenames, "meshcert checks folders as a whole, never the changed files alone")
	entry := strings.Fields(hook.Entry)
	require.NotEmpty(t, entry)
	assert.Equal(t, "golang", hook.Language)
	assert.FileExists(t, filepath.Join(repoRoot, "cmd", entry[0], "main.go"), "pre-commit's golang hooks `go install ./...` the repository: the entry's binary is that of cmd/%s", entry[0])
	assert.Regexp(t, hook.Files, "deploy/gateway.yaml", "the hook runs when a manifest changes")

	args := use.Args
	if args == nil {
		args = hook.Args
	}
	dir, env := ciCheckout(t)
	runHook := func() (string, int) {
		// pre-commit finds the entry on PATH: the checkout's, as installed.
		cmd := exec.Command("bash", append([]string{"-c", `exec "$@"`, "hook"}, append(entry, args...)...)...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}
	out, code := runHook()
	assert.Equal(t, 1, code, "the commit is refused: %s", out)
	assert.Contains(t, out, "deploy/gateway.yaml:")
	assert.Contains(t, out, "error MC2002")

	fixCheckout(t, dir)
	out, code = runHook()
	assert.Equal(t, 0, code, "the fixed commit passes: %s", out)
}

// TestGitHubWorkflowExampleRunsWhatItDeclares runs every `run` step of the
// documented workflow but the install, with the shell GitHub Actions uses,
// and checks that the steps after them find the reports they upload.
func TestGitHubWorkflowExampleRunsWhatItDeclares(t *testing.T) {
	type step struct {
		ID   string            `json:"id"`
		Name string            `json:"name"`
		If   string            `json:"if"`
		Uses string            `json:"uses"`
		Run  string            `json:"run"`
		With map[string]string `json:"with"`
	}
	var workflow struct {
		Permissions map[string]string `json:"permissions"`
		Jobs        map[string]struct {
			Steps []step `json:"steps"`
		} `json:"jobs"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(readFile(t, "docs/ci/github-workflow.yaml")), &workflow))
	assert.Equal(t, "write", workflow.Permissions["security-events"], "code scanning uploads need it")
	require.Len(t, workflow.Jobs, 1)
	var steps []step
	for _, job := range workflow.Jobs {
		steps = job.Steps
	}

	run := func(dir string, env []string) (string, bool, []step) {
		var out strings.Builder
		failed := false
		var after []step
		for _, s := range steps {
			switch {
			case s.ID == "install":
				// Replaced by the meshcert on the checkout's PATH.
			case s.Run != "" && !failed:
				cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
				cmd.Dir, cmd.Env = dir, env
				b, err := cmd.CombinedOutput()
				out.Write(b)
				failed = err != nil
			case s.Uses != "" && failed:
				after = append(after, s)
			}
		}
		return out.String(), failed, after
	}

	dir, env := ciCheckout(t)
	out, failed, after := run(dir, env)
	assert.True(t, failed, "the job fails on an error finding")
	assert.Regexp(t, `(?m)^::error title=MC2002 Gateway [^,]+,file=deploy/gateway.yaml,line=\d+,col=\d+::`, out, "annotations on the diff")
	require.NotEmpty(t, after, "some steps run after the check fails")
	uploads := 0
	for _, s := range after {
		assert.Equal(t, "${{ !cancelled() }}", s.If, "%s runs after a failed check", s.Name)
		for _, key := range []string{"sarif_file", "path"} {
			if report := s.With[key]; report != "" {
				assert.FileExists(t, filepath.Join(dir, report), "%s finds what the check wrote", s.Name)
				uploads++
			}
		}
	}
	assert.Equal(t, 2, uploads, "the SARIF and the JUnit report are kept")
	assert.Contains(t, readFileAbs(t, filepath.Join(dir, "meshcert.sarif")), `"ruleId": "MC2002"`)
	assert.Contains(t, readFileAbs(t, filepath.Join(dir, "meshcert-junit.xml")), `failures="1"`)

	fixCheckout(t, dir)
	out, failed, _ = run(dir, env)
	assert.False(t, failed, "a valid checkout passes: %s", out)
}

func readFileAbs(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}
