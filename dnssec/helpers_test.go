package dnssec

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/policy"
)

const testOrigin = "gslb.example.com."

// readZone parses testdata/name with dns.ZoneParser.
func readZone(t *testing.T, name string) []dns.RR {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	zp := dns.NewZoneParser(f, testOrigin, name)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	return rrs
}

// testKeys makes keys for testOrigin that sign from a day before now: a
// KSK and a ZSK, or one CSK.
func testKeys(t *testing.T, alg uint8, csk bool, now time.Time) []*Key {
	t.Helper()
	since := now.Add(-24 * time.Hour).Truncate(time.Second)
	tm := Timing{Created: since, Publish: since, Activate: since}
	ks := tm
	ks.SyncPublish = since
	var keys []*Key
	roles := []Role{KSK, ZSK}
	if csk {
		roles = []Role{CSK}
	}
	for _, r := range roles {
		timing := tm
		if r.signsKeys() {
			timing = ks
		}
		k, err := Generate(testOrigin, alg, r, timing)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func region(name string) policy.Region { return policy.Region{Name: name} }

// webPool is dual-stack in both regions, every endpoint with both families.
func webPool() *policy.Pool {
	return &policy.Pool{
		Name: "web", TTL: 30, Answers: 2,
		Members: []policy.Member{
			{Region: region("eu"), Endpoints: []policy.Endpoint{
				{Name: "eu1", Addrs: addrs("192.0.2.1", "2001:db8:1::1"), Weight: 1},
				{Name: "eu2", Addrs: addrs("192.0.2.2", "2001:db8:1::2"), Weight: 1},
				{Name: "eu3", Addrs: addrs("192.0.2.3", "2001:db8:1::3"), Weight: 1},
			}},
			{Region: region("na"), Endpoints: []policy.Endpoint{
				{Name: "na1", Addrs: addrs("198.51.100.1", "2001:db8:2::1"), Weight: 1},
			}},
		},
		Fallback: policy.FailOpen,
	}
}

// v4Pool has no IPv6 at all: its AAAA is always NODATA, which is provable.
func v4Pool() *policy.Pool {
	return &policy.Pool{
		Name: "api", TTL: 60, Answers: 1,
		Members: []policy.Member{
			{Region: region("eu"), Endpoints: []policy.Endpoint{
				{Name: "a", Addrs: addrs("192.0.2.41"), Weight: 1},
				{Name: "b", Addrs: addrs("192.0.2.42"), Weight: 1},
			}},
		},
		Fallback:      policy.FallbackAddrs,
		FallbackAddrs: addrs("203.0.113.1"),
	}
}

func steered(t *testing.T, name string, p *policy.Pool) Steered {
	t.Helper()
	a, err := PoolAnswers(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	return Steered{Name: name, TTL: p.TTL, Answers: a}
}

func testInput(t *testing.T) *Input {
	t.Helper()
	return &Input{Origin: testOrigin, Records: readZone(t, "gslb.example.com.zone"), Steered: []Steered{
		steered(t, "www."+testOrigin, webPool()),
		steered(t, "api."+testOrigin, v4Pool()),
		steered(t, "*.geo."+testOrigin, v4Pool()),
	}}
}
