package dnsserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Response rate limiting (RRL), the ISC algorithm of BIND, NSD and Knot:
// UDP responses are counted per client prefix (the source address cut to
// IPv4Prefix or IPv6Prefix bits) and per response class: the kind of the
// response (answer, NODATA, NXDOMAIN, referral, error) and the name it is
// about (the query name; the wildcard for a synthesised answer; the zone for
// NXDOMAIN; the delegation point for a referral; none for errors). Each class
// has an account of credit: ResponsesPerSecond are credited every second, up
// to ResponsesPerSecond; each response debits one, and a response that finds
// the account at zero or below is limited. The debt goes down to
// Window × ResponsesPerSecond, so a source that keeps flooding stays limited
// until it has been quiet for up to Window; an account untouched for Window
// starts afresh.
//
// A limited response is dropped, or every Slip-th one (the first of each
// series included) is "slipped": sent as a minimal reply with TC=1 that
// carries the question alone, so a real client behind the prefix retries
// over TCP, which cannot be spoofed, while a forged victim receives a
// packet no larger than the query. TCP is never limited; neither are the
// Exempt prefixes, nor clients with a valid server cookie (cookie.go),
// whose address is proven.
//
// The accounts live in a table of a fixed number of 64-bit buckets, two
// ways per set: no lock, no allocation, one compare-and-swap per response.
// A bucket holds a 16-bit fingerprint of the class, a slip counter, the
// second it was last debited (mod 2^20) and the balance. When both buckets of
// a set hold other classes, the one least recently debited is taken over, so
// a flood of distinct classes can make the table forget an account (as in
// Knot and NSD, whose tables are fixed too); TableSize sets how many classes
// are remembered at once.

// Defaults of RRLConfig (see DefaultRRL).
const (
	DefaultRRLResponsesPerSecond = 200
	DefaultRRLWindow             = 15 * time.Second
	DefaultRRLSlip               = 2
	DefaultRRLIPv4Prefix         = 24
	DefaultRRLIPv6Prefix         = 56
	DefaultRRLTableSize          = 1 << 19

	// MaxRRLResponsesPerSecond, MaxRRLWindow, MaxRRLSlip and
	// MaxRRLTableSize bound the settings (Validate).
	MaxRRLResponsesPerSecond = 1_000_000
	MaxRRLWindow             = time.Hour
	MaxRRLSlip               = 10
	MaxRRLTableSize          = 1 << 26
	MinRRLTableSize          = 2
)

// RRLConfig configures response rate limiting of UDP responses.
type RRLConfig struct {
	// Enabled turns rate limiting on (dns.rrl.enabled, default true).
	Enabled bool
	// ResponsesPerSecond is the rate each class of responses is limited to,
	// per client prefix (dns.rrl.responses_per_second, default 200).
	ResponsesPerSecond int
	// Window is how long credit or debt is remembered, whole seconds
	// (dns.rrl.window, 1s to 1h, default 15s).
	Window time.Duration
	// Slip makes every Slip-th limited response a small TC=1 reply instead of
	// dropping it; 0 drops all, 1 slips all (dns.rrl.slip, 0-10, default 2).
	Slip int
	// IPv4Prefix and IPv6Prefix are the lengths client addresses are cut to
	// (dns.rrl.ipv4_prefix, default 24; dns.rrl.ipv6_prefix, default 56).
	IPv4Prefix, IPv6Prefix int
	// Exempt lists clients never limited (dns.rrl.exempt).
	Exempt []netip.Prefix
	// LogOnly counts and logs what would be limited, and sends it all
	// (dns.rrl.log_only).
	LogOnly bool
	// TableSize is the number of buckets, rounded up to a power of two, 8
	// bytes each (dns.rrl.table_size, default 524288: 4 MiB). A change takes
	// effect on reload with an empty table.
	TableSize int
}

// DefaultRRL returns the default rate limiting: on, 200 responses per
// second per class and /24 or /56, a 15 s window, slip 2, loopback exempt
// (a packet from a loopback address cannot arrive from another host: the
// kernel drops it as a martian, so no one can forge it from outside).
func DefaultRRL() RRLConfig {
	return RRLConfig{
		Exempt:             DefaultWhyClients(),
		Enabled:            true,
		ResponsesPerSecond: DefaultRRLResponsesPerSecond,
		Window:             DefaultRRLWindow,
		Slip:               DefaultRRLSlip,
		IPv4Prefix:         DefaultRRLIPv4Prefix,
		IPv6Prefix:         DefaultRRLIPv6Prefix,
		TableSize:          DefaultRRLTableSize,
	}
}

// Validate checks the settings of c, all of them when it is enabled.
func (c RRLConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.ResponsesPerSecond < 1 || c.ResponsesPerSecond > MaxRRLResponsesPerSecond {
		errs = append(errs, fmt.Errorf("responses_per_second: must be 1-%d (got %d)", MaxRRLResponsesPerSecond, c.ResponsesPerSecond))
	}
	if err := CheckRRLWindow(c.Window); err != nil {
		errs = append(errs, fmt.Errorf("window: %w", err))
	}
	if c.Slip < 0 || c.Slip > MaxRRLSlip {
		errs = append(errs, fmt.Errorf("slip: must be 0-%d (got %d)", MaxRRLSlip, c.Slip))
	}
	if c.IPv4Prefix < 8 || c.IPv4Prefix > 32 {
		errs = append(errs, fmt.Errorf("ipv4_prefix: must be 8-32 (got %d)", c.IPv4Prefix))
	}
	if c.IPv6Prefix < 16 || c.IPv6Prefix > 128 {
		errs = append(errs, fmt.Errorf("ipv6_prefix: must be 16-128 (got %d)", c.IPv6Prefix))
	}
	if c.TableSize < MinRRLTableSize || c.TableSize > MaxRRLTableSize {
		errs = append(errs, fmt.Errorf("table_size: must be %d-%d (got %d)", MinRRLTableSize, MaxRRLTableSize, c.TableSize))
	}
	return errors.Join(errs...)
}

// CheckRRLWindow checks a window of rate limiting: whole seconds, 1s to 1h.
func CheckRRLWindow(w time.Duration) error {
	if w < time.Second || w > MaxRRLWindow || w%time.Second != 0 {
		return fmt.Errorf("must be whole seconds from 1s to 1h (got %s)", w)
	}
	return nil
}

// rrlKind is the kind of a response, part of its class.
type rrlKind uint8

const (
	rrlAnswer rrlKind = iota
	rrlNoData
	rrlNXDomain
	rrlReferral
	rrlError
)

func (k rrlKind) String() string {
	return [...]string{"answer", "nodata", "nxdomain", "referral", "error"}[k]
}

// kindOf classifies a response by its rcode, counts and AA bit.
func kindOf(rcode, an, ns int, aa bool) rrlKind {
	switch {
	case rcode == dns.RcodeNameError:
		return rrlNXDomain
	case rcode != dns.RcodeSuccess:
		return rrlError
	case an > 0:
		return rrlAnswer
	case !aa && ns > 0:
		return rrlReferral
	}
	return rrlNoData
}

// rrlAction is what the limiter decided for one response.
type rrlAction uint8

const (
	rrlSend rrlAction = iota
	rrlDrop
	rrlSlip
)

// Bucket layout, from the top bit: fingerprint (16), slip counter (4),
// second of the last debit mod 2^20 (20), balance (24, two's complement).
const (
	bucketFPShift   = 48
	bucketSlipShift = 44
	bucketTimeShift = 24
	bucketTimeMask  = 1<<20 - 1
	bucketBalBits   = 24
	bucketBalMin    = -(1 << (bucketBalBits - 1))
	// rrlCASTries bounds the compare-and-swap retries of one debit; past
	// them (buckets fought over by many cores) the response is sent.
	rrlCASTries = 4
)

func packBucket(fp uint16, slip, t uint32, bal int64) uint64 {
	return uint64(fp)<<bucketFPShift | uint64(slip&0xf)<<bucketSlipShift |
		uint64(t&bucketTimeMask)<<bucketTimeShift | uint64(bal)&(1<<bucketBalBits-1)
}

func unpackBucket(b uint64) (fp uint16, slip, t uint32, bal int64) {
	fp = uint16(b >> bucketFPShift)
	slip = uint32(b>>bucketSlipShift) & 0xf
	t = uint32(b>>bucketTimeShift) & bucketTimeMask
	bal = int64(b<<(64-bucketBalBits)) >> (64 - bucketBalBits) // sign-extend
	return
}

// rrlTable is the fixed table of accounts, kept across reloads.
type rrlTable struct {
	buckets []atomic.Uint64
	mask    uint64
	seed    maphash.Seed
	// base is the origin of the table's clock (monotonic seconds).
	base time.Time
	// lastLog is the second of the last "limiting" log line; suppressed
	// counts the lines left out since.
	lastLog    atomic.Int64
	suppressed atomic.Int64
}

func newRRLTable(size int, base time.Time) *rrlTable {
	n := 1 << bits.Len(uint(max(size, MinRRLTableSize)-1))
	return &rrlTable{buckets: make([]atomic.Uint64, n), mask: uint64(n - 1), seed: maphash.MakeSeed(), base: base}
}

// rrl is the limiter of one view: its settings and the table.
type rrl struct {
	table          *rrlTable
	rate           int64
	floor          int64 // the most debt: -Window × rate, within the balance's bits
	window         int64 // seconds
	slip           uint32
	v4bits, v6bits int
	exempt         []netip.Prefix
	logOnly        bool
}

func newRRL(c RRLConfig, t *rrlTable) *rrl {
	w := int64(c.Window / time.Second)
	rate := int64(c.ResponsesPerSecond)
	return &rrl{
		table: t, rate: rate, floor: max(-w*rate, bucketBalMin), window: w, slip: uint32(c.Slip),
		v4bits: c.IPv4Prefix, v6bits: c.IPv6Prefix, exempt: c.Exempt, logOnly: c.LogOnly,
	}
}

// classKey writes the class of a response into buf: family and kind, the
// client prefix, and the name (lower-case wire form; none for errors).
func (l *rrl) classKey(buf *[1 + 16 + 255]byte, src netip.Addr, kind rrlKind, name []byte) []byte {
	src = src.Unmap()
	buf[0] = byte(kind)
	n := 1
	if src.Is4() {
		p, _ := src.Prefix(l.v4bits)
		a := p.Addr().As4()
		n += copy(buf[n:], a[:])
	} else {
		buf[0] |= 0x80
		p, _ := src.Prefix(l.v6bits)
		a := p.Addr().As16()
		n += copy(buf[n:], a[:])
	}
	if kind != rrlError {
		n += copy(buf[n:], name)
	}
	return buf[:n]
}

// check debits the account of the response of kind about name to src at
// now, and returns what to do with the response; start is set when the
// account has just run out (limiting starts).
func (l *rrl) check(src netip.Addr, kind rrlKind, name []byte, now time.Time) (act rrlAction, start bool) {
	if len(l.exempt) > 0 && allowed(l.exempt, src) {
		return rrlSend, false
	}
	var buf [1 + 16 + 255]byte
	h := maphash.Bytes(l.table.seed, l.classKey(&buf, src, kind, name))
	return l.debit(h, int64(now.Sub(l.table.base)/time.Second))
}

// debit runs the ISC algorithm on the account of hash h at second now.
func (l *rrl) debit(h uint64, now int64) (rrlAction, bool) {
	t := l.table
	fp := uint16(h >> bucketFPShift)
	if fp == 0 {
		fp = 1 // 0 marks an empty bucket
	}
	set := h & t.mask &^ 1
	ts := uint32(now) & bucketTimeMask
	for range rrlCASTries {
		slot := &t.buckets[set]
		old := slot.Load()
		alt := &t.buckets[set+1]
		oldAlt := alt.Load()
		var slip uint32
		var bal int64
		switch ofp, s, bt, b := unpackBucket(old); {
		case ofp == fp:
			slip, bal = s, l.credit(b, ts, bt)
		default:
			afp, as, at, ab := unpackBucket(oldAlt)
			if afp == fp {
				slot, old = alt, oldAlt
				slip, bal = as, l.credit(ab, ts, at)
				break
			}
			// A new account, in the bucket least recently used.
			if oldAlt == 0 || old != 0 && (ts-at)&bucketTimeMask > (ts-bt)&bucketTimeMask {
				slot, old = alt, oldAlt
			}
			bal = l.rate
		}
		if bal == l.rate {
			slip = 0 // a series of limited responses ends when credit is full
		}
		bal--
		act, start := rrlSend, false
		if bal < 0 {
			start = bal == -1
			bal = max(bal, l.floor)
			act = rrlDrop
			if l.slip > 0 {
				if slip == 0 {
					act = rrlSlip
				}
				slip = (slip + 1) % l.slip
			}
		}
		if slot.CompareAndSwap(old, packBucket(fp, slip, ts, bal)) {
			return act, start
		}
	}
	return rrlSend, false
}

// credit is the balance bal of a bucket last debited at second last,
// credited for the seconds to now.
func (l *rrl) credit(bal int64, now, last uint32) int64 {
	age := int64((now - last) & bucketTimeMask)
	switch {
	case age == 0:
		return bal
	case age > l.window:
		return l.rate
	}
	return min(bal+age*l.rate, l.rate)
}

// slipReply turns the reply out into its slipped form in place: the header
// with TC set and the question alone (RFC 1035 §4.1.1), nothing in the
// other sections.
func slipReply(out []byte) []byte {
	if len(out) < headerLen {
		return out
	}
	end := headerLen
	if binary.BigEndian.Uint16(out[4:]) == 1 {
		if e := skipName(out, headerLen); e > 0 && e+4 <= len(out) {
			end = e + 4
		} else {
			binary.BigEndian.PutUint16(out[4:], 0)
		}
	}
	out[2] |= flagTC >> 8
	binary.BigEndian.PutUint16(out[6:], 0)
	binary.BigEndian.PutUint16(out[8:], 0)
	binary.BigEndian.PutUint16(out[10:], 0)
	return out[:end]
}

// rateLimit applies the view's limiter to the UDP reply out to src; nil
// means drop it.
func (s *Server) rateLimit(l *rrl, out []byte, qs *qstate, src netip.Addr) []byte {
	act, start := l.check(src, qs.kind, qs.key.bytes(), qs.now)
	if start {
		s.logLimiting(l, src, qs)
	}
	if act == rrlSend {
		return out
	}
	if l.logOnly {
		s.metrics.rrlLogOnly[act].Inc()
		return out
	}
	s.metrics.rrl[act].Inc()
	if act == rrlDrop {
		return nil
	}
	return slipReply(out)
}

// logLimiting logs that responses to a prefix start being limited: at most
// one line a second, saying how many were left out before it.
func (s *Server) logLimiting(l *rrl, src netip.Addr, qs *qstate) {
	s.metrics.rrlStarts.Inc()
	t := l.table
	sec := int64(qs.now.Sub(t.base) / time.Second)
	last := t.lastLog.Load()
	if last == sec+1 || !t.lastLog.CompareAndSwap(last, sec+1) { // +1: 0 is "never"
		t.suppressed.Add(1)
		return
	}
	src = src.Unmap()
	bits := l.v6bits
	if src.Is4() {
		bits = l.v4bits
	}
	p, _ := src.Prefix(bits)
	name := "."
	if qs.kind != rrlError {
		name = wireName(qs.key.bytes())
	}
	s.log.Warn("rrl: limiting responses", "prefix", p.String(), "kind", qs.kind.String(), "name", name,
		"log_only", l.logOnly, "suppressed", t.suppressed.Swap(0))
}

// wireName is the text form of an uncompressed wire name (for logs).
func wireName(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 && b[0] != 0 && int(b[0]) < len(b) {
		l := int(b[0])
		sb.Write(b[1 : 1+l])
		sb.WriteByte('.')
		b = b[1+l:]
	}
	if sb.Len() == 0 {
		return "."
	}
	return sb.String()
}

// rrlMode is the label of the aya_dns_rrl_mode gauge set to 1.
func rrlMode(l *rrl) string {
	switch {
	case l == nil:
		return "off"
	case l.logOnly:
		return "log_only"
	}
	return "on"
}

// setName packs name in lower-case wire form into k (empty on error).
func (k *queryKey) setName(name string) {
	n, err := dns.PackDomainName(name, k.buf[:], 0, nil, false)
	if err != nil {
		k.n = 0
		return
	}
	for i := range n {
		if c := k.buf[i]; 'A' <= c && c <= 'Z' {
			k.buf[i] = c + 'a' - 'A'
		}
	}
	k.n = n
}
