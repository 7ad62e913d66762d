package policy_test

import (
	"fmt"
	"net/netip"

	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// A London client is answered from Dublin, the nearest region, with the
// address of one of its up endpoints; a drained region shows why it is out.
func ExampleDecide() {
	pool := &policy.Pool{
		Name:    "web",
		TTL:     30,
		Answers: 1,
		Members: []policy.Member{
			{Region: policy.Region{Name: "us-east", Latitude: 39.04, Longitude: -77.49}, Endpoints: []policy.Endpoint{
				{Name: "use-a", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, Weight: 1},
			}},
			{Region: policy.Region{Name: "eu-west", Latitude: 53.35, Longitude: -6.26}, Endpoints: []policy.Endpoint{
				{Name: "euw-a", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}, Weight: 1},
				{Name: "euw-b", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.2")}, Weight: 1},
			}},
			{Region: policy.Region{Name: "ap-southeast", Latitude: 1.29, Longitude: 103.85}, Endpoints: []policy.Endpoint{
				{Name: "apse-a", Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.1")}, Weight: 1},
			}},
		},
	}
	snap := &state.Snapshot{
		Down:           map[state.EndpointKey]string{{Pool: "web", Region: "eu-west", Endpoint: "euw-b"}: "http 503"},
		DrainedRegions: map[string]string{"ap-southeast": "maintenance"},
	}
	client := policy.Client{
		Addr:  netip.MustParseAddr("81.2.69.142"),
		Scope: netip.MustParsePrefix("81.2.69.0/24"),
		Loc:   geo.Location{Latitude: 51.51, Longitude: -0.13, HasCoordinates: true, Country: "GB", Continent: "EU"},
	}

	d := policy.Decision{Explain: true}
	policy.Decide(pool, client, policy.IPv4, snap, &d)
	fmt.Println(d.Region, d.Addrs, d.TTL)
	for _, v := range d.Regions {
		fmt.Printf("%-12s %5.0f km  %s\n", v.Region, v.DistanceKm, v.Reason)
		for _, e := range v.Endpoints {
			fmt.Printf("  %s: %s\n", e.Name, e.State)
		}
	}
	// Output:
	// eu-west [198.51.100.1] 30
	// eu-west        463 km  nearest
	//   euw-a: up
	//   euw-b: down: http 503
	// us-east       5917 km  eligible
	//   use-a: up
	// ap-southeast 10855 km  drained: maintenance
	//   apse-a: up
}
