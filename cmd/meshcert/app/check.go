package app

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
	"github.com/meshcert/meshcert/report"
)

func newCheckCommand() *cobra.Command {
	var in inputFlags
	var planner plannerFlags
	var strict bool
	var outputs []string
	failOn := thresholdFlag(report.FailOnError)
	cmd := &cobra.Command{
		Use:   "check -f PATH...",
		Short: "Check manifests and print findings; exit 1 on errors",
		Long: `check reads manifests, runs every check meshcert's validating webhook runs,
treating the input as the whole cluster, and prints the findings. Exit code
0: no finding reaches --fail-on (error by default); 1: at least one does;
2: the input cannot be read or parsed, or a report cannot be written.
With --strict, findings that may only mean "not applied yet" (an issuer or a
credential not found) are errors.

-o picks the format: text, json, sarif (SARIF 2.1.0, for code scanning),
junit (JUnit XML, for test reports) or github (GitHub Actions annotations).
Repeat it as format=path to write several reports in one run, e.g.
-o sarif=meshcert.sarif -o text. Without -o, text goes to stdout; with only
format=path outputs, stdout stays empty.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dests, err := parseOutputs(outputs)
			if err != nil {
				return &exitError{code: exitInput, err: err}
			}
			opts := planner.options()
			opts.Strict = strict
			objs, res, err := planInput(cmd, in, opts, offline.CheckObjects)
			if err != nil {
				return err
			}
			if slices.ContainsFunc(dests, func(d destination) bool { return d.format == report.SARIF }) &&
				slices.ContainsFunc(objs, func(o *manifest.Object) bool { return o.File == manifest.StdinName }) {
				// Code scanning refuses a whole report with one result it cannot place in a file.
				return &exitError{code: exitInput, err: errors.New("-o sarif places every finding in a file, and the input read from stdin has none: pass --stdin-filename PATH (the path code scanning should show), or read the input from a file")}
			}
			rep := newReport(objs, res, report.Threshold(failOn))
			for _, d := range dests {
				if err := d.write(cmd, rep); err != nil {
					return &exitError{code: exitInput, err: err}
				}
			}
			if rep.Failed() {
				return &exitError{code: exitFindings, err: fmt.Errorf("findings at or above %s", failOn)}
			}
			return nil
		},
	}
	in.addTo(cmd.Flags())
	planner.addTo(cmd.Flags())
	cmd.Flags().BoolVar(&strict, "strict", false, "treat issuers and credentials that cannot be found as errors")
	cmd.Flags().StringArrayVarP(&outputs, "output", "o", nil,
		"output format: "+report.FormatNames()+", or format=path to write it to a file; repeatable (default text)")
	cmd.Flags().Var(&failOn, "fail-on", "the lowest severity that makes check exit 1: error, warning or never")
	return cmd
}

// thresholdFlag is --fail-on, refusing a value that is no threshold.
type thresholdFlag report.Threshold

func (t *thresholdFlag) String() string { return string(*t) }
func (t *thresholdFlag) Type() string   { return "severity" }
func (t *thresholdFlag) Set(v string) error {
	if !slices.Contains(report.Thresholds, report.Threshold(v)) {
		return fmt.Errorf("%q is not a threshold; use error, warning or never", v)
	}
	*t = thresholdFlag(v)
	return nil
}

// destination is one -o: a format and the file it goes to ("" is stdout).
type destination struct {
	format report.Format
	path   string
}

// parseOutputs reads the -o values: format or format=path, at most one of
// them on stdout and no file twice.
func parseOutputs(values []string) ([]destination, error) {
	if len(values) == 0 {
		return []destination{{format: report.Text}}, nil
	}
	var dests []destination
	stdout, paths := "", map[string]string{}
	for _, v := range values {
		name, path, toFile := strings.Cut(v, "=")
		format := report.Format(name)
		if !slices.Contains(report.Formats, format) {
			return nil, fmt.Errorf("unknown output format %q in -o %s: use %s, optionally as format=path", name, v, report.FormatNames())
		}
		if toFile && path == "" {
			return nil, fmt.Errorf("-o %s names no file: use -o %s=PATH, or -o %s for stdout", v, name, name)
		}
		if path == "-" || path == "/dev/stdout" {
			path = ""
		}
		if path == "" {
			if stdout != "" {
				return nil, fmt.Errorf("-o %s and -o %s both write to stdout: give one of them a file, as format=path", stdout, v)
			}
			stdout = v
		} else {
			id := fileIdentity(path)
			if prev, ok := paths[id]; ok {
				return nil, fmt.Errorf("-o %s and -o %s write the same file: give each report its own", prev, v)
			}
			paths[id] = v
		}
		dests = append(dests, destination{format: format, path: path})
	}
	return dests, nil
}

// fileIdentity names the file path stands for however it is spelled:
// absolute, through symbolic links (dangling ones too: writing creates
// their target), with the folder's links resolved.
func fileIdentity(path string) string {
	abs, err := filepath.Abs(followLinks(path))
	if err != nil {
		return filepath.Clean(path)
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// followLinks returns the path a chain of symbolic links ends at, which
// may not exist yet.
func followLinks(path string) string {
	for range 40 { // the kernel's own limit on a chain of links
		info, err := os.Lstat(path)
		if err != nil || info.Mode().Type() != os.ModeSymlink {
			return path
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return path
}

// write renders the report to stdout or its file. A regular file (or one
// that does not exist yet) is written through a temporary file renamed into
// place, so a failed run never leaves half a report; a symbolic link is
// followed; anything else (a device, a pipe, /dev/fd/N) is written as it
// is, never replaced.
func (d destination) write(cmd *cobra.Command, rep *report.Report) error {
	if d.path == "" {
		if err := report.Write(cmd.OutOrStdout(), d.format, rep); err != nil {
			return fmt.Errorf("failed to write the %s report: %w", d.format, err)
		}
		return nil
	}
	if err := writeFileAtomically(d.path, func(w io.Writer) error { return report.Write(w, d.format, rep) }); err != nil {
		return fmt.Errorf("failed to write the %s report to %s: %w", d.format, d.path, err)
	}
	return nil
}

func writeFileAtomically(path string, write func(io.Writer) error) error {
	target, mode := followLinks(path), os.FileMode(0o644)
	if info, err := os.Stat(target); err == nil {
		if !info.Mode().IsRegular() {
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				return err //nolint:wrapcheck // The caller names the report and path.
			}
			return errors.Join(write(f), f.Close())
		}
		mode = info.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".meshcert-*.tmp")
	if err != nil {
		return err //nolint:wrapcheck // The caller names the report and path.
	}
	// Gone after the rename; only a failure leaves it to remove.
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := errors.Join(write(tmp), tmp.Chmod(mode), tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target) //nolint:wrapcheck // The caller names the report and path.
}

// newReport attaches file, line and column to every finding, orders them
// by input position and lists the objects read.
func newReport(objs []*manifest.Object, res *offline.Result, failOn report.Threshold) *report.Report {
	rep := &report.Report{Version: version, FailOn: failOn, Findings: make([]report.Finding, 0, len(res.Findings))}
	for i, o := range objs {
		ref := res.Refs[i]
		rep.Objects = append(rep.Objects, report.Object{Ref: ref, File: o.File, Line: o.Line})
	}
	for _, f := range res.Findings {
		rf := report.Finding{Finding: f.Finding, ObjectIndex: -1}
		if f.Index >= 0 && f.Index < len(objs) {
			o := objs[f.Index]
			pos := o.PositionOf(f.Field)
			rf.File, rf.Line, rf.Column, rf.ObjectIndex = o.File, pos.Line, pos.Column, f.Index
		}
		rep.Findings = append(rep.Findings, rf)
	}
	slices.SortStableFunc(rep.Findings, func(a, b report.Finding) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	return rep
}
