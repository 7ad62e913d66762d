package site

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnssec"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/release"
)

// The conversions of a zone's signatures: the signer's *dnssec.Signed
// becomes *dnsserver.Signatures (what a zone attaches), which the release
// carries as text (release.SignedZone); a site parses that text back into
// *dnsserver.Signatures, and the signer into the *dnssec.Signed its next
// signing reuses signatures from.

// carried are the types of a signing that the release carries: the zone
// file has the others.
var carried = map[uint16]bool{
	dns.TypeSOA: true, dns.TypeDNSKEY: true, dns.TypeCDS: true, dns.TypeCDNSKEY: true,
	dns.TypeNSEC: true, dns.TypeRRSIG: true,
}

// Signatures returns what s adds to its zone: its DNSSEC records and the
// SOA as signed (the zone file has the rest) and one SteeredSet per
// address set of each steered name.
func Signatures(s *dnssec.Signed) *dnsserver.Signatures {
	out := &dnsserver.Signatures{Expires: s.Expiration, Refresh: s.Refresh}
	for _, rr := range s.Records {
		if carried[rr.Header().Rrtype] {
			out.Records = append(out.Records, rr)
		}
	}
	for _, ss := range s.Steered {
		for _, fam := range []struct {
			t    uint16
			sets []dnssec.SignedRRset
		}{{dns.TypeA, ss.A}, {dns.TypeAAAA, ss.AAAA}} {
			for _, set := range fam.sets {
				st := dnsserver.SteeredSet{Name: dns.CanonicalName(ss.Name), Type: fam.t, Sigs: set.Sigs}
				for _, rr := range set.RRset {
					st.TTL = rr.Header().Ttl
					st.Addrs = append(st.Addrs, rrAddr(rr))
				}
				slices.SortFunc(st.Addrs, netip.Addr.Compare)
				out.Steered = append(out.Steered, st)
			}
		}
	}
	return out
}

func rrAddr(rr dns.RR) netip.Addr {
	switch rr := rr.(type) {
	case *dns.A:
		a, _ := netip.AddrFromSlice(rr.A.To4())
		return a
	case *dns.AAAA:
		a, _ := netip.AddrFromSlice(rr.AAAA.To16())
		return a
	}
	return netip.Addr{}
}

// SignedZone is sigs of zone as the release carries them: master format,
// one record a line with its absolute owner.
func SignedZone(zone string, sigs *dnsserver.Signatures) release.SignedZone {
	var b strings.Builder
	for _, rr := range sigs.Records {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	out := release.SignedZone{Zone: zone, Records: b.String(), Expires: sigs.Expires.UTC(), Refresh: sigs.Refresh.UTC()}
	for _, s := range sigs.Steered {
		set := release.SignedSet{Name: s.Name, Type: dns.TypeToString[s.Type], TTL: s.TTL}
		for _, a := range s.Addrs {
			set.Addrs = append(set.Addrs, a.String())
		}
		for _, sig := range s.Sigs {
			set.Sigs = append(set.Sigs, sig.String())
		}
		out.Steered = append(out.Steered, set)
	}
	return out
}

// ParseSignedZone parses the signatures a release carries for one zone,
// for at most limit records and signatures in all. Errors name the zone
// and the line of its records. The signatures are not verified here
// (Zone.WithSignatures checks that they fit the zone).
func ParseSignedZone(sz *release.SignedZone, limit int) (*dnsserver.Signatures, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("release: signed zone %s: %s", sz.Zone, fmt.Sprintf(format, args...))
	}
	out := &dnsserver.Signatures{Expires: sz.Expires, Refresh: sz.Refresh}
	zp := dns.NewZoneParser(strings.NewReader(sz.Records), sz.Zone, "")
	zp.SetIncludeAllowed(false)
	// The signer writes one record a line: more records than lines are
	// made by $GENERATE, with which a few bytes of a release would make
	// millions of records on every member (memory grows with the text).
	lines := strings.Count(sz.Records, "\n") + 1
	n := 0
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if n++; n > limit {
			return nil, bad("more than %d records", limit)
		}
		if n > lines {
			return nil, bad("records: more records than lines (no $GENERATE in signatures)")
		}
		h := rr.Header()
		if !carried[h.Rrtype] {
			return nil, bad("%s %s: not a record signing makes", h.Name, dns.TypeToString[h.Rrtype])
		}
		if !dns.IsSubDomain(sz.Zone, h.Name) {
			return nil, bad("%s %s: not in the zone", h.Name, dns.TypeToString[h.Rrtype])
		}
		out.Records = append(out.Records, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, bad("records: %v", err)
	}
	for i := range sz.Steered {
		s := &sz.Steered[i]
		t, ok := dns.StringToType[s.Type]
		if !ok || (t != dns.TypeA && t != dns.TypeAAAA) {
			return nil, bad("%s: type %q", s.Name, s.Type)
		}
		set := dnsserver.SteeredSet{Name: s.Name, Type: t, TTL: s.TTL, Addrs: make([]netip.Addr, 0, len(s.Addrs))}
		for _, a := range s.Addrs {
			addr, err := netip.ParseAddr(a)
			if err != nil || addr.Zone() != "" || addr.Is4() != (t == dns.TypeA) || addr.Is4In6() {
				return nil, bad("%s %s: address %q", s.Name, s.Type, a)
			}
			set.Addrs = append(set.Addrs, addr)
		}
		if !slices.IsSortedFunc(set.Addrs, netip.Addr.Compare) || len(slices.Compact(slices.Clone(set.Addrs))) != len(set.Addrs) {
			return nil, bad("%s %s: addresses not sorted or repeated", s.Name, s.Type)
		}
		if n += len(s.Sigs); n > limit {
			return nil, bad("more than %d records", limit)
		}
		for _, text := range s.Sigs {
			rr, err := dns.NewRR(text)
			if err != nil {
				return nil, bad("%s %s: signature: %v", s.Name, s.Type, err)
			}
			sig, ok := rr.(*dns.RRSIG)
			if !ok || sig.TypeCovered != t || dns.CanonicalName(sig.Hdr.Name) != s.Name {
				return nil, bad("%s %s: signature %q is not an RRSIG of the set", s.Name, s.Type, text)
			}
			set.Sigs = append(set.Sigs, sig)
		}
		out.Steered = append(out.Steered, set)
	}
	return out, nil
}

// previous is sigs, attached to a zone whose static records are static,
// as the signing that made them: what the next signing reuses signatures
// from (dnssec.Signer.Sign's prev). The zone file's SOA gives way to the
// signed one.
func previous(origin string, static []dns.RR, sigs *dnsserver.Signatures) *dnssec.Signed {
	if sigs == nil {
		return nil
	}
	out := &dnssec.Signed{Origin: origin, Expiration: sigs.Expires, Refresh: sigs.Refresh}
	signedSOA := slices.ContainsFunc(sigs.Records, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeSOA })
	for _, rr := range static {
		if !signedSOA || rr.Header().Rrtype != dns.TypeSOA {
			out.Records = append(out.Records, rr)
		}
	}
	out.Records = append(out.Records, sigs.Records...)
	byName := map[string]*dnssec.SteeredSigs{}
	for _, s := range sigs.Steered {
		ss := byName[s.Name]
		if ss == nil {
			ss = &dnssec.SteeredSigs{Name: s.Name}
			byName[s.Name] = ss
			out.Steered = append(out.Steered, ss)
		}
		set := dnssec.SignedRRset{Sigs: s.Sigs}
		for _, a := range s.Addrs {
			set.RRset = append(set.RRset, addrRR(s.Name, s.Type, s.TTL, a))
		}
		if s.Type == dns.TypeA {
			ss.A = append(ss.A, set)
		} else {
			ss.AAAA = append(ss.AAAA, set)
		}
	}
	return out
}

func addrRR(name string, t uint16, ttl uint32, a netip.Addr) dns.RR {
	h := dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	if t == dns.TypeA {
		b := a.As4()
		return &dns.A{Hdr: h, A: b[:]}
	}
	b := a.As16()
	return &dns.AAAA{Hdr: h, AAAA: b[:]}
}

// signedSerial returns the SOA serial of sigs, false when it has no SOA.
func signedSerial(sigs *dnsserver.Signatures) (uint32, bool) {
	if sigs == nil {
		return 0, false
	}
	for _, rr := range sigs.Records {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, true
		}
	}
	return 0, false
}

// serialAfter reports whether serial a is greater than b in RFC 1982
// arithmetic (32 bits): a is b plus 1 to 2^31-1.
func serialAfter(a, b uint32) bool {
	d := a - b
	return d != 0 && d < 1<<31
}

// withSerial returns records with the SOA's serial set to serial (a copy
// of the SOA; the other records as they are).
func withSerial(records []dns.RR, serial uint32) []dns.RR {
	out := slices.Clone(records)
	for i, rr := range out {
		if soa, ok := rr.(*dns.SOA); ok {
			c := dns.Copy(soa).(*dns.SOA)
			c.Serial = serial
			out[i] = c
			break
		}
	}
	return out
}

// sameRecords reports whether a and b are the same records in the same
// order.
func sameRecords(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}

// signZone signs in, the static records and steered names of zone z, at
// now. prevStatic and prevSigs are the zone's static records and
// signatures in the running release (nil: none), from which signatures
// still valid are reused.
//
// The SOA serial signed is the zone file's when that is above the
// previous signed serial (RFC 1982); otherwise the previous signed
// serial, raised by one when the signed zone changes (new signatures, or
// other records under an unchanged serial). So every change of what a
// secondary transfers comes with a higher serial, a re-sign that renews
// nothing keeps the serial (and the release's digest), and a file serial
// raised later than the signed one takes over again.
func signZone(s *dnssec.Signer, in *dnssec.Input, now time.Time, prevStatic []dns.RR, prevSigs *dnsserver.Signatures) (*dnssec.Signed, error) {
	var fileSerial uint32
	for _, rr := range in.Records {
		if soa, ok := rr.(*dns.SOA); ok {
			fileSerial = soa.Serial
			break
		}
	}
	prev := previous(in.Origin, prevStatic, prevSigs)
	prevSerial, signedBefore := signedSerial(prevSigs)
	if !signedBefore || serialAfter(fileSerial, prevSerial) {
		return s.Sign(in, now, prev)
	}
	first := *in
	first.Records = withSerial(in.Records, prevSerial)
	out, err := s.Sign(&first, now, prev)
	if err != nil || (out.Made == 0 && sameRecords(withSerial(prevStatic, prevSerial), first.Records)) {
		return out, err
	}
	next := *in
	next.Records = withSerial(in.Records, prevSerial+1)
	return s.Sign(&next, now, out)
}

// ZoneSigning is what one signing of a zone did, for logs and metrics.
type ZoneSigning struct {
	Zone   string
	Serial uint32
	// Made and Reused count the signatures made anew and those kept from
	// the running release.
	Made, Reused     int
	Expires, Refresh time.Time
}

// signerKeys returns zone's keys in dir with their private halves; none
// when dir holds no key of zone, or only public halves (a site that shows
// the keys' states but does not sign). A .private that is there but does
// not load is an error.
func signerKeys(dir, zone string) ([]*dnssec.Key, error) {
	if dir == "" {
		return nil, nil
	}
	keys, err := dnssec.LoadKeys(dir, zone, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	private := 0
	for _, k := range keys {
		if _, err := os.Stat(filepath.Join(dir, k.Base()+".private")); err == nil {
			private++
		}
	}
	if private == 0 {
		return nil, nil
	}
	return dnssec.LoadKeys(dir, zone, true)
}

// SignRelease returns the release of c with the signatures of every zone
// whose keys (with their private halves) cfg's dnssec.keys_dir holds,
// signed at now, and what each signing did; c's release as it is when
// there are none. Signatures of running, the release being served (nil:
// none), are reused where still valid (dnssec.Signer.Sign's prev). A
// steered name whose pool cannot be signed (too many answer sets, an
// unprovable NODATA) refuses the whole release, naming the pool.
func SignRelease(cfg *config.Config, c *Compiled, running *Compiled, now time.Time) (*release.Release, []ZoneSigning, error) {
	pools := map[string]*policy.Pool{}
	for _, p := range c.Pools {
		pools[p.Name] = p
	}
	dcfg := cfg.DNSSEC.WithDefaults()
	var (
		signed []release.SignedZone
		done   []ZoneSigning
		errs   []error
	)
	for _, z := range c.Zones.List() {
		keys, err := signerKeys(dcfg.KeysDir, z.Origin)
		if err != nil {
			errs = append(errs, fmt.Errorf("zone %s: %w", z.Origin, err))
			continue
		}
		if len(keys) == 0 {
			// Another signer's signatures of these very files and pools
			// stay; of other files they would not fit.
			if running != nil && running.Release.UnsignedDigest() == c.Release.UnsignedDigest() {
				if sz := running.Release.SignedZone(z.Origin); sz != nil {
					signed = append(signed, *sz)
				}
			}
			continue
		}
		signer, err := dnssec.NewSigner(dcfg, keys)
		if err != nil {
			return nil, nil, err
		}
		u := z.Unsigned()
		in := &dnssec.Input{Origin: z.Origin, Records: u.Records()}
		bound := u.Bindings()
		names := slices.Sorted(maps.Keys(bound))
		for _, name := range names {
			p := pools[bound[name]]
			if p == nil {
				errs = append(errs, fmt.Errorf("zone %s: %s: pool %q not in the release", z.Origin, name, bound[name]))
				continue
			}
			ans, err := dnssec.PoolAnswers(p, dcfg.MaxAnswerSets)
			if err != nil {
				errs = append(errs, fmt.Errorf("zone %s: %s: %w", z.Origin, name, err))
				continue
			}
			in.Steered = append(in.Steered, dnssec.Steered{Name: name, TTL: p.TTL, Answers: ans})
		}
		if len(errs) > 0 {
			continue
		}
		var prevStatic []dns.RR
		var prevSigs *dnsserver.Signatures
		if running != nil {
			if rz := running.Zones.Zone(z.Origin); rz != nil && rz.Signatures() != nil {
				prevStatic, prevSigs = rz.Unsigned().Records(), rz.Signatures()
			}
		}
		out, err := signZone(signer, in, now, prevStatic, prevSigs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sigs := Signatures(out)
		serial, _ := signedSerial(sigs)
		reused := reusedSigs(prevSigs, sigs)
		done = append(done, ZoneSigning{Zone: z.Origin, Serial: serial, Made: countSigs(sigs) - reused, Reused: reused,
			Expires: out.Expiration, Refresh: out.Refresh})
		signed = append(signed, SignedZone(z.Origin, sigs))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	r := c.Release
	if len(signed) == 0 && len(r.Signed) == 0 {
		return r, nil, nil
	}
	content := r.Content
	content.Signed = signed
	out := release.New(content, r.By, r.Source)
	out.Unsign = r.Unsign
	if err := out.Validate(); err != nil {
		return nil, nil, err
	}
	return out, done, nil
}

// countSigs is the number of RRSIGs of sigs.
func countSigs(sigs *dnsserver.Signatures) int {
	n := 0
	for _, rr := range sigs.Records {
		if rr.Header().Rrtype == dns.TypeRRSIG {
			n++
		}
	}
	for _, s := range sigs.Steered {
		n += len(s.Sigs)
	}
	return n
}

// reusedSigs is the number of RRSIGs of sigs that prev has too.
func reusedSigs(prev, sigs *dnsserver.Signatures) int {
	if prev == nil {
		return 0
	}
	had := map[string]bool{}
	for _, rr := range prev.Records {
		if sig, ok := rr.(*dns.RRSIG); ok {
			had[sig.String()] = true
		}
	}
	for _, s := range prev.Steered {
		for _, sig := range s.Sigs {
			had[sig.String()] = true
		}
	}
	n := 0
	for _, rr := range sigs.Records {
		if sig, ok := rr.(*dns.RRSIG); ok && had[sig.String()] {
			n++
		}
	}
	for _, s := range sigs.Steered {
		for _, sig := range s.Sigs {
			if had[sig.String()] {
				n++
			}
		}
	}
	return n
}
