package app

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/manifest"
)

func newInjectCommand() *cobra.Command {
	var in inputFlags
	var planner plannerFlags
	cmd := &cobra.Command{
		Use:   "inject -f PATH...",
		Short: "Print the manifests with credentialNames injected, plus the Certificates meshcert would create",
		Long: `inject reads manifests and prints every object in input order - Gateways
meshcert manages with their credentialNames injected - followed by the
cert-manager Certificates meshcert would create, sorted by namespace and
name, as one YAML stream. Findings are printed to stderr; the exit code is
1 when any of them is an error, 2 when the input cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			objs, res, err := planInput(cmd, in, planner.options())
			if err != nil {
				return err
			}
			out := append([]*unstructured.Unstructured{}, res.Objects...)
			for _, crt := range res.Certificates {
				u, err := certs.CertificateObject(crt)
				if err != nil {
					return &exitError{code: exitInput, err: err}
				}
				out = append(out, u)
			}
			if err := manifest.Write(cmd.OutOrStdout(), out); err != nil {
				return &exitError{code: exitInput, err: fmt.Errorf("failed to write output: %w", err)}
			}
			located := locate(objs, res)
			if err := writeText(cmd.ErrOrStderr(), located); err != nil {
				return err
			}
			return exitForFindings(located)
		},
	}
	in.addTo(cmd.Flags())
	planner.addTo(cmd.Flags())
	return cmd
}
