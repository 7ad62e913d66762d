package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/aya-gslb/aya/internal/demo"

	"github.com/spf13/cobra"
)

func newDemoCmd() *cobra.Command {
	o := demo.Options{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run three sites, three regions with a proxy and two backends each, on loopback",
		Long: `Demo runs a whole AYA deployment on this machine: three sites (aya serve on
--sites, one Raft cluster) answering for the repo's zones/ with the demo GeoIP
database, and three regions, each an aya proxy (--proxies) in front of two small
HTTP backends (--backends). It prints dig, curl and aya commands to try and how
to take a region down, and stops everything it started on Ctrl-C. Run it from
the repo root (it reads zones/).

A child that dies is reported (which, its exit status, the last lines of its
log); press Enter to restart the children that died.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Out, o.In, o.Self = cmd.OutOrStdout(), cmd.InOrStdin(), os.Args[0]
			return demo.Run(ctx, o)
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "directory for the configurations, logs and Raft data (default: a new temporary one)")
	cmd.Flags().StringVar(&o.Sites, "sites", "127.0.0.11-13", "the three sites' addresses: a range of last octets or a comma-separated list")
	cmd.Flags().StringVar(&o.Proxies, "proxies", "127.0.0.31-33", "the three regions' proxies' addresses")
	cmd.Flags().StringVar(&o.Backends, "backends", "127.0.0.41-46", "the six backends' addresses, two a region")
	return cmd
}
