package dnssec

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestKeyFilesRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		alg  uint8
		role Role
	}{
		{dns.ECDSAP256SHA256, KSK}, {dns.ECDSAP256SHA256, ZSK}, {dns.ECDSAP256SHA256, CSK},
		{dns.ED25519, KSK}, {dns.ED25519, ZSK}, {dns.ED25519, CSK},
	} {
		t.Run(dns.AlgorithmToString[tc.alg]+" "+tc.role.String(), func(t *testing.T) {
			dir := t.TempDir()
			tm := Timing{Created: at, Publish: at, Activate: at.Add(time.Hour), Inactive: at.Add(48 * time.Hour), Delete: at.Add(72 * time.Hour)}
			if tc.role.signsKeys() {
				tm.SyncPublish = at
			}
			k, err := Generate("Gslb.Example.COM", tc.alg, tc.role, tm)
			if err != nil {
				t.Fatal(err)
			}
			path, err := k.WriteFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dir, k.Base()+".key"); path != want || !strings.HasPrefix(filepath.Base(path), "Kgslb.example.com.+0") {
				t.Errorf("path %s, want %s", path, want)
			}
			fi, err := os.Stat(strings.TrimSuffix(path, ".key") + ".private")
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf(".private mode %v, want 0600", fi.Mode().Perm())
			}
			keys, err := LoadKeys(dir, "gslb.example.com", true)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 {
				t.Fatalf("%d keys loaded", len(keys))
			}
			got := keys[0]
			if got.Tag() != k.Tag() || got.Role != tc.role || !got.Timing.equal(tm) || !got.HasPrivate() {
				t.Errorf("read back %s %s %+v, want %s %+v", got.Base(), got.Role, got.Timing, k.Base(), tm)
			}
			if err := probe(got.DNSKEY, got.signer); err != nil {
				t.Errorf("loaded key does not sign: %v", err)
			}
			if _, err := k.WriteFiles(dir); !errors.Is(err, ErrExists) {
				t.Errorf("second write: %v, want ErrExists", err)
			}
		})
	}
}

func TestKeyFileErrors(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dir := t.TempDir()
	a, err := Generate(testOrigin, dns.ECDSAP256SHA256, ZSK, Timing{Created: at, Publish: at, Activate: at})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(testOrigin, dns.ECDSAP256SHA256, ZSK, Timing{Created: at, Publish: at, Activate: at})
	if err != nil {
		t.Fatal(err)
	}
	pa, err := a.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	pb, err := b.WriteFiles(other)
	if err != nil {
		t.Fatal(err)
	}
	// a's .key with b's .private.
	priv, err := os.ReadFile(strings.TrimSuffix(pb, ".key") + ".private")
	if err != nil {
		t.Fatal(err)
	}
	mixed := filepath.Join(t.TempDir(), "mixed.private")
	if err := os.WriteFile(mixed, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	ka, err := ReadKey(pa)
	if err != nil {
		t.Fatal(err)
	}
	if err := ka.LoadPrivate(mixed); err == nil || !strings.Contains(err.Error(), "not the private key of") {
		t.Errorf("wrong .private: %v", err)
	}
	// Timing that disagrees between the two files.
	own, err := os.ReadFile(strings.TrimSuffix(pa, ".key") + ".private")
	if err != nil {
		t.Fatal(err)
	}
	skew := filepath.Join(t.TempDir(), "skew.private")
	if err := os.WriteFile(skew, []byte(strings.Replace(string(own), "Activate: 20260102030405", "Activate: 20260102030406", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ka.LoadPrivate(skew); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Errorf("skewed timing: %v", err)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"two keys", "x. IN DNSKEY 256 3 13 " + a.DNSKEY.PublicKey + "\nx. IN DNSKEY 256 3 13 " + a.DNSKEY.PublicKey + "\n", "want exactly one DNSKEY record"},
		{"no key", "; nothing\n", "no DNSKEY record"},
		{"rsa", "x. IN DNSKEY 256 3 8 AwEAAa==\n", "algorithm 8"},
		{"short key", "x. IN DNSKEY 256 3 13 AAAA\n", "not a valid algorithm 13 key"},
		{"bad time", "; Publish: 2026\nx. IN DNSKEY 256 3 13 " + a.DNSKEY.PublicKey + "\n", "k.key:1: Publish: timing \"2026\": want YYYYMMDDHHMMSS"},
		{"bad role", "; Role: XSK\nx. IN DNSKEY 256 3 13 " + a.DNSKEY.PublicKey + "\n", "k.key:1: role \"XSK\""},
		{"role mismatch", "; Role: KSK\nx. IN DNSKEY 256 3 13 " + a.DNSKEY.PublicKey + "\n", "role KSK does not match DNSKEY flags 256"},
		{"order", "; Publish: 20260102000000\n; Delete: 20260101000000\nx. IN DNSKEY 256 3 13 " + a.DNSKEY.PublicKey + "\n", "Delete 20260101000000 is before Publish 20260102000000"},
		{"not zone key", "x. IN DNSKEY 0 3 13 " + a.DNSKEY.PublicKey + "\n", "not a zone key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKey(strings.NewReader(tc.text), "k.key")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
}

// TestBINDReadsOurKeys: BIND's dnssec-dsfromkey reads the .key file and
// prints the DS we compute.
func TestBINDReadsOurKeys(t *testing.T) {
	dsfromkey, err := exec.LookPath("dnssec-dsfromkey")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dnssec-dsfromkey not installed: .ci/run installs bind9-utils")
		}
		t.Skip("dnssec-dsfromkey not installed (apt-get install bind9-utils); .ci/run installs it")
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, alg := range []uint8{dns.ECDSAP256SHA256, dns.ED25519} {
		k, err := Generate(testOrigin, alg, KSK, Timing{Created: at, Publish: at, Activate: at, SyncPublish: at})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		path, err := k.WriteFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(t.Context(), dsfromkey, "-2", path).CombinedOutput()
		if err != nil {
			t.Fatalf("dnssec-dsfromkey: %v\n%s", err, out)
		}
		ds := k.DS()
		want := strings.Join([]string{ds.Hdr.Name, "IN", "DS", ds.String()[strings.Index(ds.String(), "DS\t")+3:]}, " ")
		if got := strings.Join(strings.Fields(string(out)), " "); got != strings.Join(strings.Fields(want), " ") {
			t.Errorf("dnssec-dsfromkey says\n%s\nwe say\n%s", got, want)
		}
	}
}
