package geo

import (
	"net/netip"
	"sync"
	"testing"
)

// TestRecordCache checks that the cache returns the record stored for an
// offset, misses an offset it does not hold, and that a slot keeps its
// first record: an offset sharing it is never given that record, and is
// not cached in its place (the cache never allocates past its slots).
func TestRecordCache(t *testing.T) {
	var c recordCache
	a := record{country: "DE", continent: "EU", lat: 50.1, lon: 8.7, hasLat: true, hasLon: true}
	b := record{country: "US", continent: "NA", lat: 40.7, lon: -74, hasLat: true, hasLon: true}
	if _, ok := c.get(100); ok {
		t.Fatal("empty cache: hit")
	}
	c.put(100, a)
	if got, ok := c.get(100); !ok || got != a {
		t.Fatalf("get(100) = %+v, %v; want %+v", got, ok, a)
	}
	// An offset that shares offset 100's slot.
	other := uint(101)
	for c.slot(other) != c.slot(100) {
		other++
	}
	if _, ok := c.get(other); ok {
		t.Fatalf("get(%d): hit on offset 100's entry", other)
	}
	c.put(other, b)
	if got, ok := c.get(other); ok {
		t.Fatalf("get(%d) = %+v after a put into a taken slot, want a miss", other, got)
	}
	if got, ok := c.get(100); !ok || got != a {
		t.Fatalf("get(100) = %+v, %v; want its record kept", got, ok)
	}
}

// TestLookupMissAllocatesNothing fills every slot of a cache, then checks
// that a put for a new offset allocates nothing: a lookup that misses a
// full cache decodes, and nothing more.
func TestLookupMissAllocatesNothing(t *testing.T) {
	var c recordCache
	for i := range recordCacheSize {
		c.slots[i].Store(&cachedRecord{off: ^uint(0)})
	}
	r := record{country: "DE"}
	if n := testing.AllocsPerRun(100, func() { c.put(12345, r) }); n != 0 {
		t.Errorf("put into a full cache: %v allocations, want 0", n)
	}
}

// TestRecordCacheConcurrent hammers shared slots from several goroutines;
// under -race it proves the cache needs no lock, and every hit must be the
// record of the offset asked.
func TestRecordCacheConcurrent(t *testing.T) {
	var c recordCache
	recOf := func(off uint) record { return record{lat: float64(off), hasLat: true} }
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20000 {
				off := uint((i*7 + g) % 9000)
				if r, ok := c.get(off); ok && r != recOf(off) {
					t.Errorf("get(%d) = %+v", off, r)
					return
				}
				c.put(off, recOf(off))
			}
		})
	}
	wg.Wait()
}

// TestLookupCached checks that a lookup answered from the cache equals the
// first one, which decoded the record (the database is fresh, its cache empty).
func TestLookupCached(t *testing.T) {
	db := open(t, Config{Database: writeFile(t, "g.mmdb", build(t, testNetworks))})
	for _, n := range testNetworks {
		a := n.Prefix.Addr()
		first := db.Lookup(a)
		if again := db.Lookup(a); again != first {
			t.Errorf("Lookup(%s): %+v, then from the cache %+v", a, first, again)
		}
	}
}

// TestAddrCache checks the address cache: a hit gives what was stored; an
// address sharing a taken slot misses and replaces the entry only on one
// miss in addrReplaceEvery; the entries never mix two addresses.
func TestAddrCache(t *testing.T) {
	var c addrCache
	a := netip.MustParseAddr("81.2.69.0")
	la := Location{Country: "GB", Continent: "EU", Network: netip.MustParsePrefix("81.2.69.0/24"), Source: SourceCity}
	if _, ok := c.get(a); ok {
		t.Fatal("empty cache: hit")
	}
	c.put(a, la)
	if got, ok := c.get(a); !ok || got != la {
		t.Fatalf("get(%s) = %+v, %v; want %+v", a, got, ok, la)
	}
	// An address that shares a's slot.
	b := a
	for b = b.Next(); c.slot(b) != c.slot(a); b = b.Next() {
	}
	lb := Location{Country: "US", Network: netip.PrefixFrom(b, 32)}
	if _, ok := c.get(b); ok {
		t.Fatalf("get(%s): hit on %s's entry", b, a)
	}
	replaced := 0
	for i := range 2 * addrReplaceEvery {
		c.put(b, lb)
		if got, ok := c.get(b); ok {
			if got != lb {
				t.Fatalf("get(%s) = %+v", b, got)
			}
			replaced = i + 1
			break
		}
		if got, ok := c.get(a); !ok || got != la {
			t.Fatalf("put %d of %s: %s's entry lost without being replaced", i, b, a)
		}
	}
	if replaced == 0 || replaced > addrReplaceEvery {
		t.Errorf("%s took the slot after %d puts, want 1..%d", b, replaced, addrReplaceEvery)
	}
	if _, ok := c.get(a); ok {
		t.Errorf("get(%s) hit after its slot went to %s", a, b)
	}
	var none *addrCache
	none.put(a, la)
	if _, ok := none.get(a); ok {
		t.Error("nil cache: hit")
	}
}

// TestAddrCacheConcurrent: readers and writers on shared slots need no
// lock (under -race), and a hit is always the location of the address asked.
func TestAddrCacheConcurrent(t *testing.T) {
	var c addrCache
	locOf := func(a netip.Addr) Location { return Location{Network: netip.PrefixFrom(a, 32)} }
	base := netip.MustParseAddr("10.0.0.0").As4()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20000 {
				n := (i*7 + g) % 40000
				a := netip.AddrFrom4([4]byte{base[0], byte(n >> 16), byte(n >> 8), byte(n)})
				if l, ok := c.get(a); ok && l != locOf(a) {
					t.Errorf("get(%s) = %+v", a, l)
					return
				}
				c.put(a, locOf(a))
			}
		})
	}
	wg.Wait()
}
