package dnssec

import (
	"bufio"
	"fmt"
	"io"

	"github.com/miekg/dns"
)

// Zone returns the signed zone as a zone transfer would carry it: the
// static records, and for each steered name one of the address sets it
// can answer with its signatures: set number variant (modulo how many
// there are) of each type, so that variants 0, 1, … together carry every
// signed answer.
func (s *Signed) Zone(variant int) []dns.RR {
	out := append([]dns.RR(nil), s.Records...)
	for _, ss := range s.Steered {
		for _, sets := range [][]SignedRRset{ss.A, ss.AAAA} {
			if len(sets) == 0 {
				continue
			}
			set := sets[variant%len(sets)]
			out = append(out, set.RRset...)
			for _, sig := range set.Sigs {
				out = append(out, sig)
			}
		}
	}
	return out
}

// Variants is how many Zone variants carry every signed answer: the
// largest number of address sets of one steered name and type (1 without
// steered names).
func (s *Signed) Variants() int {
	n := 1
	for _, ss := range s.Steered {
		n = max(n, len(ss.A), len(ss.AAAA))
	}
	return n
}

// WriteZone writes Zone(variant) as a master file (RFC 1035 §5), one
// record a line, names fully qualified.
func (s *Signed) WriteZone(w io.Writer, variant int) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "; %s signed by aya; signatures expire from %s\n", s.Origin, s.Expiration.Format("2006-01-02T15:04:05Z"))
	for _, rr := range s.Zone(variant) {
		fmt.Fprintln(bw, rr.String())
	}
	return bw.Flush()
}
