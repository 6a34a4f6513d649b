package app

import (
	"fmt"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags -X.
var version = "dev"

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print meshcert's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "meshcert %s\n", version)
			return err
		},
	}
}
