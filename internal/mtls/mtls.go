// Package mtls loads the certificates of mutual TLS between AYA nodes: the
// Raft transport and the admin HTTP server. Test certificates are made by
// the subpackage mtlstest.
package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// Config holds the two sides of mutual TLS built from one certificate, key
// and CA. Both use the same certificate, which therefore needs the server
// and client auth extended key usages (or none).
type Config struct {
	// Server accepts peers: it presents the node's certificate and requires
	// a client certificate signed by the CA (tls.RequireAndVerifyClientCert).
	Server *tls.Config
	// Client dials peers: it presents the node's certificate and verifies
	// the server against the CA. The caller sets ServerName per dial, on a
	// clone (tls.Config.Clone).
	Client *tls.Config
}

// Load reads a PEM certificate (chain) and its private key, and a PEM file
// of CA certificates, and returns the server and client configurations of
// mutual TLS. Errors name the file at fault.
//
// The certificate and key are read again on a handshake after either
// file's modification time or size changed, so certificates can be rotated
// without a restart: write both files (the order does not matter), and the
// next handshake uses the new pair. While the files do not form a valid
// pair (e.g. between the two writes), the last good pair stays in use. The
// CA file is read once.
func Load(certFile, keyFile, caFile string) (*Config, error) {
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if err := kp.load(); err != nil {
		return nil, err
	}
	pool, err := loadCA(caFile)
	if err != nil {
		return nil, err
	}
	return &Config{
		Server: &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return kp.get(), nil
			},
			ClientCAs:  pool,
			ClientAuth: tls.RequireAndVerifyClientCert,
		},
		Client: &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return kp.get(), nil
			},
			RootCAs: pool,
		},
	}, nil
}

// AdminServer returns a server configuration for the admin HTTP API: like
// Server, but a client certificate is only verified if the client sends
// one (tls.VerifyClientCertIfGiven), so a Prometheus scraper or curl
// without a certificate can still read. The handler must then refuse
// writes from unauthenticated clients: a request whose r.TLS.VerifiedChains
// is empty presented no certificate (one that does not verify fails the
// handshake).
func (c *Config) AdminServer() *tls.Config {
	s := c.Server.Clone()
	s.ClientAuth = tls.VerifyClientCertIfGiven
	return s
}

// Peer returns one configuration for both roles, for a transport that
// accepts and dials with the same tls.Config (cluster.Config.TLS): Server's
// settings plus Client's certificate and RootCAs. Dialers set ServerName
// per dial, on a clone.
func (c *Config) Peer() *tls.Config {
	p := c.Server.Clone()
	p.GetClientCertificate = c.Client.GetClientCertificate
	p.RootCAs = c.Client.RootCAs
	return p
}

// keyPair is a certificate and key read from files, read again when the
// files change.
type keyPair struct {
	certFile, keyFile string

	mu   sync.Mutex
	cert *tls.Certificate
	// stamp is the files' state when cert was read.
	stamp [2]fileStamp
}

// fileStamp is what tells that a file changed.
type fileStamp struct {
	mod  time.Time
	size int64
}

// stamps returns the current stamps of the files; ok is false if one
// cannot be read.
func (kp *keyPair) stamps() (s [2]fileStamp, ok bool) {
	for i, name := range []string{kp.certFile, kp.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return s, false
		}
		s[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return s, true
}

// get returns the pair to present, reading the files again if they changed
// since the last good read. A failed read keeps the old pair and is tried
// again on the next call.
func (kp *keyPair) get() *tls.Certificate {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if s, ok := kp.stamps(); ok && s != kp.stamp {
		_ = kp.loadLocked()
	}
	return kp.cert
}

// load reads the pair; it is called once before the pair is shared.
func (kp *keyPair) load() error {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	return kp.loadLocked()
}

func (kp *keyPair) loadLocked() error {
	// Stat before reading: a change during the read shows up on the next
	// call instead of being missed.
	s, _ := kp.stamps()
	certPEM, err := readPEM("certificate", kp.certFile, "CERTIFICATE")
	if err != nil {
		return err
	}
	keyPEM, err := readPEM("key", kp.keyFile, "")
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("mtls: key file %s with certificate %s: %w", kp.keyFile, kp.certFile, err)
	}
	kp.cert, kp.stamp = &cert, s
	return nil
}

// loadCA reads a pool of PEM CA certificates.
func loadCA(name string) (*x509.CertPool, error) {
	b, err := readPEM("CA", name, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("mtls: CA file %s: %w", name, err)
		}
		pool.AddCert(c)
	}
	return pool, nil
}

// readPEM reads a file that must hold a PEM block of type typ, or, for typ
// "", of a private key type.
func readPEM(kind, name, typ string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		// The path error already holds the file name; keep its cause only.
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err
		}
		return nil, fmt.Errorf("mtls: %s file %s: %w", kind, name, err)
	}
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		switch {
		case blk == nil:
			want := typ
			if want == "" {
				want = "PRIVATE KEY"
			}
			return nil, fmt.Errorf("mtls: %s file %s: no PEM %s block", kind, name, want)
		case blk.Type == typ, typ == "" && isKeyType(blk.Type):
			return b, nil
		}
	}
}

func isKeyType(t string) bool {
	return t == "PRIVATE KEY" || t == "EC PRIVATE KEY" || t == "RSA PRIVATE KEY"
}
