package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/internal/mddoc"
	"github.com/meshcert/meshcert/internal/metricsutil"
)

// The reference tables of docs/ are generated from the code they describe;
// these tests keep them current and UPDATE_GOLDEN=1 (make golden) rewrites
// them.

var docsDir = filepath.Join("..", "..", "..", "docs")

func subcommand(t *testing.T, name string) *cobra.Command {
	t.Helper()
	cmd, _, err := NewRootCommand(nil, nil, nil).Find([]string{name})
	require.NoError(t, err)
	require.Equal(t, name, cmd.Name())
	return cmd
}

// flagName is how a flag is typed: "-f, --filename" or "--kubeconfig".
func flagName(f *pflag.Flag) string {
	if f.Shorthand != "" {
		return "`-" + f.Shorthand + ", --" + f.Name + "`"
	}
	return "`--" + f.Name + "`"
}

// flagDefault is the default as the user would type it; nothing for an
// empty one.
func flagDefault(f *pflag.Flag) string {
	if f.DefValue == "" || f.DefValue == "[]" {
		return ""
	}
	return mddoc.Code(f.DefValue)
}

func serveFlagsTable(t *testing.T) string {
	var rows [][]string
	subcommand(t, "serve").Flags().VisitAll(func(f *pflag.Flag) {
		rows = append(rows, []string{flagName(f), flagDefault(f), f.Usage})
	})
	return mddoc.Table([]string{"flag", "default", "meaning"}, rows)
}

// cliFlagsTable lists the flags of inject and check once each, with the
// commands that take them: the two share their input and planner flags.
func cliFlagsTable(t *testing.T) string {
	type row struct {
		flag     *pflag.Flag
		commands []string
	}
	var rows []*row
	for _, name := range []string{"inject", "check"} {
		subcommand(t, name).Flags().VisitAll(func(f *pflag.Flag) {
			i := slices.IndexFunc(rows, func(r *row) bool { return r.flag.Name == f.Name })
			if i < 0 {
				rows = append(rows, &row{flag: f})
				i = len(rows) - 1
			}
			rows[i].commands = append(rows[i].commands, name)
		})
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = []string{flagName(r.flag), strings.Join(r.commands, ", "), flagDefault(r.flag), r.flag.Usage}
	}
	return mddoc.Table([]string{"flag", "commands", "default", "meaning"}, cells)
}

func statusFlagsTable(t *testing.T) string {
	var cells [][]string
	subcommand(t, "status").Flags().VisitAll(func(f *pflag.Flag) {
		cells = append(cells, []string{flagName(f), flagDefault(f), f.Usage})
	})
	return mddoc.Table([]string{"flag", "default", "meaning"}, cells)
}

func metricsTable() string {
	var rows [][]string
	for _, d := range metricsutil.Defined() {
		labels := make([]string, len(d.Labels))
		for i, l := range d.Labels {
			labels[i] = mddoc.Code(l)
		}
		rows = append(rows, []string{mddoc.Code(d.Name), string(d.Type), strings.Join(labels, ", "), d.Help})
	}
	return mddoc.Table([]string{"metric", "type", "labels", "meaning"}, rows)
}

func TestReferenceTablesAreCurrent(t *testing.T) {
	t.Run("the serve flags in docs/operating.md are serve's flags", func(t *testing.T) {
		mddoc.Golden(t, filepath.Join(docsDir, "operating.md"), "serve-flags", serveFlagsTable(t))
	})
	t.Run("the metrics in docs/operating.md are the metrics meshcert defines", func(t *testing.T) {
		mddoc.Golden(t, filepath.Join(docsDir, "operating.md"), "metrics", metricsTable())
	})
	t.Run("the inject and check flags in docs/cli.md are their flags", func(t *testing.T) {
		mddoc.Golden(t, filepath.Join(docsDir, "cli.md"), "cli-flags", cliFlagsTable(t))
	})
	t.Run("the status flags in docs/operations.md are status's flags", func(t *testing.T) {
		mddoc.Golden(t, filepath.Join(docsDir, "operations.md"), "status-flags", statusFlagsTable(t))
	})
	for section, file := range map[string]string{
		"pre-commit-config": "docs/ci/pre-commit-config.yaml",
		"pre-commit-hooks":  ".pre-commit-hooks.yaml",
		"github-workflow":   "docs/ci/github-workflow.yaml",
	} {
		t.Run("docs/ci.md shows "+file+" as it is", func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(docsDir, "..", file))
			require.NoError(t, err)
			mddoc.Golden(t, filepath.Join(docsDir, "ci.md"), section, "```yaml\n"+string(data)+"```\n")
		})
	}
}
