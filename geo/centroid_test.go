package geo

import (
	"strings"
	"testing"
)

// iso3166 is every officially assigned ISO 3166-1 alpha-2 code (249).
const iso3166 = `AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ
BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI
KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX
SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU
WF WS YE YT ZA ZM ZW`

func TestCentroids(t *testing.T) {
	codes := strings.Fields(iso3166)
	if len(codes) != 249 {
		t.Fatalf("the ISO list has %d codes", len(codes))
	}
	want := map[string]bool{"XK": true} // Kosovo: user-assigned, used by MaxMind
	for _, c := range codes {
		want[c] = true
	}
	for _, c := range codes {
		if _, ok := centroids[c]; !ok {
			t.Errorf("%s: missing", c)
		}
	}
	for c, v := range centroids {
		if !want[c] {
			t.Errorf("%s: not an ISO 3166-1 alpha-2 code", c)
		}
		if v.lat < -90 || v.lat > 90 || v.lon < -180 || v.lon > 180 || (v.lat == 0 && v.lon == 0) {
			t.Errorf("%s: coordinates %g, %g", c, v.lat, v.lon)
		}
		if _, ok := continents[v.continent]; !ok {
			t.Errorf("%s: continent %q", c, v.continent)
		}
	}
}

func TestCentroid(t *testing.T) {
	for _, tc := range []struct {
		country   string
		lat, lon  float64
		continent string
		ok        bool
	}{
		{"GB", 55.378051, -3.435973, "EU", true},
		{"us", 37.09024, -95.712891, "NA", true},
		{"Jp", 36.204824, 138.252924, "AS", true},
		{"SS", 8, 30, "AF", true},
		{"AQ", -75.250973, -0.071389, "AN", true},
		{"ZZ", 0, 0, "", false},
		{"", 0, 0, "", false},
		{"GBR", 0, 0, "", false},
	} {
		lat, lon, continent, ok := Centroid(tc.country)
		if lat != tc.lat || lon != tc.lon || continent != tc.continent || ok != tc.ok {
			t.Errorf("Centroid(%q) = %g, %g, %q, %v", tc.country, lat, lon, continent, ok)
		}
	}
}

func TestIntern(t *testing.T) {
	if got := intern([]byte("GB")); got != "GB" {
		t.Errorf("intern(GB) = %q", got)
	}
	if got := intern([]byte("gb")); got != "gb" {
		t.Errorf("intern(gb) = %q", got)
	}
	if n := testing.AllocsPerRun(10, func() { _ = intern([]byte{'F', 'R'}) }); n != 0 {
		t.Errorf("intern allocates %v times", n)
	}
}
