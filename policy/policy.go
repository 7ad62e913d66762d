package policy

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"

	"github.com/aya-gslb/aya/state"
)

// Decide fills d with the answer of pool p for client c and family fam
// under snapshot snap (nil = all up). The answer depends on c.Loc and
// c.Scope only, never on c.Addr (unless Scope is invalid), so every client
// of a scope with one location gets one answer. It reuses d's slices (d.Addrs[:0],
// d.Regions[:0]) so the DNS hot path allocates nothing in steady state;
// d.Explain is the only field it reads, besides the distances it keeps for
// the next call with the same pool and coordinates (scoreMemo), which is why
// p must not be modified between calls that reuse d.
//
// The steps, in order:
//
//  1. Eligibility. A member region is dropped when it is fenced off for the
//     client (every Fence matching the client's country or continent must
//     list it), drained, shedding load and the client's scope is among the
//     shed share (state.Shed; shedPoint picks the scopes, the same ones at
//     every nameserver), or down (fewer than MinUp endpoints up and not
//     drained). A client with neither country nor continent matches no fence.
//  2. Ranking. The client's location override (geo.Location.Region) first,
//     then CountryMap, then ContinentMap, each only when the region it names
//     is eligible, else it falls through; then the smallest great-circle
//     distance plus BiasKm. A client without coordinates takes the first
//     eligible member in config order, bias ignored: the first member is the
//     pool's home region, which the operator sees and sets in the config.
//     Ties go to the earlier member.
//  3. Addresses. From the chosen region's endpoints that are up and not
//     drained, Answers addresses of the family (at least 1, distinct) by
//     weighted rendezvous hashing over the client's scope (Client.Scope,
//     see hrw.go): a scope keeps its picks while the endpoint set does not
//     change, and every nameserver picks alike. When the region has no address of the
//     family, Addrs is empty (NODATA); Decide does not look for another
//     region, see below.
//  4. Fallback, when nothing is eligible. FailOpen answers from the best
//     region (same ranking) that is not fenced off, health and drains
//     ignored, picking among all its endpoints; when the fences leave the
//     client no region at all, it does not cross them: the answer is
//     SERVFAIL and d.Fallback is "servfail". FallbackAddrs answers every
//     Pool.FallbackAddrs address of the family, in config order, fenced
//     clients included (they are the operator's explicit last resort and not
//     a region; list addresses inside the fence if residency requires it).
//     Servfail sets d.Servfail.
//
// Why NODATA rather than the best region that has the family: A and AAAA
// for one name must point at the same region. A dual-stack client asks both
// and prefers IPv6 (Happy Eyeballs, RFC 8305); answering AAAA from another
// continent would send it there, around the ranking, the maps and the load
// of the region it was given. An IPv6-only client behind DNS64 (RFC 6147)
// gets an AAAA synthesised from the A record when the AAAA answer is empty,
// so NODATA does not strand it. A region that should serve IPv6 must have
// IPv6 addresses; `aya explain` shows the empty answer and why.
//
// With d.Explain set, d.Regions gets one Verdict per member: the answering
// region first, then the other eligible ones by ScoreKm, then the dropped
// ones by ScoreKm (ties in config order). The decision itself is computed
// by the same code with or without Explain.
func Decide(p *Pool, c Client, fam Family, snap *state.Snapshot, d *Decision) {
	d.Region = ""
	d.Addrs = d.Addrs[:0]
	d.TTL = p.TTL
	d.Servfail = false
	d.Fallback = ""
	d.Regions = d.Regions[:0]

	failOpen := false
	idx, r := rank(p, &c, snap, false, &d.scores)
	if idx < 0 {
		switch p.Fallback {
		case FallbackAddrs:
			d.Fallback = FallbackAddrs.String()
			for _, a := range p.FallbackAddrs {
				if inFamily(a, fam) && !slices.Contains(d.Addrs, a) {
					d.Addrs = append(d.Addrs, a)
				}
			}
		case Servfail:
			d.Fallback = Servfail.String()
			d.Servfail = true
		default: // FailOpen, as Fallback.String says of unknown values
			idx, r = rank(p, &c, snap, true, &d.scores)
			if idx < 0 {
				// Every region is fenced off for this client: residency
				// wins over answering.
				d.Fallback = Servfail.String()
				d.Servfail = true
				break
			}
			failOpen = true
			d.Fallback = FailOpen.String()
		}
	}
	if idx >= 0 {
		m := &p.Members[idx]
		d.Region = m.Region.Name
		pick(d, p, m, fam, scopeKey(&c), snap, failOpen)
	}
	if d.Explain {
		explain(d, p, &c, snap, idx, r, failOpen)
	}
}

// regionState is what eligibility made of a member for one client.
type regionState uint8

const (
	regionUp regionState = iota
	regionFenced
	regionDrained
	regionShed // load shedding moved this client elsewhere
	regionDown
)

// memberEval is the eligibility of one member: its state, the fence name
// (fenced) or operator's reason (drained), and how many endpoints are up,
// counted up to minUp (evaluate stops there).
type memberEval struct {
	state regionState
	why   string
	up    int
}

// minUp is how many endpoints must be up and not drained for the member to
// be eligible: Member.MinUp, at least 1 and at most all of them.
func minUp(m *Member) int { return max(1, min(m.MinUp, len(m.Endpoints))) }

// downReason says why a region with too few endpoints up is down.
func downReason(m *Member, e memberEval) string {
	if minUp(m) == 1 {
		return "down: no endpoint up"
	}
	return fmt.Sprintf("down: %d of %d endpoints up, %d needed", e.up, len(m.Endpoints), minUp(m))
}

// evaluate applies the eligibility rules to member m, in the order of the
// rules: fences, then region drains, then health.
func evaluate(p *Pool, m *Member, c *Client, snap *state.Snapshot) memberEval {
	if e := gate(p, m, c, snap); e.state != regionUp {
		return e
	}
	return health(p, m, snap)
}

// gate applies the rules that need no endpoint lookups: fences and region
// drains.
func gate(p *Pool, m *Member, c *Client, snap *state.Snapshot) memberEval {
	if f := fencedBy(p.Fences, c, m.Region.Name); f != nil {
		return memberEval{state: regionFenced, why: f.Name}
	}
	if why, ok := snap.RegionDrained(m.Region.Name); ok {
		return memberEval{state: regionDrained, why: why}
	}
	if sh, ok := snap.RegionShed(m.Region.Name); ok && shedPoint(c, m.Region.Name) < sh.Fraction {
		return memberEval{state: regionShed, why: sh.Why}
	}
	return memberEval{state: regionUp}
}

// health says whether enough of m's endpoints are up and not drained.
func health(p *Pool, m *Member, snap *state.Snapshot) memberEval {
	need, up := minUp(m), 0
	for i := 0; i < len(m.Endpoints) && up < need; i++ {
		if usable(p.Name, m.Region.Name, &m.Endpoints[i], snap) {
			up++
		}
	}
	if up < need {
		return memberEval{state: regionDown, up: up}
	}
	return memberEval{state: regionUp, up: up}
}

// fencedBy returns the first fence that matches the client and does not
// list region; nil when region is allowed (a region must be in every
// matching fence).
func fencedBy(fences []Fence, c *Client, region string) *Fence {
	for i := range fences {
		f := &fences[i]
		if f.matches(c) && !slices.Contains(f.Regions, region) {
			return f
		}
	}
	return nil
}

// matches reports whether the fence applies to the client: its country or
// its continent is listed. Codes compare exactly (upper case, as geo and
// the config give them).
func (f *Fence) matches(c *Client) bool {
	if cc := c.Loc.Country; cc != "" && slices.Contains(f.Countries, cc) {
		return true
	}
	if ct := c.Loc.Continent; ct != "" && slices.Contains(f.Continents, ct) {
		return true
	}
	return false
}

// usable reports whether an endpoint may be answered: not drained, not down.
func usable(pool, region string, e *Endpoint, snap *state.Snapshot) bool {
	if snap == nil {
		return true
	}
	k := state.EndpointKey{Pool: pool, Region: region, Endpoint: e.Name}
	if _, ok := snap.EndpointDrained(k); ok {
		return false
	}
	_, down := snap.EndpointDown(k)
	return !down
}

// rule names the rule that put a region first.
type rule uint8

const (
	byNone      rule = iota
	byOverride       // the client's location override names the region
	byCountry        // CountryMap
	byContinent      // ContinentMap
	byDistance       // smallest distance + bias
	byOrder          // no coordinates: first in config order
)

// rank returns the index of the member that answers the client and the rule
// that chose it, or -1 when no member is acceptable. Acceptable means
// eligible, or with failOpen merely not fenced off. Scores come through
// memo.
func rank(p *Pool, c *Client, snap *state.Snapshot, failOpen bool, memo *scoreMemo) (int, rule) {
	var countryTo, continentTo string
	if c.Loc.Country != "" {
		countryTo = p.CountryMap[c.Loc.Country]
	}
	if c.Loc.Continent != "" {
		continentTo = p.ContinentMap[c.Loc.Continent]
	}
	country, continent, nearest := -1, -1, -1
	var best float64
	for i := range p.Members {
		m := &p.Members[i]
		name := m.Region.Name
		isOverride := c.Loc.Region != "" && name == c.Loc.Region
		isCountry := country < 0 && countryTo != "" && name == countryTo
		isContinent := continent < 0 && continentTo != "" && name == continentTo
		if e := gate(p, m, c, snap); e.state == regionFenced || (e.state == regionDrained || e.state == regionShed) && !failOpen {
			continue
		}
		var s float64
		if c.Loc.HasCoordinates {
			s = memo.score(p, c, i)
		}
		// Health costs snapshot lookups: skip it for a member that could
		// neither be pinned nor be nearer than the nearest so far. Strict <
		// keeps ties in config order; a NaN score never wins a comparison,
		// so the first such member stays and later ones lose.
		nearer := nearest < 0 || c.Loc.HasCoordinates && s < best
		if !isOverride && !isCountry && !isContinent && !nearer {
			continue
		}
		if !failOpen && health(p, m, snap).state != regionUp {
			continue
		}
		if isOverride {
			return i, byOverride // nothing ranks above it
		}
		if isCountry {
			country = i
		}
		if isContinent {
			continent = i
		}
		if nearer {
			nearest, best = i, s
		}
	}
	switch {
	case country >= 0:
		return country, byCountry
	case continent >= 0:
		return continent, byContinent
	case nearest >= 0 && c.Loc.HasCoordinates:
		return nearest, byDistance
	case nearest >= 0:
		return nearest, byOrder
	}
	return -1, byNone
}

// score is the ranking key of member m for a client with coordinates.
func score(c *Client, m *Member) float64 {
	return distanceKm(c.Loc.Latitude, c.Loc.Longitude, m.Region.Latitude, m.Region.Longitude) + m.BiasKm
}

// score is score(c, p.Members[i]), from the memo when it has it for c's
// coordinates and p.
func (mm *scoreMemo) score(p *Pool, c *Client, i int) float64 {
	if len(p.Members) > memoMembers {
		return score(c, &p.Members[i])
	}
	if mm.pool != p || mm.lat != c.Loc.Latitude || mm.lon != c.Loc.Longitude {
		mm.pool, mm.lat, mm.lon, mm.have = p, c.Loc.Latitude, c.Loc.Longitude, 0
	}
	if mm.have&(1<<i) == 0 {
		mm.km[i] = score(c, &p.Members[i])
		mm.have |= 1 << i
	}
	return mm.km[i]
}

// earthRadiusKm is the mean radius of the Earth (IUGG, R1 = 6371.0088 km).
const earthRadiusKm = 6371.0088

// distanceKm is the great-circle distance between two points given in
// degrees, by the haversine formula (R. W. Sinnott, "Virtues of the
// Haversine", Sky and Telescope 68(2), 1984), which stays accurate for
// small distances.
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	sinLat := math.Sin((lat2 - lat1) * rad / 2)
	sinLon := math.Sin((lon2 - lon1) * rad / 2)
	a := sinLat*sinLat + math.Cos(lat1*rad)*math.Cos(lat2*rad)*sinLon*sinLon
	a = min(max(a, 0), 1) // rounding can step just outside [0, 1]
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(a))
}

// inFamily reports whether a is an address of family fam. An IPv4-mapped
// IPv6 address counts as IPv4; the zero Addr as neither.
func inFamily(a netip.Addr, fam Family) bool {
	switch fam {
	case IPv4:
		return a.Is4() || a.Is4In6()
	case IPv6:
		return a.Is6() && !a.Is4In6()
	}
	return false
}

// explain fills d.Regions: one verdict per member, the answering one (idx)
// first. Only `aya explain` and tests get here, so it may allocate.
func explain(d *Decision, p *Pool, c *Client, snap *state.Snapshot, idx int, r rule, failOpen bool) {
	d.Regions = slices.Grow(d.Regions[:0], len(p.Members))[:len(p.Members)]
	for i := range p.Members {
		m := &p.Members[i]
		e := evaluate(p, m, c, snap)
		v := &d.Regions[i]
		*v = Verdict{Region: m.Region.Name, Kept: e.state == regionUp, Endpoints: v.Endpoints[:0]}
		if c.Loc.HasCoordinates {
			v.DistanceKm = distanceKm(c.Loc.Latitude, c.Loc.Longitude, m.Region.Latitude, m.Region.Longitude)
			v.ScoreKm = v.DistanceKm + m.BiasKm
		}
		switch e.state {
		case regionUp:
			v.State, v.Reason = "up", "eligible"
		case regionFenced:
			v.State, v.Reason = "fenced", "fenced ("+e.why+")"
		case regionDrained:
			v.State = withWhy("drained", e.why)
			v.Reason = v.State
		case regionShed:
			v.State = withWhy("shed", e.why)
			v.Reason = v.State + "; this client is among those moved"
		case regionDown:
			v.State = downReason(m, e)
			v.Reason = v.State
		}
		if i == idx {
			v.Reason = chosenReason(c, m, r)
			if failOpen {
				v.Reason = "fail open: " + v.Reason
			}
		}
		for j := range m.Endpoints {
			v.Endpoints = append(v.Endpoints, EndpointVerdict{Name: m.Endpoints[j].Name, State: endpointState(p.Name, m.Region.Name, &m.Endpoints[j], snap)})
		}
	}
	rest := d.Regions
	if idx >= 0 {
		// Move the answering region to the front, keeping the others in
		// config order for the stable sort.
		chosen := d.Regions[idx]
		copy(d.Regions[1:idx+1], d.Regions[:idx])
		d.Regions[0] = chosen
		rest = d.Regions[1:]
	}
	slices.SortStableFunc(rest, func(a, b Verdict) int {
		if a.Kept != b.Kept {
			if a.Kept {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ScoreKm, b.ScoreKm)
	})
}

// chosenReason says why member m answers.
func chosenReason(c *Client, m *Member, r rule) string {
	switch r {
	case byOverride:
		return "override → " + m.Region.Name
	case byCountry:
		return "country map " + c.Loc.Country + " → " + m.Region.Name
	case byContinent:
		return "continent map " + c.Loc.Continent + " → " + m.Region.Name
	case byDistance:
		return "nearest"
	default:
		return "no coordinates: first in config order"
	}
}

// endpointState is an endpoint's state for explain: "up", "drained: why"
// or "down: why" (a drain is named first: it outlives the outage).
func endpointState(pool, region string, e *Endpoint, snap *state.Snapshot) string {
	k := state.EndpointKey{Pool: pool, Region: region, Endpoint: e.Name}
	if why, ok := snap.EndpointDrained(k); ok {
		return withWhy("drained", why)
	}
	if why, ok := snap.EndpointDown(k); ok {
		return withWhy("down", why)
	}
	return "up"
}

func withWhy(s, why string) string {
	if why == "" {
		return s
	}
	return s + ": " + why
}
