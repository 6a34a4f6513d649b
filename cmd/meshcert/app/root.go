// Package app holds meshcert's commands.
package app

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Main runs meshcert with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var exit *exitError
	if errors.As(err, &exit) {
		if exit.err != nil && exit.code != exitFindings {
			fmt.Fprintf(stderr, "Error: %v\n", exit.err)
		}
		return exit.code
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	return exitInput
}

// NewRootCommand builds the meshcert command tree.
func NewRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "meshcert",
		Short: "TLS for Istio gateways that wires itself to cert-manager",
		Long: `meshcert injects credentialNames into Istio Gateways, creates the matching
cert-manager Certificates in the gateway workload's namespace, and checks
issuers, TLS modes, hosts and conflicts - in the cluster as admission
webhooks and a controller, or offline for CI.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newInjectCommand(),
		newCheckCommand(),
		newServeCommand(),
		newVersionCommand(),
	)
	return root
}
