package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aya-gslb/aya/dnssec"
)

func newDNSSECCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dnssec",
		Short: "DNSSEC keys: generate them, print the DS for the parent, show the rollover state",
		Long: `The signer's keys are BIND-format K<zone>+<alg>+<tag>.key and .private
files; they stay on the signer (see docs/dnssec.md).`,
	}
	var zone, dir, at string
	zoneFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&zone, "zone", "", "the zone (required)")
		c.Flags().StringVar(&dir, "dir", "keys", "the directory of the key files")
		c.Flags().StringVar(&at, "at", "", "the time to compute for, RFC 3339 (default now)")
	}
	now := func() (time.Time, error) {
		if at == "" {
			return time.Now().UTC().Truncate(time.Second), nil
		}
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return t, fmt.Errorf("--at %q: want RFC 3339, such as 2026-01-02T15:04:05Z", at)
		}
		return t.UTC(), nil
	}
	// keyStates is the zone's keys (the public halves) and their states at
	// --at, for ds and status.
	keyStates := func() ([]*dnssec.Key, dnssec.Status, time.Time, error) {
		if zone == "" {
			return nil, dnssec.Status{}, time.Time{}, errors.New("--zone is required")
		}
		t, err := now()
		if err != nil {
			return nil, dnssec.Status{}, t, err
		}
		keys, err := loadPublic(dir, zone)
		if err != nil {
			return nil, dnssec.Status{}, t, err
		}
		return keys, dnssec.StatusAt(keys, t), t, nil
	}
	var alg string
	var csk bool
	keygen := &cobra.Command{
		Use:   "keygen --zone ZONE [--dir DIR] [--algorithm ecdsap256sha256|ed25519] [--csk]",
		Short: "Generate a KSK and a ZSK (or one CSK), active now, and print the DS for the parent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if zone == "" {
				return errors.New("--zone is required")
			}
			a, err := dnssec.ParseAlgorithm(alg)
			if err != nil {
				return err
			}
			t, err := now()
			if err != nil {
				return err
			}
			// The keys directory holds private keys: made for its owner only.
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			roles := []dnssec.Role{dnssec.KSK, dnssec.ZSK}
			if csk {
				roles = []dnssec.Role{dnssec.CSK}
			}
			out := cmd.OutOrStdout()
			for _, r := range roles {
				timing := dnssec.Timing{Created: t, Publish: t, Activate: t}
				if r != dnssec.ZSK {
					timing.SyncPublish = t
				}
				path, err := generateKey(zone, dir, a, r, timing)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: %s\n", r, path)
			}
			keys, err := dnssec.LoadKeys(dir, zone, false)
			if err != nil {
				return err
			}
			return dnssec.WriteStatus(out, keys[0].Zone, dnssec.StatusAt(keys, t))
		},
	}
	zoneFlags(keygen)
	keygen.Flags().StringVar(&alg, "algorithm", dnssec.DefaultAlgorithm, "ecdsap256sha256 (13) or ed25519 (15)")
	keygen.Flags().BoolVar(&csk, "csk", false, "one combined signing key instead of a KSK and a ZSK")

	ds := &cobra.Command{
		Use:   "ds --zone ZONE [--dir DIR] [--at TIME]",
		Short: "Print the DS records (SHA-256) to publish at the parent, and the CDS and CDNSKEY the zone carries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, st, t, err := keyStates()
			if err != nil {
				return err
			}
			if len(st.DS) == 0 {
				return fmt.Errorf("zone %s: no key's DS is to be at the parent at %s (see aya dnssec status)", zone, t.Format(time.RFC3339))
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "; DS for the parent of %s\n", keys[0].Zone)
			for _, d := range st.DS {
				fmt.Fprintln(out, d.String())
			}
			fmt.Fprintln(out, "; CDS and CDNSKEY (RFC 7344), published in the zone")
			for _, rr := range append(st.CDS, st.CDNSKEY...) {
				fmt.Fprintln(out, rr.String())
			}
			return nil
		},
	}
	zoneFlags(ds)

	statusCmd := &cobra.Command{
		Use:   "status --zone ZONE [--dir DIR] [--at TIME]",
		Short: "Show each key's rollover state, the DS to publish, and what stops the zone from being signed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, st, _, err := keyStates()
			if err != nil {
				return err
			}
			if err := dnssec.WriteStatus(cmd.OutOrStdout(), keys[0].Zone, st); err != nil {
				return err
			}
			if len(st.Problems) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	zoneFlags(statusCmd)

	var zskRoll, kskRoll bool
	var cfgPath string
	rollover := &cobra.Command{
		Use:   "rollover --zone ZONE (--zsk | --ksk) [--dir DIR] [--at TIME] [--config FILE]",
		Short: "Start a ZSK pre-publish or KSK double-DS rollover: make the successor, retire the key that signs",
		Long: `rollover makes the successor of the zone's signing ZSK (pre-publish, RFC 7583
§3.2.1) or KSK (double-DS, §3.3.2) with the schedule of the dnssec section of
the configuration, writes it to the keys directory, and rewrites the old key's
Inactive and Delete (as dnssec-settime would). The signer carries the schedule
out as it signs; aya dnssec status shows each step, and the DS to ask the
parent for. A key that already has a successor is not rolled again. With
dnssec.zsk_lifetime (and dnssec.ksk_lifetime) set, the signer starts these
rollovers itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if zone == "" {
				return errors.New("--zone is required")
			}
			if zskRoll == kskRoll {
				return errors.New("one of --zsk and --ksk is required")
			}
			role := dnssec.ZSK
			if kskRoll {
				role = dnssec.KSK
			}
			cfg, err := loadConfig(cmd.ErrOrStderr(), cfgPath, cmd.Flags())
			if err != nil {
				return err
			}
			t, err := now()
			if err != nil {
				return err
			}
			keys, err := dnssec.LoadKeys(dir, zone, true)
			if err != nil {
				return err
			}
			old, succ, err := dnssec.Roll(keys, role, cfg.DNSSEC.RollTimings(keys), t)
			if err != nil {
				return err
			}
			if err := dnssec.WriteRoll(dir, old, succ); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s %s: retires %s, removed %s\n", role, old.Base(), old.Timing.Inactive.Format(time.RFC3339), old.Timing.Delete.Format(time.RFC3339))
			fmt.Fprintf(out, "successor %s: published %s, signs from %s\n", succ.Base(), succ.Timing.Publish.Format(time.RFC3339), succ.Timing.Activate.Format(time.RFC3339))
			if role == dnssec.KSK {
				fmt.Fprintf(out, "ask the parent for its DS from %s (aya dnssec ds --at then)\n", succ.Timing.SyncPublish.Format(time.RFC3339))
			}
			keys, err = dnssec.LoadKeys(dir, zone, false)
			if err != nil {
				return err
			}
			return dnssec.WriteStatus(out, keys[0].Zone, dnssec.StatusAt(keys, t))
		},
	}
	zoneFlags(rollover)
	rollover.Flags().BoolVar(&zskRoll, "zsk", false, "roll the ZSK (pre-publish)")
	rollover.Flags().BoolVar(&kskRoll, "ksk", false, "roll the KSK (double-DS)")
	rollover.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file for the dnssec timings (default: the embedded aya.yaml)")
	cmd.AddCommand(keygen, ds, statusCmd, rollover)
	return cmd
}

// loadPublic reads the zone's .key files of dir (no .private: ds and
// status run wherever the public halves are), refusing none.
func loadPublic(dir, zone string) ([]*dnssec.Key, error) {
	keys, err := dnssec.LoadKeys(dir, zone, false)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no K%s+*.key files (aya dnssec keygen makes them)", dir, strings.TrimSuffix(zone, ".")+".")
	}
	return keys, nil
}

// generateKey makes a key and writes its files to dir, generating again
// (as BIND's dnssec-keygen does) when its tag is already taken there.
func generateKey(zone, dir string, alg uint8, r dnssec.Role, t dnssec.Timing) (string, error) {
	for range 8 {
		k, err := dnssec.Generate(zone, alg, r, t)
		if err != nil {
			return "", err
		}
		path, err := k.WriteFiles(dir)
		if errors.Is(err, dnssec.ErrExists) {
			continue
		}
		return path, err
	}
	return "", fmt.Errorf("%s: 8 key tags in a row were taken", dir)
}
