package plan

import (
	"maps"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

var (
	saEast      = policy.Region{Name: "sa-east", Latitude: -23.55, Longitude: -46.63, Country: "BR", Continent: "SA"}
	apSouth     = policy.Region{Name: "ap-south", Latitude: 19.08, Longitude: 72.88, Country: "IN", Continent: "AS"}
	apSoutheast = policy.Region{Name: "ap-southeast", Latitude: 1.35, Longitude: 103.82, Country: "SG", Continent: "AS"}
)

// largeSides is a zone of two steered names over six regions, and a
// candidate that changes both: eu-west drained, the api pool gains a region
// and answers two addresses.
func largeSides() (before, after Side) {
	web := webPool()
	web.Members = append(web.Members, member(saEast, 70), member(apSouth, 80))
	api := &policy.Pool{Name: "api", TTL: 30, Answers: 1, Members: []policy.Member{
		member(usEast, 100), member(euCentral, 110), member(apSoutheast, 120),
	}}
	before = Side{
		Names: []Name{{"www.gslb.example.com.", "web"}, {"api.gslb.example.com.", "api"}},
		Pools: map[string]*policy.Pool{"web": web, "api": api},
	}
	api2 := *api
	api2.Answers = 2
	api2.Members = append(append([]policy.Member(nil), api.Members...), member(saEast, 130))
	after = Side{
		Names: before.Names,
		Pools: maps.Clone(before.Pools),
		State: &state.Snapshot{DrainedRegions: map[string]string{"eu-west": "maintenance"}},
	}
	after.Pools["api"] = &api2
	return before, after
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// envInt is the integer in environment variable name, or def.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		tb.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

// BenchmarkCompute plans largeSides over a generated database of
// AYA_PLAN_V4 IPv4 and AYA_PLAN_V6 IPv6 networks inserted (default 150,000
// and 50,000; mmdbwriter merges neighbours of one city, so fewer are
// read); generating it is not timed.
func BenchmarkCompute(b *testing.B) {
	db := openDB(b, geo.Config{Database: genDatabase(b, envInt(b, "AYA_PLAN_V4", 150_000), envInt(b, "AYA_PLAN_V6", 50_000))})
	before, after := largeSides()
	runtime.GC()
	var r *Report
	for b.Loop() {
		var err error
		if r, err = Compute(b.Context(), db, before, after, nil, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	n := r.Networks.IPv4.Networks + r.Networks.IPv6.Networks
	b.ReportMetric(float64(n), "networks")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "networks/s")
}

// TestComputeGeoLiteSize plans two names over a database the size of
// GeoLite2 City (about 3.5 million networks read, both families) and
// fails past 10 s (of wall time, or of CPU time over the cores when other
// work shares the machine). It takes a minute or two to generate the database, so it
// runs only with AYA_PLAN_LARGE=1:
//
//	AYA_PLAN_LARGE=1 go test -run GeoLiteSize -v ./plan/
func TestComputeGeoLiteSize(t *testing.T) {
	if os.Getenv("AYA_PLAN_LARGE") == "" {
		t.Skip("set AYA_PLAN_LARGE=1 to plan over a GeoLite2 City sized database")
	}
	start := time.Now()
	path := genDatabase(t, envInt(t, "AYA_PLAN_V4", 2_900_000), envInt(t, "AYA_PLAN_V6", 1_000_000))
	db := openDB(t, geo.Config{Database: path})
	t.Logf("generated and opened in %v", time.Since(start).Round(time.Millisecond))
	runtime.GC() // the generator's garbage is not the plan's
	before, after := largeSides()
	cpu0 := cpuTime(t)
	start = time.Now()
	r, err := Compute(t.Context(), db, before, after, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	took, cpu := time.Since(start), cpuTime(t)-cpu0
	n := r.Networks.IPv4.Networks + r.Networks.IPv6.Networks
	// The CPU time says what the wall time would be on idle cores, when
	// other work shares the machine.
	t.Logf("planned %d names over %d networks (%d IPv4, %d IPv6) in %v, %v of CPU on %d cores",
		len(r.Names), n, r.Networks.IPv4.Networks, r.Networks.IPv6.Networks, took.Round(time.Millisecond), cpu.Round(time.Millisecond), runtime.GOMAXPROCS(0))
	for _, nc := range r.Names {
		t.Logf("%s: %d IPv4 and %d IPv6 networks change, in %d moves", nc.Name, nc.Changed.IPv4.Networks, nc.Changed.IPv6.Networks, len(nc.Moves))
	}
	if n < 3_000_000 {
		t.Errorf("only %d networks read: want a GeoLite2 City sized database", n)
	}
	// Other work on the machine (a shared CI host, other test binaries)
	// takes cores from the plan; then the CPU time over the cores is what
	// the plan would take with them.
	idle := cpu / time.Duration(runtime.GOMAXPROCS(0))
	if took > 10*time.Second && idle > 10*time.Second {
		t.Errorf("took %v (%v on idle cores), want under 10 s", took, idle.Round(time.Millisecond))
	} else if took > 10*time.Second {
		t.Logf("took %v on a shared machine; %v on idle cores", took, idle.Round(time.Millisecond))
	}
}
