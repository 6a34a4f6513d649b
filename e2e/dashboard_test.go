package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dashboardCheck is one line of the dashboard oracle's output.
type dashboardCheck struct {
	File     string   `json:"file"`
	Problems []string `json:"problems"`
	Metrics  []string `json:"metrics"`
}

// checkDashboards runs the dashboard oracle (Grafana's dashboard schema,
// Prometheus's PromQL parser, dashboard-linter's rules) on files.
func checkDashboards(t *testing.T, files ...string) []dashboardCheck {
	t.Helper()
	out, err := exec.Command(reportTools(t).DashboardOracle, files...).Output()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
		require.NoError(t, err, "%s", out)
	}
	var checks []dashboardCheck
	scanner := bufio.NewScanner(bytes.NewReader(out))
	scanner.Buffer(nil, 1<<20)
	for scanner.Scan() {
		var c dashboardCheck
		require.NoError(t, json.Unmarshal(scanner.Bytes(), &c))
		checks = append(checks, c)
	}
	require.Len(t, checks, len(files))
	return checks
}

// chartDashboard renders the chart's dashboard ConfigMap and writes its
// JSON to a file.
func chartDashboard(t *testing.T) string {
	t.Helper()
	objects := render(t, helmBinary(t), "dashboard.enabled=true")
	cm, ok := objects["ConfigMap/meshcert-dashboard"]
	require.True(t, ok, "the chart renders the dashboard ConfigMap: %v", objects.keys())
	assert.Equal(t, "1", cm.GetLabels()["grafana_dashboard"], "the label Grafana's sidecar watches")
	data, ok := cm.Object["data"].(map[string]any)["meshcert.json"].(string)
	require.True(t, ok)
	path := filepath.Join(t.TempDir(), "meshcert.json")
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	return path
}

// TestDashboardPassesGrafanasSchemaAndPromQL checks the chart's dashboard
// with Grafana's own dashboard schema and Prometheus's own PromQL parser,
// and a broken copy of it, so the check can fail.
func TestDashboardPassesGrafanasSchemaAndPromQL(t *testing.T) {
	dashboard := chartDashboard(t)
	data, err := os.ReadFile(dashboard)
	require.NoError(t, err)
	broken := filepath.Join(t.TempDir(), "broken.json")
	brokenJSON := strings.NewReplacer(`"graphTooltip"`, `"graphTooltips"`,
		`[$__rate_interval]))",`+"\n"+`          "legendFormat": "{{webhook}} {{result}}"`, `[5m]",`+"\n"+`          "legendFormat": "{{webhook}} {{result}}"`,
		`job=~\"$job\"`, `job=~\"$jobs\"`).Replace(string(data))
	require.NotEqual(t, string(data), brokenJSON)
	require.NoError(t, os.WriteFile(broken, []byte(brokenJSON), 0o600))

	checks := checkDashboards(t, dashboard, broken)
	assert.Empty(t, checks[0].Problems)
	assert.Contains(t, checks[0].Metrics, "meshcert_certificate_expiration_timestamp_seconds")
	t.Logf("the dashboard queries %d metrics: %v", len(checks[0].Metrics), checks[0].Metrics)

	problems := strings.Join(checks[1].Problems, "\n")
	assert.Contains(t, problems, "Grafana's dashboard schema", "an unknown field")
	assert.Contains(t, problems, "Prometheus's PromQL parser", "an unbalanced parenthesis")
	assert.Contains(t, problems, "the variable $jobs, which the dashboard does not define")
}

var alertMetric = regexp.MustCompile(`\b(?:meshcert|controller_runtime)_[a-z_]+\b`)

// queriedMetrics lists every series name the chart's dashboard and alerts
// query.
func queriedMetrics(t *testing.T) []string {
	t.Helper()
	metrics := slices.Clone(checkDashboards(t, chartDashboard(t))[0].Metrics)
	metrics = append(metrics, alertMetric.FindAllString(string(alertRules(t)), -1)...)
	slices.Sort(metrics)
	return slices.Compact(metrics)
}
