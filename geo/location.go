package geo

import "net/netip"

// Source says where a Location came from.
type Source uint8

const (
	// SourceNone means no record placed the address: the Location has no
	// coordinates (a record may still have given a continent or a country
	// code the centroid table does not know).
	SourceNone Source = iota
	// SourceCity means a City database record with coordinates.
	SourceCity
	// SourceCountry means a Country database record (or a City record without
	// coordinates), placed at the country's centroid.
	SourceCountry
	// SourceOverride means the operator's overrides file.
	SourceOverride
)

func (s Source) String() string {
	switch s {
	case SourceCity:
		return "city"
	case SourceCountry:
		return "country"
	case SourceOverride:
		return "override"
	default:
		return "none"
	}
}

// Location is where a client address is, as far as the databases know.
type Location struct {
	Latitude, Longitude float64
	// HasCoordinates is false when neither a record nor a centroid gave any.
	HasCoordinates bool
	// Country is the ISO 3166-1 alpha-2 code, upper case; "" when unknown.
	Country string
	// Continent is the two-letter continent code (AF AN AS EU NA OC SA); "" when unknown.
	Continent string
	// Region is set when an override maps the network straight to a region.
	Region string
	// Network is the matched network: every address in it has this same
	// Location, so it bounds the ECS scope of the answer (the DNS path cuts
	// it to ecs.max_prefix). When nothing matched, it is the largest network
	// around the address that has no record (and no override), the extent
	// of "unknown". Invalid only for an invalid address or a closed DB.
	Network netip.Prefix
	Source  Source
}

// Known reports whether anything placed the address: an override, or a
// database record that gave coordinates, a country or a continent. An
// unknown Location tells nothing but Network, the extent of the unknown.
func (l Location) Known() bool {
	return l.Source != SourceNone || l.Country != "" || l.Continent != "" || l.Region != ""
}
