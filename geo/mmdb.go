package geo

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// database is one MaxMind DB, read whole into memory (not memory-mapped: a
// file replaced or truncated in place cannot pull pages from under a
// lookup, and a reload never races with an unmap).
type database struct {
	reader *maxminddb.Reader
	// data decodes the data section; lookups read the few fields they need
	// through it instead of decoding whole GeoIP2 records.
	data   *mmdbdata.Decoder
	v4only bool
	// cache holds the records lookups decoded last.
	cache recordCache
}

// metadataMarker starts the metadata section of a MaxMind DB (spec §"Database
// Metadata").
var metadataMarker = []byte("\xAB\xCD\xEFMaxMind.com")

// openDatabase checks buf as a MaxMind DB and opens it: of a City or
// Country type, with a layout that holds together (OpenBytes decodes the
// metadata and checks that the search tree fits in the file; here the data
// section's separator and bounds are checked and a few addresses looked
// up), and when verify is set, well-formed throughout (Reader.Verify walks
// the whole tree and every record, so that a corrupt file is refused here
// rather than failing lookups later). Without verify, a lookup still never
// reads out of bounds: the reader checks every node and data offset
// against the buffer (FuzzOpenDatabase holds it to that).
func openDatabase(buf []byte, verify bool) (*database, error) {
	r, err := maxminddb.OpenBytes(buf)
	if err != nil {
		return nil, fmt.Errorf("not a valid MaxMind DB file: %w", err)
	}
	md := r.Metadata
	if !supportedType(md.DatabaseType) {
		return nil, fmt.Errorf("unsupported database type %q: want a City or Country database (GeoIP2, GeoLite2 or compatible)", md.DatabaseType)
	}
	if verify {
		if err := r.Verify(); err != nil {
			return nil, fmt.Errorf("corrupt MaxMind DB file: %w", err)
		}
	}
	// The data section lies between the search tree (and its 16-byte
	// separator) and the metadata; OpenBytes has checked these bounds.
	end := bytes.LastIndex(buf, metadataMarker)
	start := md.NodeCount*md.RecordSize/4 + 16
	if end < 0 || start > uint(end) {
		return nil, errors.New("corrupt MaxMind DB file: no data section")
	}
	if sep := buf[start-16 : start]; !bytes.Equal(sep, make([]byte, 16)) {
		return nil, errors.New("corrupt MaxMind DB file: no data section separator after the search tree")
	}
	db := &database{
		reader: r,
		data:   mmdbdata.NewDecoder(buf[start:end], 0),
		v4only: md.IPVersion == 4,
	}
	if !verify {
		if err := db.probe(); err != nil {
			return nil, fmt.Errorf("corrupt MaxMind DB file: %w", err)
		}
	}
	return db, nil
}

// probes are addresses spread over the address space, looked up when a
// database is opened without the whole walk: a tree or records broken at
// the top show at once.
var probes = []netip.Addr{
	netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("81.2.69.142"),
	netip.MustParseAddr("128.101.101.101"), netip.MustParseAddr("216.160.83.56"),
	netip.MustParseAddr("2001:4860:4860::8888"), netip.MustParseAddr("2a02:ff0::1"), netip.MustParseAddr("2400:cb00::1"),
}

// probe looks up the probe addresses and reads over their records: what
// Reader.Verify checks of the same paths, so that a database that Verify
// passes always passes probe.
func (db *database) probe() error {
	for _, a := range probes {
		if db.v4only && a.Is6() {
			continue
		}
		res := db.reader.Lookup(a)
		if err := res.Err(); err != nil {
			return fmt.Errorf("lookup %s: %w", a, err)
		}
		if !res.Found() {
			continue
		}
		if _, err := db.data.CursorAt(uint(res.Offset())).Skip(); err != nil {
			return fmt.Errorf("record of %s: %w", a, err)
		}
	}
	return nil
}

// supportedType reports whether a database_type holds GeoIP2 City or
// Country records: the MaxMind names (GeoIP2-City, GeoLite2-Country,
// GeoIP2-Enterprise, …) and the compatible DB-IP ones.
func supportedType(t string) bool {
	t = strings.ToLower(t)
	return strings.Contains(t, "city") || strings.Contains(t, "country") ||
		strings.Contains(t, "enterprise") || strings.Contains(t, "location")
}

// record is the part of a GeoIP2 City or Country record that placing a
// client needs.
type record struct {
	lat, lon       float64
	hasLat, hasLon bool
	// country is country.iso_code, registered is registered_country.iso_code
	// (the fallback when a record has no country), continent is continent.code.
	country, registered, continent string
}

// lookup finds a's record. network is the matched network, or the largest
// network around a that has no record when found is false; it is invalid
// only if the lookup failed.
func (db *database) lookup(a netip.Addr) (rec record, network netip.Prefix, found bool) {
	if db.v4only && a.Is6() {
		// An IPv4 database knows nothing of IPv6.
		return rec, netip.PrefixFrom(netip.IPv6Unspecified(), 0), false
	}
	res := db.reader.Lookup(a)
	if res.Err() != nil {
		return rec, netip.Prefix{}, false
	}
	network = res.Prefix()
	if a.Is4() && !network.Addr().Is4() {
		// The tree ends above the IPv4 subtree (::/96): the answer holds
		// for all of IPv4.
		network = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	if !res.Found() {
		return rec, network, false
	}
	off := uint(res.Offset())
	if rec, ok := db.cache.get(off); ok {
		return rec, network, true
	}
	rec, err := decodeRecord(db.data, off)
	if err == nil {
		db.cache.put(off, rec)
	}
	if err != nil {
		// Verify vouched for every record at open; should one still not
		// decode, the client is treated as unknown rather than misplaced.
		return record{}, network, false
	}
	return rec, network, true
}

// decodeRecord reads the record at off, skipping the fields it does not need
// (names in every language, subdivisions, postal, traits…): no allocation
// and no reflection, unlike decoding whole geoip2.City values.
func decodeRecord(d *mmdbdata.Decoder, off uint) (record, error) {
	var r record
	m, err := d.CursorAt(off).Map()
	if err != nil {
		return r, err
	}
	var next mmdbdata.Cursor
	for key, val, ok := m.Next(next); ok; key, val, ok = m.Next(next) {
		// The successor first: for the usual pointer to a shared map it
		// costs nothing, and the map itself is then read only as far as
		// needed.
		if next, err = val.Skip(); err != nil {
			return r, err
		}
		switch string(key) {
		case "location":
			err = r.decodeLocation(val)
		case "country":
			r.country, err = decodeCode(val, "iso_code")
		case "continent":
			r.continent, err = decodeCode(val, "code")
		case "registered_country":
			r.registered, err = decodeCode(val, "iso_code")
		}
		if err != nil {
			return r, err
		}
		if r.hasLat && r.hasLon && r.country != "" && r.continent != "" {
			return r, nil // all that is needed; the rest is names and traits
		}
	}
	return r, m.Err()
}

// decodeLocation reads latitude and longitude of the location map at c.
func (r *record) decodeLocation(c mmdbdata.Cursor) error {
	m, err := c.Map()
	if err != nil {
		return err
	}
	var next mmdbdata.Cursor
	for key, val, ok := m.Next(next); ok; key, val, ok = m.Next(next) {
		switch string(key) {
		case "latitude":
			r.lat, next, err = val.ReadFloat()
			r.hasLat = err == nil
		case "longitude":
			r.lon, next, err = val.ReadFloat()
			r.hasLon = err == nil
		default:
			next, err = val.Skip()
		}
		if err != nil || (r.hasLat && r.hasLon) {
			return err
		}
	}
	return m.Err()
}

// decodeCode reads the string at key of the map at c (country.iso_code,
// continent.code).
func decodeCode(c mmdbdata.Cursor, key string) (string, error) {
	m, err := c.Map()
	if err != nil {
		return "", err
	}
	var next mmdbdata.Cursor
	for k, val, ok := m.Next(next); ok; k, val, ok = m.Next(next) {
		if string(k) == key {
			// ReadMapKey reads a string (inline or through a pointer) without
			// copying it: map keys are plain strings in the MaxMind DB format.
			b, _, err := val.ReadMapKey()
			if err != nil {
				return "", err
			}
			return intern(b), nil
		}
		if next, err = val.Skip(); err != nil {
			return "", err
		}
	}
	return "", m.Err()
}
