package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestWhyDig runs the dig query docs/operations.md "Verify with dig" shows
// against `aya serve` on the shipped aya.yaml (what `make run` serves): from
// loopback, _why.www.gslb.example.com TXT says why www gets its answer, over
// UDP and TCP, and its answer is the one the server gives the A query; a
// client outside dns.why_clients gets the name's own answer (NXDOMAIN).
func TestWhyDig(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed (apt-get install bind9-dnsutils); .ci/run installs it")
	}
	s := startServe(t, []string{"AYA_DNS_LISTEN=127.0.0.1:0", "AYA_ADMIN_LISTEN=", "AYA_DNS_WHY_CLIENTS=127.0.0.1"}, "--config", "../../aya.yaml")
	host, port, _ := strings.Cut(s.dns, ":")
	dig := func(args ...string) string {
		t.Helper()
		args = append([]string{"@" + host, "-p", port}, args...)
		out, err := exec.CommandContext(t.Context(), "dig", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %s: %v\n%s", args, err, out)
		}
		return string(out)
	}
	a := strings.TrimSpace(dig("www.gslb.example.com", "A", "+short", "+subnet=81.2.69.142/32"))
	if a != "198.51.100.10" {
		t.Fatalf("www A for London = %q, want eu-west's 198.51.100.10", a)
	}
	ttl0 := regexp.MustCompile(`(?m)^_why\.www\.gslb\.example\.com\.\s+0\s+IN\s+TXT\s+"`)
	for _, transport := range []string{"+notcp", "+tcp"} {
		t.Run(transport, func(t *testing.T) {
			out := dig("_why.www.gslb.example.com", "TXT", "+subnet=81.2.69.142/32", transport)
			for _, want := range []string{
				"status: NOERROR", "flags: qr aa", "CLIENT-SUBNET: 81.2.69.142/32/24",
				`"name=www.gslb.example.com. zone=gslb.example.com. type=A pool=web"`,
				`"client=81.2.69.0/24 source=ecs resolver=127.0.0.1 geo=city country=GB continent=EU`,
				`"region=eu-west chosen: nearest (`,
				`"answer=A NOERROR ` + a + ` ttl=30"`,
				`"site=aya-1"`,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("dig output lacks %s:\n%s", want, out)
				}
			}
			if !regexp.MustCompile(`"release=\d+ digest=sha256:[0-9a-f]{64} snapshot=\d+"`).MatchString(out) {
				t.Errorf("dig output has no release line:\n%s", out)
			}
			if n := len(ttl0.FindAllString(out, -1)); n < 8 {
				t.Errorf("%d TXT records with TTL 0, want at least 8:\n%s", n, out)
			}
		})
	}
	t.Run("not a why client", func(t *testing.T) {
		out := dig("-b", "127.77.21.2", "_why.www.gslb.example.com", "TXT", "+subnet=81.2.69.142/32")
		if !strings.Contains(out, "status: NXDOMAIN") || strings.Contains(out, "region=") {
			t.Errorf("from 127.77.21.2, want the name's own NXDOMAIN:\n%s", out)
		}
	})
}
