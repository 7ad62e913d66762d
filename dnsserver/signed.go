package dnsserver

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Signatures is what signing adds to one zone: the signer makes it, the release carries it,
// and a site attaches it to the zone it parsed from the same release. No key material.
type Signatures struct {
	// Records are the DNSSEC records of the static zone: DNSKEY, CDS, CDNSKEY at the apex, the
	// NSEC chain, and the RRSIG of every authoritative RRset (SOA, NSEC and DNSKEY included).
	// It may hold one SOA: it replaces the zone file's SOA (the signer raises the serial when
	// only the signatures change, so secondaries pick the new RRSIGs up). Records equal to
	// records of the zone (its DS, say) are ignored.
	Records []dns.RR
	// Steered are the signed answer sets of the steered names.
	Steered []SteeredSet
	// Expires is the earliest expiration of any signature; Refresh when the signer re-signs.
	Expires, Refresh time.Time
}

// SteeredSet is one address set a steered name can answer, and its RRSIGs.
type SteeredSet struct {
	Name  string       // owner, lower-case, fully qualified
	Type  uint16       // dns.TypeA or dns.TypeAAAA
	TTL   uint32       // the pool's TTL, as signed
	Addrs []netip.Addr // sorted (netip.Addr.Compare)
	Sigs  []*dns.RRSIG
}

// signedZone is what a signed copy of a zone holds besides its nodes
// (which carry the NSEC and RRSIG RRsets, and DNSKEY, CDS and CDNSKEY at
// the apex). An unsigned zone has none: its Zone.sec is nil, and its nodes
// are the parsed ones, without a field more.
type signedZone struct {
	sigs     *Signatures
	unsigned *Zone
	// records are the records sigs adds to the zone, in their order:
	// Signatures.Records less the SOA and copies of the zone's own
	// records (what a transfer sends of them, made once, not per transfer).
	records []dns.RR
	// chain is the NSEC chain in canonical order (RFC 4034 §6.1): the
	// nodes that own an NSEC, and their sort keys (canonicalKey).
	chain []*node
	keys  []string
	// steered indexes Signatures.Steered by steerKey.
	steered map[string]*steeredEntry
	// soaSigs are the RRSIGs of the SOA with the TTL of a negative
	// answer's SOA (negativeSOA), made once.
	soaSigs []dns.RR
}

// WithSignatures returns a copy of z that answers queries with the DO bit with sigs; z itself
// is unchanged (an unsigned zone must not grow: no new fields per node for unsigned zones).
// It refuses signatures that do not fit z: an RRSIG over an RRset z does not have, a steered
// set for a name z does not bind, an authoritative name without its NSEC, no DNSKEY at the apex.
//
// Besides, each RRSIG must name the zone as its signer, carry the TTL of its RRset and the
// label count of its owner (one less for a wildcard); every authoritative RRset must have an
// RRSIG; each NSEC's type bitmap must list the name's types (the addresses of a steered name
// when it has signed sets of that type) and name the next name of the zone in canonical order
// (the last one the apex: a chain that skips, loops or stops short is refused); every name
// bound to a pool must have a signed set.
// The signatures themselves are not verified: the release that carries them is.
func (z *Zone) WithSignatures(sigs *Signatures) (*Zone, error) {
	if sigs == nil {
		return nil, errors.New("zone " + z.Origin + ": no signatures")
	}
	u := z.Unsigned()
	var errs []error
	bad := func(format string, args ...any) {
		if len(errs) < maxSignatureErrors {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}

	// The DNSSEC RRsets of each name, and the replacing SOA.
	added := map[string]rrsets{}
	var records []dns.RR // what is added, in order: signedZone.records
	type sigKey struct {
		owner   string
		covered uint16
	}
	sigsOf := map[sigKey][]dns.RR{}
	var soa *dns.SOA
	dotOrigin := "." + u.Origin
	for _, rr := range sigs.Records {
		h := rr.Header()
		owner := dns.CanonicalName(h.Name)
		typ := dns.TypeToString[h.Rrtype]
		if h.Class != dns.ClassINET {
			bad("%s %s: class %s: only IN is served", h.Name, typ, dns.ClassToString[h.Class])
			continue
		}
		if !inZone(u.Origin, dotOrigin, owner) {
			bad("%s %s: outside the zone", h.Name, typ)
			continue
		}
		n := u.nodes[owner]
		if n == nil {
			bad("%s %s: the zone has no such name", h.Name, typ)
			continue
		}
		if slices.ContainsFunc(n.rrsets.get(h.Rrtype), func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
			continue // a record of the zone itself
		}
		if n.occluded {
			bad("%s %s: below a delegation, where nothing is signed", h.Name, typ)
			continue
		}
		switch h.Rrtype {
		case dns.TypeSOA:
			switch {
			case owner != u.Origin:
				bad("%s SOA: an SOA belongs at the zone apex %s only", h.Name, u.Origin)
			case soa != nil:
				bad("%s SOA: a second SOA", h.Name)
			default:
				soa = rr.(*dns.SOA)
			}
			continue
		case dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY:
			if owner != u.Origin {
				bad("%s %s: belongs at the zone apex %s only", h.Name, typ, u.Origin)
				continue
			}
			if len(added[owner].get(h.Rrtype)) >= maxKeyRecords {
				bad("%s %s: more than %d (a signer publishes a few keys)", h.Name, typ, maxKeyRecords)
				continue
			}
		case dns.TypeNSEC:
			if len(n.rrsets) == 0 {
				bad("%s NSEC: an empty non-terminal owns no NSEC (RFC 4035 §2.3)", h.Name)
				continue
			}
			if len(added[owner].get(dns.TypeNSEC)) > 0 {
				bad("%s NSEC: a second NSEC", h.Name)
				continue
			}
		case dns.TypeRRSIG:
			// Bounded per RRset, so that no answer scans or carries
			// more than a signer makes; a copy is dropped.
			k := sigKey{owner, rr.(*dns.RRSIG).TypeCovered}
			prev := sigsOf[k]
			if slices.ContainsFunc(prev, func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
				continue
			}
			if len(prev) >= maxSigsPerRRset {
				bad("%s RRSIG %s: more than %d (a signer makes one per key)", h.Name, dns.TypeToString[k.covered], maxSigsPerRRset)
				continue
			}
			sigsOf[k] = append(prev, rr)
		default:
			bad("%s %s: not a DNSSEC record, and not one of the zone's", h.Name, typ)
			continue
		}
		sets := added[owner]
		set := sets.get(h.Rrtype)
		if len(set) > 0 && h.Rrtype != dns.TypeRRSIG && set[0].Header().Ttl != h.Ttl {
			bad("%s %s: TTL %d differs from %d of the rest of the RRset (RFC 2181 §5.2)", h.Name, typ, h.Ttl, set[0].Header().Ttl)
			continue
		}
		sets.put(h.Rrtype, append(set, rr))
		added[owner] = sets
		records = append(records, rr)
	}
	if len(added[u.Origin].get(dns.TypeDNSKEY)) == 0 {
		bad("%s: no DNSKEY at the zone apex", u.Origin)
	}

	// The signed copy: the nodes that gain RRsets are copied, the others
	// (empty non-terminals, glue) shared with z.
	sz := *u
	sz.nodes = make(map[string]*node, len(u.nodes))
	sec := &signedZone{sigs: sigs, unsigned: u, records: records, steered: make(map[string]*steeredEntry, len(sigs.Steered))}
	sz.sec = sec
	for name, n := range u.nodes {
		extra := added[name]
		if len(extra) == 0 && !(soa != nil && name == u.Origin) {
			sz.nodes[name] = n
			continue
		}
		c := *n
		c.rrsets = make(rrsets, 0, len(n.rrsets)+len(extra))
		c.rrsets = append(c.rrsets, n.rrsets...)
		c.rrsets = append(c.rrsets, extra...)
		if soa != nil && name == u.Origin {
			c.rrsets.put(dns.TypeSOA, []dns.RR{soa})
		}
		sz.nodes[name] = &c
	}
	if soa != nil {
		sz.SOA = soa
		sz.records = slices.Clone(u.records)
		sz.records[0] = soa
	}

	// Steered sets: bound names, well formed, one per address set.
	hasSets := map[string]uint16{} // name → the types it has sets of, as bits
	for i := range sigs.Steered {
		ss := &sigs.Steered[i]
		what := fmt.Sprintf("steered %s %s %v", ss.Name, dns.TypeToString[ss.Type], ss.Addrs)
		if _, ok := u.bindings[ss.Name]; !ok {
			bad("%s: the zone binds no pool to %s (names are lower-case and fully qualified)", what, ss.Name)
			continue
		}
		if msg := ss.check(u.Origin); msg != "" {
			bad("%s: %s", what, msg)
			continue
		}
		k := steerKey(nil, ss.Name, ss.Type, ss.Addrs)
		if _, dup := sec.steered[string(k)]; dup {
			bad("%s: a second set of the same addresses", what)
			continue
		}
		e, err := newSteeredEntry(ss)
		if err != nil {
			bad("%s: %v", what, err)
			continue
		}
		sec.steered[string(k)] = e
		hasSets[ss.Name] |= familyBit(ss.Type)
	}
	for name := range u.bindings {
		if hasSets[name] == 0 {
			bad("%s: bound to a pool, but no signed address set", name)
		}
	}

	// Every authoritative name has its NSEC, with the right bitmap, and
	// every authoritative RRset its RRSIGs, which fit it.
	for name, n := range sz.nodes {
		if n.occluded || len(n.rrsets) == 0 {
			continue
		}
		nsec := n.rrsets.get(dns.TypeNSEC)
		if len(nsec) == 0 {
			bad("%s: no NSEC", name)
			continue
		}
		sec.chain = append(sec.chain, n)
		if want, got := nsecTypes(n, hasSets[name]), nsec[0].(*dns.NSEC).TypeBitMap; !slices.Equal(want, sortedCopy(got)) {
			bad("%s NSEC: type bitmap %s, the name has %s", name, typeList(got), typeList(want))
		}
		sigsOf := n.rrsets.get(dns.TypeRRSIG)
		for _, rr := range sigsOf {
			sig := rr.(*dns.RRSIG)
			if msg := checkRRSIG(sig, n, u.Origin); msg != "" {
				bad("%s RRSIG %s: %s", name, dns.TypeToString[sig.TypeCovered], msg)
			}
		}
		for _, set := range n.rrsets {
			if set.t == dns.TypeRRSIG || !signable(n, set.t) {
				continue
			}
			if !slices.ContainsFunc(sigsOf, func(rr dns.RR) bool { return rr.(*dns.RRSIG).TypeCovered == set.t }) {
				bad("%s %s: no RRSIG", name, dns.TypeToString[set.t])
			}
		}
	}
	sec.keys = make([]string, len(sec.chain))
	for i, n := range sec.chain {
		sec.keys[i] = canonicalKey(n.name)
	}
	order := make([]int, len(sec.chain))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(sec.keys[a], sec.keys[b]) })
	chain, keys := make([]*node, len(order)), make([]string, len(order))
	for i, j := range order {
		chain[i], keys[i] = sec.chain[j], sec.keys[j]
	}
	sec.chain, sec.keys = chain, keys
	// The chain itself: each NSEC names the next name in canonical order,
	// the last the apex (RFC 4034 §4.1.1). A chain that skips a name
	// denies it; one that loops or stops short proves nothing, and
	// validators would refuse every denial of the names it leaves out.
	for i, n := range chain {
		next := (i + 1) % len(chain)
		// Compared as wire names: presentation forms of one name differ
		// in case and escapes.
		if got := n.rrsets.get(dns.TypeNSEC)[0].(*dns.NSEC).NextDomain; canonicalKey(got) != keys[next] {
			bad("%s NSEC: next name %s, the zone's next name is %s", n.name, got, chain[next].name)
		}
	}
	if len(errs) > 0 {
		if len(errs) == maxSignatureErrors {
			errs = append(errs, errors.New("… (more)"))
		}
		slices.SortStableFunc(errs[:min(len(errs), maxSignatureErrors)], func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, fmt.Errorf("zone %s: signatures do not fit the zone: %w", u.Origin, errors.Join(errs...))
	}
	negTTL := sz.negativeSOA().Hdr.Ttl
	for _, rr := range sz.nodes[u.Origin].rrsets.get(dns.TypeRRSIG) {
		if rr.(*dns.RRSIG).TypeCovered == dns.TypeSOA {
			c := dns.Copy(rr)
			c.Header().Ttl = negTTL
			sec.soaSigs = append(sec.soaSigs, c)
		}
	}
	return &sz, nil
}

// maxSignatureErrors bounds the problems WithSignatures lists: signatures
// of another zone would otherwise make one per record.
const maxSignatureErrors = 20

// maxSigsPerRRset and maxKeyRecords bound what WithSignatures takes of a
// release: a signer makes one RRSIG per RRset and signing key (two or
// three in a rollover), and publishes a few DNSKEY, CDS and CDNSKEY
// records; a release with thousands would make every answer of the name
// scan them.
const (
	maxSigsPerRRset = 8
	maxKeyRecords   = 16
)

// Signatures returns what WithSignatures attached, nil for an unsigned zone.
func (z *Zone) Signatures() *Signatures {
	if z.sec == nil {
		return nil
	}
	return z.sec.sigs
}

// Unsigned returns the zone as parsed, without signatures (z itself when unsigned).
func (z *Zone) Unsigned() *Zone {
	if z.sec == nil {
		return z
	}
	return z.sec.unsigned
}

// Records returns the zone's static records (SOA first), GSLB records
// excluded: what the signer signs (dnssec.Input.Records). For a signed
// zone, the SOA is the one the signatures carry; no DNSSEC record is among
// them (see Signatures). The slice is the zone's: do not modify it.
func (z *Zone) Records() []dns.RR { return z.records }

// check returns what is wrong with ss for a zone of origin, "" when nothing.
func (ss *SteeredSet) check(origin string) string {
	switch {
	case ss.Type != dns.TypeA && ss.Type != dns.TypeAAAA:
		return "the type is neither A nor AAAA"
	case len(ss.Addrs) == 0:
		return "no addresses"
	case len(ss.Sigs) == 0:
		return "no RRSIG"
	case !slices.IsSortedFunc(ss.Addrs, netip.Addr.Compare):
		return "the addresses are not sorted"
	}
	for _, a := range ss.Addrs {
		if a.Is4() != (ss.Type == dns.TypeA) || a.Zone() != "" {
			return fmt.Sprintf("%s is not an address of the type", a)
		}
	}
	for i := 1; i < len(ss.Addrs); i++ {
		if ss.Addrs[i] == ss.Addrs[i-1] {
			return fmt.Sprintf("%s twice", ss.Addrs[i])
		}
	}
	for _, sig := range ss.Sigs {
		switch {
		case sig == nil:
			return "a nil RRSIG"
		case sig.TypeCovered != ss.Type:
			return fmt.Sprintf("an RRSIG over %s", dns.TypeToString[sig.TypeCovered])
		case dns.CanonicalName(sig.Hdr.Name) != ss.Name:
			return fmt.Sprintf("an RRSIG owned by %s", sig.Hdr.Name)
		case sig.OrigTtl != ss.TTL:
			return fmt.Sprintf("an RRSIG with the original TTL %d, the set's is %d", sig.OrigTtl, ss.TTL)
		case sig.Labels != signedLabels(ss.Name):
			return fmt.Sprintf("an RRSIG of %d labels, the owner has %d", sig.Labels, signedLabels(ss.Name))
		case dns.CanonicalName(sig.SignerName) != origin:
			return fmt.Sprintf("an RRSIG by %s, not the zone", sig.SignerName)
		}
	}
	return ""
}

// checkRRSIG returns what is wrong with sig at n in a zone of origin.
func checkRRSIG(sig *dns.RRSIG, n *node, origin string) string {
	if sig.TypeCovered == dns.TypeRRSIG || sig.TypeCovered == TypeGSLB {
		return "not a type that is signed"
	}
	set := n.rrsets.get(sig.TypeCovered)
	switch {
	case len(set) == 0 && len(n.rrsets.get(TypeGSLB)) > 0 && (sig.TypeCovered == dns.TypeA || sig.TypeCovered == dns.TypeAAAA):
		return "a steered name's addresses are signed in Signatures.Steered"
	case len(set) == 0:
		return "the zone has no such RRset"
	case !signable(n, sig.TypeCovered):
		return "the RRset is not authoritative (a delegation's NS)"
	case sig.OrigTtl != set[0].Header().Ttl:
		return fmt.Sprintf("original TTL %d, the RRset's is %d", sig.OrigTtl, set[0].Header().Ttl)
	case sig.Labels != signedLabels(n.name):
		return fmt.Sprintf("%d labels, the owner has %d", sig.Labels, signedLabels(n.name))
	case dns.CanonicalName(sig.SignerName) != origin:
		return fmt.Sprintf("signed by %s, not the zone", sig.SignerName)
	}
	return ""
}

// signable reports whether the RRset of type t at n is the zone's to sign:
// every authoritative RRset, but at a delegation point only DS and NSEC,
// and never the GSLB binding.
func signable(n *node, t uint16) bool {
	switch {
	case t == TypeGSLB || n.occluded:
		return false
	case n.cut:
		return t == dns.TypeDS || t == dns.TypeNSEC
	}
	return true
}

// signedLabels is the Labels field of an RRSIG owned by name: its label
// count, less a leading "*" (RFC 4034 §3.1.3).
func signedLabels(name string) uint8 {
	n := dns.CountLabel(name)
	if strings.HasPrefix(name, "*.") {
		n--
	}
	return uint8(n)
}

// nsecTypes is the type bitmap the NSEC of n must have: its types (at a
// delegation point NS and DS only), the address types of its signed
// steered sets (fams, familyBit), RRSIG and NSEC; sorted.
func nsecTypes(n *node, fams uint16) []uint16 {
	types := []uint16{dns.TypeNSEC, dns.TypeRRSIG}
	for _, set := range n.rrsets {
		switch {
		case set.t == TypeGSLB:
		case n.cut && set.t != dns.TypeNS && set.t != dns.TypeDS:
		default:
			types = append(types, set.t)
		}
	}
	if fams&familyBit(dns.TypeA) != 0 {
		types = append(types, dns.TypeA)
	}
	if fams&familyBit(dns.TypeAAAA) != 0 {
		types = append(types, dns.TypeAAAA)
	}
	slices.Sort(types)
	return slices.Compact(types)
}

func familyBit(t uint16) uint16 {
	if t == dns.TypeAAAA {
		return 2
	}
	return 1
}

func sortedCopy(types []uint16) []uint16 {
	out := slices.Clone(types)
	slices.Sort(out)
	return slices.Compact(out)
}

func typeList(types []uint16) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = dns.TypeToString[t]
	}
	return "[" + strings.Join(s, " ") + "]"
}

// steerKey appends to b the key of a steered set in signedZone.steered:
// the owner, the type and the addresses, which must be sorted. With b on
// the stack, a lookup m[string(key)] allocates nothing.
func steerKey(b []byte, name string, t uint16, addrs []netip.Addr) []byte {
	b = append(b, name...)
	b = append(b, 0, byte(t>>8), byte(t))
	for _, a := range addrs {
		if t == dns.TypeA {
			a4 := a.Unmap().As4()
			b = append(b, a4[:]...)
		} else {
			a16 := a.As16()
			b = append(b, a16[:]...)
		}
	}
	return b
}

// steeredEntry is one signed steered set, with its RRSIGs packed for the
// fast path: each owned by a pointer to the question (offset 12), whose
// name is the set's in the case the client used.
type steeredEntry struct {
	set *SteeredSet
	// sigs are the RRSIG records in wire form; n how many.
	sigs []byte
	n    uint16
}

func newSteeredEntry(ss *SteeredSet) (*steeredEntry, error) {
	e := &steeredEntry{set: ss}
	buf := make([]byte, 512)
	for _, sig := range ss.Sigs {
		c := *sig
		c.Hdr.Name = ss.Name
		end, err := dns.PackRR(&c, buf, 0, nil, false)
		if err != nil {
			return nil, fmt.Errorf("an RRSIG that does not pack: %w", err)
		}
		owner := skipName(buf[:end], 0)
		if owner < 0 {
			return nil, errors.New("an RRSIG that does not pack")
		}
		e.sigs = append(e.sigs, 0xc0, headerLen)
		e.sigs = append(e.sigs, buf[owner:end]...)
		e.n++
	}
	return e, nil
}

// maxSteerAddrs is how many addresses a steered answer may have for its
// signed set to be found without allocating.
const maxSteerAddrs = 16

// steeredSet returns the signed set of the steered name (lower-case, the
// owner of the binding: a wildcard's for a synthesised answer) for the
// addresses of type t, in any order; nil when none is signed.
func (sec *signedZone) steeredSet(name string, t uint16, addrs []netip.Addr) *SteeredSet {
	if e := sec.steeredEntry(name, t, addrs); e != nil {
		return e.set
	}
	return nil
}

// steeredEntry is steeredSet with the set's packed RRSIGs.
func (sec *signedZone) steeredEntry(name string, t uint16, addrs []netip.Addr) *steeredEntry {
	var (
		sorted [maxSteerAddrs]netip.Addr
		kb     [255 + 3 + maxSteerAddrs*16]byte
	)
	s := sorted[:0]
	if len(addrs) > maxSteerAddrs {
		s = make([]netip.Addr, 0, len(addrs))
	}
	for _, a := range addrs {
		if t == dns.TypeA {
			a = a.Unmap()
		}
		// Insertion sort: the sets are small, and this keeps s on the stack.
		i := len(s)
		s = append(s, a)
		for ; i > 0 && s[i-1].Compare(a) > 0; i-- {
			s[i] = s[i-1]
		}
		s[i] = a
	}
	return sec.steered[string(steerKey(kb[:0], name, t, s))]
}

// canonicalKey is a string whose byte order is the canonical order of DNS
// names (RFC 4034 §6.1): the labels from the root down, each octet (lower
// case) as two bytes (octet+1, so that no octet sorts before the end of a
// label, 0 0). name is fully qualified, in presentation form.
func canonicalKey(name string) string {
	var wire [256]byte
	n, err := dns.PackDomainName(dns.CanonicalName(name), wire[:], 0, nil, false)
	if err != nil {
		return ""
	}
	// The label starts, from the first.
	var starts [128]int
	k := 0
	for off := 0; off < n && wire[off] != 0 && k < len(starts); off += int(wire[off]) + 1 {
		starts[k] = off
		k++
	}
	key := make([]byte, 0, 2*n)
	for i := k - 1; i >= 0; i-- {
		off := starts[i]
		for _, c := range wire[off+1 : off+1+int(wire[off])] {
			v := uint16(c) + 1
			key = append(key, byte(v>>8), byte(v))
		}
		key = append(key, 0, 0)
	}
	return string(key)
}

// covering returns the NSEC node whose owner is name or the last before
// it in canonical order: the NSEC that proves name does not exist when it
// does not, or the name's own NSEC when it does.
func (sec *signedZone) covering(name string) *node {
	if len(sec.chain) == 0 {
		return nil
	}
	key := canonicalKey(name)
	i, found := slices.BinarySearch(sec.keys, key)
	if found {
		return sec.chain[i]
	}
	if i == 0 {
		return sec.chain[len(sec.chain)-1] // before the apex: the last one wraps around
	}
	return sec.chain[i-1]
}
