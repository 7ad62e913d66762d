package config

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// steeringBase is a valid configuration with regions and pools, one
// setting per line, so each row below edits a few lines and can pin the
// line numbers in its messages.
var steeringBase = strings.Split(strings.TrimSuffix(`node: {id: n1}
dns: {listen: [127.0.0.1:5300], zones_dir: zones}
regions:
  - name: us-east
    latitude: 39.04
    longitude: -77.49
    country: US
    continent: NA
  - name: eu-west
    latitude: 53.35
    longitude: -6.26
    country: IE
    continent: EU
  - name: us-west
    latitude: 45.6
    longitude: -121.2
    country: US
    continent: NA
pools:
  - name: web
    ttl: 30
    answers: 1
    fallback: fail_open
    fallback_addresses: []
    country_map: {GB: eu-west}
    continent_map: {OC: us-east}
    fences:
      - name: eu-residency
        countries: []
        continents: [EU]
        regions: [eu-west]
    members:
      - region: us-east
        bias_km: 0
        endpoints:
          - name: use1-a
            addresses: [192.0.2.10, "2001:db8:1::10"]
            weight: 1
      - region: eu-west
        endpoints:
          - name: euw1-a
            addresses: [198.51.100.10]
`, "\n"), "\n")

// edit is a change to steeringBase: lines from to to (1-based, inclusive;
// to 0 means from) are replaced by text, which may span lines; absent
// deletes them.
type edit struct {
	from, to int
	text     string
}

// edited returns steeringBase with e applied.
func edited(t *testing.T, e edit) []byte {
	t.Helper()
	return editedLines(t, steeringBase, e)
}

// editedLines returns base with e applied.
func editedLines(t *testing.T, base []string, e edit) []byte {
	t.Helper()
	to := e.to
	if to == 0 {
		to = e.from
	}
	if e.from < 1 || to < e.from || to > len(base) {
		t.Fatalf("bad edit %+v", e)
	}
	lines := slices.Clone(base[:e.from-1])
	if e.text != absent {
		lines = append(lines, e.text)
	}
	lines = append(lines, base[to:]...)
	return []byte(strings.Join(lines, "\n") + "\n")
}

// last is the last line of steeringBase: the addresses of the pool's last
// endpoint; rows append items after it.
const last = 42

func TestSteeringBase(t *testing.T) {
	clearEnv(t)
	if got := steeringBase[last-1]; got != "            addresses: [198.51.100.10]" {
		t.Fatalf("line %d of steeringBase is %q", last, got)
	}
	if _, err := Parse("t.yaml", edited(t, edit{from: 1, text: steeringBase[0]}), nil); err != nil {
		t.Fatalf("steeringBase does not load: %v", err)
	}
}

// TestSteeringRules has one row per rule of regions and pools, with the
// exact messages.
func TestSteeringRules(t *testing.T) {
	clearEnv(t)
	const head = "node: {id: n1}\ndns: {listen: [127.0.0.1:5300], zones_dir: zones}\n"
	tests := []struct {
		name string
		edit edit
		data string // the whole file instead of an edit
		want string
	}{
		// The shape of regions and its items.
		{name: "regions not a list", data: head + "regions: {name: us-east}\n",
			want: `t.yaml:3: regions: must be a list (got a mapping)`},
		{name: "region not a mapping", data: head + "regions: [us-east]\n",
			want: `t.yaml:3: regions[0]: must be a mapping of keys (got "us-east")`},
		{name: "region unknown key", edit: edit{from: 5, text: "    lattitude: 39.04"},
			want: "t.yaml:4: regions[0].latitude: required\n" +
				`t.yaml:5: regions[0].lattitude: unknown key (did you mean "latitude"?)`},
		{name: "region unknown key, nothing close", edit: edit{from: 8, text: "    continent: NA\n    zone: a"},
			want: `t.yaml:9: regions[0].zone: unknown key`},
		{name: "region duplicate key", edit: edit{from: 8, text: "    continent: NA\n    continent: EU"},
			want: `t.yaml:9: regions[0].continent: duplicate key (first at line 8)`},
		{name: "region merge key", edit: edit{from: 8, text: "    continent: NA\n    <<: {country: US}"},
			want: `t.yaml:9: regions[0].<<: merge keys (<<) are not supported`},
		{name: "region key not a string", edit: edit{from: 8, text: "    continent: NA\n    ? [a]\n    : 1"},
			want: `t.yaml:9: regions[0]: keys must be strings (got a list)`},

		// Region settings.
		{name: "region name absent", edit: edit{from: 4, text: "  -\n    name: ~"},
			want: `t.yaml:5: regions[0].name: required`},
		{name: "region name blank", edit: edit{from: 14, text: `  - name: " "`},
			want: `t.yaml:14: regions[2].name: required`},
		{name: "region name not a string", edit: edit{from: 14, text: "  - name: 5"},
			want: `t.yaml:14: regions[2].name: must be a string (got 5)`},
		{name: "region name upper case", edit: edit{from: 14, text: "  - name: US-West"},
			want: `t.yaml:14: regions[2].name: must be lower-case letters, digits and "-" (got "US-West"; did you mean "us-west"?)`},
		{name: "region name other characters", edit: edit{from: 14, text: "  - name: us_west"},
			want: `t.yaml:14: regions[2].name: must be lower-case letters, digits and "-" (got "us_west")`},
		{name: "region name duplicate", edit: edit{from: 14, text: "  - name: us-east"},
			want: `t.yaml:14: regions[2].name: duplicate of regions[0] ("us-east")`},
		{name: "latitude absent", edit: edit{from: 5, text: absent},
			want: `t.yaml:4: regions[0].latitude: required`},
		{name: "latitude too far north", edit: edit{from: 5, text: "    latitude: 90.5"},
			want: `t.yaml:5: regions[0].latitude: must be between -90 and 90 (got 90.5)`},
		{name: "latitude too far south", edit: edit{from: 5, text: "    latitude: -91"},
			want: `t.yaml:5: regions[0].latitude: must be between -90 and 90 (got -91)`},
		{name: "latitude not a number", edit: edit{from: 5, text: "    latitude: north"},
			want: `t.yaml:5: regions[0].latitude: must be a number (got "north")`},
		{name: "latitude NaN", edit: edit{from: 5, text: "    latitude: .nan"},
			want: `t.yaml:5: regions[0].latitude: must be a number (got .nan)`},
		{name: "latitude a list", edit: edit{from: 5, text: "    latitude: [39]"},
			want: `t.yaml:5: regions[0].latitude: must be a number (got a list)`},
		{name: "longitude out of range", edit: edit{from: 6, text: "    longitude: 180.01"},
			want: `t.yaml:6: regions[0].longitude: must be between -180 and 180 (got 180.01)`},
		{name: "longitude absent", edit: edit{from: 6, text: absent},
			want: `t.yaml:4: regions[0].longitude: required`},
		{name: "country absent", edit: edit{from: 7, text: absent},
			want: `t.yaml:4: regions[0].country: required`},
		{name: "country three letters", edit: edit{from: 7, text: "    country: USA"},
			want: `t.yaml:7: regions[0].country: must be an ISO 3166-1 alpha-2 country code such as "US" (got "USA")`},
		{name: "country digits", edit: edit{from: 7, text: `    country: "U1"`},
			want: `t.yaml:7: regions[0].country: must be an ISO 3166-1 alpha-2 country code such as "US" (got "U1")`},
		{name: "country UK", edit: edit{from: 12, text: "    country: UK"},
			want: `t.yaml:12: regions[1].country: must be an ISO 3166-1 alpha-2 country code (got "UK"; did you mean "GB"?)`},
		{name: "continent absent", edit: edit{from: 8, text: absent},
			want: `t.yaml:4: regions[0].continent: required`},
		{name: "continent unknown", edit: edit{from: 8, text: "    continent: America"},
			want: `t.yaml:8: regions[0].continent: must be one of AF, AN, AS, EU, NA, OC, SA (got "America")`},

		// The shape of pools and its items.
		{name: "pools not a list", data: head + "pools: web\n",
			want: `t.yaml:3: pools: must be a list (got "web")`},
		{name: "pool unknown key", edit: edit{from: 22, text: "    answers: 1\n    answer: 2"},
			want: `t.yaml:23: pools[0].answer: unknown key (did you mean "answers"?)`},
		{name: "pool name absent", edit: edit{from: 20, text: "  - name: ~"},
			want: `t.yaml:20: pools[0].name: required`},
		{name: "pool name upper case", edit: edit{from: 20, text: "  - name: Web"},
			want: `t.yaml:20: pools[0].name: must be lower-case letters, digits and "-" (got "Web"; did you mean "web"?)`},
		{name: "pool name duplicate", edit: edit{from: last, text: steeringBase[last-1] +
			"\n  - name: web\n    members: [{region: us-east, endpoints: [{name: a, addresses: [192.0.2.1]}]}]"},
			want: `t.yaml:43: pools[1].name: duplicate of pools[0] ("web")`},

		// Pool settings.
		{name: "ttl too long", edit: edit{from: 21, text: "    ttl: 86401"},
			want: `t.yaml:21: pools[0].ttl: must be between 0 and 86400 (got 86401)`},
		{name: "ttl negative", edit: edit{from: 21, text: "    ttl: -1"},
			want: `t.yaml:21: pools[0].ttl: must be between 0 and 86400 (got -1)`},
		{name: "ttl with a unit", edit: edit{from: 21, text: "    ttl: 30s"},
			want: `t.yaml:21: pools[0].ttl: must be an integer (got "30s")`},
		{name: "ttl fraction", edit: edit{from: 21, text: "    ttl: 30.0"},
			want: `t.yaml:21: pools[0].ttl: must be an integer (got 30.0)`},
		{name: "answers zero", edit: edit{from: 22, text: "    answers: 0"},
			want: `t.yaml:22: pools[0].answers: must be at least 1 (got 0)`},
		{name: "fallback unknown", edit: edit{from: 23, text: "    fallback: fail_closed"},
			want: `t.yaml:23: pools[0].fallback: must be one of fail_open, fallback_addresses, servfail (got "fail_closed")`},
		{name: "fallback not a string", edit: edit{from: 23, text: "    fallback: true"},
			want: `t.yaml:23: pools[0].fallback: must be a string (got true)`},
		{name: "fallback_addresses empty", edit: edit{from: 23, text: "    fallback: fallback_addresses"},
			want: `t.yaml:24: pools[0].fallback_addresses: at least one address required when fallback is fallback_addresses`},
		{name: "fallback_addresses absent", edit: edit{from: 23, to: 24, text: "    fallback: fallback_addresses"},
			want: `t.yaml:23: pools[0].fallback_addresses: at least one address required when fallback is fallback_addresses`},
		{name: "fallback_addresses multicast", edit: edit{from: 24, text: `    fallback_addresses: [192.0.2.1, "ff02::1"]`},
			want: `t.yaml:24: pools[0].fallback_addresses[1]: must not be a multicast address (got "ff02::1")`},
		{name: "fallback_addresses not a list", edit: edit{from: 24, text: "    fallback_addresses: {a: b}"},
			want: `t.yaml:24: pools[0].fallback_addresses: must be a list (got a mapping)`},

		// country_map and continent_map.
		{name: "country_map region not a member", edit: edit{from: 25, text: "    country_map: {GB: us-west}"},
			want: `t.yaml:25: pools[0].country_map.GB: region "us-west" is not a member of pool "web"`},
		{name: "country_map unknown region", edit: edit{from: 25, text: "    country_map: {GB: eu-wset}"},
			want: `t.yaml:25: pools[0].country_map.GB: unknown region "eu-wset" (did you mean "eu-west"?)`},
		{name: "country_map bad code", edit: edit{from: 25, text: "    country_map: {GBR: eu-west}"},
			want: `t.yaml:25: pools[0].country_map.GBR: must be an ISO 3166-1 alpha-2 country code such as "US" (got "GBR")`},
		{name: "country_map same code twice", edit: edit{from: 25, text: "    country_map:\n      GB: eu-west\n      gb: us-east"},
			want: `t.yaml:27: pools[0].country_map.gb: duplicate key (first at line 26)`},
		{name: "country_map value not a string", edit: edit{from: 25, text: "    country_map: {GB: 5}"},
			want: `t.yaml:25: pools[0].country_map.GB: must be a string (got 5)`},
		{name: "country_map not a mapping", edit: edit{from: 25, text: "    country_map: [GB]"},
			want: `t.yaml:25: pools[0].country_map: must be a mapping (got a list)`},
		{name: "continent_map bad code", edit: edit{from: 26, text: "    continent_map: {Oceania: us-east}"},
			want: `t.yaml:26: pools[0].continent_map.Oceania: must be one of AF, AN, AS, EU, NA, OC, SA (got "Oceania")`},
		{name: "continent_map region not a member", edit: edit{from: 26, text: "    continent_map: {OC: us-west}"},
			want: `t.yaml:26: pools[0].continent_map.OC: region "us-west" is not a member of pool "web"`},

		// Fences.
		{name: "fence without countries or continents", edit: edit{from: 30, text: "        continents: []"},
			want: `t.yaml:28: pools[0].fences[0]: at least one country or continent required`},
		{name: "fence without regions", edit: edit{from: 31, text: "        regions: []"},
			want: `t.yaml:31: pools[0].fences[0].regions: at least one region required`},
		{name: "fence region not a member", edit: edit{from: 31, text: "        regions: [eu-west, us-west]"},
			want: `t.yaml:31: pools[0].fences[0].regions[1]: region "us-west" is not a member of pool "web"`},
		{name: "fence bad country", edit: edit{from: 29, text: "        countries: [CH, XYZ]"},
			want: `t.yaml:29: pools[0].fences[0].countries[1]: must be an ISO 3166-1 alpha-2 country code such as "US" (got "XYZ")`},
		{name: "fence bad continent", edit: edit{from: 30, text: "        continents: [Europe]"},
			want: `t.yaml:30: pools[0].fences[0].continents[0]: must be one of AF, AN, AS, EU, NA, OC, SA (got "Europe")`},
		{name: "fence name blank", edit: edit{from: 28, text: `      - name: ""`},
			want: `t.yaml:28: pools[0].fences[0].name: required`},
		{name: "fence name duplicate", edit: edit{from: 31, text: steeringBase[30] +
			"\n      - {name: eu-residency, countries: [CH], regions: [eu-west]}"},
			want: `t.yaml:32: pools[0].fences[1].name: duplicate of pools[0].fences[0] ("eu-residency")`},
		{name: "fence unknown key", edit: edit{from: 31, text: "        region: [eu-west]"},
			want: "t.yaml:28: pools[0].fences[0].regions: at least one region required\n" +
				`t.yaml:31: pools[0].fences[0].region: unknown key (did you mean "regions"?)`},

		// Members.
		{name: "members empty", edit: edit{from: 32, to: last, text: "    members: []"},
			want: `t.yaml:32: pools[0].members: at least one member required`},
		{name: "members absent", edit: edit{from: 32, to: last, text: absent},
			want: `t.yaml:20: pools[0].members: at least one member required`},
		{name: "members not a list", edit: edit{from: 32, to: last, text: "    members: us-east"},
			want: `t.yaml:32: pools[0].members: must be a list (got "us-east")`},
		{name: "member unknown region", edit: edit{from: 39, text: "      - region: eu-wset"},
			want: "t.yaml:25: pools[0].country_map.GB: region \"eu-west\" is not a member of pool \"web\"\n" +
				"t.yaml:31: pools[0].fences[0].regions[0]: region \"eu-west\" is not a member of pool \"web\"\n" +
				`t.yaml:39: pools[0].members[1].region: unknown region "eu-wset" (did you mean "eu-west"?)`},
		{name: "member region twice", edit: edit{from: last, text: steeringBase[last-1] +
			"\n      - region: us-east\n        endpoints: [{name: x, addresses: [192.0.2.1]}]"},
			want: `t.yaml:43: pools[0].members[2].region: duplicate of pools[0].members[0] ("us-east")`},
		{name: "member region absent", edit: edit{from: last, text: steeringBase[last-1] +
			"\n      - endpoints: [{name: x, addresses: [192.0.2.1]}]"},
			want: `t.yaml:43: pools[0].members[2].region: required`},
		{name: "member not a mapping", edit: edit{from: last, text: steeringBase[last-1] + "\n      - us-west"},
			want: `t.yaml:43: pools[0].members[2]: must be a mapping of keys (got "us-west")`},
		{name: "member unknown key", edit: edit{from: 34, text: "        biaskm: 10"},
			want: `t.yaml:34: pools[0].members[0].biaskm: unknown key (did you mean "bias_km"?)`},
		{name: "bias_km too big", edit: edit{from: 34, text: "        bias_km: 20000.5"},
			want: `t.yaml:34: pools[0].members[0].bias_km: must be between -20000 and 20000 (got 20000.5)`},
		{name: "bias_km too small", edit: edit{from: 34, text: "        bias_km: -20001"},
			want: `t.yaml:34: pools[0].members[0].bias_km: must be between -20000 and 20000 (got -20001)`},
		{name: "bias_km with a unit", edit: edit{from: 34, text: "        bias_km: 100km"},
			want: `t.yaml:34: pools[0].members[0].bias_km: must be a number (got "100km")`},

		// Endpoints.
		{name: "endpoints empty", edit: edit{from: 35, to: 38, text: "        endpoints: []"},
			want: `t.yaml:35: pools[0].members[0].endpoints: at least one endpoint required`},
		{name: "endpoints absent", edit: edit{from: 35, to: 38, text: absent},
			want: `t.yaml:33: pools[0].members[0].endpoints: at least one endpoint required`},
		{name: "endpoints not a list", edit: edit{from: 35, to: 38, text: "        endpoints: use1-a"},
			want: `t.yaml:35: pools[0].members[0].endpoints: must be a list (got "use1-a")`},
		{name: "endpoint name absent", edit: edit{from: 36, text: "          - name: ~"},
			want: `t.yaml:36: pools[0].members[0].endpoints[0].name: required`},
		{name: "endpoint name other characters", edit: edit{from: 36, text: "          - name: use1.a"},
			want: `t.yaml:36: pools[0].members[0].endpoints[0].name: must be lower-case letters, digits and "-" (got "use1.a")`},
		{name: "endpoint name duplicate", edit: edit{from: 38, text: steeringBase[37] +
			"\n          - {name: use1-a, addresses: [192.0.2.11]}"},
			want: `t.yaml:39: pools[0].members[0].endpoints[1].name: duplicate of pools[0].members[0].endpoints[0] ("use1-a")`},
		{name: "endpoint unknown key", edit: edit{from: 38, text: "            wieght: 2"},
			want: `t.yaml:38: pools[0].members[0].endpoints[0].wieght: unknown key (did you mean "weight"?)`},
		{name: "addresses empty", edit: edit{from: 37, text: "            addresses: []"},
			want: `t.yaml:37: pools[0].members[0].endpoints[0].addresses: at least one address required`},
		{name: "addresses absent", edit: edit{from: 37, text: absent},
			want: `t.yaml:36: pools[0].members[0].endpoints[0].addresses: at least one address required`},
		{name: "address not an IP", edit: edit{from: 37, text: `            addresses: [192.0.2.10, "2001:db8::zz"]`},
			want: `t.yaml:37: pools[0].members[0].endpoints[0].addresses[1]: not an IP address "2001:db8::zz"`},
		{name: "address on its own line", edit: edit{from: 37, text: "            addresses:\n              - 192.0.2.10\n              - 192.0.2.300"},
			want: `t.yaml:39: pools[0].members[0].endpoints[0].addresses[1]: not an IP address "192.0.2.300"`},
		{name: "address unspecified", edit: edit{from: 37, text: `            addresses: ["::"]`},
			want: `t.yaml:37: pools[0].members[0].endpoints[0].addresses[0]: must not be the unspecified address (got "::")`},
		{name: "address multicast", edit: edit{from: 37, text: "            addresses: [224.0.0.1]"},
			want: `t.yaml:37: pools[0].members[0].endpoints[0].addresses[0]: must not be a multicast address (got "224.0.0.1")`},
		{name: "address IPv4-mapped", edit: edit{from: 37, text: `            addresses: ["::ffff:192.0.2.10"]`},
			want: `t.yaml:37: pools[0].members[0].endpoints[0].addresses[0]: must not be an IPv4-mapped IPv6 address (got "::ffff:192.0.2.10"; did you mean "192.0.2.10"?)`},
		{name: "address with a zone", edit: edit{from: 37, text: `            addresses: ["fe80::1%eth0"]`},
			want: `t.yaml:37: pools[0].members[0].endpoints[0].addresses[0]: must not have an IPv6 zone (got "fe80::1%eth0")`},
		{name: "address twice", edit: edit{from: 37, text: `            addresses: ["2001:db8::1", "2001:DB8:0::1"]`},
			want: `t.yaml:37: pools[0].members[0].endpoints[0].addresses[1]: duplicate of pools[0].members[0].endpoints[0].addresses[0] ("2001:db8::1")`},
		{name: "address not a string", edit: edit{from: 37, text: "            addresses: [192.0.2.10, 5]"},
			want: `t.yaml:37: pools[0].members[0].endpoints[0].addresses[1]: must be a string (got 5)`},
		{name: "weight zero", edit: edit{from: 38, text: "            weight: 0"},
			want: `t.yaml:38: pools[0].members[0].endpoints[0].weight: must be at least 1 (got 0)`},
		{name: "weight not a number", edit: edit{from: 38, text: "            weight: heavy"},
			want: `t.yaml:38: pools[0].members[0].endpoints[0].weight: must be an integer (got "heavy")`},

		// References when a region name is itself wrong: no guesses at it.
		{name: "reference to a bad region name", edit: edit{from: 9, text: "  - name: EU-West"},
			want: `t.yaml:9: regions[1].name: must be lower-case letters, digits and "-" (got "EU-West"; did you mean "eu-west"?)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.data)
			if tc.data == "" {
				data = edited(t, tc.edit)
			}
			c, err := Parse("t.yaml", data, nil)
			if err == nil {
				t.Fatalf("Parse: no error, got %+v", c)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("Parse error:\n got  %s\n want %s\nfile:\n%s", got, tc.want, data)
			}
		})
	}
}

// TestSteeringValid covers the forms and edges the rules must accept, the
// defaults and the normalisation.
func TestSteeringValid(t *testing.T) {
	clearEnv(t)
	pool := func(c *Config) PoolConfig { return c.Pools[0] }
	endpoint := func(c *Config) EndpointConfig { return c.Pools[0].Members[0].Endpoints[0] }
	tests := []struct {
		name string
		edit edit
		got  func(c *Config) any
		want any
	}{
		{"codes in lower case", edit{from: 7, to: 8, text: "    country: us\n    continent: na"},
			func(c *Config) any { return c.Regions[0] },
			RegionConfig{Name: "us-east", Latitude: 39.04, Longitude: -77.49, Country: "US", Continent: "NA"}},
		{"coordinates at the edges", edit{from: 5, to: 6, text: "    latitude: -90\n    longitude: 180"},
			func(c *Config) any { return [2]float64{c.Regions[0].Latitude, c.Regions[0].Longitude} }, [2]float64{-90, 180}},
		{"coordinates quoted", edit{from: 5, to: 6, text: `    latitude: "39.5"` + "\n" + `    longitude: "-77"`},
			func(c *Config) any { return [2]float64{c.Regions[0].Latitude, c.Regions[0].Longitude} }, [2]float64{39.5, -77}},
		{"map keys in lower case", edit{from: 25, to: 26, text: "    country_map: {gb: eu-west}\n    continent_map: {oc: us-east}"},
			func(c *Config) any { return [2]map[string]string{pool(c).CountryMap, pool(c).ContinentMap} },
			[2]map[string]string{{"GB": "eu-west"}, {"OC": "us-east"}}},
		{"maps empty", edit{from: 25, to: 26, text: "    country_map: {}\n    continent_map: ~"},
			func(c *Config) any { return [2]map[string]string{pool(c).CountryMap, pool(c).ContinentMap} },
			[2]map[string]string{nil, nil}},
		{"fence codes in lower case", edit{from: 29, to: 30, text: "        countries: [ch, No]\n        continents: [eu]"},
			func(c *Config) any { return pool(c).Fences[0] },
			FenceConfig{Name: "eu-residency", Countries: []string{"CH", "NO"}, Continents: []string{"EU"}, Regions: []string{"eu-west"}}},
		{"fence by country only", edit{from: 29, to: 30, text: "        countries: [GB]"},
			func(c *Config) any { return pool(c).Fences[0].Countries }, []string{"GB"}},
		{"no fences", edit{from: 27, to: 31, text: "    fences: []"},
			func(c *Config) any { return pool(c).Fences }, []FenceConfig(nil)},
		{"defaults", edit{from: 21, to: 24, text: absent},
			func(c *Config) any {
				p := pool(c)
				return []any{p.TTL, p.Answers, p.Fallback, p.FallbackAddrs}
			},
			[]any{uint32(30), 1, "fail_open", []netip.Addr(nil)}},
		{"ttl edges", edit{from: 21, text: "    ttl: 86400"}, func(c *Config) any { return pool(c).TTL }, uint32(86400)},
		{"ttl zero", edit{from: 21, text: "    ttl: 0"}, func(c *Config) any { return pool(c).TTL }, uint32(0)},
		{"ttl quoted", edit{from: 21, text: `    ttl: "60"`}, func(c *Config) any { return pool(c).TTL }, uint32(60)},
		{"answers many", edit{from: 22, text: "    answers: 8"}, func(c *Config) any { return pool(c).Answers }, 8},
		{"fallback case folded", edit{from: 23, text: "    fallback: SERVFAIL"},
			func(c *Config) any { return pool(c).Fallback }, "servfail"},
		{"fallback addresses", edit{from: 23, to: 24, text: "    fallback: fallback_addresses\n    fallback_addresses: [192.0.2.99, \"2001:db8::99\"]"},
			func(c *Config) any { return []any{pool(c).Fallback, pool(c).FallbackAddrs} },
			[]any{"fallback_addresses", addrs("192.0.2.99", "2001:db8::99")}},
		{"fallback addresses kept with fail_open", edit{from: 24, text: "    fallback_addresses: 192.0.2.99"},
			func(c *Config) any { return pool(c).FallbackAddrs }, addrs("192.0.2.99")},
		{"bias_km edges", edit{from: 34, text: "        bias_km: -20000"},
			func(c *Config) any { return c.Pools[0].Members[0].BiasKm }, -20000.0},
		{"bias_km default", edit{from: 34, text: absent},
			func(c *Config) any { return c.Pools[0].Members[0].BiasKm }, 0.0},
		{"addresses as one string", edit{from: 37, text: `            addresses: "192.0.2.10, 2001:db8:1::10"`},
			func(c *Config) any { return endpoint(c).Addrs }, addrs("192.0.2.10", "2001:db8:1::10")},
		{"addresses canonical", edit{from: 37, text: `            addresses: ["2001:DB8:1:0::10"]`},
			func(c *Config) any { return []any{endpoint(c).Addresses, endpoint(c).Addrs} },
			[]any{[]string{"2001:DB8:1:0::10"}, addrs("2001:db8:1::10")}},
		{"loopback address", edit{from: 37, text: "            addresses: [127.0.0.1]"},
			func(c *Config) any { return endpoint(c).Addrs }, addrs("127.0.0.1")},
		{"weight default", edit{from: 38, text: absent}, func(c *Config) any { return endpoint(c).Weight }, 1},
		{"weight large", edit{from: 38, text: "            weight: 1000"}, func(c *Config) any { return endpoint(c).Weight }, 1000},
		{"endpoints by alias", edit{from: 35, to: last, text: "        endpoints: &eps\n" +
			"          - {name: a, addresses: [192.0.2.1]}\n      - region: eu-west\n        endpoints: *eps"},
			func(c *Config) any { return c.Pools[0].Members[1].Endpoints[0].Addrs }, addrs("192.0.2.1")},
		{"a region in no pool", edit{from: 14, to: 18, text: "  - {name: ap-southeast, latitude: 1.29, longitude: 103.85, country: SG, continent: AS}"},
			func(c *Config) any { return c.Regions[2].Name }, "ap-southeast"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", edited(t, tc.edit), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestNoSteering: regions and pools are optional.
func TestNoSteering(t *testing.T) {
	clearEnv(t)
	for _, data := range []string{
		"node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n",
		"node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\nregions: []\npools: ~\n",
		"node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\ngeo: ~\necs: {}\nregions:\npools: []\n",
	} {
		c, err := Parse("t.yaml", []byte(data), nil)
		if err != nil {
			t.Fatalf("Parse(%q): %v", data, err)
		}
		if c.Regions != nil || c.Pools != nil {
			t.Errorf("Parse(%q): regions %v, pools %v", data, c.Regions, c.Pools)
		}
	}
}

// TestSteeringFileOnly: regions and pools cannot come from the environment,
// and their YAML errors are reported like any key's.
func TestSteeringFileOnly(t *testing.T) {
	clearEnv(t)
	t.Setenv("AYA_REGIONS", "us-east")
	t.Setenv("AYA_POOLS", "[]")
	c, err := Parse("t.yaml", edited(t, edit{from: 1, text: steeringBase[0]}), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(c.Regions) != 3 || len(c.Pools) != 1 {
		t.Errorf("the environment changed regions or pools: %d regions, %d pools", len(c.Regions), len(c.Pools))
	}

	for _, tc := range []struct{ data, want string }{
		{"regions: &r [*r]\n", `t.yaml:1: regions[0]: must be a mapping of keys (got a list)`},
		{"pools:\n  - name: !!int web\n", "t.yaml:2: pools[0].name: must be a string (got web)"},
	} {
		_, err := Parse("t.yaml", []byte(tc.data), nil)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want+"\n") {
			t.Errorf("Parse(%q):\n got  %v\n want %s first", tc.data, err, tc.want)
		}
	}
}

// TestItemFields keeps the fields the decoder accepts in step with the
// mapstructure tags of the item types, and with what docs/configuration.md
// lists.
func TestItemFields(t *testing.T) {
	tests := []struct {
		typ    reflect.Type
		fields []string
	}{
		{reflect.TypeFor[RegionConfig](), regionFields},
		{reflect.TypeFor[PoolConfig](), poolFields},
		{reflect.TypeFor[FenceConfig](), fenceFields},
		{reflect.TypeFor[MemberConfig](), memberFields},
		{reflect.TypeFor[EndpointConfig](), endpointFields},
	}
	// A check's keys are the yaml tags of the probes package's type; the
	// decoder accepts those, in that order.
	if want := []string{"kind", "port", "method", "path", "host", "expect_status", "body_match", "tls_server_name",
		"tls_insecure_skip_verify", "tls_ca_file", "interval", "jitter", "timeout", "rise", "fall"}; !slices.Equal(checkFields, want) {
		t.Errorf("check fields %v, want %v", checkFields, want)
	}
	for _, tc := range tests {
		var tags []string
		for f := range tc.typ.Fields() {
			switch tag := f.Tag.Get("mapstructure"); tag {
			case "":
				t.Errorf("%s.%s has no mapstructure tag", tc.typ.Name(), f.Name)
			case "-":
			default:
				tags = append(tags, tag)
			}
		}
		if !slices.Equal(tags, tc.fields) {
			t.Errorf("%s: tags %v, decoder accepts %v", tc.typ.Name(), tags, tc.fields)
		}
	}
}

func TestRegionPool(t *testing.T) {
	clearEnv(t)
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := c.Region("eu-west"); !ok || r.Country != "IE" {
		t.Errorf(`Region("eu-west") = %+v, %v`, r, ok)
	}
	if r, ok := c.Region("eu-wset"); ok || !reflect.DeepEqual(r, RegionConfig{}) {
		t.Errorf(`Region("eu-wset") = %+v, %v`, r, ok)
	}
	if p, ok := c.Pool("web"); !ok || len(p.Members) != 3 {
		t.Errorf(`Pool("web") = %+v, %v`, p, ok)
	}
	if p, ok := c.Pool("Web"); ok || p.Name != "" {
		t.Errorf(`Pool("Web") = %+v, %v`, p, ok)
	}
}

// TestAliasBudget: aliases that would expand a small file into 10^8 values
// (a "billion laughs") stop with one error instead of running for minutes.
func TestAliasBudget(t *testing.T) {
	clearEnv(t)
	hundred := func(item string) string { return "[" + strings.TrimSuffix(strings.Repeat(item+", ", 100), ", ") + "]" }
	data := "node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n" +
		"regions: [{name: r, latitude: 0, longitude: 0, country: US, continent: NA}]\n" +
		"anchors:\n" +
		"  a: &a " + hundred("192.0.2.1") + "\n" +
		"  e: &e " + hundred("{name: e, addresses: *a}") + "\n" +
		"  m: &m " + hundred("{region: r, endpoints: *e}") + "\n" +
		"pools: " + hundred("{name: p, members: *m}") + "\n"
	start := time.Now()
	_, err := Parse("t.yaml", []byte(data), nil)
	want := "t.yaml:4: anchors: unknown key\n" +
		"t.yaml:8: pools: more than 100000 values, counting each use of an alias: aliases expanding too far?"
	if err == nil || err.Error() != want {
		t.Fatalf("Parse error:\n got  %.2000v\n want %s", err, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %v", d)
	}
}

// TestNodeDesc: every "(got …)" stays one token on one line.
func TestNodeDesc(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct{ val, want string }{
		{`5`, `5`},
		{`true`, `true`},
		{`!!int "1\n2"`, `"1\n2"`},
		{`!x ""`, `""`},
		{`[a]`, `a list`},
		{`{a: b}`, `a mapping`},
	} {
		data := edited(t, edit{from: 36, text: "          - name: " + tc.val})
		_, err := Parse("t.yaml", data, nil)
		want := "t.yaml:36: pools[0].members[0].endpoints[0].name: must be a string (got " + tc.want + ")"
		if err == nil || err.Error() != want {
			t.Errorf("name: %s:\n got  %v\n want %s", tc.val, err, want)
		}
	}
}
