package geo

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	want := []Network{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Latitude: 51.5142, Longitude: -0.0931, Country: "GB", Continent: "EU", City: "London"},
		{Prefix: netip.MustParsePrefix("2001:218::/32"), Latitude: 35.68536, Longitude: 139.75309, Country: "JP", Continent: "AS"},
		{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Latitude: -1.5, Longitude: 2},
		{Prefix: netip.MustParsePrefix("::1/128"), Latitude: 0, Longitude: 180, Continent: "OC"},
	}
	for _, tc := range []struct{ name, src string }{
		{"nets.yaml", `
# comments are fine
- network: 81.2.69.0/24
  latitude: 51.5142
  longitude: -0.0931
  country: gb          # any case; the continent comes from the country
  city: London
- {network: 2001:218::/32, latitude: 35.68536, longitude: 139.75309, country: JP, continent: AS}
- {network: 192.0.2.1, latitude: -1.5, longitude: 2}
- {network: "::1/128", latitude: 0, longitude: 180, continent: oc}
`},
		{"nets.yml", "- {network: 81.2.69.0/24, latitude: 51.5142, longitude: -0.0931, country: GB, continent: EU, city: London}\n" +
			"- {network: 2001:218::/32, latitude: 35.68536, longitude: 139.75309, country: JP}\n" +
			"- {network: 192.0.2.1/32, latitude: -1.5, longitude: 2}\n" +
			"- {network: \"::1\", latitude: 0, longitude: 180, continent: OC}\n"},
		{"nets.csv", "\xEF\xBB\xBF" + `network,latitude,longitude,country,continent,city
# comments are fine
81.2.69.0/24,51.5142,-0.0931,GB,,London
2001:218::/32, 35.68536, 139.75309, JP, AS,
192.0.2.1,-1.5,2,,,
::1/128,0,180,,oc,
`},
		{"columns.CSV", `city,longitude,latitude,network,country
London,-0.0931,51.5142,81.2.69.0/24,GB
,139.75309,35.68536,2001:218::/32,JP
,2,-1.5,192.0.2.1/32,
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSource(strings.NewReader(tc.src), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			w := want
			if tc.name == "columns.CSV" {
				w = want[:3] // no continent column: the last row would need one
			}
			if !slices.Equal(got, w) {
				t.Errorf("ParseSource\n got %+v\nwant %+v", got, w)
			}
		})
	}
	for _, name := range []string{"empty.yaml", "empty.csv"} {
		if got, err := ParseSource(strings.NewReader(""), name); err != nil || len(got) != 0 {
			t.Errorf("ParseSource(%s) = %v, %v; want nothing", name, got, err)
		}
	}
}

// TestParseSourceErrors pins the messages: each names file:line.
func TestParseSourceErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, src string
		want            []string
	}{
		{"format", "nets.json", `[]`, []string{"nets.json: unknown source format: want a .yaml, .yml or .csv file"}},
		{"yaml syntax", "s.yaml", "- {network: 10.0.0.0/8\n- x", []string{"s.yaml:2: did not find expected ',' or '}'"}},
		{"yaml not a list", "s.yaml", "network: 10.0.0.0/8\n", []string{"s.yaml:1: want a list of networks"}},
		{"yaml entry not a mapping", "s.yaml", "- 10.0.0.0/8\n", []string{"s.yaml:1: want a mapping of network, latitude, longitude, country, continent, city"}},
		{"yaml unknown key", "s.yaml", "- network: 10.0.0.0/8\n  latitude: 1\n  longitude: 2\n  lattitude: 3\n",
			[]string{`s.yaml:4: unknown key "lattitude": want network, latitude, longitude, country, continent, city`}},
		{"yaml UK", "s.yaml", "- {network: 10.0.0.0/8, latitude: 1, longitude: 2, country: uk}\n",
			[]string{`s.yaml:1: country "uk": not an ISO 3166-1 alpha-2 code (did you mean "GB"?)`}},
		{"yaml key twice", "s.yaml", "- {network: 10.0.0.0/8, latitude: 1, longitude: 2, latitude: 3}\n", []string{"s.yaml:1: latitude given twice"}},
		{"yaml list value", "s.yaml", "- network: 10.0.0.0/8\n  latitude: [1]\n  longitude: 2\n", []string{"s.yaml:2: latitude: want a single value"}},
		{"yaml region is for overrides", "s.yaml", "- {network: 10.0.0.0/8, region: eu}\n",
			[]string{`s.yaml:1: unknown key "region": want network, latitude, longitude, country, continent, city`}},
		{"yaml several", "s.yaml", `
- network: 10.0.0.1/8
  latitude: 1
  longitude: 2
- network: 10.1.0.0/16
  latitude: 91
  longitude: 2
- network: 10.2.0.0/16
  latitude: 1
- network: 10.3.0.0/16
  latitude: 1
  longitude: 2
  country: XX
  continent: EA
- latitude: 1
  longitude: 2
- {network: 10.4.0.0/16, latitude: 1, longitude: nan}
- {network: 10.5.0.0/16, latitude: 1, longitude: 2}
- {network: 10.5.0.0/16, latitude: 3, longitude: 4}
- {network: 2002:a00::/24, latitude: 3, longitude: 4}
- {network: "::ffff:10.0.0.0/104", latitude: 3, longitude: 4}
- {network: fe80::1%eth0, latitude: 3, longitude: 4}
- {network: 10.6.0.0/33, latitude: 3, longitude: 4}
- {network: "::0.0.0.0/96", latitude: 3, longitude: 4}
- {network: 0.0.0.0/0, latitude: 3, longitude: 4}
`, []string{
			"s.yaml:2: network 10.0.0.1/8 has host bits set: the network is 10.0.0.0/8",
			`s.yaml:6: latitude "91": want a number from -90 to 90`,
			"s.yaml:8: network 10.2.0.0/16: latitude and longitude are required",
			`s.yaml:13: country "XX": not an ISO 3166-1 alpha-2 code`,
			`s.yaml:14: continent "EA": want one of AF AN AS EU NA OC SA`,
			"s.yaml:15: network is required",
			`s.yaml:17: longitude "nan": want a number from -180 to 180`,
			"s.yaml:19: network 10.5.0.0/16 is also on line 18",
			"s.yaml:20: network 2002:a00::/24 is inside 2002::/16, which MaxMind DBs alias to IPv4: list IPv4 networks instead",
			"s.yaml:21: network ::ffff:10.0.0.0/104 is IPv4-mapped: write it 10.0.0.0/8",
			`s.yaml:22: network "fe80::1%eth0": not a CIDR prefix or an address`,
			`s.yaml:23: network "10.6.0.0/33": not a CIDR prefix or an address`,
			"s.yaml:25: network 0.0.0.0/0 is the same as ::/96 on line 24 (a MaxMind DB keeps IPv4 at ::/96)",
		}},
		{"csv no header", "s.csv", "10.0.0.0/8,1,2\n", []string{`s.csv:1: header: unknown column "10.0.0.0/8": want network, latitude, longitude, country, continent, city`}},
		{"csv header missing a column", "s.csv", "network,latitude,city\n", []string{`s.csv:1: header: column "longitude" is required (header: network, latitude, longitude, country, continent, city)`}},
		{"csv header column twice", "s.csv", "network,latitude,longitude,latitude\n", []string{`s.csv:1: header: column "latitude" given twice`}},
		{"csv quotes", "s.csv", "network,latitude,longitude\n10.0.0.0/8,\"1,2\n", []string{`s.csv:2: extraneous or missing " in quoted-field`}},
		{"csv several", "s.csv", `# header next
network,latitude,longitude,country
10.0.0.0/8,1,2,GB
10.1.0.0/16,1
10.2.0.0/16,,2,FR
10.3.0.0/16,x,2,FR
10.0.0.0/8,3,4,
`, []string{
			"s.csv:4: 2 fields, want 4 (network,latitude,longitude,country)",
			"s.csv:5: network 10.2.0.0/16: latitude and longitude are required",
			`s.csv:6: latitude "x": want a number from -90 to 90`,
			"s.csv:7: network 10.0.0.0/8 is also on line 3",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nets, err := ParseSource(strings.NewReader(tc.src), tc.file)
			if err == nil {
				t.Fatalf("ParseSource succeeded: %v", nets)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("ParseSource errors:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
			for _, e := range unjoin(err) {
				if pe := (*ParseError)(nil); !errors.As(e, &pe) || pe.File != tc.file {
					t.Errorf("%v: not a *ParseError of %s", e, tc.file)
				}
			}
		})
	}
}

// unjoin returns the errors of a joined error, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// FuzzParseSource: no input makes ParseSource panic; every error is a
// *ParseError of the file; what it accepts, Build compiles, and a lookup of
// each network's first address finds that network or a more specific one.
func FuzzParseSource(f *testing.F) {
	f.Add(false, "- {network: 81.2.69.0/24, latitude: 51.5142, longitude: -0.0931, country: GB, continent: EU, city: London}\n- {network: 81.2.69.160/27, latitude: 1, longitude: 2}\n")
	f.Add(false, "- network: \"::1/128\"\n  latitude: 0\n  longitude: 180\n  continent: oc\n")
	f.Add(false, "- {network: 10.0.0.1/8, latitude: 91, longitude: x, country: XX}\n- [1, 2]\n- {network: 2002::/16}\n")
	f.Add(false, "- &a {network: 0.0.0.0/0, latitude: 1, longitude: 2}\n- *a\n")
	f.Add(true, "network,latitude,longitude,country,continent,city\n81.2.69.0/24,51.5142,-0.0931,GB,EU,London\n2000::/3,1,2,,,\n")
	f.Add(true, "city,network,latitude,longitude\n\"a,b\",10.0.0.0/8,1,2\n# c\n10.0.0.0/8,1\n")
	f.Fuzz(func(t *testing.T, csv bool, src string) {
		name := "fuzz.yaml"
		if csv {
			name = "fuzz.csv"
		}
		nets, err := ParseSource(strings.NewReader(src), name)
		if err != nil {
			for _, e := range unjoin(err) {
				var pe *ParseError
				if !errors.As(e, &pe) || pe.File != name || pe.Line < 0 {
					t.Fatalf("error %q is not a *ParseError of %s", e, name)
				}
			}
			return
		}
		var buf bytes.Buffer
		if err := Build(&buf, nets); err != nil {
			t.Fatalf("Build of accepted networks %v: %v", nets, err)
		}
		db, err := openDatabase(buf.Bytes(), true)
		if err != nil {
			t.Fatalf("open what Build wrote: %v", err)
		}
		st := &state{db: db}
		for _, n := range nets {
			got := st.lookup(n.Prefix.Addr())
			if !got.Network.IsValid() || got.Network.Bits() < n.Prefix.Bits() || !n.Prefix.Contains(got.Network.Addr()) {
				t.Fatalf("Lookup(%s) = %+v: not within %s", n.Prefix.Addr(), got, n.Prefix)
			}
			if got.Network.Bits() == n.Prefix.Bits() && (got.Source != SourceCity || got.Latitude != n.Latitude ||
				got.Longitude != n.Longitude || got.Country != n.Country || got.Continent != n.Continent) {
				t.Fatalf("Lookup(%s) = %+v, want %+v", n.Prefix.Addr(), got, n)
			}
		}
	})
}
