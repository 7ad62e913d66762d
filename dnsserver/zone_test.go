package dnsserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/miekg/dns"
)

// TestParseZoneErrors pins the error of every zone check, with its
// position: one file under testdata/bad per rule, parsed for example.test.
func TestParseZoneErrors(t *testing.T) {
	for _, c := range []struct {
		file string
		rfc  string
		want string
	}{
		{"syntax.zone", "RFC 1035 §5.1 (miekg/dns's message and position)",
			`testdata/bad/syntax.zone:7:23: bad A record: "192.0.2" is not an IPv4 address`},
		{"bad-aaaa.zone", "RFC 3596 §2.4 (miekg/dns's \"bad AAAA AAAA\" made readable)",
			`testdata/bad/bad-aaaa.zone:6:27: bad AAAA record: "192.0.2.53" is not an IPv6 address`},
		{"unclosed-paren.zone", "RFC 1035 §5.1 parentheses (miekg/dns reports what it trips on lines later)",
			`testdata/bad/unclosed-paren.zone:4:32: unclosed "(": the record runs on to line 5, where: bad SOA zone parameter: "60@"`},
		{"unclosed-paren-eof.zone", "RFC 1035 §5.1 parentheses",
			`testdata/bad/unclosed-paren-eof.zone:7:17: unclosed "(": nothing closes it before the end of the file`},
		{"extra-paren.zone", "RFC 1035 §5.1 parentheses",
			`testdata/bad/extra-paren.zone:6:28: ")" without a "(" before it`},
		{"unknown-type.zone", "RFC 1035 §5.1; RFC 3597 §5 for unknown types",
			`testdata/bad/unknown-type.zone:7:16: unknown record type "FOO"`},
		{"cname-and-other.zone", "RFC 1034 §3.6.2",
			"testdata/bad/cname-and-other.zone:8: CNAME and other data at www.example.test. (RFC 1034 §3.6.2)"},
		{"other-and-cname.zone", "RFC 1034 §3.6.2",
			"testdata/bad/other-and-cname.zone:8: CNAME and other data at www.example.test. (RFC 1034 §3.6.2)"},
		{"two-cnames.zone", "RFC 2181 §10.1",
			"testdata/bad/two-cnames.zone:8: a second CNAME at www.example.test.: a name has at most one"},
		{"no-soa.zone", "RFC 1035 §5.2: one SOA at the top of the zone",
			"testdata/bad/no-soa.zone:1: no SOA record at the zone apex example.test."},
		{"no-ns.zone", "RFC 1035 §5.2: NS at the top of the zone",
			"testdata/bad/no-ns.zone:5: no NS records at the zone apex example.test."},
		{"out-of-zone.zone", "RFC 1035 §5.2: every record inside the zone",
			"testdata/bad/out-of-zone.zone:7: www.example.org. is outside the zone example.test."},
		{"soa-not-apex.zone", "RFC 1035 §5.2",
			"testdata/bad/soa-not-apex.zone:7: SOA for sub.example.test.: an SOA belongs at the zone apex example.test. only"},
		{"second-soa.zone", "RFC 1035 §5.2",
			"testdata/bad/second-soa.zone:7: a second SOA record: a zone has exactly one"},
		{"ttl-mismatch.zone", "RFC 2181 §5.2",
			"testdata/bad/ttl-mismatch.zone:8: TTL 600 differs from 300 of the rest of the www.example.test. A RRset (RFC 2181 §5.2)"},
		{"below-delegation.zone", "RFC 1034 §4.2.1: only glue below a cut",
			"testdata/bad/below-delegation.zone:9: www.child.example.test. TXT below a delegation: only glue (A, AAAA) belongs there"},
		{"at-delegation.zone", "RFC 1034 §4.2.1; RFC 2181 §6",
			"testdata/bad/at-delegation.zone:9: child.example.test. TXT at the delegation point child.example.test.: only NS and DS belong there"},
		{"origin-outside.zone", "RFC 1035 §5.1 $ORIGIN",
			"testdata/bad/origin-outside.zone:7: $ORIGIN example.org. is outside the zone example.test."},
		{"origin-inside.zone", "RFC 1035 §5.1 $ORIGIN, RFC 2181 §5.2",
			"testdata/bad/origin-inside.zone:10: TTL 600 differs from 300 of the rest of the www.Sub.Example.Test. A RRset (RFC 2181 §5.2)"},
		{"class-ch.zone", "RFC 1035 §3.2.4: we serve class IN",
			"testdata/bad/class-ch.zone:7: class CH: only IN is served"},
		{"include-bad.zone", "RFC 1035 §5.1 $INCLUDE: the included file's name and line",
			"testdata/bad/include-bad.inc:3: TTL 60 differs from 300 of the rest of the host1.example.test. A RRset (RFC 2181 §5.2)"},
		{"include-syntax.zone", "RFC 1035 §5.1 $INCLUDE",
			`testdata/bad/include-syntax.inc:2:27: bad A record: "192.0.2.300" is not an IPv4 address`},
		{"positions.zone", "line numbers past parentheses, comments, quotes, escapes and $GENERATE",
			"testdata/bad/positions.zone:20: TTL 600 differs from 300 of the rest of the www.example.test. A RRset (RFC 2181 §5.2)"},
	} {
		t.Run(c.file, func(t *testing.T) {
			z, err := ParseZoneFile(filepath.Join("testdata/bad", c.file), "example.test.")
			if err == nil {
				t.Fatalf("parsed %d records, want error %q", z.Len(), c.want)
			}
			if _, ok := errors.AsType[*ZoneError](err); !ok {
				t.Errorf("error %T, want *ZoneError", err)
			}
			if err.Error() != c.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), c.want)
			}
		})
	}
}

// TestParseZoneInclude parses a zone with $INCLUDEs: records from the
// included files, with the origin given to $INCLUDE.
func TestParseZoneInclude(t *testing.T) {
	z, err := ParseZoneFile("testdata/include/include.test.zone", "include.test.")
	if err != nil {
		t.Fatal(err)
	}
	got := rrStrings(z.records)
	want := []string{
		"include.test. 300 IN SOA ns1.include.test. hostmaster.include.test. 1 3600 600 86400 60",
		"include.test. 300 IN NS ns1.include.test.",
		"ns1.include.test. 300 IN A 192.0.2.53",
		"host1.include.test. 300 IN A 192.0.2.1",
		"host2.include.test. 300 IN A 192.0.2.2",
		"www.sub.include.test. 300 IN A 192.0.2.3",
		`sub.include.test. 300 IN TXT "sub"`,
		"after.include.test. 300 IN A 192.0.2.99",
	}
	for i := range want {
		want[i] = rrString(t, want[i])
	}
	if !slices.Equal(got, want) {
		t.Errorf("records:\n got %q\nwant %q", got, want)
	}
}

// TestParseZoneGenerateTTL pins a miekg/dns behaviour the test zones work
// around: $GENERATE records get TTL 3600, not the $TTL of the file (BIND
// uses $TTL). An upgrade that changes it fails here.
func TestParseZoneGenerateTTL(t *testing.T) {
	const zone = "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n@ IN NS ns1\n$GENERATE 1-1 h$ A 192.0.2.$\n"
	z, err := ParseZone(strings.NewReader(zone), "example.test.", "gen.zone")
	if err != nil {
		t.Fatal(err)
	}
	got := z.records[len(z.records)-1].String()
	if want := rrString(t, "h1.example.test. 3600 IN A 192.0.2.1"); got != want {
		t.Errorf("generated %q, want %q", got, want)
	}
}

// TestLoadDir checks that a reload keeps the previous version of a zone
// whose file is broken, updates the others, and drops a zone whose file
// is gone.
func TestLoadDir(t *testing.T) {
	v1, err := LoadDir("testdata/reload/v1", nil, nil, ZoneLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := origins(v1); !slices.Equal(got, []string{"a.test.", "b.test."}) {
		t.Fatalf("zones %v", got)
	}

	zs, err := LoadDir("testdata/reload/bad", v1, nil, ZoneLimits{})
	const want = "testdata/reload/bad/a.test.zone:8: CNAME and other data at www.a.test. (RFC 1034 §3.6.2)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if _, ok := errors.AsType[*ZoneError](err); !ok {
		t.Errorf("error %T, want a *ZoneError in it", err)
	}
	if zs.Zone("a.test.") != v1.Zone("a.test.") {
		t.Errorf("a.test: serial %d, want the previous version kept", zs.Zone("a.test.").Serial())
	}
	if got := zs.Zone("b.test.").Serial(); got != 3 {
		t.Errorf("b.test: serial %d, want 3 from the new file", got)
	}

	// Without a previous version, a broken zone is not served.
	zs, err = LoadDir("testdata/reload/bad", nil, nil, ZoneLimits{})
	if err == nil {
		t.Fatal("no error for a broken zone")
	}
	if got := origins(zs); !slices.Equal(got, []string{"b.test."}) {
		t.Errorf("zones %v, want b.test. alone", got)
	}

	// A zone whose file is gone is dropped.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "b.test.zone"), readFile(t, "testdata/reload/v2/b.test.zone"), 0o644); err != nil {
		t.Fatal(err)
	}
	zs, err = LoadDir(dir, v1, nil, ZoneLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := origins(zs); !slices.Equal(got, []string{"b.test."}) {
		t.Errorf("zones %v, want b.test. alone", got)
	}

	if _, err := LoadDir(filepath.Join(dir, "missing"), v1, nil, ZoneLimits{}); err == nil {
		t.Error("no error for a missing directory")
	}
}

// TestLoadDirSpelling: a zone whose file name is spelt with escapes or raw
// octets is kept under its wire spelling and found by that name, so a
// broken reload keeps its previous version as for any zone; two file
// names that spell one origin are an error of the second alone; and only
// ASCII folds in a file name (RFC 4343), so CAFÉ is not café.
func TestLoadDirSpelling(t *testing.T) {
	const apex = "@ 300 IN SOA ns h 1 3600 600 86400 120\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\n"
	write := func(dir, name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	write(dir, "caf\xc3\xa9.test.zone", apex)
	write(dir, "a\\098c.test.zone", apex)
	write(dir, "CAF\xc3\x89.test.zone", apex+"x.CAF\xc3\x89.test. 300 IN A 192.0.2.2\n")
	v1, err := LoadDir(dir, nil, nil, ZoneLimits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"abc.test.", `caf\195\137.test.`, `caf\195\169.test.`}
	if got := origins(v1); !slices.Equal(got, want) {
		t.Fatalf("zones %q, want %q", got, want)
	}
	for _, o := range []string{"abc.test.", "a\\098c.test.", "ABC.test.", `caf\195\169.test.`, "caf\xc3\xa9.test.", `CAF\195\137.test.`} {
		if v1.Zone(o) == nil {
			t.Errorf("Zone(%q) = nil", o)
		}
	}

	write(dir, "caf\xc3\xa9.test.zone", "garbage {{{\n")
	write(dir, "a\\098c.test.zone", "garbage {{{\n")
	zs, err := LoadDir(dir, v1, nil, ZoneLimits{})
	if err == nil {
		t.Fatal("no error for the broken files")
	}
	for _, o := range []string{"abc.test.", `caf\195\169.test.`} {
		if zs.Zone(o) == nil || zs.Zone(o) != v1.Zone(o) {
			t.Errorf("%s: not the previous version after a broken reload (%v)", o, err)
		}
	}

	clash := t.TempDir()
	write(clash, "abc.test.zone", apex)
	write(clash, "a\\098c.test.zone", apex)
	write(clash, "other.test.zone", apex)
	zs, err = LoadDir(clash, nil, nil, ZoneLimits{})
	wantErr := filepath.Join(clash, "abc.test.zone") + ": zone abc.test. is already loaded from " + filepath.Join(clash, "a\\098c.test.zone") + ": the two file names spell one origin"
	if err == nil || err.Error() != wantErr {
		t.Errorf("error %v, want %q", err, wantErr)
	}
	if got := origins(zs); !slices.Equal(got, []string{"abc.test.", "other.test."}) {
		t.Errorf("zones %q, want abc.test. (from the first file) and other.test.", got)
	}
}

func origins(zs *Zones) []string {
	var out []string
	for _, z := range zs.List() {
		out = append(out, z.Origin)
	}
	return out
}

// FuzzZoneParse feeds arbitrary master files to ParseZone: it must not
// panic, and an error must be a *ZoneError.
//
//	go test -run=^$ -fuzz=FuzzZoneParse -fuzztime=3m ./dnsserver/
func FuzzZoneParse(f *testing.F) {
	for _, dir := range []string{"testdata/zones", "testdata/bad", "testdata/reload/v1", "testdata/xfr"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.zone"))
		for _, file := range files {
			f.Add(string(readFile(f, file)), OriginFromFile(file))
		}
	}
	f.Add("@ IN SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n$INCLUDE missing.inc\n", "example.test.")
	f.Add("@ IN SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n$GENERATE 1-20/3 h$ A 192.0.2.$\n", "example.test.")
	// An empty directory: $INCLUDE paths resolve there.
	file := filepath.Join(f.TempDir(), "fuzz.zone")
	f.Fuzz(func(t *testing.T, text, origin string) {
		if !validOrigin(origin) {
			return
		}
		if strings.Contains(strings.ToLower(text), "$include") && strings.Contains(text, "/") {
			return // no reading of /dev/zero and the like: zone files are trusted
		}
		z, err := ParseZone(strings.NewReader(text), origin, file)
		if err != nil {
			if _, ok := errors.AsType[*ZoneError](err); !ok {
				t.Fatalf("error %T %v, want *ZoneError", err, err)
			}
			return
		}
		if z.SOA == nil || z.Len() == 0 {
			t.Fatalf("zone without SOA or records, and no error")
		}
	})
}

// validOrigin reports whether s is a name a zone could have: what LoadDir
// makes of a file name.
func validOrigin(s string) bool {
	_, ok := dns.IsDomainName(s)
	return ok && dns.IsFqdn(s)
}

// TestParseZoneLimits: what a few bytes of a zone file can make is
// bounded, and refused at the line that passes the bound: every site
// parses a release's zones, so a zone of $GENERATEs or of $INCLUDEs that
// include each other many times over must not take a site's memory or
// time.
func TestParseZoneLimits(t *testing.T) {
	const apex = "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"
	gen := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "$GENERATE 0-65535 h%d-$ A 192.0.2.1\n", i)
		}
		return b.String()
	}
	// small are limits that tests reach in a few lines.
	small := ZoneLimits{MaxRecords: 1 << 18, MaxGenerateTotal: 1 << 20}
	for _, tc := range []struct {
		name  string
		lim   ZoneLimits
		files fstest.MapFS
		want  string
	}{
		{"generate", small, fstest.MapFS{"example.test.zone": {Data: []byte(apex + gen(4) + "x A 192.0.2.1\n")}},
			"example.test.zone:8: more than 262144 records in the zone (dns.zones.max_records)"},
		{"generate many lines", small, fstest.MapFS{"example.test.zone": {Data: []byte(apex + gen(1000))}},
			"example.test.zone:8: more than 262144 records in the zone (dns.zones.max_records)"},
		{"generate included", small, fstest.MapFS{"example.test.zone": {Data: []byte(apex + "$INCLUDE inc/g\n")},
			"inc/g": {Data: []byte(gen(5))}},
			"inc/g:4: more than 262144 records in the zone (dns.zones.max_records)"},
		// The default bounds $GENERATE before it expands: 16 lines of 65536
		// (the 682 bytes that made a million records) stop at the fifth.
		{"generate total", ZoneLimits{}, fstest.MapFS{"example.test.zone": {Data: []byte(apex + gen(16))}},
			"example.test.zone:9: $GENERATE lines make more than 262144 records in the zone (dns.zones.max_generate_total)"},
		{"generate a line", ZoneLimits{MaxGenerate: 100}, fstest.MapFS{"example.test.zone": {Data: []byte(apex + "$GENERATE 1-100 a$ A 192.0.2.1\n$GENERATE 0-1000/10 b$ A 192.0.2.1 ; SECRET\n")}},
			"example.test.zone:6: $GENERATE 0-1000/10 makes 101 records, more than 100 a line (dns.zones.max_generate)"},
		{"file size", ZoneLimits{MaxFileSize: 100}, fstest.MapFS{"example.test.zone": {Data: []byte(apex + "; SECRET " + strings.Repeat("x", 100) + "\n")}},
			"example.test.zone: more than 100 bytes (dns.zones.max_file_size)"},
		{"file size included", ZoneLimits{MaxFileSize: 200}, fstest.MapFS{"example.test.zone": {Data: []byte(apex + "$INCLUDE a\n$INCLUDE a\n")},
			"a": {Data: []byte("; SECRET " + strings.Repeat("x", 60) + "\n")}},
			"example.test.zone:6: the zone's files hold more than 200 bytes (dns.zones.max_file_size)"},
		{"include fan-out", ZoneLimits{}, fstest.MapFS{
			"example.test.zone": {Data: []byte(apex + strings.Repeat("$INCLUDE f1\n", 64))},
			"f1":                {Data: []byte(strings.Repeat("$INCLUDE f2\n", 64))},
			"f2":                {Data: []byte(strings.Repeat("$INCLUDE f3\n", 64))},
			"f3":                {Data: []byte(strings.Repeat("$INCLUDE f4\n", 64))},
			"f4":                {Data: []byte("")}},
			"f3:64:11: failed to open `f4': open f4: more than 4096 files included by the zone"},
		{"include loop", ZoneLimits{}, fstest.MapFS{"example.test.zone": {Data: []byte(apex + "$INCLUDE example.test.zone\n")}},
			"too deeply nested $INCLUDE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := tc.lim.ParseFS(tc.files, "", "example.test.zone", "example.test.")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("err %v shows the file's text", err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
	// Up to the bounds, a zone parses.
	files := fstest.MapFS{"example.test.zone": {Data: []byte(apex + gen(3) + "$GENERATE 0-65532 g$ A 192.0.2.1\n")}}
	z, err := small.ParseFS(files, "", "example.test.zone", "example.test.")
	if err != nil {
		t.Fatal(err)
	}
	if z.Len() != small.MaxRecords {
		t.Errorf("%d records, want %d", z.Len(), small.MaxRecords)
	}
}

// FuzzZoneParseFS parses a zone with an included file from an fs.FS, as
// every site parses a release's zones: never a panic, errors are
// positioned, and nothing outside the FS is read (it holds two files).
func FuzzZoneParseFS(f *testing.F) {
	f.Add("$TTL 300\n@ IN SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n$INCLUDE inc/a\n", "www A 192.0.2.1\n$INCLUDE ../x\n")
	f.Add("@ IN SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n$INCLUDE /etc/passwd\n$INCLUDE inc/a sub\n", "$ORIGIN x.\n")
	f.Add("@ IN SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n$GENERATE 0-65535 h$ A 192.0.2.1\n$INCLUDE inc/a\n", "$INCLUDE a\n$INCLUDE ../example.test.zone\n")
	f.Fuzz(func(t *testing.T, zone, inc string) {
		files := fstest.MapFS{"example.test.zone": {Data: []byte(zone)}, "inc/a": {Data: []byte(inc)}}
		z, err := ParseZoneFS(files, "zones", "example.test.zone", "example.test.")
		if err != nil {
			ze, ok := errors.AsType[*ZoneError](err)
			if !ok {
				t.Fatalf("error %T %v, want *ZoneError", err, err)
			}
			if !strings.HasPrefix(ze.File, "zones/") {
				t.Fatalf("error names %q", ze.File)
			}
			return
		}
		if z.SOA == nil || z.Len() == 0 || z.Len() > DefaultMaxZoneRecords {
			t.Fatalf("zone of %d records, SOA %v", z.Len(), z.SOA)
		}
	})
}

// FuzzZoneLimits parses a zone within small limits: never a panic; a zone
// that parses holds no more than the limits allow; a limit error is a
// positioned ZoneError that names its key, found by the scan before the
// parser ran; and the scan alone (ScanFS) refuses what the parse refuses
// for a limit.
func FuzzZoneLimits(f *testing.F) {
	f.Add("$TTL 300\n@ IN SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n$GENERATE 1-40 h$ A 192.0.2.1\n", "a A 192.0.2.1\n")
	f.Add("@ IN SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n$GENERATE 0-100/3 h$ A 192.0.2.1\n$INCLUDE inc\n", "$GENERATE 1-20 x$ A 192.0.2.1\n")
	f.Add("@ IN SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n$INCLUDE inc\n$INCLUDE inc\n$INCLUDE inc\n", "; "+strings.Repeat("x", 100)+"\n")
	f.Add("@ IN SOA ( ns1 hostmaster\n 1 2 3 4 5 )\n@ NS ns1\nx TXT \"a;b\\\" (\" ; c\n", "y TXT \"\n\"\n")
	lim := ZoneLimits{MaxRecords: 50, MaxFileSize: 400, MaxGenerate: 30, MaxGenerateTotal: 45}
	f.Fuzz(func(t *testing.T, zone, inc string) {
		files := fstest.MapFS{"example.test.zone": {Data: []byte(zone)}, "inc": {Data: []byte(inc)}}
		z, err := lim.ParseFS(files, "zones", "example.test.zone", "example.test.")
		scanErr := lim.ScanFS(files, "zones", "example.test.zone", "example.test.")
		if err == nil {
			if z.Len() > lim.MaxRecords {
				t.Fatalf("%d records, more than %d", z.Len(), lim.MaxRecords)
			}
			return
		}
		ze, ok := errors.AsType[*ZoneError](err)
		if !ok {
			t.Fatalf("error %T %v, want *ZoneError", err, err)
		}
		if strings.Contains(ze.Msg, "(dns.zones.") {
			if !strings.HasPrefix(ze.File, "zones/") {
				t.Fatalf("limit error names %q", ze.File)
			}
			if scanErr == nil || scanErr.Error() != err.Error() {
				t.Fatalf("parse: %v; scan: %v", err, scanErr)
			}
		}
	})
}

// TestMayInclude: a file with an $INCLUDE, in any case and anywhere, may
// include; one without cannot.
func TestMayInclude(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{
		{"", false},
		{"$TTL 300\n@ IN SOA ns1 hostmaster 1 2 3 4 5\n$ORIGIN sub\n", false},
		{"$INCLUDE inc/a\n", true},
		{"@ NS ns1\n$include inc/a sub\n", true},
		{"@ NS ns1\n\t$InClUdE x", true},
		{"t TXT \"$INCLUDE\" ; quoted: still may (the parser decides)\n", true},
		{"a TXT $INCLUD\n", false},
		{"$INCLUD", false},
		{"$$INCLUDE", true},
	} {
		if got := MayInclude([]byte(c.text)); got != c.want {
			t.Errorf("MayInclude(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

// TestZoneRecords: a zone's records (what a transfer sends) are the file's
// in its order, the SOA first, without duplicates or GSLB records, whether
// the parser's slice is kept as it is or copied out.
func TestZoneRecords(t *testing.T) {
	const soa = "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 30\n"
	for _, c := range []struct {
		name, text string
		want       []string
	}{
		{"kept", "$TTL 300\n" + soa + "@ NS ns1\nns1 A 192.0.2.53\nWWW A 192.0.2.1\n",
			[]string{"example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 30",
				"example.test. 300 IN NS ns1.example.test.", "ns1.example.test. 300 IN A 192.0.2.53", "WWW.example.test. 300 IN A 192.0.2.1"}},
		{"SOA second, a duplicate, a GSLB record", "$TTL 300\n@ NS ns1\n" + soa + "ns1 A 192.0.2.53\nns1 A 192.0.2.53\nweb 30 GSLB web\nb A 192.0.2.2\n",
			[]string{"example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 30",
				"example.test. 300 IN NS ns1.example.test.", "ns1.example.test. 300 IN A 192.0.2.53", "b.example.test. 300 IN A 192.0.2.2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			z, err := ParseZone(strings.NewReader(c.text), "example.test.", "z")
			if err != nil {
				t.Fatal(err)
			}
			want := make([]string, len(c.want))
			for i := range want {
				want[i] = rrString(t, c.want[i])
			}
			if got := rrStrings(z.records); !slices.Equal(got, want) {
				t.Errorf("records:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestWireSpelling: a name a zone file spells with needless escapes
// (a\098c for abc, even in another case: both spellings are one name),
// with raw octets past ASCII (café), or as a CNAME target or MX exchange,
// is the name a query asks for, over UDP and TCP, as in Knot and BIND. An escaped dot stays a dot inside its
// label.
func TestWireSpelling(t *testing.T) {
	_, addr := testServer(t, testConfig(), "testdata/wirespelling")
	const z = "spelt.test."
	a := func(name, ip string) string { return name + " 300 IN A " + ip }
	txt := `abc.spelt.test. 300 IN TXT "same name, other spelling"`
	runCases(t, addr, []dnsCase{
		{name: "escaped letters", qname: "abc." + z, qtype: dns.TypeA, aa: true, answer: []string{a("abc."+z, "192.0.2.7")}},
		{name: "escaped letters, other case", qname: "abc." + z, qtype: dns.TypeTXT, aa: true, answer: []string{txt}},
		{name: "query in upper case", qname: "ABC." + z, qtype: dns.TypeA, aa: true, answer: []string{a("ABC."+z, "192.0.2.7")}},
		{name: "raw octets", qname: `caf\195\169.` + z, qtype: dns.TypeA, aa: true, answer: []string{a(`caf\195\169.`+z, "192.0.2.9")}},
		{name: "escaped CNAME target", qname: "alias." + z, qtype: dns.TypeA, aa: true,
			answer: []string{"alias." + z + " 300 IN CNAME abc." + z, a("abc."+z, "192.0.2.7")}},
		{name: "escaped MX exchange", qname: "mx." + z, qtype: dns.TypeMX, aa: true,
			answer: []string{"mx." + z + " 300 IN MX 10 mail." + z}, extra: []string{a("mail."+z, "192.0.2.25")}},
		{name: "escaped dot", qname: `d\.ot.` + z, qtype: dns.TypeA, aa: true, answer: []string{a(`d\.ot.`+z, "192.0.2.30")}},
		{name: "escaped dot is no label break", qname: "ot." + z, qtype: dns.TypeA, aa: true, rcode: dns.RcodeNameError,
			ns: []string{z + ` 120 IN SOA ns.spelt.test. h\.ostmaster.spelt.test. 1 3600 600 86400 120`}},
	})
}
