package plan

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"net/netip"
)

// Format is the version of the Report's JSON layout. Fields may be added
// within a version; renaming, removing or changing the meaning of one makes
// a new version.
const Format = 1

// Report is what a change of release does to the answers. It is also the
// JSON that `aya diff --json` prints (see WriteJSON).
type Report struct {
	// Format is the layout's version, Format.
	Format int `json:"format"`
	// Networks counts every network of the geo database the plan ran over
	// (each asked once per steered name).
	Networks Count `json:"networks"`
	// Names has one entry per steered name of either side, in name order,
	// unchanged ones included.
	Names []NameChange `json:"names"`
}

// NameChange is what changes for one steered name.
type NameChange struct {
	// Name is the FQDN, lower case with the final dot.
	Name string `json:"name"`
	// PoolBefore and PoolAfter are the pools the name is bound to; "" on
	// the side where the name is not steered (added or removed).
	PoolBefore string `json:"pool_before"`
	PoolAfter  string `json:"pool_after"`
	// Changed counts the networks whose answer changes.
	Changed Count `json:"changed"`
	// Moves has one entry per (before → after) pair of outcomes, the most
	// IPv4 addresses first (then IPv6 addresses, then the outcomes' text).
	// A move whose From and To are equal changes the addresses answered.
	Moves []Move `json:"moves"`
	// Countries counts the changed networks by the country the server
	// places their clients in ("" when unknown), ordered as Moves.
	Countries []CountryCount `json:"countries"`
}

// Move is a set of client networks whose answer goes from one outcome to
// another.
type Move struct {
	From Outcome `json:"from"`
	To   Outcome `json:"to"`
	Count
	// Samples are client subnets of the move to try, e.g. with
	// `dig +subnet=81.2.69.0/24 www.example.com A`: up to Options.Samples
	// per family, IPv4 first, in address order. They are chosen by a hash
	// of the subnet, so the same inputs give the same samples.
	Samples []netip.Prefix `json:"samples"`
}

// Outcome is what a client is answered: a region (possibly by failing
// open), the pool's fallback addresses, SERVFAIL, or nothing from a pool
// because the name is not steered on that side.
type Outcome struct {
	// Region is the region answered from; "" for fallback addresses,
	// SERVFAIL and unsteered.
	Region string `json:"region,omitempty"`
	// Fallback is the fallback applied, as policy.Decision.Fallback names
	// it: "fail_open" (with Region), "fallback_addresses" or "servfail";
	// "" when a region was eligible.
	Fallback string `json:"fallback,omitempty"`
	// Unsteered is set on the side where the name is not bound to a pool.
	Unsteered bool `json:"unsteered,omitempty"`
}

// String is the outcome as the text plan shows it.
func (o Outcome) String() string {
	switch {
	case o.Unsteered:
		return "(not steered)"
	case o.Fallback == "servfail":
		return "SERVFAIL"
	case o.Fallback == "fallback_addresses":
		return "fallback addresses"
	case o.Fallback == "fail_open":
		return o.Region + " (fail open)"
	}
	return o.Region
}

// CountryCount counts networks of one country.
type CountryCount struct {
	Country string `json:"country"`
	Count
}

// Count counts networks and their addresses, per family.
type Count struct {
	IPv4 FamilyCount `json:"ipv4"`
	IPv6 FamilyCount `json:"ipv6"`
}

// FamilyCount counts networks of one family and the addresses they hold
// (2^(32-bits) for an IPv4 network, 2^(128-bits) for an IPv6 one), exactly.
type FamilyCount struct {
	Networks  uint64    `json:"networks"`
	Addresses Addresses `json:"addresses"`
}

// add counts network p.
func (c *Count) add(p netip.Prefix) {
	f := &c.IPv6
	if p.Addr().Is4() {
		f = &c.IPv4
	}
	f.Networks++
	f.Addresses.addPow2(p.Addr().BitLen() - p.Bits())
}

func (c *Count) merge(o Count) {
	c.IPv4.Networks += o.IPv4.Networks
	c.IPv4.Addresses.add(o.IPv4.Addresses)
	c.IPv6.Networks += o.IPv6.Networks
	c.IPv6.Addresses.add(o.IPv6.Addresses)
}

// IsZero reports whether c counts nothing.
func (c Count) IsZero() bool { return c.IPv4.Networks == 0 && c.IPv6.Networks == 0 }

// compareCounts orders counts by IPv4 addresses, then IPv6 addresses, most
// first.
func compareCounts(a, b Count) int {
	return cmp.Or(b.IPv4.Addresses.compare(a.IPv4.Addresses), b.IPv6.Addresses.compare(a.IPv6.Addresses))
}

// Addresses is an exact number of addresses, up to the 2^128 of the whole
// IPv6 space and beyond. Its JSON is a decimal string ("16777216"), since
// JSON numbers past 2^53 lose precision in many readers.
type Addresses struct {
	w [3]uint64 // little-endian 64-bit words
}

// addPow2 adds 2^n, 0 ≤ n ≤ 128.
func (a *Addresses) addPow2(n int) {
	var b Addresses
	b.w[n/64] = 1 << (n % 64)
	a.add(b)
}

func (a *Addresses) add(b Addresses) {
	var c uint64
	a.w[0], c = bits.Add64(a.w[0], b.w[0], 0)
	a.w[1], c = bits.Add64(a.w[1], b.w[1], c)
	a.w[2], _ = bits.Add64(a.w[2], b.w[2], c)
}

func (a Addresses) compare(b Addresses) int {
	return cmp.Or(cmp.Compare(a.w[2], b.w[2]), cmp.Compare(a.w[1], b.w[1]), cmp.Compare(a.w[0], b.w[0]))
}

// Big is the number as a big.Int.
func (a Addresses) Big() *big.Int {
	n := new(big.Int).SetUint64(a.w[2])
	for _, w := range []uint64{a.w[1], a.w[0]} {
		n.Lsh(n, 64).Or(n, new(big.Int).SetUint64(w))
	}
	return n
}

// Float64 is the number rounded to a float64.
func (a Addresses) Float64() float64 {
	return float64(a.w[2])*0x1p128 + float64(a.w[1])*0x1p64 + float64(a.w[0])
}

// Log2 is log2 of the number; -Inf for zero.
func (a Addresses) Log2() float64 { return math.Log2(a.Float64()) }

// String is the number in decimal.
func (a Addresses) String() string { return a.Big().String() }

// MarshalJSON writes the number as a decimal string.
func (a Addresses) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// UnmarshalJSON reads a decimal string.
func (a *Addresses) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 192 {
		return fmt.Errorf("addresses %q: want a decimal number from 0 to 2^192-1", s)
	}
	var w [3]uint64
	mask := new(big.Int).SetUint64(math.MaxUint64)
	for i := range w {
		w[i] = new(big.Int).And(n, mask).Uint64()
		n.Rsh(n, 64)
	}
	a.w = w
	return nil
}
