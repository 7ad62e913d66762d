package site

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/internal/admin"
	"github.com/miekg/dns"
)

// Explanation is the explanation as `aya explain` prints it and the admin
// API serves it.
type Explanation struct {
	Query struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Resolver string `json:"resolver"`
		ECS      string `json:"ecs,omitempty"`
	} `json:"query"`
	Client   *ExplainClient  `json:"client,omitempty"`
	Pool     string          `json:"pool,omitempty"`
	Regions  []ExplainRegion `json:"regions,omitempty"`
	Fallback string          `json:"fallback,omitempty"`
	Answer   ExplainAnswer   `json:"answer"`
}

type ExplainClient struct {
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

type ExplainRegion struct {
	Region     string            `json:"region"`
	DistanceKm float64           `json:"distance_km"`
	ScoreKm    float64           `json:"score_km"`
	State      string            `json:"state"`
	Kept       bool              `json:"kept"`
	Reason     string            `json:"reason"`
	Endpoints  map[string]string `json:"endpoints,omitempty"`
}

type ExplainAnswer struct {
	Rcode         string   `json:"rcode"`
	Authoritative bool     `json:"authoritative"`
	Records       []string `json:"records"`
	Authority     []string `json:"authority,omitempty"`
	ClientSubnet  string   `json:"client_subnet,omitempty"`
}

// QueryError is a field of an explain query that does not parse: the
// admin API says "ecs: …", aya explain "--ecs: …".
type QueryError struct {
	Field string // "client", "ecs"
	Msg   string
}

func (e *QueryError) Error() string { return e.Field + ": " + e.Msg }

// ParseExplainQuery checks a query's fields.
func ParseExplainQuery(q admin.ExplainQuery) (qtype uint16, client netip.Addr, ecs netip.Prefix, err error) {
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
		return 0, client, ecs, &QueryError{Field: "client", Msg: fmt.Sprintf("want the address of the resolver asking, such as 192.0.2.53 or 2001:db8::53 (got %q)", q.Client)}
	}
	if q.ECS != "" {
		if ecs, err = netip.ParsePrefix(q.ECS); err != nil {
			if a, aerr := netip.ParseAddr(q.ECS); aerr == nil {
				ecs, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			return 0, client, ecs, &QueryError{Field: "ecs", Msg: fmt.Sprintf("want a subnet such as 81.2.69.0/24 or an address (got %q)", q.ECS)}
		}
	}
	return qtype, client, ecs, nil
}

func Explain(srv *dnsserver.Server, q admin.ExplainQuery) (*Explanation, error) {
	qtype, client, ecs, err := ParseExplainQuery(q)
	if err != nil {
		return nil, err
	}
	e, err := srv.Explain(q.Name, qtype, client, ecs)
	if err != nil {
		return nil, err
	}
	out := &Explanation{}
	out.Query.Name = dns.Fqdn(q.Name)
	out.Query.Type = dns.TypeToString[qtype]
	out.Query.Resolver = client.String()
	if ecs.IsValid() {
		out.Query.ECS = ecs.Masked().String()
	}
	if e.Pool != "" {
		c := &ExplainClient{
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
			r := ExplainRegion{Region: v.Region, DistanceKm: round1(v.DistanceKm), ScoreKm: round1(v.ScoreKm), State: v.State, Kept: v.Kept, Reason: v.Reason}
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

func answerOf(r *dns.Msg) ExplainAnswer {
	a := ExplainAnswer{Rcode: dns.RcodeToString[r.Rcode], Authoritative: r.Authoritative, Records: []string{}}
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
