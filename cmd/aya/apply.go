package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/miekg/dns"
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
		unsign     []string
	)
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Make the configuration's steering and zone files the release every site answers from",
		Long: `Apply builds a release from a configuration file (its regions, pools, ecs and
the cluster's decision rules) and the zone files of its dns.zones_dir, checks it
as every site will (file:line errors, nothing sent), and sends it to a running
node, which hands it to the Raft leader. Every site switches to it at the same
log index. Run it from the zones repository's CI against any member.

Where dnssec.keys_dir holds a zone's private keys, apply signs the zone (reusing
the running release's signatures that are still valid). The cluster refuses a
release without the signatures of a zone the running release signs, unless
--unsign names the zone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.ErrOrStderr(), f.path, nil)
			if err != nil {
				return err
			}
			for _, env := range config.ReleaseOverrides() {
				fmt.Fprintf(cmd.ErrOrStderr(), "aya: %s is set but does not apply: a release is built from the file alone\n", env)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*ctlTimeout)
			defer cancel()
			// Where the keys are, the running release's signatures are
			// reused (and its serials continued): fetch it.
			var running *ayasite.Compiled
			if !dryRun && keysHere(cfg) {
				running, err = runningRelease(ctx, cmd, &f, cfg)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "aya: the running release is not at hand (%v): every signature is made anew\n", err)
				}
			}
			rel, c, signed, err := ayasite.BuildSigned(cfg, by, source, running, time.Now())
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			if len(unsign) > 0 {
				// Dropped even where the keys are: the operator asked.
				content := rel.Content
				content.Signed = nil
				var zones []string
				for _, z := range unsign {
					zones = append(zones, dns.CanonicalName(z))
				}
				for _, z := range rel.Signed {
					if !slices.Contains(zones, z.Zone) {
						content.Signed = append(content.Signed, z)
					}
				}
				rel = release.New(content, rel.By, rel.Source)
				rel.Unsign = zones
				signed = slices.DeleteFunc(signed, func(s ayasite.ZoneSigning) bool { return slices.Contains(zones, s.Zone) })
			}
			out := cmd.OutOrStdout()
			for _, s := range signed {
				fmt.Fprintf(out, "zone %s signed: serial %d, %d signatures made, %d reused, expire from %s\n",
					s.Zone, s.Serial, s.Made, s.Reused, s.Expires.UTC().Format(time.RFC3339))
			}
			if dryRun {
				_, err := fmt.Fprintf(out, "release %s: %d zones, %d pools, %d files, %d bytes (not applied)\n",
					release.ShortDigest(rel.Digest), len(c.Zones.List()), len(c.Pools), rel.Info().Files, rel.Info().Bytes)
				return err
			}
			addr, client, _, err := f.client(cmd)
			if err != nil {
				return err
			}
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
	cmd.Flags().StringArrayVar(&unsign, "unsign", nil, "serve ZONE unsigned although the running release signs it (repeatable)")
	return cmd
}

// keysHere reports whether cfg's dnssec.keys_dir holds private keys.
func keysHere(cfg *config.Config) bool {
	names, _ := filepath.Glob(filepath.Join(cfg.DNSSEC.KeysDir, "K*.private"))
	return len(names) > 0
}

// runningRelease fetches the cluster's running release and compiles it,
// for the signatures a new signing reuses.
func runningRelease(ctx context.Context, cmd *cobra.Command, f *ctlFlags, cfg *config.Config) (*ayasite.Compiled, error) {
	addr, client, _, err := f.client(cmd)
	if err != nil {
		return nil, err
	}
	var cur release.Release
	if err := client.Do(ctx, addr, cluster.PathRelease, "", nil, &cur); err != nil {
		return nil, err
	}
	return ayasite.Compile(&cur, ayasite.ConfigDir(cfg), cfg.DNS.Zones.Limits())
}
