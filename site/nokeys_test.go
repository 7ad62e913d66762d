package site

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnssec"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/release"
)

// runningSite is one in-process site of a test cluster: its Raft node on
// loopback, its DNS server, and its Site following the cluster.
type runningSite struct {
	dir  string // its configuration's directory: aya.yaml, zones/, data/, keys/ on the signer
	cfg  *config.Config
	node *cluster.Node
	site *Site
	reg  *prometheus.Registry
	dns  *dnsserver.Server
	stop func() // stops it (and is done at the test's end)
}

// signingConfig is a test site's aya.yaml: signatures valid for 16s,
// re-signed 6s before they expire, so that a re-sign comes within
// seconds; zone and pool TTLs of 1s allow that.
const signingConfig = `node: {id: %s}
dns: {listen: ["%s:0"], zones_dir: zones}
cluster: {data_dir: data, bind: "%s:0", bootstrap: %v, fresh_for: 30s,
  heartbeat_timeout: 500ms, election_timeout: 500ms, leader_lease_timeout: 250ms}
dnssec: {validity: 16s, refresh: 6s, jitter: 2s, propagation: 1s}
regions:
  - {name: eu, latitude: 53.3, longitude: -6.3, country: IE, continent: EU}
  - {name: us, latitude: 39.0, longitude: -77.5, country: US, continent: NA}
pools:
  - name: web
    ttl: 1
    members:
      - region: eu
        endpoints:
          - {name: a, addresses: [192.0.2.1, "2001:db8::1"]}
          - {name: b, addresses: [192.0.2.2, "2001:db8::2"]}
      - region: us
        endpoints: [{name: c, addresses: [198.51.100.1, "2001:db8:1::1"]}]
`

const signingZone = "$TTL 1\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 1\n@ IN NS ns1\nns1 IN A 192.0.2.53\nwww 1 IN GSLB web\nstatic IN A 192.0.2.20\n"

// startSigningSite writes and starts site id on ip.
func startSigningSite(t *testing.T, id, ip string, bootstrap, keys bool) *runningSite {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "zones", "example.com.zone"), signingZone)
	write(t, filepath.Join(dir, "aya.yaml"), fmt.Sprintf(signingConfig, id, ip, ip, bootstrap))
	return runSigningSite(t, dir, keys)
}

// runSigningSite starts the site whose files dir holds (again, after its
// stop: with the data directory it left), with new keys when keys is set.
func runSigningSite(t *testing.T, dir string, keys bool) *runningSite {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(dir, "aya.yaml")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, text, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := cfg.Node.ID
	bootstrap := cfg.Cluster.Bootstrap
	ip := strings.Split(cfg.Cluster.Bind, ":")[0]
	if keys {
		withKeysAt(t, cfg, "example.com.", time.Now())
	}
	comp := NewCompiler(cfg)
	reg := prometheus.NewRegistry()
	// The admin API: a follower forwards a release to the leader's.
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	adm := httptest.NewUnstartedServer(nil)
	_ = adm.Listener.Close()
	adm.Listener = ln
	node, err := cluster.NewNode(cluster.Config{
		ID: id, Bind: cfg.Cluster.Bind, DataDir: cfg.Cluster.DataDir, Bootstrap: bootstrap, Admin: ln.Addr().String(),
		HeartbeatTimeout: cfg.Cluster.HeartbeatTimeout, ElectionTimeout: cfg.Cluster.ElectionTimeout,
		LeaderLeaseTimeout: cfg.Cluster.LeaderLeaseTimeout, CommitTimeout: 10 * time.Millisecond,
		CheckRelease: func(r *release.Release) error { _, err := comp.Compile(r); return err },
		Registerer:   reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	adm.Config.Handler = node.Handler()
	adm.Start()
	srv := dnsserver.New(DNSConfig(cfg, nil, reg, GSLB(cfg, nil, node)))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})).With("site", id)
	s := New(Config{Path: path, Config: cfg, Registerer: reg, Node: node, DNS: srv, Compiler: comp, Logger: log})
	done := make(chan struct{})
	go func() {
		defer close(done)
		go node.Run(ctx)
		go func() { _ = srv.Serve(ctx) }()
		if s.Start(ctx) {
			s.Run(ctx)
		}
		s.Wait()
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			adm.Close()
			_ = node.Close()
		})
	}
	t.Cleanup(stop)
	return &runningSite{dir: dir, cfg: cfg, node: node, site: s, reg: reg, dns: srv, stop: stop}
}

// withKeysAt is withKeys with keys that sign from a day before now.
func withKeysAt(t *testing.T, cfg *config.Config, zone string, now time.Time) {
	t.Helper()
	dir := filepath.Join(filepath.Dir(cfg.File), "keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	since := now.Add(-24 * time.Hour).Truncate(time.Second)
	for _, role := range []dnssec.Role{dnssec.KSK, dnssec.ZSK} {
		tm := dnssec.Timing{Created: since, Publish: since, Activate: since}
		if role == dnssec.KSK {
			tm.SyncPublish = since
		}
		k, err := dnssec.Generate(zone, 13, role, tm)
		if err != nil {
			t.Fatal(err)
		}
		k.DNSKEY.Hdr.Ttl = 1 // under dnssec.refresh less propagation
		if _, err := k.WriteFiles(dir); err != nil {
			t.Fatal(err)
		}
	}
	cfg.DNSSEC.KeysDir = dir
}

// privateMaterial is what the signer's .private files hold that nothing
// else may: their marker, and each private key, raw and in base64.
func privateMaterial(t *testing.T, keysDir string) [][]byte {
	t.Helper()
	out := [][]byte{[]byte("Private-key-format"), []byte("PrivateKey:")}
	names, err := filepath.Glob(filepath.Join(keysDir, "*.private"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no .private files in %s: %v", keysDir, err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PrivateKey: "); ok {
				raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
				if err != nil || len(raw) < 16 {
					t.Fatalf("%s: private key %q: %v", n, v, err)
				}
				out = append(out, raw, []byte(strings.TrimSpace(v)))
			}
		}
	}
	if len(out) != 2+2*len(names) {
		t.Fatalf("%d private keys in %d files", (len(out)-2)/2, len(names))
	}
	return out
}

// holdsPrivate returns where in b one of secrets is, or "".
func holdsPrivate(b []byte, secrets [][]byte) string {
	for _, s := range secrets {
		if i := bytes.Index(b, s); i >= 0 {
			return fmt.Sprintf("%q at byte %d", s, i)
		}
	}
	return ""
}

// walkPrivate walks every value reachable from v (pointers, slices, maps,
// interfaces, struct fields exported or not) and reports a private key:
// a *dnssec.Key with its private half, an ECDSA or Ed25519 private key,
// or bytes or text holding one of secrets.
func walkPrivate(v reflect.Value, secrets [][]byte) string {
	type ref struct {
		p uintptr
		n int
		t reflect.Type
	}
	seen := map[ref]bool{}
	keyType := reflect.TypeFor[*dnssec.Key]()
	var walk func(v reflect.Value, path string, depth int) string
	walk = func(v reflect.Value, path string, depth int) string {
		if !v.IsValid() || depth > 200 {
			return ""
		}
		switch v.Type() {
		case keyType:
			if !v.IsNil() {
				return path + ": a *dnssec.Key"
			}
		case reflect.TypeFor[*ecdsa.PrivateKey](), reflect.TypeFor[ed25519.PrivateKey]():
			if !v.IsZero() {
				return path + ": a private key"
			}
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice:
			if v.IsNil() {
				return ""
			}
			r := ref{v.Pointer(), 0, v.Type()}
			if v.Kind() == reflect.Slice {
				r.n = v.Len()
			}
			if seen[r] {
				return ""
			}
			seen[r] = true
		}
		switch v.Kind() {
		case reflect.String:
			if w := holdsPrivate([]byte(v.String()), secrets); w != "" {
				return path + ": " + w
			}
		case reflect.Pointer, reflect.Interface:
			return walk(v.Elem(), path, depth+1)
		case reflect.Struct:
			for i := range v.NumField() {
				if w := walk(v.Field(i), path+"."+v.Type().Field(i).Name, depth+1); w != "" {
					return w
				}
			}
		case reflect.Slice, reflect.Array:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				b := make([]byte, v.Len())
				for i := range b {
					b[i] = byte(v.Index(i).Uint()) // unexported fields read too
				}
				if w := holdsPrivate(b, secrets); w != "" {
					return path + ": " + w
				}
				return ""
			}
			for i := range v.Len() {
				if w := walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); w != "" {
					return w
				}
			}
		case reflect.Map:
			it := v.MapRange()
			for it.Next() {
				if w := walk(it.Key(), path+"{key}", depth+1); w != "" {
					return w
				}
				if w := walk(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key()), depth+1); w != "" {
					return w
				}
			}
		}
		return ""
	}
	return walk(v, "", 0)
}

// gauge returns the value of the series name{zone} in reg, false if none.
func gauge(t *testing.T, reg *prometheus.Registry, name, zone string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "zone" && l.GetValue() == zone {
					if m.Gauge != nil {
						return m.GetGauge().GetValue(), true
					}
					return m.GetCounter().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// waitUntil polls cond for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

// TestNoPrivateKeyOnAnsweringSite runs a signer (the site with the keys,
// which makes the cluster's first release) and an answering site on
// loopback Raft. The answering site serves the signed zone, with
// signatures that verify, re-signed by the signer before they expire
// (serial raised); yet its configuration, its data directory (every
// file), the release it received as JSON, and every value reachable from
// its node's release and its compiled zones hold no private key. A
// release it builds from its own files (no keys) is refused as unsigning
// the zone, unless it asks to unsign.
func TestNoPrivateKeyOnAnsweringSite(t *testing.T) {
	signer := startSigningSite(t, "s1", "127.77.65.1", true, true)
	answering := startSigningSite(t, "s2", "127.77.65.2", false, false)
	waitUntil(t, 10*time.Second, "s1 leads", signer.node.IsLeader)
	if err := signer.node.Join("s2", answering.node.Addr(), true); err != nil {
		t.Fatal(err)
	}
	signedServed := func(s *runningSite, version uint64) func() bool {
		return func() bool {
			c := s.site.rel.Load()
			return c != nil && c.Release.Version >= version && c.Zones.Zone("example.com.").Signatures() != nil
		}
	}
	waitUntil(t, 15*time.Second, "the answering site serves the signed zone", signedServed(answering, 1))
	first := answering.site.rel.Load()
	z := first.Zones.Zone("example.com.")
	if n := verifyZone(t, z, time.Now()); n == 0 {
		t.Fatal("no signature verified on the answering site")
	}
	// Over the wire: DO queries to the answering site get RRSIGs that
	// verify with the zone's DNSKEY.
	for _, name := range []string{"www.example.com.", "static.example.com."} {
		checkSignedAnswer(t, answering.dns.UDPAddrs()[0].String(), name, z)
	}
	if exp, ok := gauge(t, answering.reg, "aya_dnssec_signature_expiration_timestamp_seconds", "example.com."); !ok || exp != float64(first.Release.Signed[0].Expires.Unix()) {
		t.Errorf("expiration gauge %v %v, want %d", exp, ok, first.Release.Signed[0].Expires.Unix())
	}
	if _, ok := gauge(t, answering.reg, "aya_dnssec_refresh_timestamp_seconds", "example.com."); !ok {
		t.Error("no refresh gauge")
	}
	if n, ok := gauge(t, signer.reg, "aya_dnssec_signings_total", "example.com."); !ok || n < 1 {
		t.Errorf("signer's signings %v %v", n, ok)
	}

	// The signer re-signs before the signatures are due, with a higher
	// serial; the answering site takes the new signatures.
	waitUntil(t, 20*time.Second, "a re-signed release on the answering site", func() bool {
		c := answering.site.rel.Load()
		return c != nil && c.Release.Version > first.Release.Version && strings.HasPrefix(c.Release.Source, "re-sign: s1") &&
			c.Zones.Zone("example.com.").Signatures() != nil
	})
	resigned := answering.site.rel.Load()
	if resigned.Release.Resigns == "" || resigned.Release.Resigns == resigned.Release.Digest {
		t.Errorf("the re-signed release resigns %q: want the digest of the release before it", resigned.Release.Resigns)
	}
	if rz := resigned.Zones.Zone("example.com."); !serialAfter(rz.Serial(), z.Serial()) || !resigned.Release.Signed[0].Expires.After(first.Release.Signed[0].Expires) {
		t.Errorf("re-signed: serial %d after %d, expires %s after %s", rz.Serial(), z.Serial(), resigned.Release.Signed[0].Expires, first.Release.Signed[0].Expires)
	} else if rz.Unsigned() != z.Unsigned() {
		t.Error("the answering site parsed the zone again for new signatures")
	}
	verifyZone(t, resigned.Zones.Zone("example.com."), time.Now())

	secrets := privateMaterial(t, signer.cfg.DNSSEC.KeysDir)
	// The same scan finds the keys on the signer: it is not blind.
	if w := scanFiles(t, signer.dir, secrets); w == "" {
		t.Fatal("the scan finds no private key on the signer")
	}
	if w := scanFiles(t, answering.dir, secrets); w != "" {
		t.Errorf("the answering site's files hold a private key: %s", w)
	}
	rel := answering.node.Release()
	b, err := json.Marshal(rel)
	if err != nil {
		t.Fatal(err)
	}
	if w := holdsPrivate(b, secrets); w != "" {
		t.Errorf("the release the answering site received holds a private key: %s", w)
	}
	for name, v := range map[string]any{"release": rel, "compiled": answering.site.rel.Load(), "config": answering.site.Current()} {
		if w := walkPrivate(reflect.ValueOf(v), secrets); w != "" {
			t.Errorf("the answering site's %s holds a private key: %s", name, w)
		}
	}
	// The walk is not blind either: it finds the signer's keys.
	keys, err := dnssec.LoadKeys(signer.cfg.DNSSEC.KeysDir, "example.com.", true)
	if err != nil {
		t.Fatal(err)
	}
	if w := walkPrivate(reflect.ValueOf(keys), secrets); w == "" {
		t.Error("the walk finds no private key in the signer's keys")
	}

	// The answering site's own files, built without keys, would unsign the
	// zone: refused, unless asked.
	own, _, err := answering.site.comp.Build(answering.cfg, "s2", "watch: s2", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(own.Signed) != 0 {
		t.Fatal("the answering site signed")
	}
	own.Source = "a change of the answering site"
	write(t, filepath.Join(answering.dir, "zones", "example.com.zone"), signingZone+"new IN A 192.0.2.21\n")
	own, _, err = answering.site.comp.Build(answering.cfg, "s2", "watch: s2", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer acancel()
	_, err = answering.node.ApplyRelease(actx, own)
	if ue, ok := errors.AsType[*cluster.UnsignError](err); !ok || len(ue.Zones) != 1 || ue.Zones[0] != "example.com." ||
		!strings.Contains(err.Error(), "--unsign example.com.") {
		t.Fatalf("unsigning release: %v, want an UnsignError of example.com.", err)
	}
	own.Unsign = []string{"example.com."}
	resp, err := answering.node.ApplyRelease(actx, own)
	if err != nil || resp.Unchanged {
		t.Fatalf("asked to unsign: %+v, %v", resp, err)
	}
}

// scanFiles reads every regular file under dir and reports one that holds
// one of secrets.
func scanFiles(t *testing.T, dir string, secrets [][]byte) string {
	t.Helper()
	var found string
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			// Renamed away since the directory was read: the persister
			// moves release.json to release.prev.json before writing the
			// new one (a re-sign can come at any moment).
			return nil
		}
		if err != nil {
			return err
		}
		n++
		if w := holdsPrivate(b, secrets); w != "" {
			found = path + ": " + w
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("%d files under %s", n, dir)
	}
	return found
}

// checkSignedAnswer asks addr for name A with the DO bit and verifies the
// answer's RRSIG with the DNSKEYs of z's signatures.
func checkSignedAnswer(t *testing.T, addr, name string, z *dnsserver.Zone) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(4096, true)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var rrs []dns.RR
	var sig *dns.RRSIG
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			rrs = append(rrs, rr)
		case *dns.RRSIG:
			sig = rr
		}
	}
	if len(rrs) == 0 || sig == nil {
		t.Fatalf("%s A with DO: no signed answer:\n%v", name, r)
	}
	for _, rr := range z.Signatures().Records {
		if k, ok := rr.(*dns.DNSKEY); ok && k.KeyTag() == sig.KeyTag {
			if err := sig.Verify(k, rrs); err != nil {
				t.Errorf("%s: RRSIG does not verify: %v", name, err)
			}
			return
		}
	}
	t.Errorf("%s: RRSIG by key %d, not a DNSKEY of the zone", name, sig.KeyTag)
}

// TestAnsweringSiteRestartsSigned: an answering site restarted with no
// quorum (the signer down too) serves the signed zone from the release it
// restored from its disk: its first answer to a DO query is signed, and
// the signatures verify.
func TestAnsweringSiteRestartsSigned(t *testing.T) {
	signer := startSigningSite(t, "s1", "127.77.85.1", true, true)
	answering := startSigningSite(t, "s2", "127.77.85.2", false, false)
	waitUntil(t, 10*time.Second, "s1 leads", signer.node.IsLeader)
	if err := signer.node.Join("s2", answering.node.Addr(), true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "the answering site serves the signed zone", func() bool {
		c := answering.site.rel.Load()
		return c != nil && c.Zones.Zone("example.com.").Signatures() != nil
	})
	before := answering.site.rel.Load().Release.Digest
	answering.stop()
	signer.stop()

	again := runSigningSite(t, answering.dir, false)
	addr := again.dns.UDPAddrs()[0].String()
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	m.SetEdns0(1232, true)
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	var first *dns.Msg
	for end := time.Now().Add(15 * time.Second); first == nil && time.Now().Before(end); {
		if r, _, err := c.Exchange(m, addr); err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			first = r
		}
		time.Sleep(20 * time.Millisecond)
	}
	if first == nil {
		t.Fatal("the restarted site gave no answer in 15 s")
	}
	if !slices.ContainsFunc(first.Answer, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeRRSIG }) {
		t.Fatalf("the restarted site's first answer is unsigned:\n%v", first)
	}
	if again.node.Restored() == 0 {
		t.Error("the site did not restore its state from disk")
	}
	cur := again.site.rel.Load()
	if cur.Release.Digest != before {
		t.Errorf("restarted with release %s, it had %s", cur.Release.Digest, before)
	}
	checkSignedAnswer(t, addr, "www.example.com.", cur.Zones.Zone("example.com."))
	checkSignedAnswer(t, addr, "static.example.com.", cur.Zones.Zone("example.com."))
}
