package names

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzCanonical: Canonical of a fully qualified name that packs
// is the text miekg/dns unpacks its wire form to, lower-cased (the
// spelling of a query's name), and its own canonical name; of one that
// does not, dns.CanonicalName. (Zone names are fully qualified; miekg/dns
// makes "a\\" the name "a\\.", which is not.)
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"a.test.", "A.Test.", "a\\.", "a\\\\.", "\xc3\xa9.test.", "\xff.", ".", "", "a", "a\\098c.", "A\\066C.test", "x\\046y.", "\\000."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !dns.IsFqdn(name) {
			name = dns.Fqdn(name)
			if !dns.IsFqdn(name) {
				return
			}
		}
		got := Canonical(name)
		var wire [256]byte
		n, err := dns.PackDomainName(dns.Fqdn(name), wire[:], 0, nil, false)
		if err != nil {
			if want := dns.CanonicalName(name); got != want {
				t.Fatalf("Canonical(%q) = %q, want %q (it does not pack: %v)", name, got, want, err)
			}
			return
		}
		text, _, err := dns.UnpackDomainName(wire[:n], 0)
		if err != nil {
			t.Fatalf("%q packs but does not unpack: %v", name, err)
		}
		if want := strings.ToLower(text); got != want {
			t.Fatalf("Canonical(%q) = %q, want %q", name, got, want)
		}
		if again := Canonical(got); again != got {
			t.Fatalf("Canonical(%q) = %q, not its own canonical name (%q)", name, got, again)
		}
	})
}
