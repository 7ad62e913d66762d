package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	ayasite "github.com/aya-gslb/aya/site"
)

func newCheckCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the configuration, every zone file and the geo database, as serve would load them",
		Long: `Check loads the configuration and every zone file the way serve does and
prints each problem as file:line: message. It exits 1 when there is any, so it
can gate a merge to the zones repo.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			cfg, err := config.Load(path, cmd.Flags())
			if err != nil {
				printErrors(errOut, err)
				return exitError{1}
			}
			failed := false
			zs, err := dnsserver.LoadDir(cfg.DNS.ZonesDir, nil, cfg.PoolNames(), cfg.DNS.Zones.Limits())
			if err != nil {
				printErrors(errOut, ayasite.ZonesDirError(cfg, err))
				failed = true
			}
			db, err := ayasite.OpenGeo(cfg, nil)
			if err != nil {
				printErrors(errOut, err)
				failed = true
			} else if db != nil {
				fmt.Fprintf(out, "%s: ok: %v\n", cfg.Geo.Database, db.Info())
				_ = db.Close()
			}
			if failed {
				return exitError{1}
			}
			name := cfg.File
			if name == "" {
				name = "embedded aya.yaml"
			}
			if !cfg.Cluster.Bootstrap && len(cfg.Cluster.Join) == 0 && !cluster.HasData(cfg.Cluster.DataDir) {
				fmt.Fprintf(errOut, "%s: warning: neither cluster.bootstrap nor cluster.join is set, and %s holds no Raft state: "+
					"this node starts no cluster and joins none, and answers nothing until `aya cluster join ADDR` adds it to one\n",
					cmp.Or(cfg.File, "aya.yaml"), cfg.Cluster.DataDir)
			}
			fmt.Fprintf(out, "%s: ok\n", name)
			for _, z := range zs.List() {
				fmt.Fprintf(out, "%s: ok: zone %s, serial %d, %d records\n", z.File, z.Origin, z.Serial(), z.Len())
			}
			if len(zs.List()) == 0 {
				fmt.Fprintf(errOut, "%s: no *%s files\n", cfg.DNS.ZonesDir, dnsserver.ZoneFileSuffix)
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file (default: the embedded aya.yaml)")
	config.AddFlags(cmd.Flags())
	return cmd
}

// loadConfig loads the configuration for a command: on errors it prints
// them (file:line, one a line) to w and returns exit status 1.
func loadConfig(w io.Writer, path string, fs *pflag.FlagSet) (*config.Config, error) {
	cfg, err := config.Load(path, fs)
	if err != nil {
		printErrors(w, err)
		return nil, exitError{1}
	}
	return cfg, nil
}

// printErrors prints each error of a joined error on its own line.
func printErrors(w io.Writer, err error) {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			printErrors(w, e)
		}
		return
	}
	fmt.Fprintln(w, err)
}
