package geo

import "net/netip"

// Source says where a Location came from.
type Source uint8

const (
	// SourceNone: nothing matched; the Location has no coordinates.
	SourceNone Source = iota
	// SourceCity: a City database record with coordinates.
	SourceCity
	// SourceCountry: a Country database record (or a City record without
	// coordinates), placed at the country's centroid.
	SourceCountry
	// SourceOverride: the operator's overrides file.
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
	// Network is the matched network; its prefix length is the ECS scope
	// the answer holds for. Invalid when nothing matched.
	Network netip.Prefix
	Source  Source
}
