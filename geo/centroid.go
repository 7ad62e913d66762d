package geo

import "strings"

// centroid is a country's rough centre and its continent.
type centroid struct {
	lat, lon  float64
	continent string
}

// Centroid returns the centre of the country with the ISO 3166-1 alpha-2
// code country (any case) and its continent code; ok is false for a code the
// table does not know. Databases that place a client only by country
// (Source == SourceCountry) put it here.
func Centroid(country string) (lat, lon float64, continent string, ok bool) {
	c, ok := centroids[country]
	if !ok && len(country) == 2 {
		c, ok = centroids[strings.ToUpper(country)]
	}
	return c.lat, c.lon, c.continent, ok
}

// continents are the continent codes of GeoIP2 databases, with the English
// names Build writes beside them.
var continents = map[string]string{
	"AF": "Africa",
	"AN": "Antarctica",
	"AS": "Asia",
	"EU": "Europe",
	"NA": "North America",
	"OC": "Oceania",
	"SA": "South America",
}

// codes interns two-letter upper-case codes ("AA" … "ZZ"), so that decoding
// a country or continent code from a database record allocates nothing.
var codes = func() (t [26 * 26]string) {
	for i := range t {
		t[i] = string([]byte{'A' + byte(i/26), 'A' + byte(i%26)})
	}
	return t
}()

// intern returns b as a string, from codes when it is a two-letter
// upper-case code.
func intern(b []byte) string {
	if len(b) == 2 && b[0] >= 'A' && b[0] <= 'Z' && b[1] >= 'A' && b[1] <= 'Z' {
		return codes[int(b[0]-'A')*26+int(b[1]-'A')]
	}
	return string(b)
}
