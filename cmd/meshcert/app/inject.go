package app

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/internal/parallel"
	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
	"github.com/meshcert/meshcert/report"
)

func newInjectCommand() *cobra.Command {
	var in inputFlags
	var planner plannerFlags
	shimCertificates := shimOutputComment
	cmd := &cobra.Command{
		Use:   "inject -f PATH...",
		Short: "Print the manifests with credentialNames injected, plus the Certificates meshcert would create",
		Long: `inject reads manifests and prints every object in input order - Gateways
meshcert manages with their credentialNames injected - followed by the
cert-manager Certificates meshcert would create, sorted by namespace and
name, as one YAML stream. The Certificates cert-manager's gateway-shim will
create for Gateway API Gateways and ListenerSets follow, as comments by
default (--shim-certificates). Findings are printed to stderr; the exit code
is 1 when any of them is an error, 2 when the input cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			objs, res, err := planInput(cmd, in, planner.options(), offline.PlanObjects)
			if err != nil {
				return err
			}
			own, err := certificateObjects(res.Certificates)
			if err != nil {
				return err
			}
			out := append(slices.Clone(res.Objects), own...)
			var shim []*unstructured.Unstructured
			if shimCertificates != shimOutputNone {
				if shim, err = certificateObjects(res.ShimCertificates); err != nil {
					return err
				}
			}
			if shimCertificates == shimOutputObject {
				out, shim = append(out, shim...), nil
			}
			// Two writes per object, unbuffered, would be most of what
			// printing thousands costs.
			stdout := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
			if err := manifest.Write(stdout, out); err != nil {
				_ = stdout.Flush() // What was written before the error, as unbuffered.
				return &exitError{code: exitInput, err: fmt.Errorf("failed to write output: %w", err)}
			}
			if err := writeCommented(stdout, shim); err != nil {
				_ = stdout.Flush()
				return &exitError{code: exitInput, err: fmt.Errorf("failed to write output: %w", err)}
			}
			if err := stdout.Flush(); err != nil {
				return &exitError{code: exitInput, err: fmt.Errorf("failed to write output: failed to write manifests: %w", err)}
			}
			rep := newReport(objs, res, report.FailOnError)
			if err := report.Write(cmd.ErrOrStderr(), report.Text, rep); err != nil {
				return &exitError{code: exitInput, err: err}
			}
			if rep.Failed() {
				return &exitError{code: exitFindings, err: errors.New("error findings")}
			}
			return nil
		},
	}
	in.addTo(cmd.Flags())
	planner.addTo(cmd.Flags())
	cmd.Flags().Var(&shimCertificates, "shim-certificates",
		"how to print the Certificates cert-manager's gateway-shim creates for Gateway API objects: comment (visible, ignored by kubectl apply), object, or none")
	return cmd
}

// certificateObjects turns Certificates into the objects inject prints,
// on every CPU (the conversion goes through reflection); the error is the
// first Certificate's that fails.
func certificateObjects(crts []*cmapi.Certificate) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, len(crts))
	errs := make([]error, len(crts))
	parallel.ForEach(len(crts), 1, func(i int) {
		out[i], errs[i] = certs.CertificateObject(crts[i])
	})
	for _, err := range errs {
		if err != nil {
			return nil, &exitError{code: exitInput, err: err}
		}
	}
	return out, nil
}

// shimOutput is --shim-certificates. The default prints them as comments:
// applied by kubectl, a Certificate the shim did not create is one it will
// never update or delete.
type shimOutput string

const (
	shimOutputComment shimOutput = "comment"
	shimOutputObject  shimOutput = "object"
	shimOutputNone    shimOutput = "none"
)

func (o *shimOutput) String() string { return string(*o) }
func (o *shimOutput) Type() string   { return "mode" }
func (o *shimOutput) Set(v string) error {
	switch mode := shimOutput(v); mode {
	case shimOutputComment, shimOutputObject, shimOutputNone:
		*o = mode
		return nil
	}
	return fmt.Errorf("%q is not comment, object or none", v)
}

// writeCommented writes objs as YAML documents whose every line is a
// comment, after a line saying whose they are.
func writeCommented(w io.Writer, objs []*unstructured.Unstructured) error {
	for _, obj := range objs {
		var buf bytes.Buffer
		if err := manifest.Write(&buf, []*unstructured.Unstructured{obj}); err != nil {
			return err
		}
		owner := ""
		if refs := obj.GetOwnerReferences(); len(refs) > 0 {
			owner = " for " + refs[0].Kind + " " + obj.GetNamespace() + "/" + refs[0].Name
		}
		if _, err := fmt.Fprintf(w, "---\n# cert-manager's gateway-shim creates this Certificate%s; meshcert does not apply it\n", owner); err != nil {
			return err
		}
		for line := range strings.Lines(buf.String()) {
			if _, err := io.WriteString(w, "# "+line); err != nil {
				return err
			}
		}
	}
	return nil
}
