package names

import "github.com/miekg/dns"

// Canonical is the spelling under which a DNS server keeps and finds a
// zone's name: name in its wire spelling (WireSpelling), lower-cased in
// ASCII only (RFC 4343: octets past ASCII do not fold). When name is
// ASCII without upper case or escapes, as a zone's names mostly are, it is
// its own canonical form, and costs no pass rune by rune (a tenth of a
// second of a zone of a million records).
func Canonical(name string) string {
	if !dns.IsFqdn(name) {
		return dns.CanonicalName(WireSpelling(dns.Fqdn(name)))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; respelt(c) || 'A' <= c && c <= 'Z' {
			return dns.CanonicalName(WireSpelling(name))
		}
	}
	return name
}

// respelt reports whether the wire spelling of a name may differ where
// its text has c: an escape, or an octet miekg/dns escapes when it
// unpacks a name (outside '!'..'~', and ' ( ) ; @ " written with a
// backslash: its isDomainNameLabelSpecial).
func respelt(c byte) bool {
	switch c {
	case '\\', '\'', '(', ')', ';', '@', '"':
		return true
	}
	return c <= ' ' || c > '~'
}

// WireSpelling is name spelt as miekg/dns spells a name it unpacks from the
// wire, the spelling of every query's name: a master file may escape an
// octet the wire spelling writes plain (a\098c is abc) or hold octets past
// ASCII raw (the wire spelling escapes them, \195\169). Case is kept. A
// name without an escape or such an octet (respelt) is its own wire
// spelling; one that does not pack (too long) is returned as it is, and
// refused later.
func WireSpelling(name string) string {
	for i := 0; i < len(name); i++ {
		if respelt(name[i]) {
			var wire [256]byte
			n, err := dns.PackDomainName(dns.Fqdn(name), wire[:], 0, nil, false)
			if err != nil {
				return name
			}
			if u, _, err := dns.UnpackDomainName(wire[:n], 0); err == nil {
				return u
			}
			return name
		}
	}
	return name
}
