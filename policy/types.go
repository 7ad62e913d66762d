package policy

import (
	"net/netip"

	"github.com/aya-gslb/aya/geo"
)

// Region is a place that serves traffic.
type Region struct {
	Name      string
	Latitude  float64
	Longitude float64
	// Country is ISO 3166-1 alpha-2, upper case; Continent is AF AN AS EU NA OC SA.
	Country   string
	Continent string
}

// Endpoint is one addressable server of a region in a pool.
type Endpoint struct {
	Name string
	// Addrs are the endpoint's addresses, IPv4 and/or IPv6; an A answer
	// uses the IPv4 ones, AAAA the IPv6 ones.
	Addrs []netip.Addr
	// Weight is the endpoint's share of the picks within its region (> 0).
	Weight int
}

// Member is a region's part in a pool.
type Member struct {
	Region    Region
	Endpoints []Endpoint
	// BiasKm is added to the region's distance when ranking: positive makes
	// the region look farther, negative nearer.
	BiasKm float64
	// MinUp is how many endpoints must be up and not drained for the region
	// to be eligible; 0 means 1, and more than len(Endpoints) means all.
	MinUp int
}

// Fallback is what a pool answers when no region is eligible.
type Fallback uint8

const (
	// FailOpen answers from the nearest region that the client is allowed,
	// ignoring health and drains: better a maybe-down address than none.
	FailOpen Fallback = iota
	// FallbackAddrs answers Pool.FallbackAddrs.
	FallbackAddrs
	// Servfail answers SERVFAIL, for clients that have their own failover.
	Servfail
)

func (f Fallback) String() string {
	switch f {
	case FallbackAddrs:
		return "fallback_addresses"
	case Servfail:
		return "servfail"
	default:
		return "fail_open"
	}
}

// Fence restricts the clients it matches (by country or continent) to its
// regions, for data residency: "clients in the EU only get EU regions".
type Fence struct {
	Name       string
	Countries  []string // clients in these countries…
	Continents []string // …or on these continents…
	Regions    []string // …are answered from these regions only
}

// Pool is a named set of regions that answers a GSLB name.
type Pool struct {
	Name string
	// TTL of the answers, in seconds.
	TTL uint32
	// Answers is how many addresses an answer carries (≥ 1).
	Answers int
	Members []Member
	// CountryMap and ContinentMap send clients of a country or continent to
	// a region, ahead of distance (country wins over continent), as long as
	// that region is eligible.
	CountryMap   map[string]string
	ContinentMap map[string]string
	Fences       []Fence
	Fallback     Fallback
	// FallbackAddrs are answered with Fallback == FallbackAddrs.
	FallbackAddrs []netip.Addr
}

// Family is the address family an answer is for: A or AAAA.
type Family uint8

const (
	// IPv4 is an A query: answers are IPv4 addresses.
	IPv4 Family = iota
	// IPv6 is an AAAA query: answers are IPv6 addresses.
	IPv6
)

// Client is who asks: the address steering uses (the ECS address when
// present, else the resolver's), the network its answer holds for, and its
// location.
type Client struct {
	Addr netip.Addr
	// Scope is the network the answer holds for: the weighted picks and the
	// shed points hash over it and over nothing else of the client, so that
	// every client of Scope with the same Loc gets the same answer. The DNS
	// path sets it to the network whose length it reports as the ECS scope
	// (RFC 7871 §7.2.1): the matched geo network (Loc.Network), cut to
	// ecs.max_prefix, or, when nothing placed the client, its address cut
	// to ecs.max_prefix. Invalid: Addr as a host prefix.
	Scope netip.Prefix
	Loc   geo.Location
}

// Decision is the answer for one client and why.
type Decision struct {
	// Region is the region answered from; "" with fallback addresses or SERVFAIL.
	Region string
	// Addrs are the addresses answered, in order; may be empty (NODATA) when
	// the chosen region has none of the family asked.
	Addrs []netip.Addr
	TTL   uint32
	// Servfail is set when the pool's fallback is SERVFAIL and nothing is eligible.
	Servfail bool
	// Fallback names the fallback applied ("" when a region was eligible).
	Fallback string
	// Explain asks Decide to fill Regions; the hot path leaves it false.
	Explain bool
	// Regions has one verdict per member when Explain is set: the region
	// answered from first, then the other eligible ones by ScoreKm, then the
	// dropped ones by ScoreKm (ties in member order).
	Regions []Verdict

	// scores keeps ranking keys across calls that reuse the Decision.
	scores scoreMemo
}

// memoMembers is how many members a pool may have for scoreMemo to keep
// their scores; larger pools are scored afresh each time.
const memoMembers = 16

// scoreMemo holds the ranking key (score) of members of pool for a client
// at lat, lon, computed as rank needs them (have has bit i for member i). A
// caller that decides many clients with one Decision, as `aya diff` does
// over every network of the geo database (neighbours mostly share a city),
// skips the trigonometry when the coordinates repeat; a query's fresh
// Decision only pays a comparison. The pool's address stands for its
// members' coordinates and biases: a Pool is not modified once in use.
type scoreMemo struct {
	pool     *Pool
	lat, lon float64
	have     uint16
	km       [memoMembers]float64
}

// Verdict is what Decide made of one region.
type Verdict struct {
	Region     string
	DistanceKm float64 // great-circle distance from the client; 0 without coordinates
	ScoreKm    float64 // DistanceKm + BiasKm: the ranking key; 0 without coordinates (member order ranks)
	// State is "up", "down" (with why), "drained" (with why) or "fenced".
	State string
	// Kept is true when the region was eligible.
	Kept bool
	// Reason says why the region was kept, dropped or chosen.
	Reason string
	// Endpoints lists the region's endpoints and their states.
	Endpoints []EndpointVerdict
}

// EndpointVerdict is the state of one endpoint as Decide saw it.
type EndpointVerdict struct {
	Name  string
	State string // "up", "down: why", "drained: why"
}
