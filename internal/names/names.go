// Package names holds the lexical rules (names, tokens, host names,
// addresses to connect to) that config and the packages whose
// configuration it decodes share: what a name, a token or a host name is,
// and the did-you-mean guess for a misspelt one. It knows no keys and no
// files.
package names

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Check checks a region, pool, fence, endpoint or backend name: "" when s
// is lower-case ASCII letters, digits and "-", else the message, with a
// guess when s is that in another case.
func Check(s string) string {
	if IsName(s) {
		return ""
	}
	if lower := strings.ToLower(s); IsName(lower) {
		return fmt.Sprintf("must be lower-case letters, digits and \"-\" (got %q; did you mean %q?)", s, lower)
	}
	return fmt.Sprintf("must be lower-case letters, digits and \"-\" (got %q)", s)
}

// IsName reports whether s is made of lower-case ASCII letters, digits and
// "-" only.
func IsName(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// IsToken reports whether s is an RFC 9110 token: one or more of the
// letters, digits and !#$%&'*+-.^_`|~.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// IsHostName reports whether s is a DNS host name: dot-separated labels of
// 1 to 63 letters, digits and "-", not starting or ending with "-", at
// most 253 bytes, an optional trailing dot.
func IsHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// DidYouMean is ` (did you mean "x"?)` for the candidate closest to name,
// or "" when none is close (see Closest).
func DidYouMean(name string, cands []string) string {
	if s := Closest(name, cands); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// CountryFor returns the code meant by a country code that no geo
// database uses: "GB" for "UK" in any case (ISO 3166-1 reserves UK, but
// the United Kingdom is GB, so a rule or a network for "UK" would never
// match), else "".
func CountryFor(code string) string {
	if strings.EqualFold(code, "UK") {
		return "GB"
	}
	return ""
}

// Closest returns the first of cands that is name in another case, else
// the nearest one at most two edits away and no more than half the length
// of name, else "".
func Closest(name string, cands []string) string {
	best, bestDist := "", 3
	for _, cand := range cands {
		if strings.EqualFold(cand, name) {
			return cand
		}
		if d := editDistance(cand, name); d < bestDist && 2*d <= len(name) {
			best, bestDist = cand, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(b) > 64 { // no key is that long; spare the work
		return len(b)
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ParseTarget parses an address to connect to, such as an endpoint's
// check_target or a proxy backend's address: host:port where host
// is an IP literal (IPv6 in brackets) that could answer (see
// ParseAddr) and port a decimal 1-65535.
func ParseTarget(s string) (netip.AddrPort, string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Sprintf("must be host:port with an IP address host, such as 10.0.0.1:8080 or [2001:db8::1]:8080 (got %q)", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return netip.AddrPort{}, fmt.Sprintf("port must be a number 1-65535 (got %q)", port)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return netip.AddrPort{}, fmt.Sprintf("host must be an IP address (got %q)", host)
	}
	a, msg := ParseAddr(host)
	if msg != "" {
		return netip.AddrPort{}, msg
	}
	return netip.AddrPortFrom(a, uint16(n)), ""
}

// ParseAddr parses an address to answer with: an IP address without
// a zone, not unspecified, multicast or IPv4-mapped (which would be
// answered in AAAA records).
func ParseAddr(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Sprintf("not an IP address %q", s)
	case a.Zone() != "":
		return netip.Addr{}, fmt.Sprintf("must not have an IPv6 zone (got %q)", s)
	case a.Is4In6():
		return netip.Addr{}, fmt.Sprintf("must not be an IPv4-mapped IPv6 address (got %q; did you mean %q?)", s, a.Unmap().String())
	case a.IsUnspecified():
		return netip.Addr{}, fmt.Sprintf("must not be the unspecified address (got %q)", s)
	case a.IsMulticast():
		return netip.Addr{}, fmt.Sprintf("must not be a multicast address (got %q)", s)
	}
	return a, ""
}
