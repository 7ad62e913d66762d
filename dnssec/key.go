package dnssec

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Role is what a key signs.
type Role uint8

const (
	// ZSK signs the zone's RRsets (DNSKEY flags 256).
	ZSK Role = iota + 1
	// KSK signs the DNSKEY, CDS and CDNSKEY RRsets; its DS is at the
	// parent (flags 257, the SEP bit).
	KSK
	// CSK is both (flags 257).
	CSK
)

func (r Role) String() string {
	switch r {
	case ZSK:
		return "ZSK"
	case KSK:
		return "KSK"
	case CSK:
		return "CSK"
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

func parseRole(s string) (Role, error) {
	for _, r := range []Role{ZSK, KSK, CSK} {
		if strings.EqualFold(s, r.String()) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("role %q: want ZSK, KSK or CSK", s)
}

// signsKeys reports whether the role signs the DNSKEY RRset (and CDS, CDNSKEY).
func (r Role) signsKeys() bool { return r == KSK || r == CSK }

// signsZone reports whether the role signs the other RRsets.
func (r Role) signsZone() bool { return r == ZSK || r == CSK }

// flags is the DNSKEY flags field of the role: ZONE, plus SEP for KSK and CSK.
func (r Role) flags() uint16 {
	if r.signsKeys() {
		return dns.ZONE | dns.SEP
	}
	return dns.ZONE
}

// Algorithms AYA generates, by the names the command line takes.
var algorithms = map[string]uint8{
	"ecdsap256sha256": dns.ECDSAP256SHA256,
	"ed25519":         dns.ED25519,
}

// ParseAlgorithm maps a name (ecdsap256sha256, ed25519, any case) or
// number (13, 15) to a DNSSEC algorithm number.
func ParseAlgorithm(s string) (uint8, error) {
	if a, ok := algorithms[strings.ToLower(s)]; ok {
		return a, nil
	}
	if n, err := strconv.ParseUint(s, 10, 8); err == nil && (uint8(n) == dns.ECDSAP256SHA256 || uint8(n) == dns.ED25519) {
		return uint8(n), nil
	}
	return 0, fmt.Errorf("algorithm %q: want ecdsap256sha256 (13) or ed25519 (15)", s)
}

// DefaultDNSKEYTTL is the TTL written on a generated DNSKEY.
const DefaultDNSKEYTTL = 3600

// maxKeyFile bounds what is read of a .key or .private file: a P-256 or
// Ed25519 key file is a few hundred bytes.
const maxKeyFile = 64 << 10

// Key is one DNSSEC key of a zone: its DNSKEY, its role, its schedule and,
// on the signer, its private half.
type Key struct {
	Zone   string // canonical, fully qualified
	DNSKEY *dns.DNSKEY
	Role   Role
	Timing Timing
	// signer is nil for a key read without its .private file.
	signer crypto.Signer
}

// Tag is the key tag (RFC 4034 appendix B).
func (k *Key) Tag() uint16 { return k.DNSKEY.KeyTag() }

// Base is the BIND file name without extension: K<zone>+<alg>+<tag>.
func (k *Key) Base() string {
	return fmt.Sprintf("K%s+%03d+%05d", k.Zone, k.DNSKEY.Algorithm, k.Tag())
}

// HasPrivate reports whether the private half is loaded.
func (k *Key) HasPrivate() bool { return k.signer != nil }

// DS is the key's DS record, digest type 2 (SHA-256), with the DNSKEY's TTL.
func (k *Key) DS() *dns.DS { return k.DNSKEY.ToDS(dns.SHA256) }

// Generate makes a new key for zone. t is its schedule (see Timing); the
// caller sets at least Created and Publish.
func Generate(zone string, alg uint8, role Role, t Timing) (*Key, error) {
	zone, err := canonicalZone(zone)
	if err != nil {
		return nil, err
	}
	if role != ZSK && role != KSK && role != CSK {
		return nil, fmt.Errorf("generate key: unknown role %d", role)
	}
	if alg != dns.ECDSAP256SHA256 && alg != dns.ED25519 {
		return nil, fmt.Errorf("generate key: algorithm %d: want %d (ECDSAP256SHA256) or %d (ED25519)", alg, dns.ECDSAP256SHA256, dns.ED25519)
	}
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	k := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: DefaultDNSKEYTTL},
		Flags:     role.flags(),
		Protocol:  3,
		Algorithm: alg,
	}
	priv, err := k.Generate(256)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("generate key: %T is not a crypto.Signer", priv)
	}
	return &Key{Zone: zone, DNSKEY: k, Role: role, Timing: t, signer: s}, nil
}

// canonicalZone returns zone lower-case and fully qualified, or an error.
func canonicalZone(zone string) (string, error) {
	if _, ok := dns.IsDomainName(zone); !ok || zone == "" {
		return "", fmt.Errorf("zone %q: not a domain name", zone)
	}
	return dns.CanonicalName(zone), nil
}

// keyText is the .key file: BIND's comment header, the role, the timing
// comments, then the DNSKEY.
func (k *Key) keyText() string {
	var b strings.Builder
	kind := "zone-signing"
	if k.Role.signsKeys() {
		kind = "key-signing"
	}
	fmt.Fprintf(&b, "; This is a %s key, keyid %d, for %s\n", kind, k.Tag(), k.Zone)
	// BIND keeps roles in its .state file; a .key comment is where BIND
	// tools look for nothing, so they ignore it, and it travels with the key.
	fmt.Fprintf(&b, "; Role: %s\n", k.Role)
	k.Timing.keyComments(&b)
	b.WriteString(k.DNSKEY.String())
	b.WriteString("\n")
	return b.String()
}

// privateText is the .private file: miekg's (= BIND's v1.3) key material,
// then BIND's timing lines.
func (k *Key) privateText() string {
	var b strings.Builder
	b.WriteString(k.DNSKEY.PrivateKeyString(k.signer))
	k.Timing.privateLines(&b)
	return b.String()
}

// ErrExists is returned by WriteFiles when a file of the key is already there.
var ErrExists = errors.New("key file exists")

// WriteFiles writes dir/K<zone>+<alg>+<tag>.key (0644) and .private (0600)
// and returns the path of the .key. It never overwrites: when either file
// exists it writes nothing and returns an error wrapping ErrExists.
func (k *Key) WriteFiles(dir string) (string, error) {
	if k.signer == nil {
		return "", fmt.Errorf("write %s: no private key loaded", k.Base())
	}
	base := filepath.Join(dir, k.Base())
	pub, priv := base+".key", base+".private"
	for _, p := range []string{pub, priv} {
		if _, err := os.Lstat(p); err == nil {
			return "", fmt.Errorf("%s: %w; not overwritten", p, ErrExists)
		}
	}
	// The private half first: a .key without its .private is a key that
	// cannot sign, the other way round nothing is published.
	if err := writeExcl(priv, k.privateText(), 0o600); err != nil {
		return "", err
	}
	if err := writeExcl(pub, k.keyText(), 0o644); err != nil {
		_ = os.Remove(priv)
		return "", err
	}
	return pub, nil
}

// writeExcl creates path (refusing an existing one) with mode and text.
func writeExcl(path, text string, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w; not overwritten", path, ErrExists)
	}
	if err != nil {
		return err
	}
	// The umask may have taken bits off; it may not have added any.
	if err := errors.Join(f.Chmod(mode), writeAll(f, text), f.Sync(), f.Close()); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeAll(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}

// readBounded reads at most maxKeyFile bytes of path.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a key file", path, maxKeyFile)
	}
	return data, nil
}

// ReadKey reads a .key file: the DNSKEY, and the role and timing from its
// comments. Without a "; Role:" comment (a key made by BIND's
// dnssec-keygen) the flags decide: 257 is a KSK, 256 a ZSK.
func ReadKey(path string) (*Key, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(bytes.NewReader(data), path)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// ParseKey reads a .key file's text from r; file names it in errors.
func ParseKey(r io.Reader, file string) (*Key, error) {
	r = io.LimitReader(r, maxKeyFile)
	var (
		t     Timing
		role  Role
		rrTxt strings.Builder
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxKeyFile)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		comment, ok := strings.CutPrefix(text, ";")
		if !ok {
			rrTxt.WriteString(sc.Text())
			rrTxt.WriteString("\n")
			continue
		}
		name, value, ok := strings.Cut(strings.TrimSpace(comment), ":")
		if !ok || strings.ContainsAny(name, " \t") {
			continue // prose, such as "This is a key-signing key, …"
		}
		value = strings.TrimSpace(value)
		if v, _, ok := strings.Cut(value, " "); ok {
			value = v // "20260101000000 (Thu Jan  1 00:00:00 2026)"
		}
		if strings.EqualFold(name, "Role") {
			var err error
			if role, err = parseRole(value); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, line, err)
			}
			continue
		}
		if _, err := t.set(name, value); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	zp := dns.NewZoneParser(strings.NewReader(rrTxt.String()), ".", file)
	var key *dns.DNSKEY
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		k, isKey := rr.(*dns.DNSKEY)
		if !isKey || key != nil {
			return nil, fmt.Errorf("%s: want exactly one DNSKEY record, found %s", file, dns.TypeToString[rr.Header().Rrtype])
		}
		key = k
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%s: no DNSKEY record", file)
	}
	if key.Protocol != 3 || key.Flags&dns.ZONE == 0 {
		return nil, fmt.Errorf("%s: DNSKEY flags %d protocol %d: not a zone key", file, key.Flags, key.Protocol)
	}
	if key.Algorithm != dns.ECDSAP256SHA256 && key.Algorithm != dns.ED25519 {
		return nil, fmt.Errorf("%s: algorithm %d: AYA signs with %d (ECDSAP256SHA256) or %d (ED25519)", file, key.Algorithm, dns.ECDSAP256SHA256, dns.ED25519)
	}
	if !validPublicKey(key) {
		return nil, fmt.Errorf("%s: the DNSKEY's public key is not a valid algorithm %d key", file, key.Algorithm)
	}
	if key.Hdr.Ttl == 0 {
		key.Hdr.Ttl = DefaultDNSKEYTTL
	}
	key.Hdr.Name = dns.CanonicalName(key.Hdr.Name)
	sep := key.Flags&dns.SEP != 0
	switch {
	case role == 0 && sep:
		role = KSK
	case role == 0:
		role = ZSK
	case role.signsKeys() != sep:
		return nil, fmt.Errorf("%s: role %s does not match DNSKEY flags %d", file, role, key.Flags)
	}
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &Key{Zone: key.Hdr.Name, DNSKEY: key, Role: role, Timing: t}, nil
}

// validPublicKey reports whether the DNSKEY holds a key of its algorithm's size.
func validPublicKey(k *dns.DNSKEY) bool {
	b, err := fromBase64(k.PublicKey)
	if err != nil {
		return false
	}
	switch k.Algorithm {
	case dns.ECDSAP256SHA256:
		return len(b) == 64
	case dns.ED25519:
		return len(b) == 32
	}
	return false
}

// LoadPrivate reads the key's .private file at path. It refuses a file of
// another key (it signs a probe and verifies it with the DNSKEY, since
// miekg/dns takes the public half from the DNSKEY as given) and timing
// lines that disagree with the .key's comments.
func (k *Key) LoadPrivate(path string) error {
	data, err := readBounded(path)
	if err != nil {
		return err
	}
	priv, err := k.DNSKEY.ReadPrivateKey(bytes.NewReader(data), path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return fmt.Errorf("%s: %T is not a signing key", path, priv)
	}
	var t Timing
	for i, l := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		if _, err := t.set(strings.TrimSpace(name), strings.TrimSpace(value)); err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
	}
	if !t.equal(Timing{}) && !t.equal(k.Timing) {
		return fmt.Errorf("%s: its timing lines disagree with the comments of %s.key; fix one (dnssec-settime writes both)", path, k.Base())
	}
	if err := probe(k.DNSKEY, s); err != nil {
		return fmt.Errorf("%s: not the private key of %s.key: %w", path, k.Base(), err)
	}
	k.signer = s
	return nil
}

// probe signs a throwaway RRset with s and verifies it with key.
func probe(key *dns.DNSKEY, s crypto.Signer) error {
	txt := &dns.TXT{Hdr: dns.RR_Header{Name: key.Hdr.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 0}, Txt: []string{"aya key probe"}}
	sig := &dns.RRSIG{Algorithm: key.Algorithm, KeyTag: key.KeyTag(), SignerName: key.Hdr.Name, Inception: 0, Expiration: ^uint32(0)}
	if err := sig.Sign(s, []dns.RR{txt}); err != nil {
		return err
	}
	return sig.Verify(key, []dns.RR{txt})
}

// LoadKeys reads every K<zone>+*.key file of dir, with its .private when
// private is set (a missing .private is then an error), sorted by role
// (KSK, CSK, ZSK), then by Activate, then tag. A key of another zone is skipped by its name.
func LoadKeys(dir, zone string, private bool) ([]*Key, error) {
	zone, err := canonicalZone(zone)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	prefix := "K" + zone + "+"
	var keys []*Key
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".key") || !strings.HasPrefix(strings.ToLower(name), strings.ToLower(prefix)) {
			continue
		}
		path := filepath.Join(dir, name)
		k, err := ReadKey(path)
		if err != nil {
			return nil, err
		}
		if k.Zone != zone {
			return nil, fmt.Errorf("%s: DNSKEY owner %s is not zone %s", path, k.Zone, zone)
		}
		if private {
			if err := k.LoadPrivate(strings.TrimSuffix(path, ".key") + ".private"); err != nil {
				return nil, err
			}
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys, nil
}

func compareKeys(a, b *Key) int {
	// KSKs first, then CSKs, then ZSKs: the order of the chain of trust.
	rank := map[Role]int{KSK: 0, CSK: 1, ZSK: 2}
	if a.Role != b.Role {
		return rank[a.Role] - rank[b.Role]
	}
	if c := a.Timing.Activate.Compare(b.Timing.Activate); c != 0 {
		return c
	}
	return int(a.Tag()) - int(b.Tag())
}
