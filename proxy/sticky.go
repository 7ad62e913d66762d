package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// Sticky cookie values: base64url(backend) "." base64url(MAC), where MAC is
// HMAC-SHA256 over the length-prefixed pool and backend names, truncated
// to stickyMACLen bytes. A cookie names its backend, not an index, so that
// it survives a reload that reorders the pool; the MAC binds it to its
// pool, so a cookie of one pool cannot steer another.
const (
	stickyMinSecret = 32
	stickyMACLen    = 16
	// stickyMaxValue bounds what decode looks at: backend names are short.
	stickyMaxValue = 512
)

// stickyEncoding is unpadded base64url, decoded strictly: a value with
// non-zero trailing bits is refused, so every accepted cookie is the one
// encode wrote (no second spelling of the same MAC).
var stickyEncoding = base64.RawURLEncoding.Strict()

// stickyCodec signs and checks session persistence cookie values. It is
// safe for concurrent use.
type stickyCodec struct {
	secret []byte
}

// newStickyCodec returns a codec signing with secret, at least 32 bytes.
func newStickyCodec(secret []byte) (*stickyCodec, error) {
	if len(secret) < stickyMinSecret {
		return nil, fmt.Errorf("sticky secret: %d bytes, want at least %d", len(secret), stickyMinSecret)
	}
	return &stickyCodec{secret: append([]byte(nil), secret...)}, nil
}

// mac returns the truncated MAC of backend in pool.
func (s *stickyCodec) mac(pool, backend string) []byte {
	m := hmac.New(sha256.New, s.secret)
	var n [binary.MaxVarintLen64]byte
	m.Write(n[:binary.PutUvarint(n[:], uint64(len(pool)))])
	m.Write([]byte(pool))
	m.Write(n[:binary.PutUvarint(n[:], uint64(len(backend)))])
	m.Write([]byte(backend))
	return m.Sum(nil)[:stickyMACLen]
}

// encode returns the cookie value that pins a client of pool to backend:
// URL- and cookie-safe (RFC 6265 cookie-octets).
func (s *stickyCodec) encode(pool, backend string) string {
	return stickyEncoding.EncodeToString([]byte(backend)) + "." + stickyEncoding.EncodeToString(s.mac(pool, backend))
}

// stickyChars reports whether v holds only base64url characters and dots:
// the decoder skips CR and LF, which would give a value a second spelling.
func stickyChars(v string) bool {
	for i := range len(v) {
		switch c := v[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// decode returns the backend a cookie value of pool names, and false when
// the value is not one that encode made for pool with this secret. It
// never panics, whatever value is.
func (s *stickyCodec) decode(pool, value string) (backend string, ok bool) {
	if len(value) > stickyMaxValue || !stickyChars(value) {
		return "", false
	}
	name, sig, found := strings.Cut(value, ".")
	if !found {
		return "", false
	}
	b, err := stickyEncoding.DecodeString(name)
	if err != nil || len(b) == 0 {
		return "", false
	}
	got, err := stickyEncoding.DecodeString(sig)
	if err != nil || len(got) != stickyMACLen {
		return "", false
	}
	if !hmac.Equal(got, s.mac(pool, string(b))) {
		return "", false
	}
	return string(b), true
}
