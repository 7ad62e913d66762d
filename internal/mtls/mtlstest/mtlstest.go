// Package mtlstest makes certificate authorities and node certificates at
// test time, for the tests of mtls and of the packages that run mutual TLS
// (cluster, cmd/aya). It is a separate package so that mtls itself does not
// import testing; only tests import it.
package mtlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Files are the PEM files of one node: its certificate, its key and the
// certificate of the CA that issued it, in the order of mtls.Load.
type Files struct {
	Cert, Key, CA string
}

// CA is a test certificate authority whose certificate is written to a
// file. Its certificates are valid from an hour ago for a day.
type CA struct {
	// File is the PEM file of the CA certificate.
	File string

	tb   testing.TB
	dir  string
	name string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA called name (its common name and file prefix) and
// writes its certificate to dir/<name>-ca.pem; dir "" is tb.TempDir().
// Errors fail the test. Two CAs are unrelated: a certificate of one is
// refused by a node that trusts only the other.
func NewCA(tb testing.TB, dir, name string) *CA {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("mtlstest: CA %s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("mtlstest: CA %s: %v", name, err)
	}
	ca := &CA{File: filepath.Join(dir, name+"-ca.pem"), tb: tb, dir: dir, name: name, cert: cert, key: key}
	writePEM(tb, ca.File, "CERTIFICATE", der)
	return ca
}

// Issue signs a certificate for a node called name and writes it and its
// key to <dir>/<ca>-<name>.pem and <dir>/<ca>-<name>-key.pem. The
// certificate has the subject alternative names 127.0.0.1, ::1, localhost
// and name (an IP address SAN when name is an IP address), and both the server and client auth extended key usages.
// Issuing the same name again overwrites the files with a new certificate
// and key (a rotation); the returned files are the same.
func (ca *CA) Issue(name string) Files {
	ca.tb.Helper()
	key := newKey(ca.tb)
	tmpl := &x509.Certificate{
		SerialNumber: serial(ca.tb),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else {
		tmpl.DNSNames = append(tmpl.DNSNames, name)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.tb.Fatalf("mtlstest: issue %s: %v", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		ca.tb.Fatalf("mtlstest: issue %s: %v", name, err)
	}
	f := Files{
		Cert: filepath.Join(ca.dir, ca.name+"-"+name+".pem"),
		Key:  filepath.Join(ca.dir, ca.name+"-"+name+"-key.pem"),
		CA:   ca.File,
	}
	writePEM(ca.tb, f.Cert, "CERTIFICATE", der)
	writePEM(ca.tb, f.Key, "PRIVATE KEY", keyDER)
	return f
}

// Write makes a CA called "ca" in dir ("" is tb.TempDir()) and issues a
// certificate for each of names, returned by name.
func Write(tb testing.TB, dir string, names ...string) map[string]Files {
	tb.Helper()
	ca := NewCA(tb, dir, "ca")
	m := make(map[string]Files, len(names))
	for _, n := range names {
		m[n] = ca.Issue(n)
	}
	return m
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("mtlstest: generate key: %v", err)
	}
	return key
}

func serial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		tb.Fatalf("mtlstest: serial: %v", err)
	}
	return n
}

func writePEM(tb testing.TB, name, typ string, der []byte) {
	tb.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(name, b, 0o600); err != nil {
		tb.Fatalf("mtlstest: %v", err)
	}
}
