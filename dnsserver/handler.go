package dnsserver

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// transport is how a query arrived; it sets the size limit of the reply.
type transport uint8

const (
	udp transport = iota
	tcp
	numTransports
)

func (t transport) String() string {
	if t == tcp {
		return "tcp"
	}
	return "udp"
}

const (
	headerLen    = 12
	minUDPSize   = 512   // RFC 1035 §4.2.1, and the floor of RFC 6891 §6.2.3
	maxTCPSize   = 65535 // RFC 1035 §4.2.2 length prefix
	ednsVersion  = 0
	flagQR       = 1 << 15
	flagAA       = 1 << 10
	flagTC       = 1 << 9
	flagRD       = 1 << 8
	flagCD       = 1 << 4
	opcodeMask   = 0xf << 11
	optCookie    = 10 // RFC 7873, RFC 9018 (cookie.go)
	optPadding   = 12 // RFC 7830
	optKeepalive = 11 // RFC 7828
	optECS       = 8  // RFC 7871
)

// view is everything a query reads, published as one immutable value.
type view struct {
	zones *Zones
	fast  *fastTable
	opts  options
	steer *steering
}

// options are the reloadable settings of the query path.
type options struct {
	maxUDP        int
	nsid          []byte
	transferAllow []netip.Prefix
	whyClients    []netip.Prefix
	release       ReleaseInfo
	// cookies makes and checks server cookies; nil with cookies off.
	cookies *cookieJar
	// rrl limits UDP responses; nil with rate limiting off.
	rrl *rrl
}

// qstate is what the answer paths of one query share besides the packet:
// the time, the reply's cookie, and the class of the reply for rate limiting.
// It lives on the stack of handleAt.
type qstate struct {
	now    time.Time
	cookie cookieReply
	kind   rrlKind
	// key is the name the reply is counted under (rrl.go), in lower-case
	// wire form: the fast path's lookup key, or set by the general path.
	key queryKey
}

// classify sets the class of a general path reply: its kind, and the name
// it is counted under, base when not empty, else qname.
func (qs *qstate) classify(r *dns.Msg, qname, base string) {
	qs.kind = kindOf(r.Rcode, len(r.Answer), len(r.Ns), r.Authoritative)
	switch {
	case qs.kind == rrlError:
		qs.key.n = 0
	case base != "":
		qs.key.setName(base)
	default:
		qs.key.setName(qname)
	}
}

// allowed reports whether a is in one of the prefixes of acl.
func allowed(acl []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range acl {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// handle answers one query packet. The reply is built in buf (grown if
// needed) and returned; nil means drop the packet. xfr is set when the
// query is an allowed zone transfer over TCP, which the caller streams.
func (s *Server) handle(v *view, req []byte, tr transport, src netip.Addr, buf []byte) (reply []byte, xfr *Zone) {
	return s.handleAt(v, req, tr, src, buf, time.Now())
}

// handleAt is handle at time now (cookie timestamps, rate limiting). A UDP
// reply goes through the rate limiter last, unless the query carried a
// valid server cookie.
func (s *Server) handleAt(v *view, req []byte, tr transport, src netip.Addr, buf []byte, now time.Time) (reply []byte, xfr *Zone) {
	if len(req) < headerLen || req[2]&0x80 != 0 {
		// Too short to answer, or a response: never reply (RFC 1035 §7.3),
		// lest two servers bounce packets at each other.
		s.metrics.dropped.Inc()
		return nil, nil
	}
	qs := qstate{now: now}
	out, ok := s.fastAnswer(v, req, tr, src, buf, &qs)
	if !ok {
		out, xfr = s.generalAnswer(v, req, tr, src, buf, nil, &qs)
	}
	if qs.cookie.n > 0 {
		s.metrics.cookies[qs.cookie.state()].Inc()
	}
	if tr == udp && v.opts.rrl != nil && !qs.cookie.valid && out != nil {
		out = s.rateLimit(v.opts.rrl, out, &qs, src)
	}
	return out, xfr
}

// generalAnswer is the general path: full unpack with miekg/dns, every rule,
// and a packed reply. trace, when not nil, receives the steering's reasons
// (aya explain).
func (s *Server) generalAnswer(v *view, req []byte, tr transport, src netip.Addr, buf []byte, trace *Explanation, qs *qstate) ([]byte, *Zone) {
	q := new(dns.Msg)
	r := new(dns.Msg)
	qs.cookie = cookieReply{} // the fast path may have declined after computing one
	limit := minUDPSize
	if tr == tcp {
		limit = maxTCPSize
	}
	zone, qtype := "none", uint16(0)
	var xfr *Zone
	signed := false // a DO query answered from a signed zone
	// A query whose counts lie or with octets after its last record is
	// FORMERR too (RFC 1035 §4.1), though miekg/dns unpacks it.
	if err := q.Unpack(req); err != nil || !sectionsExact(req) {
		formErr(r, q, req)
		qs.classify(r, "", "")
	} else {
		var z *Zone
		var base string
		z, xfr, limit, base = s.answer(v, req, q, r, tr, src, limit, trace, qs)
		if z != nil {
			zone = z.Origin
			signed = z.sec != nil && q.IsEdns0() != nil && q.IsEdns0().Do()
		}
		if len(q.Question) == 1 {
			qtype = q.Question[0].Qtype
		}
		qs.classify(r, questionName(q), base)
	}
	out, err := r.PackBuffer(buf[:cap(buf)])
	if err == nil && len(out) > limit {
		answer, ns := r.Answer, r.Ns
		r.Truncate(limit)
		if signed {
			r.Answer, r.Ns = wholeRRsets(r.Answer, answer), wholeRRsets(r.Ns, ns)
		}
		out, err = r.PackBuffer(buf[:cap(buf)])
	}
	if err != nil {
		s.log.Error("pack reply", "err", err, "qname", questionName(q))
		r = new(dns.Msg)
		r.SetRcode(q, dns.RcodeServerFailure)
		r.Question = nil
		r.Answer, r.Ns, r.Extra = nil, nil, nil
		out, _ = r.PackBuffer(buf[:cap(buf)])
	}
	if xfr == nil {
		s.metrics.count(zone, qtype, r.Rcode, tr)
	}
	return out, xfr
}

func questionName(q *dns.Msg) string {
	if len(q.Question) == 0 {
		return ""
	}
	return q.Question[0].Name
}

// formErr makes r the FORMERR reply to a packet that does not unpack, or
// whose sections are not what its header counts say: the header fields
// that can be read, and the question if it unpacked.
func formErr(r, q *dns.Msg, req []byte) {
	r.Id = binary.BigEndian.Uint16(req)
	r.Response = true
	r.Opcode = int(binary.BigEndian.Uint16(req[2:])&opcodeMask) >> 11
	r.RecursionDesired = req[2]&0x01 != 0
	r.Rcode = dns.RcodeFormatError
	if len(q.Question) == 1 {
		r.Question = q.Question
	}
}

// answer fills r with the reply to q and returns the zone it came from, the
// zone to transfer (AXFR/IXFR over TCP), the size limit of the reply and
// the name rate limiting counts it under when not the query name.
func (s *Server) answer(v *view, req []byte, q, r *dns.Msg, tr transport, src netip.Addr, limit int, trace *Explanation, qs *qstate) (zone, xfr *Zone, _ int, base string) {
	r.Id = q.Id
	r.Response = true
	r.Opcode = q.Opcode
	r.RecursionDesired = q.RecursionDesired
	r.CheckingDisabled = q.CheckingDisabled
	r.Compress = true

	// A reply to a query with an OPT carries one, errors included (RFC 6891 §7).
	opt, ecs, wantNSID, rcode := s.readEDNS(q, v, req, tr)
	if rcode == dns.RcodeSuccess && v.opts.cookies != nil {
		if ck := queryCookie(opt); ck != nil {
			v.opts.cookies.answer(&qs.cookie, ck, src, qs.now.Unix())
		}
	}
	c := &client{src: src, ecs: ecs, trace: trace}
	if opt != nil {
		if tr == udp {
			limit = min(max(int(opt.UDPSize()), minUDPSize), v.opts.maxUDP)
		}
		defer func() {
			echo := ecs
			switch {
			case r.Rcode == dns.RcodeFormatError:
				echo, wantNSID = nil, false // the options may be what is malformed
				qs.cookie.n = 0
			case c.steered && ecs != nil && !c.usedECS:
				// Steered for the resolver's own address (ECS from an untrusted
				// resolver, or a zero source prefix): answer as a server that
				// ignores ECS does, without the option (RFC 7871 §7.2.1).
				if ecs.SourceNetmask != 0 {
					echo = nil
				}
			case c.steered && c.usedECS:
				e := *ecs
				e.SourceScope = c.scope
				echo = &e
			case ecs != nil:
				e := *ecs
				e.SourceScope = 0 // static answers hold for every client
				echo = &e
			}
			r.Extra = append(r.Extra, s.replyOPT(v, opt, echo, wantNSID, &qs.cookie))
		}()
	}
	if len(q.Question) == 1 {
		r.Question = q.Question
	}
	switch {
	case q.Opcode != dns.OpcodeQuery:
		r.Rcode = dns.RcodeNotImplemented
		return nil, nil, limit, ""
	case len(q.Question) == 0 && qs.cookie.n > 0 && rcode == dns.RcodeSuccess:
		// RFC 7873 §5.4: a query for a server cookie alone, answered
		// NOERROR with the cookie.
		return nil, nil, limit, ""
	case len(q.Question) != 1:
		r.Rcode = dns.RcodeFormatError // RFC 9619: QDCOUNT must be 1
		return nil, nil, limit, ""
	case rcode != dns.RcodeSuccess:
		r.Rcode = rcode
		return nil, nil, limit, ""
	}
	qq := q.Question[0]
	if qq.Qclass != dns.ClassINET && qq.Qclass != dns.ClassANY {
		r.Rcode = dns.RcodeRefused
		return nil, nil, limit, ""
	}
	switch qq.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		z, x := s.transfer(v, r, q, tr, src)
		return z, x, limit, ""
	}
	if qq.Qtype == dns.TypeTXT {
		// The why (why.go); other queries pay this one comparison.
		if name, ok := whyName(qq.Name); ok && allowed(v.opts.whyClients, src) {
			return s.why(v, r, qq.Name, name, c), nil, limit, ""
		}
	}
	res := v.zones.resolve(qq.Name, qq.Qtype, opt != nil && opt.Do(), v.steer, c)
	if res.unsigned {
		s.metrics.unsigned.WithLabelValues(res.zone.Origin).Inc()
	}
	c.record()
	r.Rcode = res.rcode
	r.Authoritative = res.aa
	r.Answer, r.Ns, r.Extra = res.answer, res.ns, res.extra
	return res.zone, nil, limit, res.base
}

// transfer decides an AXFR or IXFR (RFC 5936, RFC 1995): refused unless the
// client is allowed; over UDP an IXFR gets the SOA alone (RFC 1995 §2) and an
// AXFR a FORMERR; over TCP the zone is returned for the caller to stream.
// We keep no history, so an IXFR from a client behind our serial is answered
// with the whole zone (RFC 1995 §4), and one that is current with our SOA
// alone (RFC 1995 §2), over either transport.
func (s *Server) transfer(v *view, r *dns.Msg, q *dns.Msg, tr transport, src netip.Addr) (zone, xfr *Zone) {
	qs := q.Question[0]
	if !allowed(v.opts.transferAllow, src) {
		r.Rcode = dns.RcodeRefused
		return nil, nil
	}
	z := v.zones.Zone(qs.Name)
	if z == nil {
		r.Rcode = dns.RcodeNotAuth // RFC 5936 §2.2.1
		return nil, nil
	}
	if tr == udp && qs.Qtype == dns.TypeAXFR {
		r.Rcode = dns.RcodeFormatError // AXFR is TCP only (RFC 5936 §4.2)
		return z, nil
	}
	r.Authoritative = true
	if tr == udp || qs.Qtype == dns.TypeIXFR && ixfrCurrent(q, z) {
		r.Answer = []dns.RR{z.SOA}
		return z, nil
	}
	return z, z
}

// ixfrCurrent reports whether the SOA an IXFR query carries in its authority
// section has our serial or a later one (RFC 1982 serial arithmetic).
func ixfrCurrent(q *dns.Msg, z *Zone) bool {
	for _, rr := range q.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return int32(soa.Serial-z.SOA.Serial) >= 0
		}
	}
	return false
}

// readEDNS checks the OPT record of a query (RFC 6891) and its options.
// It returns the OPT (nil without EDNS), the client subnet option if any,
// whether NSID was asked for, and an rcode other than success when the query
// is to be refused: FORMERR for several OPTs, an OPT not owned by the root,
// or a malformed client subnet (RFC 7871 §7.1); BADVERS for a version we
// do not speak.
func (s *Server) readEDNS(q *dns.Msg, v *view, req []byte, tr transport) (opt *dns.OPT, ecs *dns.EDNS0_SUBNET, nsid bool, rcode int) {
	for _, rr := range q.Extra {
		o, ok := rr.(*dns.OPT)
		if !ok {
			continue
		}
		if opt != nil || o.Hdr.Name != "." {
			return cmp.Or(opt, o), nil, false, dns.RcodeFormatError
		}
		opt = o
	}
	if opt == nil {
		return nil, nil, false, dns.RcodeSuccess
	}
	if opt.Version() != ednsVersion {
		return opt, nil, false, dns.RcodeBadVers
	}
	for _, o := range opt.Option {
		switch o := o.(type) {
		case *dns.EDNS0_SUBNET:
			if ecs != nil || !ecsWireOK(req) {
				return opt, nil, false, dns.RcodeFormatError
			}
			ecs = o
		case *dns.EDNS0_NSID:
			nsid = len(v.opts.nsid) > 0
		case *dns.EDNS0_COOKIE:
			if !cookieLenOK(len(o.Cookie) / 2) {
				return opt, nil, false, dns.RcodeFormatError // RFC 7873 §5.2.2
			}
		case *dns.EDNS0_TCP_KEEPALIVE:
			// RFC 7828 §3.2.1: a query carries no TIMEOUT; over UDP the
			// option is ignored.
			if tr == tcp && (o.Timeout != 0 || o.Length != 0) {
				return opt, nil, false, dns.RcodeFormatError
			}
		}
	}
	return opt, ecs, nsid, dns.RcodeSuccess
}

// replyOPT is the OPT record of a reply: our UDP size, the DO bit echoed
// (RFC 3225 §3), the client subnet option as given (its scope already set),
// the cookie (RFC 7873) and our NSID when asked (RFC 5001).
func (s *Server) replyOPT(v *view, q *dns.OPT, ecs *dns.EDNS0_SUBNET, nsid bool, ck *cookieReply) *dns.OPT {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(uint16(v.opts.maxUDP))
	if q.Do() {
		o.SetDo()
	}
	if ecs != nil {
		o.Option = append(o.Option, ecs)
	}
	if ck.n > 0 {
		o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(ck.opt[4:ck.n])})
	}
	if nsid {
		o.Option = append(o.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: hex.EncodeToString(v.opts.nsid)})
	}
	return o
}
