package dnsserver

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// Small, allocation-free readers of the DNS wire format (RFC 1035 §4.1),
// for the fast path and for the checks miekg/dns does not expose.

// queryKey is the lookup key of the fast path: the question's name in wire
// form, lower-cased, with no compression.
type queryKey struct {
	buf [255]byte
	n   int
}

func (k *queryKey) bytes() []byte { return k.buf[:k.n] }

// plainQuery is what the fast path needs to know of a query.
type plainQuery struct {
	qtype   uint16
	qend    int // offset just past the question
	edns    bool
	do      bool
	udpSize uint16
	// folded is set when the name has upper-case letters (lowered in the key).
	folded bool
	// ecs is the data of a well-formed client subnet option (FAMILY,
	// SOURCE, SCOPE, ADDRESS), a slice of the query; nil without one.
	ecs []byte
	// cookie is the data of the COOKIE option (client cookie, then the
	// server cookie if any), a slice of the query; nil without one.
	cookie []byte
}

// parsePlainQuery reads a query the fast path can answer: opcode QUERY, one
// question of class IN with an uncompressed name, nothing in the answer and
// authority sections, and at most an OPT of version 0 whose options are
// only ones we ignore (padding, keepalive), at most one cookie and at most
// one well-formed client subnet option. Anything else is left to the general
// path (ok false), which applies every rule and answers FORMERR where due.
func parsePlainQuery(req []byte, key *queryKey) (q plainQuery, ok bool) {
	if len(req) < headerLen+5 {
		return q, false
	}
	flags := binary.BigEndian.Uint16(req[2:])
	if flags&(flagQR|opcodeMask) != 0 ||
		binary.BigEndian.Uint16(req[4:]) != 1 || // QDCOUNT
		binary.BigEndian.Uint16(req[6:]) != 0 || // ANCOUNT
		binary.BigEndian.Uint16(req[8:]) != 0 { // NSCOUNT
		return q, false
	}
	arcount := binary.BigEndian.Uint16(req[10:])
	if arcount > 1 {
		return q, false
	}
	off := headerLen
	n := 0
	for {
		if off >= len(req) {
			return q, false
		}
		l := int(req[off])
		if l == 0 {
			break
		}
		if l > 63 || off+1+l >= len(req) || n+1+l >= len(key.buf) {
			return q, false // pointer, extended label type, or overrun
		}
		key.buf[n] = byte(l)
		for i := 1; i <= l; i++ {
			c := req[off+i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
				q.folded = true
			}
			key.buf[n+i] = c
		}
		n += 1 + l
		off += 1 + l
	}
	key.buf[n] = 0
	key.n = n + 1
	off++
	if off+4 > len(req) {
		return q, false
	}
	q.qtype = binary.BigEndian.Uint16(req[off:])
	if binary.BigEndian.Uint16(req[off+2:]) != 1 { // QCLASS IN
		return q, false
	}
	off += 4
	q.qend = off
	if arcount == 0 {
		return q, off == len(req)
	}
	// OPT: root owner, TYPE 41, CLASS = UDP size, TTL = ext-rcode, version, flags.
	if off+11 > len(req) || req[off] != 0 || binary.BigEndian.Uint16(req[off+1:]) != 41 {
		return q, false
	}
	q.edns = true
	q.udpSize = binary.BigEndian.Uint16(req[off+3:])
	if req[off+5] != 0 || req[off+6] != ednsVersion {
		return q, false
	}
	q.do = req[off+7]&0x80 != 0
	rdlen := int(binary.BigEndian.Uint16(req[off+9:]))
	off += 11
	if off+rdlen != len(req) {
		return q, false
	}
	for end := off + rdlen; off < end; {
		if off+4 > end {
			return q, false
		}
		code := binary.BigEndian.Uint16(req[off:])
		olen := int(binary.BigEndian.Uint16(req[off+2:]))
		switch code {
		case optPadding:
		case optCookie:
			if q.cookie != nil || !cookieLenOK(olen) || off+4+olen > end {
				return q, false // FORMERR, or a second cookie: the general path decides
			}
			q.cookie = req[off+4 : off+4+olen]
		case optKeepalive:
			if olen != 0 {
				return q, false // a TIMEOUT in a query: the general path decides
			}
		case optECS:
			if q.ecs != nil || off+4+olen > end || !ecsDataOK(req[off+4:off+4+olen], false) {
				return q, false
			}
			q.ecs = req[off+4 : off+4+olen]
		default:
			return q, false
		}
		off += 4 + olen
		if off > end {
			return q, false
		}
	}
	return q, true
}

// sectionsExact reports whether msg holds exactly what its header counts
// promise and nothing after it (RFC 1035 §4.1): QDCOUNT questions, then
// ANCOUNT + NSCOUNT + ARCOUNT records, each within the message, ending at
// its last octet. miekg/dns's Unpack does not check it: it stops quietly
// at the end of a message whose counts promise more, and ignores what
// follows the last record.
func sectionsExact(msg []byte) bool {
	return walkSections(msg, nil) == len(msg)
}

// walkSections walks the questions and records of msg as its header counts
// them, calling rr (unless nil) with each record's type and data, and
// returns the offset past the last one: -1 when the header or a count
// promises more than msg holds, or rr returns false. The walk is bounded by
// the message's length, whatever the counts say.
func walkSections(msg []byte, rr func(typ uint16, rdata []byte) bool) int {
	if len(msg) < headerLen {
		return -1
	}
	off := headerLen
	for range binary.BigEndian.Uint16(msg[4:]) {
		if off = skipName(msg, off); off < 0 || off+4 > len(msg) {
			return -1
		}
		off += 4
	}
	rrs := int(binary.BigEndian.Uint16(msg[6:])) + int(binary.BigEndian.Uint16(msg[8:])) + int(binary.BigEndian.Uint16(msg[10:]))
	for range rrs {
		if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
			return -1
		}
		typ := binary.BigEndian.Uint16(msg[off:])
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10
		if off+rdlen > len(msg) {
			return -1
		}
		if rr != nil && !rr(typ, msg[off:off+rdlen]) {
			return -1
		}
		off += rdlen
	}
	return off
}

// skipName returns the offset past the (possibly compressed) name at off,
// or -1 when it runs off the message.
func skipName(msg []byte, off int) int {
	for off < len(msg) {
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xc0 == 0xc0:
			if off+2 > len(msg) {
				return -1
			}
			return off + 2
		case l > 63:
			return -1
		}
		off += 1 + l
	}
	return -1
}

// ecsWireOK checks every client subnet option of a query by RFC 7871 §6
// (ecsDataOK), on the raw message: miekg/dns accepts some malformed ones
// (the wrong octet count, bits past the prefix) and hides the octet count.
func ecsWireOK(msg []byte) bool {
	return walkSections(msg, func(typ uint16, rdata []byte) bool {
		return typ != dns.TypeOPT || ecsOptionsOK(rdata)
	}) >= 0
}

func ecsOptionsOK(rdata []byte) bool {
	for off := 0; off+4 <= len(rdata); {
		code := binary.BigEndian.Uint16(rdata[off:])
		olen := int(binary.BigEndian.Uint16(rdata[off+2:]))
		if off+4+olen > len(rdata) {
			return false
		}
		if code == optECS && !ecsDataOK(rdata[off+4:off+4+olen], true) {
			return false
		}
		off += 4 + olen
	}
	return true
}

// ecsDataOK checks client subnet option data by RFC 7871 §6: family 1 or 2,
// a source prefix that fits it, scope 0 (§7.1: it MUST be 0 in queries),
// exactly the octets the prefix needs, and no bits set past it. With
// family0, it also takes family 0 with no prefix and no address, which some
// tools send for +subnet=0.
func ecsDataOK(d []byte, family0 bool) bool {
	if len(d) < 4 {
		return false
	}
	bits := 0
	switch binary.BigEndian.Uint16(d) {
	case 0:
		return family0 && d[2] == 0 && d[3] == 0 && len(d) == 4
	case 1:
		bits = 32
	case 2:
		bits = 128
	default:
		return false
	}
	src := int(d[2])
	if src > bits || d[3] != 0 || len(d) != 4+(src+7)/8 {
		return false
	}
	if rem := src % 8; rem != 0 && d[len(d)-1]&(0xff>>rem) != 0 {
		return false
	}
	return true
}

// cookieLenOK reports whether a COOKIE option's length is one RFC 7873 §4
// allows: a client cookie alone (8 octets) or with a server cookie (16 to 40).
func cookieLenOK(n int) bool { return n == 8 || n >= 16 && n <= 40 }
