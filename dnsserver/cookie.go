package dnsserver

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/dchest/siphash"

	"github.com/miekg/dns"
)

// DNS cookies (RFC 7873) with the interoperable server cookie of RFC 9018:
//
//	Server Cookie = Version (1) | Reserved (3 × 0) | Timestamp (32-bit Unix seconds) | Hash (8)
//	Hash          = SipHash-2-4(Client Cookie | Version | Reserved | Timestamp | Client-IP, secret)
//
// A server cookie is valid for an hour after its timestamp and up to five
// minutes before it (clock skew between sites); one older than half an hour
// is replaced by a fresh one in the reply, a younger one is echoed as it
// came (no hash to compute for it).
//
// The SipHash secret is not the configured secret itself: it is derived per
// epoch (an hour of Unix time) with HKDF-SHA256 from a base secret, so the
// secret in use rotates every hour with no coordination. Every site of a
// cluster holds the same base secret (the cluster secret), so a cookie from
// one site is valid at every other one, as RFC 9018 intends for anycast. A
// cookie is checked with the key of its own timestamp's epoch, which is the
// current or the previous one for any cookie still in its validity window
// (the next one, for a site whose clock is ahead).
//
// Enforcement: none. A query with a bad or expired server cookie is answered
// as if it carried the client cookie alone, with a fresh server cookie
// (RFC 7873 §5.2.3/§5.2.4); it is never answered BADCOOKIE, so a client whose
// cookie went stale (a site restarted with a new random secret, a secret
// rotation) loses nothing but its exemption from rate limiting, which is
// what a valid cookie buys (rrl.go): it proves the source address is not
// spoofed.

const (
	cookieVersion   = 1
	clientCookieLen = 8
	serverCookieLen = 16 // RFC 9018 §4
	cookieEpoch     = 3600
	// cookieMaxAge and cookieMaxAhead bound a valid timestamp (RFC 9018
	// §4.3); cookieRefresh is the age past which a new one is returned.
	cookieMaxAge   = 3600
	cookieMaxAhead = 300
	cookieRefresh  = 1800
	// cookieSecretLen is the length of a generated base secret.
	cookieSecretLen = 32
	cookieSalt      = "aya dns cookie v1"
	// CookieSecretFile is the name of the base secret generated in the data
	// directory when no cluster secret is configured.
	CookieSecretFile = "dns-cookie.secret"
)

// CookieConfig configures DNS cookies.
type CookieConfig struct {
	// Disabled turns cookies off: cookie options are ignored and replies
	// carry none (dns.cookies.enabled: false).
	Disabled bool
	// Secrets are the base secrets the per-epoch SipHash keys derive from,
	// the current one first: new cookies use the first, cookies made with
	// any of them are valid. Every site of a cluster needs the same ones
	// (the cluster secrets). Empty means the secret of SecretFile, or else
	// a random secret for the process's life.
	Secrets [][]byte
	// SecretFile holds a random base secret used when Secrets is empty. Listen
	// reads it, and creates it (mode 0600) when it is missing, so a single
	// node's cookies stay valid across restarts. Empty means none.
	SecretFile string
}

// cookieJar makes and checks server cookies for a set of base secrets. It
// is shared by the views of one set of secrets; its only mutable part is
// the key cache of the current epoch.
type cookieJar struct {
	secrets [][]byte
	keys    atomic.Pointer[epochKeys]
}

// epochKeys are the SipHash keys of the epochs around epoch, per secret:
// [i][0] the previous epoch, [i][1] epoch, [i][2] the next.
type epochKeys struct {
	epoch int64
	keys  [][3][2]uint64
}

func newCookieJar(secrets [][]byte) *cookieJar {
	return &cookieJar{secrets: secrets}
}

// keysAt returns the key cache for the epoch of now, computing it when the
// epoch changed (once an hour; two goroutines may both compute it, to the
// same result).
func (j *cookieJar) keysAt(now int64) *epochKeys {
	e := now / cookieEpoch
	if k := j.keys.Load(); k != nil && k.epoch == e {
		return k
	}
	k := &epochKeys{epoch: e, keys: make([][3][2]uint64, len(j.secrets))}
	for i, s := range j.secrets {
		for d := range 3 {
			k.keys[i][d] = epochKey(s, e-1+int64(d))
		}
	}
	j.keys.Store(k)
	return k
}

// epochKey derives the SipHash key of one epoch from a base secret: the
// first 16 octets of HKDF-SHA256 (RFC 5869) with salt cookieSalt and the
// epoch number (8 octets, big-endian) as info.
func epochKey(secret []byte, epoch int64) [2]uint64 {
	var info [8]byte
	binary.BigEndian.PutUint64(info[:], uint64(epoch))
	// The only error of hkdf.Key is a length over 255 hash blocks.
	k, _ := hkdf.Key(sha256.New, secret, []byte(cookieSalt), string(info[:]), 16)
	return [2]uint64{binary.LittleEndian.Uint64(k), binary.LittleEndian.Uint64(k[8:])}
}

// cookieHash is the RFC 9018 hash of a server cookie whose first 8 octets
// (version, reserved, timestamp) are sc, for client cookie cc and client
// address ip.
func cookieHash(k [2]uint64, cc, sc []byte, ip netip.Addr) uint64 {
	var msg [clientCookieLen + 8 + 16]byte
	copy(msg[:], cc[:clientCookieLen])
	copy(msg[clientCookieLen:], sc[:8])
	n := clientCookieLen + 8
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		n += copy(msg[n:], a[:])
	} else {
		a := ip.As16()
		n += copy(msg[n:], a[:])
	}
	return siphash.Hash(k[0], k[1], msg[:n])
}

// valid reports whether sc is a server cookie of ours for client cookie cc
// from ip at time now, and whether it is fresh enough to be echoed back.
func (j *cookieJar) valid(cc, sc []byte, ip netip.Addr, now int64) (ok, fresh bool) {
	if len(sc) != serverCookieLen || sc[0] != cookieVersion || sc[1]|sc[2]|sc[3] != 0 {
		return false, false
	}
	ts := int64(binary.BigEndian.Uint32(sc[4:]))
	// RFC 9018 §4.3: serial number arithmetic on the 32-bit timestamp.
	age := int64(int32(uint32(now) - uint32(ts)))
	if age > cookieMaxAge || age < -cookieMaxAhead {
		return false, false
	}
	d := (now-age)/cookieEpoch - now/cookieEpoch + 1 // 0, 1 or 2
	if d < 0 || d > 2 {
		return false, false
	}
	want := binary.LittleEndian.Uint64(sc[8:])
	for _, k := range j.keysAt(now).keys {
		if cookieHash(k[d], cc, sc, ip) == want {
			return true, age <= cookieRefresh
		}
	}
	return false, false
}

// make writes a new server cookie for cc from ip at time now into dst.
func (j *cookieJar) make(dst, cc []byte, ip netip.Addr, now int64) {
	dst[0] = cookieVersion
	dst[1], dst[2], dst[3] = 0, 0, 0
	binary.BigEndian.PutUint32(dst[4:], uint32(now))
	h := cookieHash(j.keysAt(now).keys[0][1], cc, dst, ip)
	binary.LittleEndian.PutUint64(dst[8:], h)
}

// cookieReply is the outcome of the cookie of one query.
type cookieReply struct {
	// opt is the COOKIE option of the reply, code and length included
	// (4 + 8 + 16 octets); n is 0 when the reply carries none.
	opt [4 + clientCookieLen + serverCookieLen]byte
	n   int
	// valid is set when the query carried a valid server cookie of ours;
	// had when it carried a server cookie at all.
	valid, had bool
}

// Cookie states, the labels of aya_dns_cookies_total.
const (
	cookieClientOnly = iota
	cookieValid
	cookieInvalid
	numCookieStates
)

var cookieStateNames = [numCookieStates]string{"client_only", "valid", "invalid"}

func (r *cookieReply) state() int {
	switch {
	case r.valid:
		return cookieValid
	case r.had:
		return cookieInvalid
	}
	return cookieClientOnly
}

// answer computes the reply's cookie for the COOKIE option data c of a
// query (client cookie, then the server cookie if any; its length already
// checked by cookieLenOK) from ip at time now.
func (j *cookieJar) answer(r *cookieReply, c []byte, ip netip.Addr, now int64) {
	binary.BigEndian.PutUint16(r.opt[0:], optCookie)
	binary.BigEndian.PutUint16(r.opt[2:], clientCookieLen+serverCookieLen)
	copy(r.opt[4:], c[:clientCookieLen])
	r.n = len(r.opt)
	sc := r.opt[4+clientCookieLen:]
	r.valid, r.had = false, len(c) > clientCookieLen
	if r.had {
		ok, fresh := j.valid(c[:clientCookieLen], c[clientCookieLen:], ip, now)
		r.valid = ok
		if fresh {
			copy(sc, c[clientCookieLen:])
			return
		}
	}
	j.make(sc, c[:clientCookieLen], ip, now)
}

// queryCookie returns the COOKIE option data of a query's OPT record (the
// first one), nil without one.
func queryCookie(opt *dns.OPT) []byte {
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok {
			b, err := hex.DecodeString(c.Cookie)
			if err != nil || !cookieLenOK(len(b)) {
				return nil
			}
			return b
		}
	}
	return nil
}

// loadCookieSecret reads the base secret of path, creating it with a new
// random secret (mode 0600, in a directory created 0700) when it does not
// exist. A file of the wrong size is an error, not overwritten.
func loadCookieSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != cookieSecretLen {
			return nil, fmt.Errorf("cookie secret %s: %d bytes, want %d (remove it to make a new one)", path, len(b), cookieSecretLen)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cookie secret: %w", err)
	}
	b = make([]byte, cookieSecretLen)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("cookie secret: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("cookie secret: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("cookie secret: %w", err)
	}
	return b, nil
}

// randomSecret is a base secret for one process's life.
func randomSecret() []byte {
	b := make([]byte, cookieSecretLen)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}
