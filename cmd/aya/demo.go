package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/aya-gslb/aya/internal/demo"

	"github.com/spf13/cobra"
)

func newDemoCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run three sites, three regions with a proxy and two backends each, on loopback",
		Long: `Demo runs a whole AYA deployment on this machine: three sites (aya serve on
127.0.0.11-13, one Raft cluster) answering for the repo's zones/ with the demo
GeoIP database, and three regions, each an aya proxy (127.0.0.31-33) in front of
two small HTTP backends. It prints dig and curl commands to try and how to take
a region down, and stops everything it started on Ctrl-C. Run it from the repo
root (it reads zones/).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return demo.Run(ctx, cmd.OutOrStdout(), dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the configurations, logs and Raft data (default: a new temporary one)")
	return cmd
}
