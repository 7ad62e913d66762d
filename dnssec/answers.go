package dnssec

import (
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strings"

	"github.com/aya-gslb/aya/policy"
)

// DefaultMaxAnswerSets is how many distinct RRsets (A and AAAA together) a
// pool may be able to answer before signing it is refused: each needs its
// own RRSIG in the release, at ~100 bytes apiece with P-256.
const DefaultMaxAnswerSets = 4096

// Answers is every address set a pool can answer, per family: what has to
// be signed in advance so that any answer policy.Decide gives is signed.
type Answers struct {
	Pool string
	// A and AAAA are the distinct address sets, each sorted
	// (netip.Addr.Compare), ordered by size then addresses. An empty
	// answer (NODATA) is not listed; see EmptyA and EmptyAAAA.
	A, AAAA [][]netip.Addr
	// EmptyA and EmptyAAAA say why an answer of that family can be empty
	// (NODATA), "" when it cannot.
	EmptyA, EmptyAAAA string
}

// Count is the number of RRsets to sign: len(A) + len(AAAA).
func (a *Answers) Count() int { return len(a.A) + len(a.AAAA) }

// LimitError is a pool that can answer more address sets than the limit.
type LimitError struct {
	Pool string
	// Count is how many sets were found before giving up: the pool can
	// answer at least that many.
	Count int
	Limit int
	// Detail names the region and the combination that overflowed, when
	// one region alone does.
	Detail string
}

func (e *LimitError) Error() string {
	msg := fmt.Sprintf("pool %q: at least %d answer sets to sign, over the limit of %d", e.Pool, e.Count, e.Limit)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg + ": lower answers, or split the pool"
}

// PoolAnswers enumerates the address sets pool p can answer, as
// policy.Decide picks them (see its doc), whatever the probes and drains
// say. For a member region with endpoints E, the endpoints up and not
// drained are any U ⊆ E of at least MinUp of them (fail open: all of E);
// the answer is any Answers-subset of the family's addresses of U, or all
// of them when U has fewer. Address order does not matter: an RRSIG covers
// its RRset in canonical order (RFC 4034 §6.3), whatever order the answer
// gives. With fallback_addresses, the fallback's addresses of the family
// are an answer too; with servfail nothing is. limit bounds len(A) +
// len(AAAA) (0 means DefaultMaxAnswerSets); over it, a *LimitError.
func PoolAnswers(p *policy.Pool, limit int) (*Answers, error) {
	if limit <= 0 {
		limit = DefaultMaxAnswerSets
	}
	out := &Answers{Pool: p.Name}
	base := 0
	for _, fam := range []policy.Family{policy.IPv4, policy.IPv6} {
		e := enumerator{pool: p, fam: fam, limit: limit, base: base, seen: map[string]bool{}}
		if err := e.run(); err != nil {
			return nil, err
		}
		sortSets(e.sets)
		if fam == policy.IPv4 {
			out.A, out.EmptyA = e.sets, e.empty
		} else {
			out.AAAA, out.EmptyAAAA = e.sets, e.empty
		}
		base += len(e.sets)
	}
	return out, nil
}

type enumerator struct {
	pool  *policy.Pool
	fam   policy.Family
	limit int
	base  int // sets of the families already enumerated
	seen  map[string]bool
	sets  [][]netip.Addr
	empty string
	// visits bounds the subset walk when endpoints share addresses (many
	// walks, few distinct sets).
	visits int
}

func (e *enumerator) famName() string {
	if e.fam == policy.IPv4 {
		return "IPv4"
	}
	return "IPv6"
}

func (e *enumerator) limitError() error {
	return &LimitError{Pool: e.pool.Name, Count: e.limit + 1, Limit: e.limit}
}

func (e *enumerator) add(s []netip.Addr) error {
	if len(s) == 0 {
		return nil
	}
	k := setKey(s)
	if e.seen[k] {
		return nil
	}
	if e.base+len(e.sets) >= e.limit {
		return e.limitError()
	}
	e.seen[k] = true
	e.sets = append(e.sets, s)
	return nil
}

func (e *enumerator) noteEmpty(why string) {
	if e.empty == "" {
		e.empty = why
	}
}

func (e *enumerator) run() error {
	p := e.pool
	n := max(p.Answers, 1)
	for mi := range p.Members {
		if err := e.member(&p.Members[mi], n); err != nil {
			return err
		}
	}
	if p.Fallback == policy.FallbackAddrs {
		var s []netip.Addr
		for _, a := range p.FallbackAddrs {
			if inFamily(a, e.fam) && !slices.Contains(s, a) {
				s = append(s, a)
			}
		}
		if len(s) == 0 {
			e.noteEmpty(fmt.Sprintf("the fallback addresses have no %s address", e.famName()))
		}
		slices.SortFunc(s, netip.Addr.Compare)
		if err := e.add(s); err != nil {
			return err
		}
	}
	return nil
}

// member adds the answers of one region.
func (e *enumerator) member(m *policy.Member, n int) error {
	region := m.Region.Name
	if len(m.Endpoints) == 0 {
		if e.pool.Fallback == policy.FailOpen {
			e.noteEmpty(fmt.Sprintf("region %q has no endpoints (fail open answers from it)", region))
		}
		return nil
	}
	minUp := max(1, min(m.MinUp, len(m.Endpoints)))
	// fa[i] is endpoint i's distinct addresses of the family; without are
	// the endpoints that have none (they count towards MinUp).
	var fa [][]netip.Addr
	without := 0
	var all []netip.Addr
	for _, ep := range m.Endpoints {
		var s []netip.Addr
		for _, a := range ep.Addrs {
			if inFamily(a, e.fam) && !slices.Contains(s, a) {
				s = append(s, a)
			}
		}
		if len(s) == 0 {
			without++
			continue
		}
		fa = append(fa, s)
		for _, a := range s {
			if !slices.Contains(all, a) {
				all = append(all, a)
			}
		}
	}
	slices.SortFunc(all, netip.Addr.Compare)
	// Every n-subset of all the region's addresses: all endpoints up.
	if len(all) >= n {
		// One region alone over the limit: say so without enumerating.
		if c, ok := binomial(len(all), n); !ok || c > uint64(e.limit) {
			cs, count := "more than 2^64", math.MaxInt
			if ok && c < math.MaxInt {
				cs, count = fmt.Sprint(c), int(c)
			}
			return &LimitError{Pool: e.pool.Name, Count: count, Limit: e.limit,
				Detail: fmt.Sprintf("region %q: %s sets of %d of its %d %s addresses", region, cs, n, len(all), e.famName())}
		}
		if err := e.subsets(all, n); err != nil {
			return err
		}
	}
	// Fewer up than needed for n addresses: the answer is every address
	// of the endpoints up. Walk the endpoint subsets T whose addresses
	// number fewer than n; S = A(T) is possible when the endpoints whose
	// addresses all lie in S, plus those without any of the family, are
	// at least MinUp.
	var walk func(i int, cur []netip.Addr) error
	walk = func(i int, cur []netip.Addr) error {
		e.visits++
		if e.visits > 64*e.limit {
			return e.limitError()
		}
		if i == len(fa) {
			if len(cur) >= n {
				return nil
			}
			inS := without
			for _, s := range fa {
				if subset(s, cur) {
					inS++
				}
			}
			if inS < minUp {
				return nil
			}
			if len(cur) == 0 {
				if without == len(m.Endpoints) {
					e.noteEmpty(fmt.Sprintf("region %q has no %s address", region, e.famName()))
				} else {
					e.noteEmpty(fmt.Sprintf("region %q: its endpoints without an %s address can be the only ones up (min_up %d)", region, e.famName(), minUp))
				}
				return nil
			}
			s := slices.Clone(cur)
			slices.SortFunc(s, netip.Addr.Compare)
			return e.add(s)
		}
		// Without endpoint i.
		if err := walk(i+1, cur); err != nil {
			return err
		}
		// With endpoint i, if that keeps the set below n.
		next := cur
		for _, a := range fa[i] {
			if !slices.Contains(next, a) {
				next = append(slices.Clip(next), a)
			}
		}
		if len(next) >= n {
			return nil
		}
		return walk(i+1, next)
	}
	return walk(0, nil)
}

// subsets adds every k-subset of all (sorted), in lexicographic order.
func (e *enumerator) subsets(all []netip.Addr, k int) error {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		s := make([]netip.Addr, k)
		for i, j := range idx {
			s[i] = all[j]
		}
		if err := e.add(s); err != nil {
			return err
		}
		// Next combination.
		i := k - 1
		for i >= 0 && idx[i] == len(all)-k+i {
			i--
		}
		if i < 0 {
			return nil
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}

// binomial is C(n, k), ok false when it overflows uint64.
func binomial(n, k int) (uint64, bool) {
	if k < 0 || k > n {
		return 0, true
	}
	k = min(k, n-k)
	var c uint64 = 1
	for i := 1; i <= k; i++ {
		// c * (n-k+i) / i is exact at every step.
		hi, lo := bits.Mul64(c, uint64(n-k+i))
		if hi != 0 {
			return 0, false
		}
		c = lo / uint64(i)
	}
	return c, true
}

// subset reports whether every address of s is in set.
func subset(s, set []netip.Addr) bool {
	for _, a := range s {
		if !slices.Contains(set, a) {
			return false
		}
	}
	return true
}

// setKey identifies a sorted address set.
func setKey(s []netip.Addr) string {
	var b strings.Builder
	for _, a := range s {
		b.WriteString(a.String())
		b.WriteByte(' ')
	}
	return b.String()
}

func sortSets(sets [][]netip.Addr) {
	slices.SortFunc(sets, func(a, b []netip.Addr) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return slices.CompareFunc(a, b, netip.Addr.Compare)
	})
}

// inFamily is policy's rule: an IPv4-mapped IPv6 address counts as IPv4.
func inFamily(a netip.Addr, fam policy.Family) bool {
	switch fam {
	case policy.IPv4:
		return a.Is4() || a.Is4In6()
	case policy.IPv6:
		return a.Is6() && !a.Is4In6()
	}
	return false
}
