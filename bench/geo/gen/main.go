// Command gen writes a full-size MaxMind DB in the GeoLite2 City layout, for
// the start-up bench (bench/geo/run.sh) and the geo package's benchmarks: we
// may neither ship nor fetch MaxMind's data, so this makes a database of the
// same shape and size from a seed. By default it has 4,000,000 networks
// (3,000,000 IPv4, 1,000,000 IPv6), records with the fields and the names in
// eight languages that GeoLite2 City records have, about 40,000 cities in
// 48 countries, and several records per city (accuracy radius, postal code),
// which gives a file of about the size of a GeoLite2-City.mmdb (~70 MB).
//
//	go run ./bench/geo/gen -out /dev/shm/city.mmdb
//	go run ./bench/geo/gen -networks 400000 -out small.mmdb
//
// The same seed and counts give the same file.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

func main() {
	out := flag.String("out", "", "file to write (required)")
	networks := flag.Int("networks", 4_000_000, "number of networks")
	v6share := flag.Float64("v6", 0.25, "share of the networks that are IPv6")
	cities := flag.Int("cities", 40_000, "number of distinct cities")
	variants := flag.Int("variants", 3, "records per city (accuracy radius and postal code differ)")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" || *networks < 1 || *cities < 1 || *variants < 1 || *v6share < 0 || *v6share > 1 {
		flag.Usage()
		os.Exit(2)
	}
	start := time.Now()
	g := newGen(*seed, *cities, *variants)
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-City",
		Description:             map[string]string{"en": "AYA bench database in the GeoLite2 City layout (synthetic data)"},
		Languages:               languages,
		IPVersion:               6,
		RecordSize:              28,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		fail(err)
	}
	n6 := int(float64(*networks) * *v6share)
	n4 := *networks - n6
	// IPv4: 1.0.0.0 up to 224.0.0.0 (multicast and up left out).
	if err := g.walk(tree, n4, 1<<24, 224<<24, 32, 8, func(v uint64) net.IP {
		return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
	}); err != nil {
		fail(err)
	}
	// IPv6: the high 64 bits of 2400::/6 .. 2c00::/6 (prefixes of /64 at
	// most), clear of the 2001::/32 and 2002::/16 that MaxMind DBs alias to
	// IPv4.
	if err := g.walk(tree, n6, 0x2400<<48, 0x2c00<<48, 64, 19, func(v uint64) net.IP {
		ip := make(net.IP, 16)
		for i := range 8 {
			ip[i] = byte(v >> (56 - 8*i))
		}
		return ip
	}); err != nil {
		fail(err)
	}
	built := time.Since(start)
	f, err := os.Create(*out)
	if err != nil {
		fail(err)
	}
	size, err := tree.WriteTo(f)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "gen: %s: %d networks (%d IPv4, %d IPv6), %d distinct records, %.1f MB; tree %v, total %v\n",
		*out, *networks, n4, n6, len(g.records), float64(size)/1e6, built.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}

// languages are those of GeoLite2 City's names.
var languages = []string{"de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"}

type country struct {
	iso, continent, zone string
	lat, lon             float64
}

// countries are real ones, so that the bench places clients where a region
// map would expect them.
var countries = []country{
	{"US", "NA", "America/New_York", 39.8, -98.6}, {"CA", "NA", "America/Toronto", 56.1, -106.3},
	{"MX", "NA", "America/Mexico_City", 23.6, -102.6}, {"BR", "SA", "America/Sao_Paulo", -14.2, -51.9},
	{"AR", "SA", "America/Argentina/Buenos_Aires", -38.4, -63.6}, {"CL", "SA", "America/Santiago", -35.7, -71.5},
	{"CO", "SA", "America/Bogota", 4.6, -74.3}, {"PE", "SA", "America/Lima", -9.2, -75.0},
	{"GB", "EU", "Europe/London", 55.4, -3.4}, {"IE", "EU", "Europe/Dublin", 53.4, -8.2},
	{"FR", "EU", "Europe/Paris", 46.2, 2.2}, {"DE", "EU", "Europe/Berlin", 51.2, 10.5},
	{"NL", "EU", "Europe/Amsterdam", 52.1, 5.3}, {"BE", "EU", "Europe/Brussels", 50.5, 4.5},
	{"ES", "EU", "Europe/Madrid", 40.5, -3.7}, {"PT", "EU", "Europe/Lisbon", 39.4, -8.2},
	{"IT", "EU", "Europe/Rome", 41.9, 12.6}, {"CH", "EU", "Europe/Zurich", 46.8, 8.2},
	{"AT", "EU", "Europe/Vienna", 47.5, 14.6}, {"PL", "EU", "Europe/Warsaw", 51.9, 19.1},
	{"CZ", "EU", "Europe/Prague", 49.8, 15.5}, {"SE", "EU", "Europe/Stockholm", 60.1, 18.6},
	{"NO", "EU", "Europe/Oslo", 60.5, 8.5}, {"FI", "EU", "Europe/Helsinki", 61.9, 25.7},
	{"DK", "EU", "Europe/Copenhagen", 56.3, 9.5}, {"RO", "EU", "Europe/Bucharest", 45.9, 25.0},
	{"UA", "EU", "Europe/Kyiv", 48.4, 31.2}, {"RU", "EU", "Europe/Moscow", 61.5, 105.3},
	{"TR", "AS", "Europe/Istanbul", 39.0, 35.2}, {"IL", "AS", "Asia/Jerusalem", 31.0, 34.9},
	{"AE", "AS", "Asia/Dubai", 23.4, 53.8}, {"SA", "AS", "Asia/Riyadh", 23.9, 45.1},
	{"IN", "AS", "Asia/Kolkata", 20.6, 79.0}, {"CN", "AS", "Asia/Shanghai", 35.9, 104.2},
	{"JP", "AS", "Asia/Tokyo", 36.2, 138.3}, {"KR", "AS", "Asia/Seoul", 35.9, 127.8},
	{"TW", "AS", "Asia/Taipei", 23.7, 121.0}, {"HK", "AS", "Asia/Hong_Kong", 22.4, 114.1},
	{"SG", "AS", "Asia/Singapore", 1.35, 103.8}, {"ID", "AS", "Asia/Jakarta", -0.8, 113.9},
	{"TH", "AS", "Asia/Bangkok", 15.9, 101.0}, {"VN", "AS", "Asia/Ho_Chi_Minh", 14.1, 108.3},
	{"PH", "AS", "Asia/Manila", 12.9, 121.8}, {"AU", "OC", "Australia/Sydney", -25.3, 133.8},
	{"NZ", "OC", "Pacific/Auckland", -40.9, 174.9}, {"ZA", "AF", "Africa/Johannesburg", -30.6, 22.9},
	{"NG", "AF", "Africa/Lagos", 9.1, 8.7}, {"EG", "AF", "Africa/Cairo", 26.8, 30.8},
}

var continentNames = map[string]string{"AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "North America", "OC": "Oceania", "SA": "South America"}

type gen struct {
	rng      *rand.Rand
	cities   []mmdbtype.Map // shared parts of each city's records
	variants int
	records  map[int]mmdbtype.Map // by city*variants+variant, built when first used
}

func newGen(seed uint64, cities, variants int) *gen {
	g := &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), variants: variants, records: map[int]mmdbtype.Map{}}
	conts := map[string]mmdbtype.Map{}
	for code, name := range continentNames {
		conts[code] = mmdbtype.Map{
			"code":       mmdbtype.String(code),
			"geoname_id": mmdbtype.Uint32(6255140 + uint32(len(conts))),
			"names":      g.names(name),
		}
	}
	ctry := make([]mmdbtype.Map, len(countries))
	for i, c := range countries {
		ctry[i] = mmdbtype.Map{
			"geoname_id": mmdbtype.Uint32(2_000_000 + uint32(i)*1000),
			"iso_code":   mmdbtype.String(c.iso),
			"names":      g.names(g.word(5, 12)),
		}
		if c.continent == "EU" && c.iso != "RU" && c.iso != "UA" && c.iso != "GB" && c.iso != "NO" && c.iso != "CH" {
			ctry[i]["is_in_european_union"] = mmdbtype.Bool(true)
		}
	}
	for i := range cities {
		ci := g.zipf(len(countries))
		c := countries[ci]
		sub := mmdbtype.Map{
			"geoname_id": mmdbtype.Uint32(3_000_000 + uint32(g.rng.IntN(50_000))),
			"iso_code":   mmdbtype.String(g.word(1, 3)),
			"names":      g.names(g.word(5, 14)),
		}
		g.cities = append(g.cities, mmdbtype.Map{
			"city":               mmdbtype.Map{"geoname_id": mmdbtype.Uint32(4_000_000 + uint32(i)), "names": g.names(g.word(4, 14))},
			"continent":          conts[c.continent],
			"country":            ctry[ci],
			"registered_country": ctry[g.pick(ci, len(countries))],
			"subdivisions":       mmdbtype.Slice{sub},
			"location": mmdbtype.Map{
				"latitude":  mmdbtype.Float64(math.Round(clamp(c.lat+g.rng.NormFloat64()*3, 90)*1e4) / 1e4),
				"longitude": mmdbtype.Float64(math.Round(clamp(c.lon+g.rng.NormFloat64()*4, 180)*1e4) / 1e4),
				"time_zone": mmdbtype.String(c.zone),
			},
		})
	}
	return g
}

// pick is i most of the time (a network registered where it is used), else
// another index below n.
func (g *gen) pick(i, n int) int {
	if g.rng.IntN(10) < 8 {
		return i
	}
	return g.rng.IntN(n)
}

// zipf draws an index below n, small ones far more often (a few countries
// and cities hold most networks).
func (g *gen) zipf(n int) int {
	return int(float64(n) * math.Pow(g.rng.Float64(), 2.5))
}

func clamp(v, lim float64) float64 { return max(-lim, min(lim, v)) }

// word is a made-up name of min to max letters.
func (g *gen) word(lo, hi int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	n := lo + g.rng.IntN(hi-lo+1)
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[g.rng.IntN(len(letters))]
	}
	b[0] -= 'a' - 'A'
	return string(b)
}

// names is a names map in every language, as GeoLite2 has: Latin spellings
// close to the English one, and Japanese, Russian and Chinese ones in their
// scripts (multi-byte UTF-8).
func (g *gen) names(en string) mmdbtype.Map {
	script := func(base rune, span int) mmdbtype.String {
		r := make([]rune, 2+len(en)/3)
		for i := range r {
			r[i] = base + rune(g.rng.IntN(span))
		}
		return mmdbtype.String(string(r))
	}
	return mmdbtype.Map{
		"de": mmdbtype.String(en), "en": mmdbtype.String(en), "es": mmdbtype.String(en + "a"),
		"fr": mmdbtype.String(en + "e"), "pt-BR": mmdbtype.String(en + "o"),
		"ja": script(0x30A1, 90), "ru": mmdbtype.String(string(script(0x0410, 64)) + string(script(0x0430, 32))),
		"zh-CN": script(0x4E00, 2000),
	}
}

var radii = []uint16{1, 5, 10, 20, 50, 100, 200, 500, 1000}

// record is the record of variant v of city c: the city's shared parts with
// its own accuracy radius and postal code.
func (g *gen) record() mmdbtype.Map {
	c := g.zipf(len(g.cities))
	v := g.rng.IntN(g.variants)
	key := c*g.variants + v
	if r, ok := g.records[key]; ok {
		return r
	}
	base := g.cities[c]
	loc := base["location"].(mmdbtype.Map).Copy().(mmdbtype.Map)
	loc["accuracy_radius"] = mmdbtype.Uint16(radii[v%len(radii)])
	r := mmdbtype.Map{}
	for k, val := range base {
		r[k] = val
	}
	r["location"] = loc
	r["postal"] = mmdbtype.Map{"code": mmdbtype.String(fmt.Sprintf("%05d", (c*131+v*7)%100000))}
	g.records[key] = r
	return r
}

// walk inserts n networks in address order between lo and hi (addresses of
// width bits, as integers; IPv6 as its high 64 bits), sized so that they
// spread over the whole range with small gaps, of prefix lengths from
// minBits up to width.
func (g *gen) walk(tree *mmdbwriter.Tree, n int, lo, hi uint64, width, minBits int, ip func(uint64) net.IP) error {
	cur := lo
	for i := 0; i < n && cur < hi; i++ {
		// The mean size that spreads the remaining networks over the
		// remaining space, varied by a factor of up to 8 either way.
		avg := (hi - cur) / uint64(n-i)
		l := width - (63 - bits.LeadingZeros64(max(avg, 1))) + g.rng.IntN(7) - 3
		l = max(minBits, min(width, l))
		size := uint64(1) << (width - l)
		cur = (cur + size - 1) &^ (size - 1) // align
		if cur+size > hi || cur+size < cur {
			break
		}
		if g.rng.IntN(20) == 0 {
			cur += size // a gap: space no record covers
			i--
			continue
		}
		mask := width
		if width == 64 {
			mask = 128
		}
		if err := tree.Insert(&net.IPNet{IP: ip(cur), Mask: net.CIDRMask(l, mask)}, g.record()); err != nil {
			return err
		}
		cur += size
	}
	return nil
}
