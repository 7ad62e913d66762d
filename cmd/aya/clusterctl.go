package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	ayasite "github.com/aya-gslb/aya/site"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnssec"
	"github.com/aya-gslb/aya/internal/mtls"
	"github.com/aya-gslb/aya/release"
)

// ctlFlags are the flags of the commands that talk to a running node's
// admin API: the configuration gives its address, token and TLS files.
type ctlFlags struct {
	path  string
	admin string
	token string
}

func (f *ctlFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.path, "config", "c", "", "configuration file of the node (default: the embedded aya.yaml)")
	cmd.Flags().StringVar(&f.admin, "admin", "", "admin API address host:port (default: admin.listen of the configuration)")
	cmd.Flags().StringVar(&f.token, "token", "", "bearer token for writes (default: admin.token, i.e. AYA_ADMIN_TOKEN)")
}

// client loads the configuration and returns the node's admin address, the
// client to call it with, and the configuration.
func (f *ctlFlags) client(cmd *cobra.Command) (string, *cluster.Client, *config.Config, error) {
	cfg, err := loadConfig(cmd.ErrOrStderr(), f.path, nil)
	if err != nil {
		return "", nil, nil, err
	}
	m, err := loadTLS(cfg)
	if err != nil {
		return "", nil, nil, err
	}
	c := clusterClient(cfg, m)
	if f.token != "" {
		c.Token = f.token
	}
	addr := cmp.Or(f.admin, cfg.Admin.Listen)
	if addr == "" {
		return "", nil, nil, fmt.Errorf("no admin address: set --admin or admin.listen")
	}
	return addr, c, cfg, nil
}

// ctlTimeout bounds one command's calls.
const ctlTimeout = 15 * time.Second

// status asks the node at addr for its status.
func status(ctx context.Context, c *cluster.Client, addr string) (*cluster.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	var st cluster.StatusResponse
	if err := c.Do(ctx, addr, cluster.PathStatus, "", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func newStatusCmd() *cobra.Command {
	var (
		f       ctlFlags
		asJSON  bool
		history int
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster as a running node sees it",
		Long: `Status asks a running node's admin API for its view of the cluster: the members,
the leader and term, the last applied log index, how stale the node's state
may be (time since it last heard from a leader), the health matrix (every
site's latest report of every endpoint, with latency and age), each region's
state and since when, the drains, and the recent decisions with their causes.
Times come from the replicated log (stamped by the leader), so every node in
touch with the leader shows the same matrix.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, c, cfg, err := f.client(cmd)
			if err != nil {
				return err
			}
			st, err := status(cmd.Context(), c, addr)
			if err != nil {
				return err
			}
			if asJSON {
				return printStatusJSON(cmd.OutOrStdout(), st)
			}
			if err := renderStatus(cmd.OutOrStdout(), st, history); err != nil {
				return err
			}
			// On the signer (where the keys are), the keys' states and
			// the DS to publish.
			return renderKeys(cmd.OutOrStdout(), cfg.DNSSEC.KeysDir, st.Release, time.Now().UTC().Truncate(time.Second))
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	cmd.Flags().IntVar(&history, "history", 20, "recent decisions to show")
	return cmd
}

// printStatusJSON prints a status as the admin API's JSON, indented.
func printStatusJSON(w io.Writer, st *cluster.StatusResponse) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

// renderStatus prints a status for humans.
func renderStatus(w io.Writer, st *cluster.StatusResponse, history int) error {
	n, v := st.Node, st.View
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(tw, format, args...) }
	leader := "none known"
	if n.LeaderID != "" {
		leader = fmt.Sprintf("%s at %s", n.LeaderID, n.LeaderAddr)
	}
	p("node\t%s (%s), raft %s, admin %s\n", n.ID, n.State, n.Addr, cmp.Or(n.Admin, "-"))
	p("leader\t%s, term %d\n", leader, n.Term)
	p("log\tlast index %d, applied %d, decisions version %d, log time %s\n", n.LastIndex, n.LastApplied, v.Version, stamp(v.Now))
	p("staleness\t%s\n", staleness(st.Staleness.D()))
	if r := st.Release; r != nil {
		p("release\tversion %d (%s) at index %d, applied %s by %s from %s\n", r.Version, release.ShortDigest(r.Digest), r.Index,
			stamp(r.At), cmp.Or(r.By, "-"), cmp.Or(r.Source, "-"))
	} else {
		p("release\tnone yet\n")
	}
	if st.Restored > 0 {
		p("restored\tanswering from the state saved at index %d until it catches up\n", st.Restored)
	}
	if r := st.Release; r != nil {
		for _, z := range r.Signed {
			p("dnssec\t%s\n", signedLine(z, v.Now))
		}
	}

	p("\nMEMBERS\n")
	p("ID\tRAFT\tADMIN\tSUFFRAGE\n")
	for _, m := range n.Members {
		p("%s\t%s\t%s\t%s\n", m.ID, m.Addr, cmp.Or(v.Admins[m.ID], "-"), m.Suffrage)
	}

	if len(v.Sites) > 0 {
		p("\nSITES\n")
		p("ID\tVERSION\tGEO\tPUBLISHED\tOWN FILES\n")
		for _, si := range v.Sites {
			p("%s\t%s\t%s\t%s\t%s\n", si.ID, cmp.Or(si.Version, "-"), cmp.Or(release.ShortDigest(si.Geo), "none"),
				cmp.Or(release.ShortDigest(si.Published), "-"), cmp.Or(release.ShortDigest(si.Local), "do not build"))
		}
	}
	for _, what := range slices.Sorted(maps.Keys(v.Differ)) {
		p("DIFFERS\t%s: %s\n", what, strings.Join(v.Differ[what], ", "))
	}

	p("\nREGIONS (from probes)\n")
	if len(v.Regions) == 0 {
		p("none probed\n")
	} else {
		p("POOL\tREGION\tSTATE\tSINCE\tWHY\n")
		for _, r := range v.Regions {
			p("%s\t%s\t%s\t%s\t%s\n", r.Pool, r.Region, upDown(r.Up), stamp(r.Since), r.Why)
		}
	}

	if len(v.Endpoints) > 0 {
		var sites []string
		for _, e := range v.Endpoints {
			for _, r := range e.Reports {
				sites = append(sites, r.Site)
			}
		}
		slices.Sort(sites)
		sites = slices.Compact(sites)
		p("\nHEALTH (each site's latest report: state, latency, age; * stale, not counted; fresh for %s)\n", v.FreshFor)
		p("ENDPOINT\tDECISION\tSINCE\t%s\n", strings.Join(sites, "\t"))
		for _, e := range v.Endpoints {
			cells := make([]string, len(sites))
			for i := range cells {
				cells[i] = "-"
			}
			for _, r := range e.Reports {
				i, _ := slices.BinarySearch(sites, r.Site)
				cell := fmt.Sprintf("%s %s %s", upDown(r.Up), time.Duration(r.LatencyMicros)*time.Microsecond, r.Age.D().Round(time.Second))
				if !r.Fresh {
					cell += "*"
				}
				cells[i] = cell
			}
			p("%s/%s/%s\t%s\t%s\t%s\n", e.Pool, e.Region, e.Endpoint, upDown(e.Up), stamp(e.Since), strings.Join(cells, "\t"))
		}
		for _, e := range v.Endpoints {
			for _, r := range e.Reports {
				if r.Err != "" {
					p("  %s/%s/%s at %s: %s\n", e.Pool, e.Region, e.Endpoint, r.Site, r.Err)
				}
			}
		}
	}

	if len(v.Loads) > 0 {
		p("\nLOAD (the regions' proxies; * stale, not counted)\n")
		p("REGION\tUTILISATION\tSHED\tSINCE\tREPORTS\n")
		for _, l := range v.Loads {
			util := "-"
			if l.Utilisation >= 0 {
				util = fmt.Sprintf("%.0f%%", 100*l.Utilisation)
			}
			var reps []string
			for _, r := range l.Reports {
				rep := fmt.Sprintf("%s %d/%d %.0f rps p99 %s", r.Reporter, r.InFlight, r.Capacity, r.RPS,
					time.Duration(r.P99Micros)*time.Microsecond)
				if !r.Fresh {
					rep += "*"
				}
				reps = append(reps, rep)
			}
			since := "-"
			if l.Since != 0 {
				since = stamp(time.Unix(0, l.Since))
			}
			p("%s\t%s\t%.1f%%\t%s\t%s\n", l.Region, util, 100*l.Shed, since, strings.Join(reps, "; "))
		}
		for _, l := range v.Loads {
			if l.Why != "" && l.Shed > 0 {
				p("  %s: %s\n", l.Region, l.Why)
			}
		}
	}

	p("\nDRAINS\n")
	if len(v.Drains) == 0 {
		p("none\n")
	}
	for _, d := range v.Drains {
		target := d.Region
		if d.Endpoint != "" {
			target = d.Pool + "/" + d.Region + "/" + d.Endpoint
		}
		p("%s\t%s\n", target, d.Why)
	}

	p("\nRECENT DECISIONS (oldest first)\n")
	h := v.History[max(0, len(v.History)-history):]
	if len(h) == 0 {
		p("none\n")
	} else {
		p("TIME\tINDEX\tWHAT\tCHANGE\tWHY\n")
	}
	for _, d := range h {
		what := d.Region
		switch {
		case d.Endpoint != "":
			what = d.Pool + "/" + d.Region + "/" + d.Endpoint
		case d.Pool != "":
			what = d.Pool + "/" + d.Region + " (region)"
		}
		p("%s\t%d\t%s\t%s → %s\t%s\n", stamp(d.At), d.Index, what, d.From, d.To, d.Why)
	}
	return tw.Flush()
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "DOWN"
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func staleness(d time.Duration) string {
	if d == 0 {
		return "0s (leader)"
	}
	return d.Round(time.Millisecond).String() + " since the last contact with a leader"
}

// who is the default --by: user@host.
func who() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + cmp.Or(host, "localhost")
}

func newDrainCmd(drain bool) *cobra.Command {
	var (
		f          ctlFlags
		reason, by string
		wait       time.Duration
	)
	use, short, long := "drain TARGET --reason TEXT", "Stop handing out a region or an endpoint, everywhere",
		`Drain records, through the Raft leader, that a region ("eu-west") or an
endpoint ("web/eu-west/euw1") gets no new clients at any site, whatever its
health, until undrained. The reason and who drained go into the decision history
(aya status). Draining what is drained already replaces its reason, and says so.

It then asks every member (their admin addresses are in the cluster's state)
until each has applied the drain, for at most --wait, and prints which sites
have it and which have not (0 does not wait).`
	if !drain {
		use, short, long = "undrain TARGET", "Hand out a drained region or endpoint again",
			`Undrain removes a drain of a region or an endpoint, through the Raft leader; a
target that is not drained is an error. Like drain, it then waits (--wait) until
every member has applied it, and prints which have.`
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, c, _, err := f.client(cmd)
			if err != nil {
				return err
			}
			if drain && reason == "" {
				return fmt.Errorf("--reason is required: say why, for the history")
			}
			target := args[0]
			path, verb := ayasite.PathDrain, "drained"
			if !drain {
				path, verb = ayasite.PathUndrain, "undrained"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ctlTimeout)
			defer cancel()
			var resp ayasite.DrainResponse
			// The node checks the target against the configuration it runs,
			// and says what is wrong with it (with a guess): print just that.
			if err := c.Do(ctx, addr, path, "", ayasite.DrainRequest{Target: target, Reason: reason, By: by}, &resp); err != nil {
				if ae, ok := errors.AsType[*cluster.APIError](err); ok && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusConflict) {
					return errors.New(ae.Msg)
				}
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case resp.Unchanged:
				fmt.Fprintf(out, "%s was drained for the same reason already: nothing changed\n", target)
			case resp.Replaced != "":
				fmt.Fprintf(out, "%s %s (replaced the reason %q)\n", verb, target, resp.Replaced)
			default:
				fmt.Fprintf(out, "%s %s\n", verb, target)
			}
			if wait <= 0 {
				return nil
			}
			st, err := status(cmd.Context(), c, addr)
			if err != nil {
				return fmt.Errorf("%s, but asking %s for the members: %w", verb, addr, err)
			}
			applied := func(v cluster.View) bool {
				for _, d := range v.Drains {
					if d.Target() == target {
						return drain && d.Why == resp.Why
					}
				}
				return !drain
			}
			wctx, wcancel := context.WithTimeout(cmd.Context(), wait)
			defer wcancel()
			return printApplied(out, c.WaitApplied(wctx, st, applied, 200*time.Millisecond), wait)
		},
	}
	f.add(cmd)
	if drain {
		cmd.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the history)")
	}
	cmd.Flags().StringVar(&by, "by", who(), "who (recorded in the history)")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for every site to apply it (0: do not wait)")
	return cmd
}

// printApplied says which sites have applied a change, and which had not
// after wait.
func printApplied(w io.Writer, res []cluster.Applied, wait time.Duration) error {
	var have, not []string
	for _, a := range res {
		if a.OK {
			have = append(have, a.ID)
			continue
		}
		where := a.ID
		if a.Admin != "" {
			where += " at " + a.Admin
		}
		not = append(not, fmt.Sprintf("%s (%s)", where, a.Err))
	}
	var err error
	switch {
	case len(not) == 0:
		_, err = fmt.Fprintf(w, "applied at every site: %s\n", strings.Join(have, ", "))
	case len(have) == 0:
		_, err = fmt.Fprintf(w, "applied at no site yet after %s: %s\n", wait, strings.Join(not, "; "))
	default:
		_, err = fmt.Fprintf(w, "applied at %s; not yet after %s: %s\n", strings.Join(have, ", "), wait, strings.Join(not, "; "))
	}
	return err
}

func newClusterCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cluster",
		Short: "Change the members of the Raft cluster, or make its secret",
	}
	var jf ctlFlags
	join := &cobra.Command{
		Use:   "join ADDR",
		Short: "Add the local node to the cluster of the member whose admin API is at ADDR",
		Long: `Join asks the local node (its admin API: --admin, or admin.listen of --config)
who it is, then asks the member at ADDR (an admin API address) to add it, as a
voter or, with cluster.voter false, a non-voter. The member forwards the request
to the leader. A node that joined keeps its membership in its Raft log: restarts
need no new join.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, c, cfg, err := jf.client(cmd)
			if err != nil {
				return err
			}
			st, err := status(cmd.Context(), c, addr)
			if err != nil {
				return fmt.Errorf("the local node: %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ctlTimeout)
			defer cancel()
			req := cluster.JoinRequest{ID: st.Node.ID, Addr: st.Node.Addr, Admin: cmp.Or(st.Node.Admin, addr), Voter: cfg.Cluster.Voter}
			if err := c.Do(ctx, args[0], cluster.PathJoin, "", req, nil); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s (raft %s) joined through %s\n", req.ID, req.Addr, args[0])
			return err
		},
	}
	jf.add(join)
	var rf ctlFlags
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a member from the cluster",
		Long: `Remove asks a node (--admin, or admin.listen of --config) to remove the member
ID from the Raft configuration, through the leader. Remove a dead site before
adding its replacement, and keep an odd number of voters.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, c, _, err := rf.client(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ctlTimeout)
			defer cancel()
			if err := c.Do(ctx, addr, cluster.PathRemove, "", cluster.RemoveRequest{ID: args[0]}, nil); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return err
		},
	}
	rf.add(remove)
	secret := &cobra.Command{
		Use:   "secret",
		Short: "Print a new cluster secret for cluster.secret_file",
		Long: `Secret prints a new cluster secret: 32 random bytes in base64, on one line.
Write it to a file only aya can read, copy that file to every node, and set
cluster.secret_file to it: the Raft transport then runs TLS 1.3, and only
nodes that hold the secret take part.

  (umask 077; aya cluster secret > /etc/aya/cluster.secret)

To rotate, put a new secret on the first line and keep the old one on the
second, on every node; once all run with both, remove the old line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), mtls.NewSecret())
			return err
		},
	}
	root.AddCommand(join, remove, secret)
	return root
}

// signedLine says when a signed zone's signatures expire and when the
// signer is due to renew them, against now (the log's time).
func signedLine(z release.SignedInfo, now time.Time) string {
	line := fmt.Sprintf("zone %s signed: signatures expire %s, re-signed by %s", z.Zone, stamp(z.Expires), stamp(z.Refresh))
	switch {
	case now.IsZero():
	case !now.Before(z.Expires):
		line += "; EXPIRED: validators fail the zone (SERVFAIL) until the signer signs it again"
	case !now.Before(z.Refresh):
		line += fmt.Sprintf("; OVERDUE: not re-signed, the signatures expire in %s", z.Expires.Sub(now).Round(time.Second))
	}
	return line
}

// renderKeys prints, for each zone whose keys dir holds (the signed
// zones of rel, and those of the K*.key files of dir), the keys' states at
// now and the DS to publish; nothing where dir holds no keys.
func renderKeys(w io.Writer, dir string, rel *release.Info, now time.Time) error {
	zones := map[string]bool{}
	if rel != nil {
		for _, z := range rel.Signed {
			zones[z.Zone] = true
		}
	}
	names, _ := filepath.Glob(filepath.Join(dir, "K*.key"))
	for _, n := range names {
		base := strings.TrimPrefix(filepath.Base(n), "K")
		if i := strings.Index(base, "+"); i > 0 {
			zones[dns.CanonicalName(base[:i])] = true
		}
	}
	header := false
	for _, zone := range slices.Sorted(maps.Keys(zones)) {
		keys, err := dnssec.LoadKeys(dir, zone, false)
		if err != nil || len(keys) == 0 {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(w, "\nDNSSEC KEYS of %s: %v\n", zone, err)
			}
			continue
		}
		if !header {
			fmt.Fprintf(w, "\nDNSSEC KEYS (%s)\n", dir)
			header = true
		}
		if err := dnssec.WriteStatus(w, zone, dnssec.StatusAt(keys, now)); err != nil {
			return err
		}
	}
	return nil
}
