package geo_test

import (
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/aya-gslb/aya/geo"
)

func ExampleDB_Lookup() {
	dir, err := os.MkdirTemp("", "geo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	// A source file is compiled in memory at Open; an .mmdb file (GeoIP2 or
	// GeoLite2 City or Country) is read as it is.
	source := filepath.Join(dir, "nets.yaml")
	overrides := filepath.Join(dir, "overrides.yaml")
	if err := os.WriteFile(source, []byte(`
- {network: 81.2.69.0/24, latitude: 51.5142, longitude: -0.0931, country: GB, city: London}
- {network: 2001:218::/32, latitude: 35.68536, longitude: 139.75309, country: JP}
`), 0o600); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(overrides, []byte(`
overrides:
  - {network: 10.0.0.0/8, region: eu-west}
`), 0o600); err != nil {
		log.Fatal(err)
	}
	db, err := geo.Open(geo.Config{Database: source, Overrides: overrides})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = db.Close() }()

	for _, a := range []string{"81.2.69.142", "::ffff:81.2.69.142", "2001:218::1", "10.1.2.3", "192.0.2.1"} {
		l := db.Lookup(netip.MustParseAddr(a))
		fmt.Printf("%-18s %-8s %-7s %s %s %.2f,%.2f %s\n", a, l.Source, l.Region, l.Country, l.Continent, l.Latitude, l.Longitude, l.Network)
	}
	// Output:
	// 81.2.69.142        city             GB EU 51.51,-0.09 81.2.69.0/24
	// ::ffff:81.2.69.142 city             GB EU 51.51,-0.09 81.2.69.0/24
	// 2001:218::1        city             JP AS 35.69,139.75 2001:218::/32
	// 10.1.2.3           override eu-west   0.00,0.00 10.0.0.0/8
	// 192.0.2.1          none               0.00,0.00 128.0.0.0/1
}
