package dnsserver

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/internal/names"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// TypeGSLB is the private RR type (RFC 6895 §3.1, private use range) that
// binds a name to a pool in a zone file: "www 30 IN GSLB web". The record
// never leaves the server: A, AAAA and ANY at that name are answered from the
// pool, and transfers and ANY skip it.
const TypeGSLB uint16 = 65300

var gslbOnce sync.Once

// registerGSLB teaches miekg/dns the GSLB type. PrivateHandle writes
// package-global maps of miekg/dns without synchronisation, so it runs once,
// before the first zone is parsed or server made.
func registerGSLB() {
	gslbOnce.Do(func() { dns.PrivateHandle("GSLB", TypeGSLB, func() dns.PrivateRdata { return new(gslbRdata) }) })
}

// gslbRdata is the rdata of a GSLB record: one pool name. Its parser is kept
// trivial on purpose: miekg/dns drops the text of a private type's parse
// error (it keeps the position), so pool names are checked after parsing,
// with positions we track (Zone.bindings).
type gslbRdata struct{ pool string }

func (r *gslbRdata) String() string { return r.pool }

func (r *gslbRdata) Parse(tokens []string) error {
	if len(tokens) != 1 || len(tokens[0]) > 255 {
		return errors.New("a GSLB record names one pool")
	}
	r.pool = tokens[0]
	return nil
}

func (r *gslbRdata) Pack(buf []byte) (int, error) {
	if len(buf) < r.Len() {
		return 0, dns.ErrBuf
	}
	buf[0] = byte(len(r.pool))
	return 1 + copy(buf[1:], r.pool), nil
}

func (r *gslbRdata) Unpack(buf []byte) (int, error) {
	if len(buf) < 1 || len(buf) < 1+int(buf[0]) {
		return 0, dns.ErrBuf
	}
	r.pool = string(buf[1 : 1+int(buf[0])])
	return 1 + len(r.pool), nil
}

func (r *gslbRdata) Copy(dst dns.PrivateRdata) error {
	d, ok := dst.(*gslbRdata)
	if !ok {
		return dns.ErrRdata
	}
	d.pool = r.pool
	return nil
}

func (r *gslbRdata) Len() int { return 1 + len(r.pool) }

// poolOf returns the pool a GSLB record names.
func poolOf(rr dns.RR) string {
	if p, ok := rr.(*dns.PrivateRR); ok {
		if g, ok := p.Data.(*gslbRdata); ok {
			return g.pool
		}
	}
	return ""
}

// binding is where a zone binds a name to a pool.
type binding struct {
	pool string
	file string
	line int
}

// CheckPools returns an error, with the binding's file:line and a guess
// among pools, for every name of z bound to a pool that is not one of
// pools (the names of the pools known).
func (z *Zone) CheckPools(pools []string) error {
	var errs []error
	for _, b := range z.sortedBindings() {
		if !slices.Contains(pools, b.pool) {
			errs = append(errs, &ZoneError{File: b.file, Line: b.line, Msg: fmt.Sprintf("unknown pool %q%s", b.pool, names.DidYouMean(b.pool, pools))})
		}
	}
	return errors.Join(errs...)
}

// ECSConfig says how EDNS Client Subnet options are used (RFC 7871).
type ECSConfig struct {
	// MaxPrefixV4 and MaxPrefixV6 cap the source prefixes used (defaults
	// policy.DefaultMaxPrefixV4 and V6, 24 and 56, the RFC 7871 §11.1
	// recommendation; see policy.MaxPrefix).
	MaxPrefixV4, MaxPrefixV6 int
	// Trusted lists the resolvers whose ECS options are used; empty trusts
	// all. Others are answered for their own address, without ECS.
	Trusted []netip.Prefix
}

// Locator places client addresses; *geo.DB is one.
type Locator interface {
	Lookup(netip.Addr) geo.Location
}

// GSLB is what the server needs to answer names bound to pools.
type GSLB struct {
	Pools []*policy.Pool
	Geo   Locator
	State state.Source
	ECS   ECSConfig
}

// steering is the GSLB part of a published view.
type steering struct {
	pools map[string]*policy.Pool
	geo   Locator
	state state.Source
	ecs   ECSConfig
	// answers counts steered answers per pool and outcome (a region's
	// name, "fallback" or "servfail"), bound once so a query only looks
	// them up.
	answers map[string]map[string]prometheus.Counter
}

// Outcomes of a steered answer other than a region, as metric labels.
const (
	outcomeFallback = "fallback"
	outcomeServfail = "servfail"
)

func newSteering(g GSLB, m *metrics) *steering {
	st := &steering{pools: make(map[string]*policy.Pool, len(g.Pools)), geo: g.Geo, state: g.State, ecs: g.ECS,
		answers: make(map[string]map[string]prometheus.Counter, len(g.Pools))}
	if st.state == nil {
		st.state = state.NewStatic(nil)
	}
	for _, p := range g.Pools {
		st.pools[p.Name] = p
		byOutcome := make(map[string]prometheus.Counter, len(p.Members)+2)
		for _, o := range append([]string{outcomeFallback, outcomeServfail}, memberNames(p)...) {
			byOutcome[o] = m.steered.WithLabelValues(p.Name, o)
		}
		st.answers[p.Name] = byOutcome
	}
	return st
}

func memberNames(p *policy.Pool) []string {
	out := make([]string, len(p.Members))
	for i, mem := range p.Members {
		out[i] = mem.Region.Name
	}
	return out
}

// count records the outcome of a decision for pool.
func (st *steering) count(pool string, d *policy.Decision) {
	if c := st.counter(pool, d); c != nil {
		c.Inc()
	}
}

// counter is the steered answers counter of pool for the outcome of d.
func (st *steering) counter(pool string, d *policy.Decision) prometheus.Counter {
	o := d.Region
	switch {
	case d.Servfail:
		o = outcomeServfail
	case d.Region == "":
		o = outcomeFallback
	}
	return st.answers[pool][o]
}

func (st *steering) hasPool(name string) bool {
	_, ok := st.pools[name]
	return ok
}

// client is who a query is answered for, and the trace of the steering
// when `aya explain` asks for it.
type client struct {
	src netip.Addr
	// ecs is the query's client subnet option, as the general path reads
	// it; ecsAddr and ecsSource are what steering needs of it, filled from
	// that option or, on the fast path, from the wire.
	ecs       *dns.EDNS0_SUBNET
	ecsAddr   netip.Addr // invalid without a usable option
	ecsSource uint8

	// Set by place. policy.Client.Scope is the network the answer holds
	// for; scope is its length, the SCOPE PREFIX-LENGTH of the reply.
	policy.Client
	subnet  netip.Prefix // the client subnet used: the ECS source or the resolver, cut to ecs.max_prefix
	usedECS bool
	scope   uint8
	steered bool
	trace   *Explanation
}

// record copies what steering made of the client into its trace, when it
// has one and was steered.
func (c *client) record() {
	if t := c.trace; t != nil && c.steered {
		t.Client, t.Subnet, t.Location = c.Addr, c.subnet, c.Loc
		t.UsedECS, t.Scope = c.usedECS, int(c.scope)
	}
}

// place fills in the client's address, subnet, location and scope: the ECS
// address when a trusted resolver sends one with a non-zero source prefix
// (truncated to the configured maximum), else the resolver's own.
//
// The scope is the network the answer holds for, and the policy hashes its
// picks and shed points over it (policy.Client.Scope): every client whose
// subnet lies in it must get the same answer, or a resolver caching the
// reply for the scope (RFC 7871 §7.3.1) hands them the wrong one. The
// answer depends on the location of the looked-up address (the subnet's
// first address) and on the scope, so the scope is
//
//   - the matched geo network (the database's or an override's, already cut
//     by geo so that it holds no override the address is not in), when it
//     placed the client: every address in it has the same location and the
//     same network. A network longer than max_prefix is cut to max_prefix,
//     since every subnet of the max_prefix network is looked up at its
//     first address;
//   - the subnet's first address cut to max_prefix when nothing placed the
//     client (no database, or no record): the answer then depends on the
//     hash only, and a per-/24 (/56) key spreads such clients over the
//     endpoints as before.
//
// So the scope is never longer than max_prefix and may be longer than the
// source prefix (RFC 7871 §7.2.1 allows SCOPE > SOURCE: the source did not
// say enough to give an answer for all of it). Cutting it to the source
// instead would claim the answer for addresses of other networks.
func (st *steering) place(c *client) {
	if c.Addr.IsValid() {
		return
	}
	a, source := st.subject(c)
	st.locate(c, a, source)
}

// locate fills in the client's policy.Client, subnet and scope for the
// subject a/source (subject).
func (st *steering) locate(c *client, a netip.Addr, source int) {
	c.Client, c.subnet = policy.ECSClient(a, source, st.ecs.MaxPrefixV4, st.ecs.MaxPrefixV6, st.lookup)
	if c.usedECS {
		c.scope = uint8(c.Scope.Bits())
	}
}

// subject is the address the client is answered for and its source
// prefix (policy.ECSClient's a and source): the ECS option's, setting
// usedECS, when a trusted resolver sends one with a non-zero source
// prefix, else the resolver's own address, /128.
func (st *steering) subject(c *client) (netip.Addr, int) {
	src := c.src.Unmap()
	if o := c.ecs; o != nil && !c.ecsAddr.IsValid() && (o.Family == 1 || o.Family == 2) {
		c.ecsAddr, _ = netip.AddrFromSlice(o.Address)
		if o.Family == 1 {
			c.ecsAddr = c.ecsAddr.Unmap()
		}
		c.ecsSource = o.SourceNetmask
	}
	if a := c.ecsAddr; a.IsValid() && c.ecsSource > 0 && st.trusts(src) {
		c.usedECS = true
		return a, int(c.ecsSource)
	}
	return src, 128
}

// geoVersion is the version of what st.lookup answers (geo.DB.Version),
// read before looking up; ok is false for a Locator that has none, whose
// answers are then never remembered.
func (st *steering) geoVersion() (v uint64, ok bool) {
	switch g := st.geo.(type) {
	case nil:
		return 0, true
	case interface{ Version() uint64 }:
		return g.Version(), true
	}
	return 0, false
}

// lookup places a; no location without a database.
func (st *steering) lookup(a netip.Addr) geo.Location {
	if st.geo == nil {
		return geo.Location{}
	}
	return st.geo.Lookup(a)
}

func (st *steering) trusts(a netip.Addr) bool {
	if len(st.ecs.Trusted) == 0 {
		return true
	}
	for _, p := range st.ecs.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// steer answers qtype for owner from pool: the addresses of the region the
// policy picks for the client, as A or AAAA records with the pool's TTL.
// rcode is SERVFAIL when the pool says so.
func (st *steering) steer(c *client, pool, owner string, qtype uint16) (rrs []dns.RR, rcode int) {
	c.steered = true
	p := st.pools[pool]
	if p == nil {
		// Only possible if a reload raced a pool away; checkPools prevents it.
		return nil, dns.RcodeServerFailure
	}
	st.place(c)
	fam := policy.IPv4
	if qtype == dns.TypeAAAA {
		fam = policy.IPv6
	}
	var d policy.Decision
	if c.trace != nil {
		d.Explain = true
	}
	snap := st.state.Current()
	policy.Decide(p, c.Client, fam, snap, &d)
	if c.trace == nil {
		st.count(pool, &d)
	} else {
		c.trace.Pool = pool
		c.trace.Decision = d
		if snap != nil {
			c.trace.Snapshot = snap.Version
		}
	}
	if d.Servfail {
		return nil, dns.RcodeServerFailure
	}
	hdr := dns.RR_Header{Name: owner, Class: dns.ClassINET, Ttl: d.TTL}
	for _, a := range d.Addrs {
		if fam == policy.IPv4 {
			h := hdr
			h.Rrtype = dns.TypeA
			rrs = append(rrs, &dns.A{Hdr: h, A: a.AsSlice()})
		} else {
			h := hdr
			h.Rrtype = dns.TypeAAAA
			rrs = append(rrs, &dns.AAAA{Hdr: h, AAAA: a.AsSlice()})
		}
	}
	return rrs, dns.RcodeSuccess
}

// Explanation is what `aya explain` shows of one query: who the client is
// taken to be, where it is, what the policy decided and the reply itself.
type Explanation struct {
	Client   netip.Addr
	Subnet   netip.Prefix
	UsedECS  bool
	Scope    int
	Location geo.Location
	// Pool is the pool that answered, "" when the name is not bound to one.
	Pool     string
	Decision policy.Decision
	// Snapshot is the version of the decision snapshot (state.Snapshot)
	// the steering read.
	Snapshot uint64
	Reply    *dns.Msg
}

// Explain answers the query (qname, qtype) from the resolver src, with the
// client subnet ecs when valid, through the same code as a query on the
// wire (the general path), and returns the reply with the steering's
// reasons.
func (s *Server) Explain(qname string, qtype uint16, src netip.Addr, ecs netip.Prefix) (*Explanation, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(qname), qtype)
	q.RecursionDesired = false
	if ecs.IsValid() {
		ecs = ecs.Masked()
		o := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(ecs.Bits()), Address: ecs.Addr().AsSlice()}
		if ecs.Addr().Is6() {
			o.Family = 2
		}
		q.SetEdns0(1232, false)
		q.IsEdns0().Option = append(q.IsEdns0().Option, o)
	}
	req, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	e := &Explanation{}
	out, _ := s.generalAnswer(s.view.Load(), req, udp, src, nil, e, &qstate{now: time.Now()})
	e.Reply = new(dns.Msg)
	if err := e.Reply.Unpack(out); err != nil {
		return nil, fmt.Errorf("explain: reply: %w", err)
	}
	return e, nil
}
