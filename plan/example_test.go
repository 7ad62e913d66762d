package plan_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/plan"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// ExampleCompute plans the drain of eu-west: the clients nearest it, in
// London, move to eu-central; New York stays with us-east.
func ExampleCompute() {
	dir, err := os.MkdirTemp("", "plan-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	var buf bytes.Buffer
	if err := geo.Build(&buf, []geo.Network{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Latitude: 51.51, Longitude: -0.09, Country: "GB"},
		{Prefix: netip.MustParsePrefix("216.160.83.0/24"), Latitude: 40.71, Longitude: -74.01, Country: "US"},
		{Prefix: netip.MustParsePrefix("2a02:cfc0::/29"), Latitude: 51.51, Longitude: -0.09, Country: "GB"},
	}); err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "city.mmdb")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		panic(err)
	}
	db, err := geo.Open(geo.Config{Database: path})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	region := func(name string, lat, lon float64, addr string) policy.Member {
		return policy.Member{
			Region:    policy.Region{Name: name, Latitude: lat, Longitude: lon},
			Endpoints: []policy.Endpoint{{Name: name + "-1", Addrs: []netip.Addr{netip.MustParseAddr(addr)}, Weight: 1}},
		}
	}
	web := &policy.Pool{Name: "web", TTL: 30, Answers: 1, Members: []policy.Member{
		region("eu-west", 53.35, -6.26, "192.0.2.10"),
		region("eu-central", 50.11, 8.68, "192.0.2.20"),
		region("us-east", 39.04, -77.49, "192.0.2.30"),
	}}
	running := plan.Side{
		Names: []plan.Name{{Name: "www.gslb.example.com.", Pool: "web"}},
		Pools: map[string]*policy.Pool{"web": web},
	}
	candidate := running
	candidate.State = &state.Snapshot{DrainedRegions: map[string]string{"eu-west": "maintenance"}}

	r, err := plan.Compute(context.Background(), db, running, candidate, nil, plan.Options{})
	if err != nil {
		panic(err)
	}
	if err := r.WriteText(os.Stdout); err != nil {
		panic(err)
	}
	m := r.Names[0].Moves[0]
	fmt.Printf("\n%s → %s: %s IPv4 addresses; try dig +subnet=%s www.gslb.example.com\n", m.From, m.To, m.IPv4.Addresses, m.Samples[0])
	// Output:
	// aya diff: 1 of 1 steered names change, over 3 networks (2 IPv4, 1 IPv6)
	//
	// ~ www.gslb.example.com.  pool web
	//     changes 1 of 2 IPv4 networks (256 addresses, 50.00%), 1 of 1 IPv6 networks (2^99.0 addresses, 100.00%)
	//     FROM     TO          IPV4 NETS  IPV4 ADDRS  IPV6 NETS  IPV6 ADDRS  TRY
	//     eu-west  eu-central          1         256          1      2^99.0  81.2.69.0/24 2a02:cfc0::/29
	//     COUNTRY    IPV4 NETS  IPV4 ADDRS  IPV6 NETS  IPV6 ADDRS
	//     GB                 1         256          1      2^99.0
	//
	// eu-west → eu-central: 256 IPv4 addresses; try dig +subnet=81.2.69.0/24 www.gslb.example.com
}
