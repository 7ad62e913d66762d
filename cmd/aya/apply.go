package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/release"
	ayasite "github.com/aya-gslb/aya/site"
)

func newApplyCmd() *cobra.Command {
	var (
		f          ctlFlags
		by, source string
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Make the configuration's steering and zone files the release every site answers from",
		Long: `Apply builds a release from a configuration file (its regions, pools, ecs and
the cluster's decision rules) and the zone files of its dns.zones_dir, checks it
as every site will (file:line errors, nothing sent), and sends it to a running
node, which hands it to the Raft leader. Every site switches to it at the same
log index. Run it from the zones repository's CI against any member.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.ErrOrStderr(), f.path, nil)
			if err != nil {
				return err
			}
			for _, env := range config.ReleaseOverrides() {
				fmt.Fprintf(cmd.ErrOrStderr(), "aya: %s is set but does not apply: a release is built from the file alone\n", env)
			}
			rel, c, err := ayasite.Build(cfg, by, source)
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			out := cmd.OutOrStdout()
			if dryRun {
				_, err := fmt.Fprintf(out, "release %s: %d zones, %d pools, %d files, %d bytes (not applied)\n",
					release.ShortDigest(rel.Digest), len(c.Zones.List()), len(c.Pools), rel.Info().Files, rel.Info().Bytes)
				return err
			}
			addr, client, _, err := f.client(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*ctlTimeout)
			defer cancel()
			var resp cluster.ReleaseResponse
			if err := client.Do(ctx, addr, cluster.PathRelease, "", rel, &resp); err != nil {
				if ae, ok := errors.AsType[*cluster.APIError](err); ok && ae.Status == 400 {
					fmt.Fprintln(cmd.ErrOrStderr(), ae.Msg)
					return exitError{1}
				}
				return err
			}
			if resp.Unchanged {
				_, err = fmt.Fprintf(out, "release %d (%s) is running already\n", resp.Version, release.ShortDigest(resp.Digest))
				return err
			}
			_, err = fmt.Fprintf(out, "release %d (%s) applied at log index %d\n", resp.Version, release.ShortDigest(resp.Digest), resp.Index)
			return err
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&by, "by", who(), "who applies it (recorded with the release)")
	cmd.Flags().StringVar(&source, "source", "", `where it comes from, e.g. "zones@3f2a9c1" (recorded with the release)`)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "build and check the release, send nothing")
	return cmd
}
