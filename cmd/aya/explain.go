package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	ayasite "github.com/aya-gslb/aya/site"

	"github.com/spf13/cobra"

	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/internal/admin"
	"github.com/aya-gslb/aya/state"
)

func newExplainCmd() *cobra.Command {
	var (
		path, client, ecs, live string
		asJSON                  bool
	)
	cmd := &cobra.Command{
		Use:   "explain [--client ADDR] [--ecs SUBNET] NAME [TYPE]",
		Short: "Show what the server answers a client for a name, and why",
		Long: `Explain loads the configuration, the zones and the geo database as serve does,
answers NAME (type A by default) for a query from the resolver --client with the
client subnet --ecs, through the same code as a query on the wire, and prints
where the client was placed, every region of the pool with its distance and
state and why it was kept or dropped, and the final answer.

Offline, every endpoint is up and nothing is drained or shed. With --admin ADDR
it asks the running node whose admin API is at ADDR instead (GET /v1/explain),
whose answer uses the cluster's health, drains and load shedding.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := admin.ExplainQuery{Name: args[0], Client: client, ECS: ecs}
			if len(args) == 2 {
				q.Type = args[1]
			}
			if _, _, _, err := ayasite.ParseExplainQuery(q); err != nil {
				if qe, ok := errors.AsType[*ayasite.QueryError](err); ok {
					return fmt.Errorf("--%s: %s", qe.Field, qe.Msg)
				}
				return err
			}
			cfg, err := config.Load(path, cmd.Flags())
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			if live != "" {
				out, err := explainLive(cmd.Context(), cfg, live, q)
				if err != nil {
					return err
				}
				return printExplain(cmd.OutOrStdout(), out, asJSON, false)
			}
			db, err := ayasite.OpenGeo(cfg, nil)
			if err != nil {
				return err
			}
			if db != nil {
				defer func() { _ = db.Close() }()
			}
			srv := dnsserver.New(ayasite.DNSConfig(cfg, nil, nil, ayasite.GSLB(cfg, db, state.NewStatic(nil))))
			if err := srv.LoadZones(cfg.DNS.ZonesDir); err != nil {
				printErrors(cmd.ErrOrStderr(), ayasite.ZonesDirError(cfg, err))
				return exitError{1}
			}
			out, err := ayasite.Explain(srv, q)
			if err != nil {
				return err
			}
			return printExplain(cmd.OutOrStdout(), out, asJSON, true)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file (default: the embedded aya.yaml)")
	cmd.Flags().StringVar(&client, "client", "127.0.0.1", "address of the resolver asking")
	cmd.Flags().StringVar(&ecs, "ecs", "", "client subnet the resolver sends (EDNS Client Subnet), e.g. 81.2.69.0/24")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the same as the admin API's /v1/explain)")
	cmd.Flags().StringVar(&live, "admin", "", "ask the running node with this admin API address (host:port), with the cluster's state")
	config.AddFlags(cmd.Flags())
	return cmd
}

// offlineBanner heads an explanation made without a running node.
const offlineBanner = "offline: from the files alone; every endpoint counts as up, and the cluster's health, drains and load shedding are not included (--admin ADDR asks a running node)\n\n"

// renderExplain prints the explanation for a terminal; offline, made from
// the files alone, under offlineBanner.
func renderExplain(w io.Writer, o *ayasite.Explanation, offline bool) error {
	var b strings.Builder
	if offline {
		b.WriteString(offlineBanner)
	}
	fmt.Fprintf(&b, "query:    %s %s from resolver %s", o.Query.Name, o.Query.Type, o.Query.Resolver)
	if o.Query.ECS != "" {
		fmt.Fprintf(&b, " with client subnet %s", o.Query.ECS)
	}
	b.WriteString("\n")
	if c := o.Client; c != nil {
		from := "the resolver's address"
		if c.FromECS {
			from = "the client subnet"
		}
		fmt.Fprintf(&b, "client:   %s (subnet %s, from %s)\n", c.Address, c.Subnet, from)
		fmt.Fprintf(&b, "location: %s", c.Source)
		if c.Latitude != nil {
			fmt.Fprintf(&b, " %.4f,%.4f", *c.Latitude, *c.Longitude)
		}
		for _, kv := range [][2]string{{"country", c.Country}, {"continent", c.Continent}, {"region", c.Region}, {"network", c.Network}} {
			if kv[1] != "" {
				fmt.Fprintf(&b, " %s %s", kv[0], kv[1])
			}
		}
		fmt.Fprintf(&b, "; ECS scope /%d\n", c.ScopePrefixLen)
		fmt.Fprintf(&b, "pool:     %s\n\n", o.Pool)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "REGION\tDISTANCE\tSCORE\tSTATE\tKEPT\tWHY")
		for _, r := range o.Regions {
			kept := "no"
			if r.Kept {
				kept = "yes"
			}
			// Without the client's coordinates there is no distance: "-",
			// not a "0 km" that reads as next door.
			dist, score := "-", "-"
			if c.Latitude != nil {
				dist, score = fmt.Sprintf("%.0f km", r.DistanceKm), fmt.Sprintf("%.0f km", r.ScoreKm)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Region, dist, score, r.State, kept, r.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if o.Fallback != "" {
			fmt.Fprintf(&b, "\nfallback: %s\n", o.Fallback)
		}
		b.WriteString("\n")
	} else {
		b.WriteString(staticWhy(o))
	}
	fmt.Fprintf(&b, "answer:   %s", o.Answer.Rcode)
	if o.Answer.Authoritative {
		b.WriteString(" aa")
	}
	if o.Answer.ClientSubnet != "" {
		fmt.Fprintf(&b, " client-subnet %s", o.Answer.ClientSubnet)
	}
	b.WriteString("\n")
	for _, rr := range o.Answer.Records {
		fmt.Fprintf(&b, "  %s\n", rr)
	}
	for _, rr := range o.Answer.Authority {
		fmt.Fprintf(&b, "  (authority) %s\n", rr)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// staticWhy says why an answer that no pool decides is what it is: a
// name outside every zone, one that does not exist, one without records
// of the type (NODATA), a referral, or the zone's records.
func staticWhy(o *ayasite.Explanation) string {
	a := o.Answer
	soa := slices.ContainsFunc(a.Authority, func(rr string) bool { return strings.Contains(rr, "\tSOA\t") })
	switch {
	case a.Rcode == "REFUSED":
		return fmt.Sprintf("zone:     none: %s is in none of the zones served here, so the query is refused\n\n", o.Query.Name)
	case a.Rcode == "NXDOMAIN":
		return fmt.Sprintf("nxdomain: %s does not exist in its zone; the SOA below says for how long resolvers may remember that\n\n", o.Query.Name)
	case a.Rcode == "NOERROR" && len(a.Records) == 0 && soa:
		return fmt.Sprintf("nodata:   %s exists but has no %s records; the SOA below says for how long resolvers may remember that\n\n", o.Query.Name, o.Query.Type)
	case a.Rcode == "NOERROR" && len(a.Records) == 0 && !a.Authoritative:
		return "referral: the name is below a delegation; the NS records below answer for it\n\n"
	}
	return "static:   the name is not bound to a pool; every client gets this answer\n\n"
}

func printExplain(w io.Writer, out *ayasite.Explanation, asJSON, offline bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return renderExplain(w, out, offline)
}

// explainLive asks a running node's /v1/explain.
func explainLive(ctx context.Context, cfg *config.Config, addr string, q admin.ExplainQuery) (*ayasite.Explanation, error) {
	m, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	v := url.Values{"name": {q.Name}}
	for k, x := range map[string]string{"type": q.Type, "client": q.Client, "ecs": q.ECS} {
		if x != "" {
			v.Set(k, x)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	var out ayasite.Explanation
	if err := clusterClient(cfg, m).Do(ctx, addr, "/v1/explain?"+v.Encode(), "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
