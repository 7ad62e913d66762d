package dnsserver

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"testing/fstest"
)

// bigZone is a zone file of n A records under "big.test.", one name each
// (h0 … h<n-1>), the shape of bench/zones/run.sh's zone.
func bigZone(n int) []byte {
	b := make([]byte, 0, n*32+256)
	b = append(b, "$ORIGIN big.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 30\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"...)
	for i := range n {
		b = fmt.Appendf(b, "h%d IN A 10.%d.%d.%d\n", i, i>>16&0xff, i>>8&0xff, i&0xff)
	}
	return b
}

// BenchmarkLoadZone measures what a site does with a zone before it
// answers: parse and check (ParseZoneFS), then publish (buildFast). The
// 1M case is the figure of docs/architecture.md; live-MB is the heap kept
// after a GC, with the zone published.
//
//	go test -run=^$ -bench=BenchmarkLoadZone -benchmem ./dnsserver/
func BenchmarkLoadZone(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			fsys := fstest.MapFS{"big.test.zone": {Data: bigZone(n)}}
			s := New(testConfig())
			var live uint64
			for b.Loop() {
				z, err := ParseZoneFS(fsys, "", "big.test.zone", "big.test.")
				if err != nil {
					b.Fatal(err)
				}
				zs, err := NewZones(z)
				if err != nil {
					b.Fatal(err)
				}
				s.SetZones(zs)
				b.StopTimer()
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				live = ms.HeapAlloc
				empty, _ := NewZones()
				s.SetZones(empty)
				b.StartTimer()
			}
			b.ReportMetric(float64(live)/(1<<20), "live-MB")
		})
	}
}

// TestBigZoneHeapProfile writes the live heap of a published 1M-record
// zone to $AYA_HEAP_PROFILE; skipped without it.
func TestBigZoneHeapProfile(t *testing.T) {
	out := os.Getenv("AYA_HEAP_PROFILE")
	if out == "" {
		t.Skip("AYA_HEAP_PROFILE not set")
	}
	fsys := fstest.MapFS{"big.test.zone": {Data: bigZone(1_000_000)}}
	s := New(testConfig())
	z, err := ParseZoneFS(fsys, "", "big.test.zone", "big.test.")
	if err != nil {
		t.Fatal(err)
	}
	zs, _ := NewZones(z)
	s.SetZones(zs)
	runtime.GC()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(s)
}
