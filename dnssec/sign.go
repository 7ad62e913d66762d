package dnssec

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Steered is a name whose A and AAAA answers come from a pool: every
// address set it can answer is signed.
type Steered struct {
	Name    string // owner, fully qualified
	TTL     uint32 // of the answers (the pool's TTL)
	Answers *Answers
}

// Input is one zone to sign: its static records (as dns.ZoneParser gives
// them, without the GSLB records, and without DNSSEC records other than
// DS at delegations) and its steered names.
type Input struct {
	Origin  string
	Records []dns.RR
	Steered []Steered
}

// SignedRRset is one RRset and its signatures.
type SignedRRset struct {
	RRset []dns.RR
	Sigs  []*dns.RRSIG
}

// SteeredSigs is everything signed for one steered name: one SignedRRset
// per address set it can answer.
type SteeredSigs struct {
	Name, Pool string
	A, AAAA    []SignedRRset
}

// Find returns the signed RRset for the addresses addrs of qtype (A or
// AAAA), in any order, or nil.
func (s *SteeredSigs) Find(qtype uint16, addrs []netip.Addr) *SignedRRset {
	sets := s.A
	if qtype == dns.TypeAAAA {
		sets = s.AAAA
	}
	want := slices.Clone(addrs)
	slices.SortFunc(want, netip.Addr.Compare)
	for i := range sets {
		if slices.Equal(rrsetAddrs(sets[i].RRset), want) {
			return &sets[i]
		}
	}
	return nil
}

func rrsetAddrs(rrs []dns.RR) []netip.Addr {
	out := make([]netip.Addr, 0, len(rrs))
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.A:
			a, _ := netip.AddrFromSlice(rr.A.To4())
			out = append(out, a)
		case *dns.AAAA:
			a, _ := netip.AddrFromSlice(rr.AAAA.To16())
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Signed is a signed zone: what the release will carry (no keys).
type Signed struct {
	Origin string
	// Records is the signed static zone in canonical order: the input
	// records, DNSKEY, CDS, CDNSKEY, the NSEC chain (steered names
	// included) and every RRSIG.
	Records []dns.RR
	// Steered is one entry per steered name, by name in canonical order.
	Steered []*SteeredSigs
	// Expiration is the earliest expiration of any signature.
	Expiration time.Time
	// Refresh is when the zone must be signed again: the earliest
	// expiration less Config.Refresh.
	Refresh time.Time
	// Made and Reused count the signatures made anew and carried over
	// from the previous signing.
	Made, Reused int
}

// UnprovableError is a steered name whose answers of one type can be
// empty and not: one NSEC type bitmap cannot prove both.
type UnprovableError struct {
	Pool, Name, Type string
	Sets             int    // address sets it can answer
	Why              string // why the answer can also be empty
}

func (e *UnprovableError) Error() string {
	return fmt.Sprintf("pool %q: %s %s can be answered (%d address sets) and can be empty (%s): a signed NODATA would contradict the NSEC type bitmap, which lists %s; give every region (and the fallback) %s addresses on every endpoint, or none",
		e.Pool, e.Name, e.Type, e.Sets, e.Why, e.Type, e.Type)
}

// Signer signs zones with a zone's keys at a given time.
type Signer struct {
	cfg  Config
	keys []*Key
}

// NewSigner returns a Signer for keys (with their private halves for the
// keys that sign) under cfg (defaults applied here).
func NewSigner(cfg Config, keys []*Key) (*Signer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Signer{cfg: cfg, keys: keys}, nil
}

// generated are the types the signer makes; a zone file must not carry them.
var generated = map[uint16]bool{
	dns.TypeRRSIG: true, dns.TypeNSEC: true, dns.TypeNSEC3: true, dns.TypeNSEC3PARAM: true,
	dns.TypeDNSKEY: true, dns.TypeCDS: true, dns.TypeCDNSKEY: true,
}

// rrsetOf is one RRset of the zone being signed.
type rrsetOf struct {
	rrs  []dns.RR
	sign bool // authoritative: signed (false for NS at a cut and glue)
}

// node is one owner name's RRsets.
type node struct {
	name   string
	labels [][]byte
	sets   map[uint16]*rrsetOf
	// cut: a delegation point; occluded: at or below a cut, not the cut
	// itself, so not authoritative.
	cut, occluded bool
	steered       *Steered
}

// Sign signs in at now. prev is the previous signing of the zone (or nil):
// its signatures are kept when their RRset, key and TTL are unchanged and
// more than Config.Refresh is left, so that a re-sign only renews what is
// due. It refuses (with every problem found) a zone it cannot sign so
// that every answer is provable.
func (s *Signer) Sign(in *Input, now time.Time, prev *Signed) (*Signed, error) {
	origin, err := canonicalZone(in.Origin)
	if err != nil {
		return nil, err
	}
	st := StatusAt(s.keys, now)
	if len(st.Problems) > 0 {
		return nil, fmt.Errorf("zone %s: keys at %s: %s", origin, now.UTC().Format(time.RFC3339), strings.Join(st.Problems, "; "))
	}
	for _, k := range append(slices.Clone(st.ZoneSigners), st.KeySigners...) {
		if k.Zone != origin {
			return nil, fmt.Errorf("zone %s: key %s is for zone %s", origin, k.Base(), k.Zone)
		}
		if !k.HasPrivate() {
			return nil, fmt.Errorf("zone %s: key %s signs at %s but its private key is not loaded", origin, k.Base(), now.UTC().Format(time.RFC3339))
		}
	}
	nodes, errs := buildNodes(origin, in)
	if len(errs) > 0 {
		return nil, fmt.Errorf("zone %s: %w", origin, errors.Join(errs...))
	}
	apex := nodes[origin]
	soa := apex.sets[dns.TypeSOA].rrs[0].(*dns.SOA)

	// The apex's key RRsets.
	keyTTL := uint32(0)
	for _, k := range st.DNSKEY {
		if t := k.Header().Ttl; keyTTL == 0 || t < keyTTL {
			keyTTL = t
		}
	}
	withTTL := func(rrs []dns.RR) []dns.RR {
		out := make([]dns.RR, len(rrs))
		for i, rr := range rrs {
			out[i] = dns.Copy(rr)
			out[i].Header().Ttl = keyTTL
		}
		return out
	}
	apex.sets[dns.TypeDNSKEY] = &rrsetOf{rrs: withTTL(st.DNSKEY), sign: true}
	if len(st.CDS) > 0 {
		apex.sets[dns.TypeCDS] = &rrsetOf{rrs: withTTL(st.CDS), sign: true}
		apex.sets[dns.TypeCDNSKEY] = &rrsetOf{rrs: withTTL(st.CDNSKEY), sign: true}
	}

	// The largest TTL must leave a cached signature valid.
	maxTTL := uint32(0)
	for _, n := range nodes {
		for _, set := range n.sets {
			maxTTL = max(maxTTL, set.rrs[0].Header().Ttl)
		}
		if n.steered != nil {
			maxTTL = max(maxTTL, n.steered.TTL)
		}
	}
	if need := time.Duration(maxTTL)*time.Second + s.cfg.Propagation; s.cfg.Refresh <= need {
		return nil, fmt.Errorf("zone %s: dnssec.refresh (%v) must exceed the zone's largest TTL (%ds) plus dnssec.propagation (%v)", origin, s.cfg.Refresh, maxTTL, s.cfg.Propagation)
	}

	// The NSEC chain, in canonical order, over the authoritative names
	// and the delegation points; not over glue, nor empty non-terminals
	// (RFC 4035 §2.3: they own no RRset).
	var chain []*node
	for _, n := range nodes {
		if !n.occluded {
			chain = append(chain, n)
		}
	}
	slices.SortFunc(chain, func(a, b *node) int { return compareLabels(a.labels, b.labels) })
	// RFC 9077: the NSEC TTL is the smaller of the SOA's TTL and MINIMUM.
	nsecTTL := min(soa.Hdr.Ttl, soa.Minttl)
	for i, n := range chain {
		next := chain[(i+1)%len(chain)].name
		nsec := &dns.NSEC{
			Hdr:        dns.RR_Header{Name: n.name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: nsecTTL},
			NextDomain: next,
			TypeBitMap: n.bitmap(),
		}
		n.sets[dns.TypeNSEC] = &rrsetOf{rrs: []dns.RR{nsec}, sign: true}
	}

	reuse := prev.index()
	out := &Signed{Origin: origin}
	var earliest uint32
	signSet := func(rrs []dns.RR, signers []*Key) ([]*dns.RRSIG, error) {
		key := rrsetKey(rrs)
		var sigs []*dns.RRSIG
		for _, k := range signers {
			sig := s.reusable(reuse[key], k, now)
			if sig != nil {
				out.Reused++
			} else {
				sig = &dns.RRSIG{
					Hdr:        dns.RR_Header{Ttl: rrs[0].Header().Ttl},
					Algorithm:  k.DNSKEY.Algorithm,
					KeyTag:     k.Tag(),
					SignerName: origin,
					Inception:  timeToSerial(now.Add(-s.cfg.InceptionOffset)),
					Expiration: timeToSerial(now.Add(s.cfg.Validity - s.jitter(key, k))),
				}
				if err := sig.Sign(k.signer, rrs); err != nil {
					return nil, fmt.Errorf("sign %s %s with %s: %w", rrs[0].Header().Name, dns.TypeToString[rrs[0].Header().Rrtype], k.Base(), err)
				}
				out.Made++
			}
			if earliest == 0 || serialBefore(sig.Expiration, earliest) {
				earliest = sig.Expiration
			}
			sigs = append(sigs, sig)
		}
		return sigs, nil
	}

	for _, n := range chain {
		types := sortedTypes(n.sets)
		for _, t := range types {
			set := n.sets[t]
			out.Records = append(out.Records, set.rrs...)
			if !set.sign {
				continue
			}
			signers := st.ZoneSigners
			if t == dns.TypeDNSKEY || t == dns.TypeCDS || t == dns.TypeCDNSKEY {
				signers = st.KeySigners
			}
			sigs, err := signSet(set.rrs, signers)
			if err != nil {
				return nil, err
			}
			for _, sig := range sigs {
				out.Records = append(out.Records, sig)
			}
		}
		if n.steered != nil {
			ss := &SteeredSigs{Name: n.name, Pool: n.steered.Answers.Pool}
			for _, fam := range []struct {
				sets [][]netip.Addr
				dst  *[]SignedRRset
			}{{n.steered.Answers.A, &ss.A}, {n.steered.Answers.AAAA, &ss.AAAA}} {
				for _, addrs := range fam.sets {
					rrs := addrRRset(n.name, n.steered.TTL, addrs)
					sigs, err := signSet(rrs, st.ZoneSigners)
					if err != nil {
						return nil, err
					}
					*fam.dst = append(*fam.dst, SignedRRset{RRset: rrs, Sigs: sigs})
				}
			}
			out.Steered = append(out.Steered, ss)
		}
	}
	// Glue and other occluded data travel unsigned, after the chain.
	var occluded []*node
	for _, n := range nodes {
		if n.occluded {
			occluded = append(occluded, n)
		}
	}
	slices.SortFunc(occluded, func(a, b *node) int { return compareLabels(a.labels, b.labels) })
	for _, n := range occluded {
		for _, t := range sortedTypes(n.sets) {
			out.Records = append(out.Records, n.sets[t].rrs...)
		}
	}
	out.Expiration = time.Unix(serialToUnix(earliest, now), 0).UTC()
	out.Refresh = out.Expiration.Add(-s.cfg.Refresh)
	return out, nil
}

// reusable returns a signature of prev made by key k that has more than
// Refresh + Jitter left at now, or nil. Renewing what falls due within the
// next Jitter too batches the renewals: signings come at least Jitter
// apart instead of one per signature as the jittered expirations come.
func (s *Signer) reusable(prev []*dns.RRSIG, k *Key, now time.Time) *dns.RRSIG {
	for _, sig := range prev {
		if sig.KeyTag != k.Tag() || sig.Algorithm != k.DNSKEY.Algorithm {
			continue
		}
		exp := time.Unix(serialToUnix(sig.Expiration, now), 0)
		inc := time.Unix(serialToUnix(sig.Inception, now), 0)
		if exp.Sub(now) > s.cfg.Refresh+s.cfg.Jitter && !inc.After(now) {
			return sig
		}
	}
	return nil
}

// jitter is how much earlier than Validity the signature of the RRset
// key by k expires: a hash of both, in [0, Jitter), whole seconds.
func (s *Signer) jitter(key string, k *Key) time.Duration {
	secs := uint64(s.cfg.Jitter / time.Second)
	if secs == 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = io.WriteString(h, key)
	_, _ = fmt.Fprintf(h, "|%d|%d", k.DNSKEY.Algorithm, k.Tag())
	return time.Duration(h.Sum64()%secs) * time.Second
}

// index maps each RRset (rrsetKey) of a previous signing to its signatures.
func (prev *Signed) index() map[string][]*dns.RRSIG {
	idx := map[string][]*dns.RRSIG{}
	if prev == nil {
		return idx
	}
	type ot struct {
		name string
		t    uint16
	}
	sets := map[ot][]dns.RR{}
	sigs := map[ot][]*dns.RRSIG{}
	for _, rr := range prev.Records {
		h := rr.Header()
		if sig, ok := rr.(*dns.RRSIG); ok {
			k := ot{dns.CanonicalName(h.Name), sig.TypeCovered}
			sigs[k] = append(sigs[k], sig)
			continue
		}
		k := ot{dns.CanonicalName(h.Name), h.Rrtype}
		sets[k] = append(sets[k], rr)
	}
	for k, rrs := range sets {
		if s := sigs[k]; len(s) > 0 {
			idx[rrsetKey(rrs)] = s
		}
	}
	for _, ss := range prev.Steered {
		for _, list := range [][]SignedRRset{ss.A, ss.AAAA} {
			for _, set := range list {
				idx[rrsetKey(set.RRset)] = set.Sigs
			}
		}
	}
	return idx
}

// rrsetKey identifies an RRset by owner, type, TTL and rdata, in any order.
func rrsetKey(rrs []dns.RR) string {
	lines := make([]string, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = dns.CanonicalName(c.Header().Name)
		lines[i] = c.String()
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func addrRRset(name string, ttl uint32, addrs []netip.Addr) []dns.RR {
	out := make([]dns.RR, 0, len(addrs))
	for _, a := range addrs {
		if a.Is4() || a.Is4In6() {
			b := a.Unmap().As4()
			out = append(out, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: b[:]})
			continue
		}
		b := a.As16()
		out = append(out, &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: b[:]})
	}
	return out
}

// bitmap is the NSEC type bitmap of n: its authoritative types (NS and DS
// only at a cut), A and AAAA when a steered name can answer them, NSEC,
// and RRSIG (every owner in the chain has a signed NSEC).
func (n *node) bitmap() []uint16 {
	var types []uint16
	for t := range n.sets {
		if n.cut && t != dns.TypeNS && t != dns.TypeDS {
			continue
		}
		types = append(types, t)
	}
	if st := n.steered; st != nil {
		if len(st.Answers.A) > 0 {
			types = append(types, dns.TypeA)
		}
		if len(st.Answers.AAAA) > 0 {
			types = append(types, dns.TypeAAAA)
		}
	}
	types = append(types, dns.TypeNSEC, dns.TypeRRSIG)
	slices.Sort(types)
	return slices.Compact(types)
}

func sortedTypes(sets map[uint16]*rrsetOf) []uint16 {
	types := make([]uint16, 0, len(sets))
	for t := range sets {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

func compareLabels(la, lb [][]byte) int {
	for i := 0; i < len(la) && i < len(lb); i++ {
		if c := strings.Compare(string(la[i]), string(lb[i])); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// buildNodes groups the input by owner and checks what signing needs:
// names in the zone, no DNSSEC records but DS, one TTL per RRset, SOA and
// NS at the apex, DS only at delegations, CNAME alone, steered names
// authoritative and without static addresses, and a type bitmap that
// proves every answer (UnprovableError).
func buildNodes(origin string, in *Input) (map[string]*node, []error) {
	var errs []error
	nodes := map[string]*node{}
	get := func(name string) *node {
		n := nodes[name]
		if n == nil {
			n = &node{name: name, labels: canonicalLabels(name), sets: map[uint16]*rrsetOf{}}
			nodes[name] = n
		}
		return n
	}
	for _, rr := range in.Records {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		typ := dns.TypeToString[h.Rrtype]
		if !dns.IsSubDomain(origin, name) {
			errs = append(errs, fmt.Errorf("%s %s: not in the zone", name, typ))
			continue
		}
		if h.Class != dns.ClassINET {
			errs = append(errs, fmt.Errorf("%s %s: class %s: only IN is signed", name, typ, dns.ClassToString[h.Class]))
			continue
		}
		if generated[h.Rrtype] {
			errs = append(errs, fmt.Errorf("%s %s: the signer makes these records; remove it from the zone file", name, typ))
			continue
		}
		c := dns.Copy(rr)
		c.Header().Name = name
		n := get(name)
		set := n.sets[h.Rrtype]
		if set == nil {
			set = &rrsetOf{sign: true}
			n.sets[h.Rrtype] = set
		} else if set.rrs[0].Header().Ttl != h.Ttl {
			errs = append(errs, fmt.Errorf("%s %s: TTLs %d and %d in one RRset: give them one TTL (RFC 2181 §5.2)", name, typ, set.rrs[0].Header().Ttl, h.Ttl))
			continue
		}
		if !slices.ContainsFunc(set.rrs, func(o dns.RR) bool { return dns.IsDuplicate(o, c) }) {
			set.rrs = append(set.rrs, c)
		}
	}
	apex := nodes[origin]
	if apex == nil || apex.sets[dns.TypeSOA] == nil || apex.sets[dns.TypeNS] == nil {
		errs = append(errs, fmt.Errorf("no SOA and NS at the apex"))
		return nodes, errs
	}
	// Delegation points, then what lies below them.
	var cuts []string
	for name, n := range nodes {
		if name != origin && n.sets[dns.TypeNS] != nil {
			n.cut = true
			cuts = append(cuts, name)
		}
	}
	below := func(name string) string {
		for _, c := range cuts {
			if name != c && dns.IsSubDomain(c, name) {
				return c
			}
		}
		return ""
	}
	for name, n := range nodes {
		if c := below(name); c != "" {
			n.occluded = true
			for _, set := range n.sets {
				set.sign = false
			}
			if n.sets[dns.TypeDS] != nil {
				errs = append(errs, fmt.Errorf("%s DS: below the delegation %s", name, c))
			}
			continue
		}
		if n.cut {
			for t, set := range n.sets {
				// At a cut only the DS (and the NSEC) are the zone's.
				set.sign = t == dns.TypeDS
			}
		}
		if n.sets[dns.TypeDS] != nil && !n.cut {
			if name == origin {
				errs = append(errs, fmt.Errorf("%s DS: a DS at the apex belongs in the parent zone", name))
			} else {
				errs = append(errs, fmt.Errorf("%s DS: no NS here: a DS is only at a delegation", name))
			}
		}
		if n.sets[dns.TypeCNAME] != nil && len(n.sets) > 1 && !n.cut {
			errs = append(errs, fmt.Errorf("%s CNAME: other records at the same name (RFC 1034 §3.6.2)", name))
		}
	}
	for i := range in.Steered {
		st := &in.Steered[i]
		name := dns.CanonicalName(st.Name)
		if st.Answers == nil {
			errs = append(errs, fmt.Errorf("%s: steered name without answers", name))
			continue
		}
		pool := st.Answers.Pool
		switch {
		case !dns.IsSubDomain(origin, name):
			errs = append(errs, fmt.Errorf("pool %q: %s: not in the zone", pool, name))
			continue
		case below(name) != "":
			errs = append(errs, fmt.Errorf("pool %q: %s: below the delegation %s", pool, name, below(name)))
			continue
		}
		n := get(name)
		switch {
		case n.steered != nil:
			errs = append(errs, fmt.Errorf("pool %q: %s: steered twice (also by pool %q)", pool, name, n.steered.Answers.Pool))
			continue
		case n.cut:
			errs = append(errs, fmt.Errorf("pool %q: %s: a delegation point cannot be steered", pool, name))
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME} {
			if n.sets[t] != nil {
				errs = append(errs, fmt.Errorf("pool %q: %s: also has a static %s record", pool, name, dns.TypeToString[t]))
			}
		}
		if len(st.Answers.A) > 0 && st.Answers.EmptyA != "" {
			errs = append(errs, &UnprovableError{Pool: pool, Name: name, Type: "A", Sets: len(st.Answers.A), Why: st.Answers.EmptyA})
		}
		if len(st.Answers.AAAA) > 0 && st.Answers.EmptyAAAA != "" {
			errs = append(errs, &UnprovableError{Pool: pool, Name: name, Type: "AAAA", Sets: len(st.Answers.AAAA), Why: st.Answers.EmptyAAAA})
		}
		n.steered = st
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return nodes, errs
}

// RRSIG times are 32-bit serial numbers (RFC 4034 §3.1.5, RFC 1982).
func timeToSerial(t time.Time) uint32 { return uint32(t.Unix()) }

// serialToUnix maps a serial time to the Unix time nearest to ref.
func serialToUnix(s uint32, ref time.Time) int64 {
	r := ref.Unix()
	d := int64(int32(s - uint32(r)))
	return r + d
}

func serialBefore(a, b uint32) bool { return int32(a-b) < 0 }
