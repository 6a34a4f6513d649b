package app

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
)

func newCheckCommand() *cobra.Command {
	var in inputFlags
	var planner plannerFlags
	var strict bool
	var output string
	cmd := &cobra.Command{
		Use:   "check -f PATH...",
		Short: "Check manifests and print findings; exit 1 on errors",
		Long: `check reads manifests, runs every check meshcert's validating webhook runs,
treating the input as the whole cluster, and prints the findings. Exit code
0: no error findings; 1: at least one; 2: the input cannot be read or parsed.
With --strict, findings that may only mean "not applied yet" (an issuer or a
credential not found) are errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return &exitError{code: exitInput, err: fmt.Errorf("unknown output format %q: use -o text or -o json", output)}
			}
			opts := planner.options()
			opts.Strict = strict
			objs, res, err := planInput(cmd, in, opts)
			if err != nil {
				return err
			}
			located := locate(objs, res)
			if output == "json" {
				err = writeJSON(cmd.OutOrStdout(), located)
			} else {
				err = writeText(cmd.OutOrStdout(), located)
			}
			if err != nil {
				return &exitError{code: exitInput, err: fmt.Errorf("failed to write findings: %w", err)}
			}
			return exitForFindings(located)
		},
	}
	in.addTo(cmd.Flags())
	planner.addTo(cmd.Flags())
	cmd.Flags().BoolVar(&strict, "strict", false, "treat issuers and credentials that cannot be found as errors")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// locatedFinding is a finding with where it is in the input.
type locatedFinding struct {
	finding.Finding
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// locate attaches file and line to every finding and orders them by input
// position.
func locate(objs []*manifest.Object, res *offline.Result) []locatedFinding {
	out := make([]locatedFinding, 0, len(res.Findings))
	for _, f := range res.Findings {
		lf := locatedFinding{Finding: f.Finding}
		if f.Index >= 0 && f.Index < len(objs) {
			o := objs[f.Index]
			lf.File, lf.Line = o.File, o.LineOf(f.Field)
		}
		out = append(out, lf)
	}
	slices.SortStableFunc(out, func(a, b locatedFinding) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	return out
}

func writeText(w io.Writer, findings []locatedFinding) error {
	for _, f := range findings {
		where := ""
		if f.File != "" {
			where = fmt.Sprintf("%s:%d: ", f.File, f.Line)
		}
		field := ""
		if f.Field != "" {
			field = f.Field + ": "
		}
		if _, err := fmt.Fprintf(w, "%s%s %s %s: %s%s\n", where, f.Severity, f.Code, f.Object, field, f.Message); err != nil {
			return fmt.Errorf("failed to write findings: %w", err)
		}
	}
	return nil
}

func writeJSON(w io.Writer, findings []locatedFinding) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		Findings []locatedFinding `json:"findings"`
	}{Findings: findings}); err != nil {
		return fmt.Errorf("failed to encode findings: %w", err)
	}
	return nil
}

func exitForFindings(findings []locatedFinding) error {
	if slices.ContainsFunc(findings, func(f locatedFinding) bool { return f.Severity == finding.SeverityError }) {
		return &exitError{code: exitFindings, err: errors.New("error findings")}
	}
	return nil
}
