package proxy

import (
	"net/netip"
	"testing"
	"time"
)

func TestRateLimitHTTP(t *testing.T) {
	b := newBackend(t, "a", nil)
	cfg := onePool(b)
	cfg.RateLimit = RateLimit{Rate: 1, Burst: 2}
	_, addr := startProxy(t, cfg)
	c := client()
	want := []int{200, 200, 429, 429}
	for i, w := range want {
		status, _, h := get(t, c, "http://"+addr+"/")
		if status != w {
			t.Errorf("request %d: %d, want %d", i, status, w)
		}
		if status == 429 && h.Get("Retry-After") != "1" {
			t.Errorf("Retry-After %q, want 1", h.Get("Retry-After"))
		}
	}
}

func TestRateLimiterBuckets(t *testing.T) {
	l := newRateLimiter(10, 0) // burst 10
	a := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1000, 0)
	for i := range 10 {
		if ok, _ := l.allow(a, now); !ok {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	ok, wait := l.allow(a, now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over the burst: %v %v, want refused for 100ms", ok, wait)
	}
	if ok, _ := l.allow(a, now.Add(100*time.Millisecond)); !ok {
		t.Error("refused after refilling a token")
	}
	if ok, _ := l.allow(netip.MustParseAddr("192.0.2.2"), now); !ok {
		t.Error("another client refused")
	}
}

func TestRateLimiterBoundedMemory(t *testing.T) {
	l := newRateLimiter(1, 1)
	l.perShard = 16
	now := time.Unix(1000, 0)
	for i := range 10_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.allow(a, now)
	}
	total := 0
	for i := range l.shards {
		total += len(l.shards[i].buckets)
	}
	if total > limiterShards*l.perShard {
		t.Errorf("%d buckets, want at most %d", total, limiterShards*l.perShard)
	}
}
