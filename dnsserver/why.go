package dnsserver

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// The why, from dig. A TXT query for "_why." + NAME from a client of
// Config.WhyClients is answered with what `aya explain` shows of the A query
// for NAME from that client (its client subnet included), one fact per TXT
// record, TTL 0, AA set; see docs/operations.md "Verify with dig". Any
// other client gets what it would get without the feature (NXDOMAIN, or a
// wildcard's answer), so nothing leaks.
//
// The fast path never sees these names: buildFast leaves names whose first
// label is _why out of its table, so they reach the general path, whose
// check (answer) costs a QTYPE comparison for every other query.

// whyLabel is the first label of a name that asks why.
const whyLabel = "_why."

// DefaultWhyClients returns the default of Config.WhyClients: loopback.
func DefaultWhyClients() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// ReleaseInfo names the release the served zones and pools come from, as
// `_why.` answers show it.
type ReleaseInfo struct {
	Version uint64
	Digest  string
}

// whyName returns the name a "_why." query asks about ("." for "_why."
// itself), and whether qname is one; the label matches in any case.
func whyName(qname string) (string, bool) {
	if len(qname) < len(whyLabel) || !strings.EqualFold(qname[:len(whyLabel)], whyLabel) {
		return "", false
	}
	if name := qname[len(whyLabel):]; name != "" {
		return name, true
	}
	return ".", true
}

// why fills r with the TXT records explaining the A query for name from
// client c (and the AAAA answer), owned by owner, the query name. c keeps
// what steering A made of the client, so the reply's client subnet option
// is the one the A query would get. It returns the zone of name.
func (s *Server) why(v *view, r *dns.Msg, owner, name string, c *client) *Zone {
	if c.trace == nil {
		c.trace = &Explanation{}
	}
	e := c.trace
	res := v.zones.resolve(name, dns.TypeA, false, v.steer, c)
	c.record()
	c6 := &client{src: c.src, ecs: c.ecs, trace: &Explanation{}}
	res6 := v.zones.resolve(name, dns.TypeAAAA, false, v.steer, c6)
	c6.record()
	if !c.steered {
		e.Snapshot = snapshotVersion(v.steer)
	}

	facts := whyFacts(name, c, res, res6, c6.trace)
	rel := v.opts.release
	if rel.Version == 0 && rel.Digest == "" {
		facts = append(facts, "release=none snapshot="+strconv.FormatUint(e.Snapshot, 10))
	} else {
		facts = append(facts, fmt.Sprintf("release=%d digest=%s snapshot=%d", rel.Version, rel.Digest, e.Snapshot))
	}
	site := "site=" + string(v.opts.nsid)
	if len(v.opts.nsid) == 0 {
		site = "site=unnamed (no nsid)"
	}
	facts = append(facts, site)

	r.Rcode = dns.RcodeSuccess
	r.Authoritative = true
	for _, f := range facts {
		r.Answer = append(r.Answer, &dns.TXT{
			Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 0},
			Txt: txtStrings(f),
		})
	}
	return res.zone
}

// referral reports whether res is a referral to a delegated zone (RFC
// 1034 §4.3.2 3b): no answer, NS in authority, not authoritative.
func (res result) referral() bool {
	return !res.aa && res.rcode == dns.RcodeSuccess && len(res.answer) == 0 && len(res.ns) > 0
}

// snapshotVersion is the version of the decision snapshot st reads.
func snapshotVersion(st *steering) uint64 {
	if snap := st.state.Current(); snap != nil {
		return snap.Version
	}
	return 0
}

// whyFacts are the facts of a why answer, each one TXT record: the name
// and pool, the client, one line per region and per endpoint not up, the
// fallback, and the A and AAAA answers.
func whyFacts(name string, c *client, res, res6 result, e6 *Explanation) []string {
	e := c.trace
	var facts []string
	switch {
	case res.zone == nil:
		return append(facts, "name="+name+" outside our zones: "+rcodeLabel(res.rcode)+", not answered")
	case res.referral():
		facts = append(facts, "name="+name+" zone="+res.zone.Origin+" type=A delegated: a referral, answered by the child zone's servers")
	case res.rcode == dns.RcodeNameError:
		facts = append(facts, "name="+name+" zone="+res.zone.Origin+" type=A no such name")
	case !c.steered:
		facts = append(facts, "name="+name+" zone="+res.zone.Origin+" type=A static: not bound to a pool, every client gets this answer")
	default:
		facts = append(facts, "name="+name+" zone="+res.zone.Origin+" type=A pool="+e.Pool)
		facts = append(facts, clientFact(c))
		facts = append(facts, regionFacts(e)...)
		if e.Decision.Fallback != "" {
			facts = append(facts, "fallback="+e.Decision.Fallback)
		}
	}
	facts = append(facts, answerFact("A", res, ""))
	region := ""
	if e6.Pool != "" && e6.Decision.Region != e.Decision.Region {
		region = e6.Decision.Region
		if region == "" {
			region = "none"
		}
	}
	return append(facts, answerFact("AAAA", res6, region))
}

// clientFact is who the client is taken to be, from what, and where it is.
func clientFact(c *client) string {
	e := c.trace
	var b strings.Builder
	fmt.Fprintf(&b, "client=%s source=", e.Subnet)
	switch {
	case e.UsedECS:
		b.WriteString("ecs")
	case c.ecs == nil:
		b.WriteString("resolver")
	case c.ecsSource == 0:
		b.WriteString("resolver (ecs source /0)")
	default:
		b.WriteString("resolver (ecs ignored: resolver not trusted)")
	}
	fmt.Fprintf(&b, " resolver=%s", c.src.Unmap())
	l := e.Location
	fmt.Fprintf(&b, " geo=%s", l.Source)
	for _, kv := range [...][2]string{{"country", l.Country}, {"continent", l.Continent}, {"maps_to", l.Region}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	if l.HasCoordinates {
		fmt.Fprintf(&b, " lat=%.4f lon=%.4f", l.Latitude, l.Longitude)
	}
	if l.Network.IsValid() {
		fmt.Fprintf(&b, " network=%s", l.Network)
	}
	fmt.Fprintf(&b, " scope=/%d", e.Scope)
	return b.String()
}

// regionFacts has one fact per region of the pool, the chosen one first,
// then one per endpoint that is not up.
func regionFacts(e *Explanation) []string {
	var facts, endpoints []string
	for i, r := range e.Decision.Regions {
		km := ""
		if e.Location.HasCoordinates {
			km = fmt.Sprintf("%.0f km", r.DistanceKm)
			if r.ScoreKm != r.DistanceKm {
				km += fmt.Sprintf(" score %.0f km", r.ScoreKm)
			}
		}
		switch {
		case i == 0 && r.Region == e.Decision.Region:
			f := "region=" + r.Region + " chosen: " + r.Reason
			if km != "" {
				f += " (" + km + ")"
			}
			facts = append(facts, f)
		case r.Kept:
			f := "region=" + r.Region
			if km != "" {
				f += " " + km
			}
			f += " " + r.State + " kept"
			if r.Reason != r.State && r.Reason != "eligible" {
				f += ": " + r.Reason
			}
			facts = append(facts, f)
		default:
			f := "region=" + r.Region
			if km != "" {
				f += " " + km
			}
			facts = append(facts, f+" dropped: "+r.Reason)
		}
		for _, ep := range r.Endpoints {
			if ep.State != "up" {
				endpoints = append(endpoints, "endpoint="+r.Region+"/"+ep.Name+" "+ep.State)
			}
		}
	}
	return append(facts, endpoints...)
}

// answerFact is the answer to qtype: rcode, records and TTL, and the
// region when it differs from the A answer's.
func answerFact(qtype string, res result, region string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "answer=%s %s", qtype, rcodeLabel(res.rcode))
	for _, rr := range res.answer {
		h := rr.Header()
		switch rr := rr.(type) {
		case *dns.A:
			fmt.Fprintf(&b, " %s", rr.A)
		case *dns.AAAA:
			fmt.Fprintf(&b, " %s", rr.AAAA)
		case *dns.CNAME:
			fmt.Fprintf(&b, " %s cname %s", h.Name, rr.Target)
		default:
			fmt.Fprintf(&b, " %s", dns.TypeToString[h.Rrtype])
		}
		fmt.Fprintf(&b, " ttl=%d", h.Ttl)
	}
	switch {
	case res.referral():
		b.WriteString(" referral")
	case len(res.answer) == 0 && res.rcode == dns.RcodeSuccess:
		b.WriteString(" nodata")
	}
	if region != "" {
		b.WriteString(" region=" + region)
	}
	return b.String()
}

// txtStrings splits s into character strings of at most 255 octets (RFC
// 1035 §3.3), escaped as miekg/dns expects TXT text to be.
func txtStrings(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, txtEscape(s[:255]))
		s = s[255:]
	}
	return append(out, txtEscape(s))
}

// txtEscape escapes the backslash and the double quote, which miekg/dns
// reads as escapes in TXT text.
func txtEscape(s string) string {
	if !strings.ContainsAny(s, `\"`) {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
