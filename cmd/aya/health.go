package main

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// readyzPath is the admin API's readiness endpoint: 200 once the site has
// a release to answer from.
const readyzPath = "/readyz"

func newHealthCmd() *cobra.Command {
	var (
		path, admin string
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when the local node is ready to answer (its admin API's /readyz), 1 otherwise",
		Long: `Health asks a node's admin API (--admin, or admin.listen of --config) for
/readyz and exits 0 when it answers 200, 1 otherwise with the reason. It
needs no shell or curl, so it serves as a container's HEALTHCHECK:

  aya health --admin 127.0.0.1:9053

With cluster.tls in --config it speaks HTTPS with the node's certificate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.ErrOrStderr(), path, nil)
			if err != nil {
				return err
			}
			m, err := loadTLS(cfg)
			if err != nil {
				return err
			}
			addr := cmp.Or(admin, cfg.Admin.Listen)
			if addr == "" {
				return fmt.Errorf("no admin address: set --admin or admin.listen")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := clusterClient(cfg, m).Do(ctx, addr, readyzPath, "", nil, nil); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: ready\n", addr)
			return err
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file of the node (default: the embedded aya.yaml)")
	cmd.Flags().StringVar(&admin, "admin", "", "admin API address host:port (default: admin.listen of the configuration)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}
