package mtls

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// A cluster secret replaces certificate files: every node derives the same
// certificate authority from it, and runs TLS 1.3 with mutual verification
// against that CA. The secret never crosses the wire; a peer that does not
// hold it cannot make a certificate the others accept, and sees no more
// than a failed handshake.
//
// From one secret (HKDF-SHA256 with a fixed salt and info) comes the seed
// of an Ed25519 key, the CA's; the CA certificate is built from a fixed
// template (serial 1, fixed validity, subject key ID and name from the
// public key), so it is byte-identical on every node, and nothing about it
// needs storing. At start each node makes an ephemeral Ed25519 leaf key
// and certificate, signed by the CA of its current secret; it lives in
// memory only, for the process's life.
//
// Rotation: a node may hold several secrets, the current one first. It
// trusts the CAs of all of them and presents, after its leaf, the current
// CA cross-signed by each older one, so a node that still holds only an
// older secret verifies it too. Two rolling restarts rotate a cluster:
// "new old" on every node, then "new".

const (
	// SecretServerName is the DNS name of every certificate made from a
	// cluster secret; a dialer verifies it instead of the host it dials,
	// which a shared secret does not name. ".invalid" (RFC 2606) never
	// resolves.
	SecretServerName = "cluster.aya.invalid"

	// MinSecretBytes is the shortest secret, decoded: 256 bits.
	MinSecretBytes = 32
	// maxSecrets bounds the secrets held at once (a rotation needs two).
	maxSecrets = 4
	// minSecretSymbols is the fewest distinct byte values a secret may
	// have. 32 random bytes have about 30; fewer than 16 happens to one
	// random secret in far more than 2^64, and to every typed pattern.
	minSecretSymbols = 16

	secretSalt = "aya-gslb cluster secret"
	secretInfo = "aya cluster CA ed25519 v1"
)

// The validity of the CA and of the leaves: fixed, so that the CA is the
// same everywhere and no clock skew or expiry breaks the cluster. A leaf's
// key exists only in its process's memory; the secret is the credential.
var (
	secretNotBefore = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)
	secretNotAfter  = time.Date(9999, time.December, 31, 23, 59, 59, 0, time.UTC)
)

// ParseSecrets parses cluster secrets: one or more, separated by white
// space (one per line in a file), the current one first. Each is the
// standard base64 encoding (padding optional) of at least MinSecretBytes
// random bytes, as `aya cluster secret` or `openssl rand -base64 32`
// prints it. Errors never quote the input.
func ParseSecrets(s string) ([][]byte, error) {
	fields := strings.Fields(s)
	switch {
	case len(fields) == 0:
		return nil, errors.New("no secret")
	case len(fields) > maxSecrets:
		return nil, fmt.Errorf("at most %d secrets (got %d)", maxSecrets, len(fields))
	}
	out := make([][]byte, 0, len(fields))
	for i, f := range fields {
		b, err := decodeSecret(f)
		if err != nil {
			if len(fields) > 1 {
				return nil, fmt.Errorf("secret %d of %d: %w", i+1, len(fields), err)
			}
			return nil, err
		}
		for j, o := range out {
			if string(o) == string(b) {
				return nil, fmt.Errorf("secret %d of %d: same as secret %d", i+1, len(fields), j+1)
			}
		}
		out = append(out, b)
	}
	return out, nil
}

func decodeSecret(f string) ([]byte, error) {
	enc := base64.StdEncoding
	if len(f)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.Strict().DecodeString(f)
	if err != nil {
		return nil, errors.New("must be base64, such as `openssl rand -base64 32` prints")
	}
	if len(b) < MinSecretBytes {
		return nil, fmt.Errorf("must decode to at least %d bytes (got %d)", MinSecretBytes, len(b))
	}
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	if n < minSecretSymbols {
		return nil, fmt.Errorf("does not look random (%d distinct byte values): make it with `openssl rand -base64 32`", n)
	}
	return b, nil
}

// NewSecret returns a new random secret, encoded as ParseSecrets reads it.
func NewSecret() string {
	b := make([]byte, MinSecretBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.StdEncoding.EncodeToString(b)
}

// SecretConfig is the mutual TLS of the Raft transport made from cluster
// secrets.
type SecretConfig struct {
	// Peer accepts and dials (cluster.Config.TLS): TLS 1.3 only; it
	// presents this node's leaf, requires and verifies the peer's against
	// the secrets' CAs, and sets ServerName to SecretServerName.
	Peer *tls.Config
	// IDs name the secrets, current first: the fingerprint of each CA's
	// public key, the same on every node that holds that secret and of no
	// use to guess it, so it can be logged and compared between nodes.
	IDs []string
}

// secretCA is the certificate authority of one secret.
type secretCA struct {
	tmpl *x509.Certificate
	cert *x509.Certificate
	key  ed25519.PrivateKey
}

// FromSecrets returns the mutual TLS of secrets (the current one first, as
// ParseSecrets returns them) for a node called name, the common name of its
// leaf certificate.
func FromSecrets(name string, secrets [][]byte) (*SecretConfig, error) {
	if len(secrets) == 0 {
		return nil, errors.New("mtls: no cluster secret")
	}
	cas := make([]*secretCA, len(secrets))
	pool := x509.NewCertPool()
	ids := make([]string, len(secrets))
	for i, s := range secrets {
		ca, err := newSecretCA(s)
		if err != nil {
			return nil, err
		}
		cas[i] = ca
		pool.AddCert(ca.cert)
		ids[i] = hex.EncodeToString(ca.cert.SubjectKeyId[:8])
	}
	cur := cas[0]

	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("mtls: leaf key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("mtls: leaf serial: %w", err)
	}
	leaf := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    secretNotBefore,
		NotAfter:     secretNotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{SecretServerName},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, cur.cert, pub, cur.key)
	if err != nil {
		return nil, fmt.Errorf("mtls: leaf certificate: %w", err)
	}
	chain := [][]byte{der}
	// The current CA, cross-signed by each older one: a node that holds
	// only an older secret verifies leaf -> current CA -> its CA.
	for _, old := range cas[1:] {
		cross := *cur.tmpl
		cross.MaxPathLen, cross.MaxPathLenZero = 0, true
		der, err := x509.CreateCertificate(rand.Reader, &cross, old.cert, cur.key.Public(), old.key)
		if err != nil {
			return nil, fmt.Errorf("mtls: cross-signed CA: %w", err)
		}
		chain = append(chain, der)
	}
	leafCert, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("mtls: leaf certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leafCert}
	return &SecretConfig{
		Peer: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			RootCAs:      pool,
			ServerName:   SecretServerName,
		},
		IDs: ids,
	}, nil
}

// newSecretCA derives the CA of secret. Its certificate depends on the
// secret only: the key from HKDF, every field from the fixed template.
func newSecretCA(secret []byte) (*secretCA, error) {
	seed, err := hkdf.Key(sha256.New, secret, []byte(secretSalt), secretInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("mtls: derive CA key: %w", err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	// The subject key ID is set, not left to crypto/x509, whose method
	// changed between Go releases: nodes built by different Go versions
	// make the same CA.
	skid := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		// The name tells the CAs of two secrets apart, in chains and in
		// the acceptable CAs a server sends with its certificate request.
		Subject:               pkix.Name{CommonName: "aya cluster CA " + hex.EncodeToString(skid[:8])},
		NotBefore:             secretNotBefore,
		NotAfter:              secretNotAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		// Leaf, cross-signed CA, root: one CA below the root.
		MaxPathLen:   1,
		KeyUsage:     x509.KeyUsageCertSign,
		SubjectKeyId: skid[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("mtls: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("mtls: CA certificate: %w", err)
	}
	return &secretCA{tmpl: tmpl, cert: cert, key: key}, nil
}
