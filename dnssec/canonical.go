package dnssec

import (
	"bytes"
	"slices"

	"github.com/miekg/dns"
)

// canonicalLabels returns name's labels as octets, lower-cased, from the
// rightmost (RFC 4034 §6.1 compares them in that order), or nil for a
// name that does not pack.
func canonicalLabels(name string) [][]byte {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.CanonicalName(name), buf, 0, nil, false)
	if err != nil {
		return nil
	}
	buf = buf[:n]
	var labels [][]byte
	for i := 0; i < len(buf) && buf[i] != 0; {
		l := int(buf[i])
		labels = append(labels, bytes.ToLower(buf[i+1:i+1+l]))
		i += 1 + l
	}
	slices.Reverse(labels)
	return labels
}
