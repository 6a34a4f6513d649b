package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// alertRules renders the chart's PrometheusRule with extra --set values
// and returns its spec (the rule groups) as a Prometheus rules file.
func alertRules(t *testing.T, set ...string) []byte {
	t.Helper()
	objects := render(t, helmBinary(t), append([]string{"prometheusRule.enabled=true"}, set...)...)
	rule, ok := objects["PrometheusRule/meshcert"]
	require.True(t, ok, "the chart renders a PrometheusRule: %v", objects.keys())
	spec, ok := rule.Object["spec"]
	require.True(t, ok)
	data, err := yaml.Marshal(spec)
	require.NoError(t, err)
	return data
}

// TestAlertRules runs the unit tests of e2e/testdata/alerts with Prometheus's
// own promtool on the rules the chart renders: each alert fires on the
// series it is about, when it should, with its labels and annotations, and
// stays quiet on the others.
func TestAlertRules(t *testing.T) {
	tools := reportTools(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), alertRules(t), 0o600))
	tests, err := filepath.Glob(filepath.Join(repoRoot, "e2e", "testdata", "alerts", "*_test.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, tests)
	for _, test := range tests {
		data, err := os.ReadFile(test)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(test)), data, 0o600))
	}

	check := exec.Command(tools.Promtool, "check", "rules", "rules.yaml")
	check.Dir = dir
	out, err := check.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "SUCCESS: 8 rules found")

	args := []string{"test", "rules"}
	for _, test := range tests {
		args = append(args, filepath.Base(test))
	}
	run := exec.Command(tools.Promtool, args...)
	run.Dir = dir
	out, err = run.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "SUCCESS")

	// The tests can fail: a threshold twice as long keeps the slow webhook
	// quiet, which the tests say it is not.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), alertRules(t, "prometheusRule.admissionLatencySeconds=5"), 0o600))
	run = exec.Command(tools.Promtool, args...)
	run.Dir = dir
	out, err = run.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "MeshcertAdmissionSlow")
	assert.Contains(t, string(out), "FAILED")
}
