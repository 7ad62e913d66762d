package geo

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Build writes networks as a MaxMind DB in the GeoIP2 City layout
// (database_type "GeoIP2-City", IPv6 tree with IPv4 aliased as MaxMind's
// own databases are), readable by Open and by any MaxMind reader. Each
// network gets one record:
//
//	{"location":  {"latitude": …, "longitude": …},
//	 "country":   {"iso_code": "GB"},                      // when given
//	 "continent": {"code": "EU", "names": {"en": "Europe"}}, // given, or from the country
//	 "city":      {"names": {"en": "London"}}}              // when given
//
// A network inside another takes its own record whatever the order of the
// list; a prefix given twice is an error, as are coordinates out of range
// and unknown country or continent codes. The reserved ranges that MaxMind
// leaves out (loopback, RFC 1918, documentation) may be given: a demo
// database places them.
func Build(w io.Writer, networks []Network) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoIP2-City",
		Description:             map[string]string{"en": "AYA GeoIP2 City layout database"},
		Languages:               []string{"en"},
		IPVersion:               6,
		RecordSize:              28,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return err
	}
	// Insert the widest networks first: a later insert replaces what it
	// covers, so the most specific network keeps its own record.
	sorted := slices.Clone(networks)
	slices.SortStableFunc(sorted, func(a, b Network) int { return cmp.Compare(treeBits(a.Prefix), treeBits(b.Prefix)) })
	seen := make(map[netip.Prefix]bool, len(sorted))
	for _, n := range sorted {
		rec, err := buildRecord(n)
		if err != nil {
			return fmt.Errorf("network %s: %w", n.Prefix, err)
		}
		key := treeKey(n.Prefix)
		if seen[key] {
			if key != n.Prefix {
				return fmt.Errorf("network %s given twice (as %s)", n.Prefix, key)
			}
			return fmt.Errorf("network %s given twice", n.Prefix)
		}
		seen[key] = true
		a := n.Prefix.Addr()
		ipnet := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(n.Prefix.Bits(), a.BitLen())}
		if err := tree.Insert(ipnet, rec); err != nil {
			return fmt.Errorf("network %s: %w", n.Prefix, err)
		}
	}
	_, err = tree.WriteTo(w)
	return err
}

// treeBits is a prefix's depth in an IPv6 tree, where IPv4 sits at ::/96.
func treeBits(p netip.Prefix) int {
	if p.Addr().Is4() {
		return p.Bits() + 96
	}
	return p.Bits()
}

// buildRecord checks n and makes its GeoIP2 City record.
func buildRecord(n Network) (mmdbtype.Map, error) {
	switch {
	case !n.Prefix.IsValid():
		return nil, errors.New("invalid prefix")
	case n.Prefix != n.Prefix.Masked():
		return nil, fmt.Errorf("host bits set: the network is %s", n.Prefix.Masked())
	case n.Prefix.Addr().Zone() != "":
		return nil, errors.New("zoned address")
	case math.IsNaN(n.Latitude) || n.Latitude < -90 || n.Latitude > 90:
		return nil, fmt.Errorf("latitude %g out of range [-90, 90]", n.Latitude)
	case math.IsNaN(n.Longitude) || n.Longitude < -180 || n.Longitude > 180:
		return nil, fmt.Errorf("longitude %g out of range [-180, 180]", n.Longitude)
	}
	if a, ok := aliasHolding(n.Prefix); ok {
		return nil, fmt.Errorf("inside %s, which MaxMind DBs alias to IPv4", a)
	}
	rec := mmdbtype.Map{
		"location": mmdbtype.Map{
			"latitude":  mmdbtype.Float64(n.Latitude),
			"longitude": mmdbtype.Float64(n.Longitude),
		},
	}
	country := strings.ToUpper(n.Country)
	continent := strings.ToUpper(n.Continent)
	if country != "" {
		c, ok := centroids[country]
		if !ok {
			return nil, fmt.Errorf("country %q: not an ISO 3166-1 alpha-2 code", n.Country)
		}
		rec["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(country)}
		if continent == "" {
			continent = c.continent
		}
	}
	if continent != "" {
		name, ok := continents[continent]
		if !ok {
			return nil, fmt.Errorf("continent %q: want one of AF AN AS EU NA OC SA", n.Continent)
		}
		rec["continent"] = mmdbtype.Map{
			"code":  mmdbtype.String(continent),
			"names": mmdbtype.Map{"en": mmdbtype.String(name)},
		}
	}
	if n.City != "" {
		rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.City)}}
	}
	return rec, nil
}
