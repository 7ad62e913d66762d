package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/plan"
	"github.com/aya-gslb/aya/release"
	ayasite "github.com/aya-gslb/aya/site"
)

func newDiffCmd() *cobra.Command {
	var (
		f      ctlFlags
		ref    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show which client networks a candidate release moves, before it is applied",
		Long: `Diff compares a candidate release (the configuration file's steering and its
zone files, as aya apply would build them; with --git REF, those files at that
commit of their git repository) with the release a running node answers from,
over every network of the local geo database (geo.database), with the node's
current health, drains and shedding. For each steered name it prints which
networks change answer (region, addresses, fallback), counted as networks and
addresses, by move and by country, with subnets to try with dig +subnet.
Nothing is applied.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.ErrOrStderr(), f.path, nil)
			if err != nil {
				return err
			}
			candCfg := cfg
			if ref != "" {
				dir, err := checkout(cmd.Context(), cfg, ref)
				if err != nil {
					return err
				}
				defer func() { _ = os.RemoveAll(dir) }()
				candCfg, err = configAt(cfg, dir)
				if err != nil {
					printErrors(cmd.ErrOrStderr(), err)
					return exitError{1}
				}
			}
			_, cand, err := ayasite.Build(candCfg, "", "")
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			addr, client, _, err := f.client(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ctlTimeout)
			defer cancel()
			var running release.Release
			if err := client.Do(ctx, addr, cluster.PathRelease, "", nil, &running); err != nil {
				return fmt.Errorf("the running release: %w", err)
			}
			cur, err := ayasite.Compile(&running, ayasite.ConfigDir(cfg), cfg.DNS.Zones.Limits())
			if err != nil {
				return fmt.Errorf("the running release does not compile here: %w", err)
			}
			st, err := status(cmd.Context(), client, addr)
			if err != nil {
				return err
			}
			db, err := ayasite.OpenGeo(cfg, nil)
			if err != nil {
				return err
			}
			if db == nil {
				return fmt.Errorf("no geo database (geo.database): a plan runs over its networks")
			}
			defer func() { _ = db.Close() }()
			ecs := cand.Config.ECS
			rep, err := plan.Compute(cmd.Context(), db, ayasite.PlanSide(cur), ayasite.PlanSide(cand), ayasite.SnapshotOf(st.View),
				plan.Options{MaxPrefixV4: ecs.MaxPrefixV4, MaxPrefixV6: ecs.MaxPrefixV6})
			if err != nil {
				return err
			}
			if asJSON {
				return rep.WriteJSON(cmd.OutOrStdout())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "release %d (%s) → candidate %s\n", running.Version, release.ShortDigest(running.Digest),
				release.ShortDigest(cand.Release.Digest))
			return rep.WriteText(cmd.OutOrStdout())
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&ref, "git", "", "take the configuration and zone files at this git ref of their repository")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

// checkout extracts ref of the git repository holding cfg's file into a
// new temporary directory.
func checkout(ctx context.Context, cfg *config.Config, ref string) (string, error) {
	if cfg.File == "" {
		return "", fmt.Errorf("--git needs --config: a file in a git repository")
	}
	top, err := exec.CommandContext(ctx, "git", "-C", filepath.Dir(cfg.File), "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("%s is not in a git repository: %w", cfg.File, err)
	}
	dir, err := os.MkdirTemp("", "aya-diff-")
	if err != nil {
		return "", err
	}
	archive := exec.CommandContext(ctx, "git", "-C", strings.TrimSpace(string(top)), "archive", "--format=tar", ref)
	extract := exec.CommandContext(ctx, "tar", "-x", "-C", dir)
	var stderr strings.Builder
	archive.Stderr = &stderr
	pipe, err := archive.StdoutPipe()
	if err == nil {
		extract.Stdin = pipe
		err = extract.Start()
	}
	if err == nil {
		err = archive.Run()
		if werr := extract.Wait(); err == nil {
			err = werr
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("git archive %s: %w %s", ref, err, strings.TrimSpace(stderr.String()))
	}
	return dir, nil
}

// configAt loads cfg's file from the extracted tree dir, at the same path
// relative to the repository's top.
func configAt(cfg *config.Config, dir string) (*config.Config, error) {
	top, err := exec.Command("git", "-C", filepath.Dir(cfg.File), "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.File)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(strings.TrimSpace(string(top)), abs)
	if err != nil {
		return nil, err
	}
	return config.Load(filepath.Join(dir, rel), nil)
}
