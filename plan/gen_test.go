package plan

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/aya-gslb/aya/geo"
)

// genCountries are the countries the generated databases place networks
// in, roughly in the proportions of the Internet's networks.
var genCountries = []string{
	"US", "US", "US", "US", "US", "CN", "CN", "JP", "DE", "DE", "GB", "GB", "FR", "KR", "BR", "BR",
	"IN", "IN", "CA", "IT", "NL", "RU", "AU", "ES", "SE", "PL", "MX", "ZA", "AR", "SG", "IE", "NG",
}

// genDatabase writes a GeoIP2-City layout database of about v4 IPv4 and v6
// IPv6 networks with mmdbwriter, in the shape of GeoLite2 City: networks
// mostly /24 (IPv4) and /32 to /48 (IPv6), runs of neighbours in one city,
// gaps between, a few thousand distinct city records. It returns the file's
// path. The same sizes always give the same database.
func genDatabase(tb testing.TB, v4, v6 int) string {
	tb.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoIP2-City",
		Description:             map[string]string{"en": "aya plan test database"},
		Languages:               []string{"en"},
		IPVersion:               6,
		RecordSize:              28,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(v4), uint64(v6)))
	cities := make([]mmdbtype.Map, 4000)
	for i := range cities {
		cc := genCountries[i%len(genCountries)]
		lat, lon, continent, _ := geo.Centroid(cc)
		cities[i] = mmdbtype.Map{
			"location": mmdbtype.Map{
				"latitude":  mmdbtype.Float64(max(-90, min(90, lat+rng.NormFloat64()*3))),
				"longitude": mmdbtype.Float64(max(-180, min(180, lon+rng.NormFloat64()*5))),
			},
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String(cc)},
			"continent": mmdbtype.Map{"code": mmdbtype.String(continent)},
		}
	}
	city := rng.IntN(len(cities))
	insert := func(ip net.IP, bits, size int) {
		if rng.IntN(3) == 0 {
			city = rng.IntN(len(cities)) // a new run of neighbours
		}
		if err := tree.Insert(&net.IPNet{IP: ip, Mask: net.CIDRMask(bits, size)}, cities[city]); err != nil {
			tb.Fatal(err)
		}
	}
	// IPv4 from 1.0.0.0 up, below 224.0.0.0.
	lens4 := []int{24, 24, 24, 24, 24, 24, 23, 22, 21, 20, 25, 26, 27, 28, 29, 32}
	cur := uint64(1) << 24
	for i := range v4 {
		bits := lens4[rng.IntN(len(lens4))]
		for cur%(1<<(32-bits)) != 0 {
			bits++
		}
		if cur+1<<(32-bits) > 224<<24 {
			tb.Fatalf("IPv4 space used up after %d networks", i)
		}
		insert(net.IPv4(byte(cur>>24), byte(cur>>16), byte(cur>>8), byte(cur)).To4(), bits, 32)
		cur += 1 << (32 - bits)
		if bits > 24 {
			// One network longer than /24 per /24: neighbours that share
			// a /24 share the client of an ECS query, which the plan
			// decides once; this keeps the generated database from
			// flattering it.
			cur = (cur + 0xff) &^ 0xff
		}
		if rng.IntN(10) == 0 {
			cur += 1 << (32 - bits) // a gap
		}
	}
	// IPv6 from 2400::, clear of the aliased 2001::/32 and 2002::/16; the
	// upper 64 bits only.
	lens6 := []int{32, 32, 29, 36, 40, 44, 48, 48, 48, 48, 56, 64}
	hi := uint64(0x2400) << 48
	for range v6 {
		bits := lens6[rng.IntN(len(lens6))]
		for hi%(1<<(64-bits)) != 0 {
			bits++
		}
		ip := make(net.IP, 16)
		for i := range 8 {
			ip[i] = byte(hi >> (56 - 8*i))
		}
		insert(ip, bits, 128)
		hi += 1 << (64 - bits)
		if bits > 56 {
			hi = (hi + 0xff) &^ 0xff // one per /56, as for IPv4
		}
		if rng.IntN(10) == 0 {
			hi += 1 << (64 - bits)
		}
	}
	path := filepath.Join(tb.TempDir(), "gen.mmdb")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// openDB opens the database at path.
func openDB(tb testing.TB, cfg geo.Config) *geo.DB {
	tb.Helper()
	db, err := geo.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}
