package lossy

import (
	"net/netip"
	"sync"
	"testing"
)

func addrHash(a netip.Addr) uint64 {
	b := a.As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return Mix(hi, lo)
}

// TestCache: a hit gives what was stored; a key sharing a taken slot
// misses and replaces the entry on one put in ReplaceEvery only; an entry
// never answers for another key; a nil cache caches nothing.
func TestCache(t *testing.T) {
	c := New[netip.Addr, string](8)
	a := netip.MustParseAddr("81.2.69.0")
	if _, ok := c.Get(addrHash(a), a); ok {
		t.Fatal("empty cache: hit")
	}
	c.Put(addrHash(a), a, "london")
	if got, ok := c.Get(addrHash(a), a); !ok || got != "london" {
		t.Fatalf("Get(%s) = %q, %v; want london", a, got, ok)
	}
	// A key that shares a's slot.
	b := a.Next()
	for c.slot(addrHash(b)) != c.slot(addrHash(a)) {
		b = b.Next()
	}
	if _, ok := c.Get(addrHash(b), b); ok {
		t.Fatalf("Get(%s): hit on %s's entry", b, a)
	}
	replaced := 0
	for i := range 2 * ReplaceEvery {
		c.Put(addrHash(b), b, "other")
		if got, ok := c.Get(addrHash(b), b); ok {
			if got != "other" {
				t.Fatalf("Get(%s) = %q", b, got)
			}
			replaced = i + 1
			break
		}
		if got, ok := c.Get(addrHash(a), a); !ok || got != "london" {
			t.Fatalf("put %d of %s: %s's entry lost without being replaced", i, b, a)
		}
	}
	if replaced == 0 || replaced > ReplaceEvery {
		t.Errorf("%s took the slot after %d puts, want 1..%d", b, replaced, ReplaceEvery)
	}
	if _, ok := c.Get(addrHash(a), a); ok {
		t.Errorf("Get(%s) hit after its slot went to %s", a, b)
	}
	var none *Cache[netip.Addr, string]
	none.Put(addrHash(a), a, "x")
	if _, ok := none.Get(addrHash(a), a); ok {
		t.Error("nil cache: hit")
	}
}

// TestCacheConcurrent: readers and writers on shared slots need no lock
// (under -race), and a hit is always the value of the key asked.
func TestCacheConcurrent(t *testing.T) {
	c := New[netip.Addr, netip.Prefix](10)
	base := netip.MustParseAddr("10.0.0.0").As4()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20000 {
				n := (i*7 + g) % 40000
				a := netip.AddrFrom4([4]byte{base[0], byte(n >> 16), byte(n >> 8), byte(n)})
				if v, ok := c.Get(addrHash(a), a); ok && v != netip.PrefixFrom(a, 32) {
					t.Errorf("Get(%s) = %s", a, v)
					return
				}
				c.Put(addrHash(a), a, netip.PrefixFrom(a, 32))
			}
		})
	}
	wg.Wait()
}

// TestPutFullAllocates: a put over a taken slot that does not replace it
// allocates nothing; a miss costs the caller's work and no garbage.
func TestPutFullAllocates(t *testing.T) {
	c := New[uint64, int](4)
	for i := uint64(0); c.slot(Mix(99, 0)).Load() == nil; i++ {
		if i != 99 {
			c.Put(Mix(i, 0), i, int(i)) // fills empty slots only
		}
	}
	n := testing.AllocsPerRun(ReplaceEvery*10, func() { c.Put(Mix(99, 0), 99, 99) })
	if max := 1.0 / ReplaceEvery * 1.5; n > max {
		t.Errorf("%v allocations per put into a full cache, want at most %v", n, max)
	}
}

func BenchmarkGet(b *testing.B) {
	c := New[netip.Addr, string](14)
	a := netip.MustParseAddr("81.2.69.0")
	c.Put(addrHash(a), a, "london")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Get(addrHash(a), a)
	}
}

// TestPeekReplace: Peek shows a slot's entry whatever its key, Replace
// takes a slot at once, and Turn says yes once in ReplaceEvery calls.
func TestPeekReplace(t *testing.T) {
	c := New[netip.Addr, string](8)
	a := netip.MustParseAddr("81.2.69.0")
	b := a.Next()
	for c.slot(addrHash(b)) != c.slot(addrHash(a)) {
		b = b.Next()
	}
	if _, _, ok := c.Peek(addrHash(a)); ok {
		t.Fatal("Peek of an empty slot: taken")
	}
	c.Put(addrHash(a), a, "london")
	if k, v, ok := c.Peek(addrHash(b)); !ok || k != a || v != "london" {
		t.Fatalf("Peek(slot of %s) = %s %q %v, want %s's entry", b, k, v, ok, a)
	}
	c.Replace(addrHash(b), b, "seattle")
	if got, ok := c.Get(addrHash(b), b); !ok || got != "seattle" {
		t.Fatalf("Get(%s) after Replace = %q, %v", b, got, ok)
	}
	if _, ok := c.Get(addrHash(a), a); ok {
		t.Errorf("Get(%s) hit after Replace gave its slot to %s", a, b)
	}
	yes := 0
	for range 4 * ReplaceEvery {
		if c.Turn() {
			yes++
		}
	}
	if yes != 4 {
		t.Errorf("Turn true %d times in %d calls, want 4", yes, 4*ReplaceEvery)
	}
	var none *Cache[netip.Addr, string]
	none.Replace(0, a, "x")
	if _, _, ok := none.Peek(0); ok {
		t.Error("nil cache: Peek found an entry")
	}
}
