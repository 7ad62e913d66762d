package policy

import (
	"math"
	"net/netip"
	"slices"
	"testing"

	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/state"
)

// fuzzPool is a four-region pool with fences, maps, an address shared by
// two endpoints and an invalid address, fallback addresses of both
// families: every rule has something to bite on.
func fuzzPool() *Pool {
	p := testPool()
	withEUCentral(p)
	ap := &p.Members[2]
	ap.Endpoints = append(ap.Endpoints, Endpoint{Name: "apse-dup", Addrs: addrs("203.0.113.1", "2001:db8:4::1"), Weight: 3})
	ap.Endpoints[0].Addrs = append(ap.Endpoints[0].Addrs, netip.Addr{})
	p.Fences = []Fence{
		euFence,
		{Name: "asia", Continents: []string{"AS"}, Regions: []string{"ap-southeast", "us-east"}},
	}
	p.CountryMap = map[string]string{"FR": "us-east", "CN": "eu-west", "XX": "nowhere"}
	p.ContinentMap = map[string]string{"AS": "us-east", "EU": "eu-central"}
	return p
}

// FuzzDecide: for any client and any snapshot of the fixed pool, Decide
// does not panic, decides the same twice and with Explain, and its answer
// obeys the rules, checked here against a direct reading of them.
func FuzzDecide(f *testing.F) {
	for _, c := range []Client{london, dublin, paris, berlin, seattle, changchun, singapore, nowhere} {
		a, _ := c.Scope.Addr().MarshalBinary()
		f.Add(c.Loc.Latitude, c.Loc.Longitude, c.Loc.HasCoordinates, c.Loc.Country, c.Loc.Continent, "", a, uint8(c.Scope.Bits()),
			uint16(0), uint16(0), uint8(0), uint8(0), uint8(0), int8(1), uint8(0), uint8(0))
	}
	f.Add(51.51, -0.13, true, "GB", "EU", "ap-southeast", []byte{81, 2, 69, 0}, uint8(24), uint16(0x3ff), uint16(0), uint8(0), uint8(1), uint8(0), int8(2), uint8(0), uint8(0))
	f.Add(53.33, -6.25, true, "IE", "EU", "", []byte{87, 32, 0, 0}, uint8(24), uint16(0x300), uint16(0), uint8(0), uint8(0), uint8(0), int8(3), uint8(0), uint8(0))
	f.Add(math.NaN(), math.Inf(1), true, "CN", "AS", "eu-west", []byte{}, uint8(200), uint16(0x0f0), uint16(0x00f), uint8(5), uint8(7), uint8(9), int8(-4), uint8(0), uint8(0))
	f.Add(48.86, 2.35, true, "FR", "EU", "", []byte{90, 0, 0, 0}, uint8(24), uint16(0), uint16(0), uint8(0xf), uint8(0), uint8(1), int8(1), uint8(0), uint8(0))

	f.Add(51.51, -0.13, true, "GB", "EU", "", []byte{81, 2, 69, 0}, uint8(24), uint16(0), uint16(0), uint8(0), uint8(1), uint8(0), int8(2), uint8(1), uint8(255))

	base := fuzzPool()
	f.Fuzz(func(t *testing.T, lat, lon float64, hasCoords bool, country, continent, region string, subnet []byte, bits uint8,
		downBits, drainBits uint16, regionDrains, fam, fallback uint8, answers int8, shedRegion, shedShare uint8) {
		p := *base
		p.Fallback = Fallback(fallback % 4) // 3 is unknown: fails open
		p.Answers = int(answers)
		c := Client{Loc: geo.Location{Latitude: lat, Longitude: lon, HasCoordinates: hasCoords, Country: country, Continent: continent, Region: region}}
		if a, ok := netip.AddrFromSlice(subnet); ok {
			c.Addr = a
			c.Scope, _ = a.Prefix(int(bits))
		}
		snap := &state.Snapshot{
			Down:             map[state.EndpointKey]string{},
			DrainedRegions:   map[string]string{},
			DrainedEndpoints: map[state.EndpointKey]string{},
		}
		bit := 0
		for i, m := range p.Members {
			if regionDrains&(1<<i) != 0 {
				snap.DrainedRegions[m.Region.Name] = "fuzz"
			}
			for _, e := range m.Endpoints {
				k := state.EndpointKey{Pool: p.Name, Region: m.Region.Name, Endpoint: e.Name}
				if downBits&(1<<bit) != 0 {
					snap.Down[k] = "fuzz"
				}
				if drainBits&(1<<bit) != 0 {
					snap.DrainedEndpoints[k] = ""
				}
				bit++
			}
		}
		if shedShare > 0 {
			name := p.Members[int(shedRegion)%len(p.Members)].Region.Name
			snap.Shed = map[string]state.Shed{name: {Fraction: float64(shedShare) / 256, Why: "fuzz"}}
		}
		family := Family(fam % 3)

		var d Decision
		Decide(&p, c, family, snap, &d)
		checkDecision(t, &p, &c, family, snap, &d)

		again := Decision{Explain: true, Addrs: make([]netip.Addr, 5), Region: "stale", Servfail: true}
		Decide(&p, c, family, snap, &again)
		if again.Region != d.Region || !slices.Equal(again.Addrs, d.Addrs) || again.Fallback != d.Fallback || again.Servfail != d.Servfail {
			t.Fatalf("second decision %+v, first %+v", again, d)
		}
		if len(again.Regions) != len(p.Members) || d.Region != "" && again.Regions[0].Region != d.Region {
			t.Fatalf("verdicts %+v for answer from %q", again.Regions, d.Region)
		}
	})
}

// checkDecision checks d against the rules, read directly from the pool and
// the snapshot.
func checkDecision(t *testing.T, p *Pool, c *Client, fam Family, snap *state.Snapshot, d *Decision) {
	t.Helper()
	fenced := func(region string) bool {
		for _, f := range p.Fences {
			if (c.Loc.Country != "" && slices.Contains(f.Countries, c.Loc.Country) ||
				c.Loc.Continent != "" && slices.Contains(f.Continents, c.Loc.Continent)) &&
				!slices.Contains(f.Regions, region) {
				return true
			}
		}
		return false
	}
	usableEp := func(m *Member, e *Endpoint) bool {
		k := state.EndpointKey{Pool: p.Name, Region: m.Region.Name, Endpoint: e.Name}
		_, down := snap.Down[k]
		_, drained := snap.DrainedEndpoints[k]
		return !down && !drained
	}
	eligible := func(m *Member) bool {
		if fenced(m.Region.Name) {
			return false
		}
		if _, ok := snap.DrainedRegions[m.Region.Name]; ok {
			return false
		}
		if sh, ok := snap.RegionShed(m.Region.Name); ok && shedPoint(c, m.Region.Name) < sh.Fraction {
			return false
		}
		for i := range m.Endpoints {
			if usableEp(m, &m.Endpoints[i]) {
				return true
			}
		}
		return false
	}
	familyOK := func(a netip.Addr) bool {
		switch fam {
		case IPv4:
			return a.Is4() || a.Is4In6()
		case IPv6:
			return a.Is6() && !a.Is4In6()
		}
		return false
	}
	member := func(name string) *Member {
		for i := range p.Members {
			if p.Members[i].Region.Name == name {
				return &p.Members[i]
			}
		}
		return nil
	}
	// candidates are the addresses the answering region may give.
	candidates := func(m *Member, all bool) []netip.Addr {
		var out []netip.Addr
		for i := range m.Endpoints {
			if all || usableEp(m, &m.Endpoints[i]) {
				for _, a := range m.Endpoints[i].Addrs {
					if familyOK(a) && !slices.Contains(out, a) {
						out = append(out, a)
					}
				}
			}
		}
		return out
	}

	for i, a := range d.Addrs {
		if !familyOK(a) {
			t.Fatalf("%v is not of family %d", a, fam)
		}
		if slices.Contains(d.Addrs[:i], a) {
			t.Fatalf("duplicate %v in %v", a, d.Addrs)
		}
	}
	if d.TTL != p.TTL {
		t.Fatalf("ttl %d, pool's %d", d.TTL, p.TTL)
	}
	if d.Region != "" && fenced(d.Region) {
		t.Fatalf("answer from %s, fenced off for %+v", d.Region, c.Loc)
	}
	want := max(p.Answers, 1)

	var best *Member
	for i := range p.Members {
		if eligible(&p.Members[i]) {
			best = &p.Members[i]
			break
		}
	}
	if best != nil {
		m := member(d.Region)
		if d.Fallback != "" || d.Servfail || m == nil || !eligible(m) {
			t.Fatalf("a region is eligible, answer %+v", d)
		}
		cands := candidates(m, false)
		for _, a := range d.Addrs {
			if !slices.Contains(cands, a) {
				t.Fatalf("%v is not an address of an up endpoint of %s", a, m.Region.Name)
			}
		}
		if len(d.Addrs) != min(want, len(cands)) {
			t.Fatalf("%d addresses %v, want %d of %v", len(d.Addrs), d.Addrs, want, cands)
		}
		checkRank(t, p, c, m, eligible)
		return
	}

	switch p.Fallback {
	case Servfail:
		if !d.Servfail || d.Region != "" || len(d.Addrs) != 0 || d.Fallback != "servfail" {
			t.Fatalf("servfail pool answered %+v", d)
		}
	case FallbackAddrs:
		var wantAddrs []netip.Addr
		for _, a := range p.FallbackAddrs {
			if familyOK(a) {
				wantAddrs = append(wantAddrs, a)
			}
		}
		if d.Servfail || d.Region != "" || d.Fallback != "fallback_addresses" || !slices.Equal(d.Addrs, wantAddrs) {
			t.Fatalf("fallback addresses %v, answer %+v", wantAddrs, d)
		}
	default:
		open := false
		for i := range p.Members {
			open = open || !fenced(p.Members[i].Region.Name)
		}
		if !open {
			if !d.Servfail || d.Region != "" || len(d.Addrs) != 0 || d.Fallback != "servfail" {
				t.Fatalf("everything fenced off, answer %+v", d)
			}
			return
		}
		m := member(d.Region)
		if d.Servfail || d.Fallback != "fail_open" || m == nil {
			t.Fatalf("fail open, answer %+v", d)
		}
		cands := candidates(m, true)
		for _, a := range d.Addrs {
			if !slices.Contains(cands, a) {
				t.Fatalf("%v is not an address of %s", a, m.Region.Name)
			}
		}
		if len(d.Addrs) != min(want, len(cands)) {
			t.Fatalf("%d addresses %v, want %d of %v", len(d.Addrs), d.Addrs, want, cands)
		}
		checkRank(t, p, c, m, func(m *Member) bool { return !fenced(m.Region.Name) })
	}
}

// checkRank checks that chosen is first by the ranking rules among the
// members ok accepts.
func checkRank(t *testing.T, p *Pool, c *Client, chosen *Member, ok func(*Member) bool) {
	t.Helper()
	var first *Member
	for _, to := range []string{c.Loc.Region, p.CountryMap[c.Loc.Country], p.ContinentMap[c.Loc.Continent]} {
		for i := range p.Members {
			if m := &p.Members[i]; to != "" && m.Region.Name == to && ok(m) && first == nil {
				first = m
			}
		}
	}
	if first != nil {
		if chosen != first {
			t.Fatalf("answer from %s, pinned %s", chosen.Region.Name, first.Region.Name)
		}
		return
	}
	for i := range p.Members {
		m := &p.Members[i]
		if !ok(m) {
			continue
		}
		if !c.Loc.HasCoordinates {
			if chosen != m {
				t.Fatalf("no coordinates: answer from %s, first acceptable %s", chosen.Region.Name, m.Region.Name)
			}
			return
		}
		if s, sc := score(c, m), score(c, chosen); s < sc {
			t.Fatalf("answer from %s (%.0f km), %s is nearer (%.0f km)", chosen.Region.Name, sc, m.Region.Name, s)
		}
	}
}
