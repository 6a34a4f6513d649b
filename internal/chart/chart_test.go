package chart

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/internal/mddoc"
)

var templatesDir = filepath.Join("..", "..", "charts", "meshcert", "templates")

// TestGeneratedTemplatesAreCurrent keeps the chart's webhook and RBAC
// templates equal to what the code declares; UPDATE_GOLDEN=1 rewrites them.
func TestGeneratedTemplatesAreCurrent(t *testing.T) {
	templates, err := Templates()
	require.NoError(t, err)
	for name, want := range templates {
		path := filepath.Join(templatesDir, name)
		if os.Getenv("UPDATE_GOLDEN") != "" {
			require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "run make golden")
		assert.Equal(t, want, string(got), "%s is stale: run make golden", path)
	}
}

var chartDir = filepath.Join("..", "..", "charts", "meshcert")

// TestChartREADMEValuesTableIsCurrent keeps the chart README's values table
// equal to what values.yaml documents; UPDATE_GOLDEN=1 rewrites it.
func TestChartREADMEValuesTableIsCurrent(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	require.NoError(t, err)
	values, err := Values(data)
	require.NoError(t, err, "every value in values.yaml is documented")
	table := ValuesTable(values)

	mddoc.Golden(t, filepath.Join(chartDir, "README.md"), "values", table)
}

func TestValuesNeedADescription(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []Value
		wantErr string
	}{
		{
			name: "a documented scalar in a section gets its dotted key",
			yaml: "webhook:\n  # -- The port.\n  port: 9443\n",
			want: []Value{{Key: "webhook.port", Default: "9443", Description: "The port."}},
		},
		{
			name: "a description continues on further comment lines",
			yaml: "# -- Replicas,\n# two by default.\nreplicaCount: 2\n",
			want: []Value{{Key: "replicaCount", Default: "2", Description: "Replicas, two by default."}},
		},
		{
			name: "a documented block map is one value; its keys are its default",
			yaml: "# -- Resources.\nresources:\n  requests:\n    cpu: 50m\n# -- Next.\nnext: 1\n",
			want: []Value{
				{Key: "resources", Default: "(see values.yaml)", Description: "Resources."},
				{Key: "next", Default: "1", Description: "Next."},
			},
		},
		{
			name:    "an undocumented value is an error naming it",
			yaml:    "webhook:\n  port: 9443\n",
			wantErr: "webhook.port has no",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Values([]byte(tc.yaml))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
