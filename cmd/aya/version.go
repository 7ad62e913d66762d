package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/aya-gslb/aya"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of aya",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "aya %s (%s %s/%s)\n", aya.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
