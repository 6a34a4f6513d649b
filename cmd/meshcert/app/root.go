// Package app holds meshcert's commands.
package app

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// PluginName is the binary name kubectl runs for `kubectl meshcert`
// (krew's naming): a copy or link of meshcert under this name.
const PluginName = "kubectl-meshcert"

// Main runs meshcert with args and returns the process exit code. name is
// the name the binary was run as: as PluginName, help and usage say
// `kubectl meshcert`.
func Main(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRootCommand(stdin, stdout, stderr)
	if name == PluginName {
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl meshcert"}
	}
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
		newStatusCommand(),
		newServeCommand(),
		newVersionCommand(),
	)
	return root
}
