// Package dnsname judges the shape of DNS host names, for the packages that
// validate names they will look up or send (a check's TLS server name, a
// cluster peer's host). It resolves nothing.
package dnsname

import "strings"

// Valid reports whether s is a DNS name: dot-separated labels of 1-63
// ASCII letters, digits and "-", not starting or ending with "-", at most
// 253 bytes, with an optional final dot.
func Valid(s string) bool {
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
