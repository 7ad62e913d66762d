package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/miekg/dns"
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
				return printExplain(cmd.OutOrStdout(), out, asJSON)
			}
			db, err := openGeo(cfg, nil)
			if err != nil {
				return err
			}
			if db != nil {
				defer func() { _ = db.Close() }()
			}
			srv := dnsserver.New(dnsConfig(cfg, nil, nil, gslbConfig(cfg, db, state.NewStatic(nil))))
			if err := srv.LoadZones(cfg.DNS.ZonesDir); err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			out, err := explain(srv, q)
			if err != nil {
				return err
			}
			return printExplain(cmd.OutOrStdout(), out, asJSON)
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

// explainOutput is the explanation as `aya explain` prints it and the admin
// API serves it.
type explainOutput struct {
	Query struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Resolver string `json:"resolver"`
		ECS      string `json:"ecs,omitempty"`
	} `json:"query"`
	Client   *explainClient  `json:"client,omitempty"`
	Pool     string          `json:"pool,omitempty"`
	Regions  []explainRegion `json:"regions,omitempty"`
	Fallback string          `json:"fallback,omitempty"`
	Answer   explainAnswer   `json:"answer"`
}

type explainClient struct {
	Address        string   `json:"address"`
	Subnet         string   `json:"subnet"`
	FromECS        bool     `json:"from_ecs"`
	Source         string   `json:"location_source"`
	Country        string   `json:"country,omitempty"`
	Continent      string   `json:"continent,omitempty"`
	Region         string   `json:"region,omitempty"`
	Latitude       *float64 `json:"latitude,omitempty"`
	Longitude      *float64 `json:"longitude,omitempty"`
	Network        string   `json:"network,omitempty"`
	ScopePrefixLen int      `json:"scope_prefix_length"`
}

type explainRegion struct {
	Region     string            `json:"region"`
	DistanceKm float64           `json:"distance_km"`
	ScoreKm    float64           `json:"score_km"`
	State      string            `json:"state"`
	Kept       bool              `json:"kept"`
	Reason     string            `json:"reason"`
	Endpoints  map[string]string `json:"endpoints,omitempty"`
}

type explainAnswer struct {
	Rcode         string   `json:"rcode"`
	Authoritative bool     `json:"authoritative"`
	Records       []string `json:"records"`
	Authority     []string `json:"authority,omitempty"`
	ClientSubnet  string   `json:"client_subnet,omitempty"`
}

// parseExplainQuery checks a query's fields.
func parseExplainQuery(q admin.ExplainQuery) (qtype uint16, client netip.Addr, ecs netip.Prefix, err error) {
	if q.Name == "" {
		return 0, client, ecs, errors.New("a name to explain is required")
	}
	qtype = dns.TypeA
	if q.Type != "" {
		t, ok := dns.StringToType[strings.ToUpper(q.Type)]
		if !ok {
			return 0, client, ecs, fmt.Errorf("unknown query type %q", q.Type)
		}
		qtype = t
	}
	if q.Client == "" {
		q.Client = "127.0.0.1"
	}
	if client, err = netip.ParseAddr(q.Client); err != nil {
		return 0, client, ecs, fmt.Errorf("client: %w", err)
	}
	if q.ECS != "" {
		if ecs, err = netip.ParsePrefix(q.ECS); err != nil {
			if a, aerr := netip.ParseAddr(q.ECS); aerr == nil {
				ecs, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			return 0, client, ecs, fmt.Errorf("ecs: %w", err)
		}
	}
	return qtype, client, ecs, nil
}

// explainJSON serves /v1/explain.
func explainJSON(srv *dnsserver.Server, q admin.ExplainQuery) (any, error) {
	return explain(srv, q)
}

func explain(srv *dnsserver.Server, q admin.ExplainQuery) (*explainOutput, error) {
	qtype, client, ecs, err := parseExplainQuery(q)
	if err != nil {
		return nil, err
	}
	e, err := srv.Explain(q.Name, qtype, client, ecs)
	if err != nil {
		return nil, err
	}
	out := &explainOutput{}
	out.Query.Name = dns.Fqdn(q.Name)
	out.Query.Type = dns.TypeToString[qtype]
	out.Query.Resolver = client.String()
	if ecs.IsValid() {
		out.Query.ECS = ecs.Masked().String()
	}
	if e.Pool != "" {
		c := &explainClient{
			Address: e.Client.String(), Subnet: e.Subnet.String(), FromECS: e.UsedECS,
			Source: e.Location.Source.String(), Country: e.Location.Country, Continent: e.Location.Continent,
			Region: e.Location.Region, ScopePrefixLen: e.Scope,
		}
		if e.Location.HasCoordinates {
			c.Latitude, c.Longitude = &e.Location.Latitude, &e.Location.Longitude
		}
		if e.Location.Network.IsValid() {
			c.Network = e.Location.Network.String()
		}
		out.Client = c
		out.Pool = e.Pool
		out.Fallback = e.Decision.Fallback
		for _, v := range e.Decision.Regions {
			r := explainRegion{Region: v.Region, DistanceKm: round1(v.DistanceKm), ScoreKm: round1(v.ScoreKm), State: v.State, Kept: v.Kept, Reason: v.Reason}
			if len(v.Endpoints) > 0 {
				r.Endpoints = make(map[string]string, len(v.Endpoints))
				for _, ep := range v.Endpoints {
					r.Endpoints[ep.Name] = ep.State
				}
			}
			out.Regions = append(out.Regions, r)
		}
	}
	out.Answer = answerOf(e.Reply)
	return out, nil
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func answerOf(r *dns.Msg) explainAnswer {
	a := explainAnswer{Rcode: dns.RcodeToString[r.Rcode], Authoritative: r.Authoritative, Records: []string{}}
	for _, rr := range r.Answer {
		a.Records = append(a.Records, rr.String())
	}
	for _, rr := range r.Ns {
		a.Authority = append(a.Authority, rr.String())
	}
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if s, ok := o.(*dns.EDNS0_SUBNET); ok {
				a.ClientSubnet = s.String()
			}
		}
	}
	return a
}

// render prints the explanation for a terminal.
func (o *explainOutput) render(w io.Writer) error {
	var b strings.Builder
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
			fmt.Fprintf(tw, "%s\t%.0f km\t%.0f km\t%s\t%s\t%s\n", r.Region, r.DistanceKm, r.ScoreKm, r.State, kept, r.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if o.Fallback != "" {
			fmt.Fprintf(&b, "\nfallback: %s\n", o.Fallback)
		}
		b.WriteString("\n")
	} else {
		b.WriteString("static:   the name is not bound to a pool; every client gets this answer\n\n")
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

func printExplain(w io.Writer, out *explainOutput, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return out.render(w)
}

// explainLive asks a running node's /v1/explain.
func explainLive(ctx context.Context, cfg *config.Config, addr string, q admin.ExplainQuery) (*explainOutput, error) {
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
	var out explainOutput
	if err := clusterClient(cfg, m).Do(ctx, addr, "/v1/explain?"+v.Encode(), "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
