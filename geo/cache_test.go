package geo

import (
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
