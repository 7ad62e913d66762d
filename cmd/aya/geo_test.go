package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/aya-gslb/aya/geo"
)

// TestGeoBuildErrors pins what `aya geo build` says of a source with "UK"
// (the hint the configuration gives too) and of an -o it cannot write: the
// output path, never the temporary file beside it. Refresh with go test
// ./cmd/aya -run TestGeoBuildErrors -update.
func TestGeoBuildErrors(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "nets.yaml")
	if err := os.WriteFile(src, []byte("- {network: 81.2.69.0/24, latitude: 51.5, longitude: -0.09, country: GB}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uk := filepath.Join(dir, "uk.yaml")
	if err := os.WriteFile(uk, []byte("- {network: 81.2.69.0/24, latitude: 51.5, longitude: -0.09, country: UK}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var golden strings.Builder
	for _, args := range [][]string{
		{uk, "-o", filepath.Join(dir, "uk.mmdb")},
		{src, "-o", filepath.Join(dir, "missing", "out.mmdb")},
		{src, "-o", dir},
		{src, "-o", filepath.Join(dir, "out.mmdb")},
	} {
		out, err := exec.Command(ayaBin, append([]string{"geo", "build"}, args...)...).CombinedOutput()
		fmt.Fprintf(&golden, "$ aya geo build %s", strings.Join(args, " "))
		if err != nil {
			fmt.Fprintf(&golden, " (%v)", err)
		}
		fmt.Fprintf(&golden, "\n%s", out)
	}
	checkGolden(t, "geo.golden", []byte(strings.ReplaceAll(golden.String(), dir, "DIR")))
	if left, _ := filepath.Glob(filepath.Join(dir, ".aya-geo-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestServeGeoVerifiedAfterStart: aya serve answers before the geo database
// is verified whole and verifies it in the background; a database with a
// corrupt record is served until that verification refuses it, then the
// site answers without it (metrics and log say so), and a sound file
// installed over it reloads in place and is verified.
func TestServeGeoVerifiedAfterStart(t *testing.T) {
	dir := t.TempDir()
	zones := filepath.Join(dir, "zones")
	if err := os.Mkdir(zones, 0o755); err != nil {
		t.Fatal(err)
	}
	writeZone(t, zones, zoneWith("192.0.2.1"))
	nets := []geo.Network{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Latitude: 51.5, Longitude: -0.09, Country: "GB"},
		{Prefix: netip.MustParsePrefix("175.16.199.0/24"), Latitude: 43.88, Longitude: 125.32, Country: "CN"},
	}
	var good bytes.Buffer
	if err := geo.Build(&good, nets); err != nil {
		t.Fatal(err)
	}
	// The CN record made undecodable: no address that the start-up checks
	// look up reaches it, the whole walk does.
	r, err := maxminddb.OpenBytes(good.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	res := r.Lookup(netip.MustParseAddr("175.16.199.1"))
	md := r.Metadata
	bad := bytes.Clone(good.Bytes())
	bad[int(md.NodeCount*md.RecordSize/4)+16+int(res.Offset())] = 0
	dbPath := filepath.Join(dir, "city.mmdb")
	if err := os.WriteFile(dbPath, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, []string{"AYA_DNS_LISTEN=127.77.40.1:0", "AYA_ADMIN_LISTEN=127.77.40.1:0",
		"AYA_CLUSTER_BIND=127.77.40.1:0", "AYA_DNS_ZONES_DIR=" + zones, "AYA_GEO_DATABASE=" + dbPath})
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(s.log.String(), "geo database failed verification") },
		func() string { return "the corrupt record was not found:\n" + s.log.String() })
	for name, want := range map[string]string{"aya_geo_database_verified": "0", "aya_geo_last_reload_successful": "0"} {
		if v := metric(t, s.admin, name); v != want {
			t.Errorf("%s = %q, want %s", name, v, want)
		}
	}
	if got, err := queryA(s.dns, "www.gslb.example.com."); err != nil || got != "192.0.2.1" {
		t.Errorf("answer without the database: %q, %v", got, err)
	}
	// A sound file, written beside and renamed over: reloaded, verified.
	tmp := dbPath + ".new"
	if err := os.WriteFile(tmp, good.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		return metric(t, s.admin, "aya_geo_database_verified") == "1" && metric(t, s.admin, "aya_geo_last_reload_successful") == "1"
	}, func() string { return "the sound database was not loaded:\n" + s.log.String() })
}
