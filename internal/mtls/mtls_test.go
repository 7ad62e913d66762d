package mtls_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aya-gslb/aya/internal/mtls"
	"github.com/aya-gslb/aya/internal/mtls/mtlstest"
)

func load(t *testing.T, f mtlstest.Files) *mtls.Config {
	t.Helper()
	c, err := mtls.Load(f.Cert, f.Key, f.CA)
	if err != nil {
		t.Fatalf("Load(%+v): %v", f, err)
	}
	return c
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	ca := mtlstest.NewCA(t, dir, "ca")
	s1, s2 := ca.Issue("s1"), ca.Issue("s2")
	junk := filepath.Join(dir, "junk.txt")
	if err := os.WriteFile(junk, []byte("not pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name          string
		cert, key, ca string
		want          string
		notExist      bool
	}{
		{"cert missing", missing, s1.Key, s1.CA, "mtls: certificate file " + missing + ": no such file or directory", true},
		{"cert not PEM", junk, s1.Key, s1.CA, "mtls: certificate file " + junk + ": no PEM CERTIFICATE block", false},
		{"cert is a key", s1.Key, s1.Key, s1.CA, "mtls: certificate file " + s1.Key + ": no PEM CERTIFICATE block", false},
		{"key missing", s1.Cert, missing, s1.CA, "mtls: key file " + missing + ": no such file or directory", true},
		{"key not PEM", s1.Cert, junk, s1.CA, "mtls: key file " + junk + ": no PEM PRIVATE KEY block", false},
		{"key is a cert", s1.Cert, s1.Cert, s1.CA, "mtls: key file " + s1.Cert + ": no PEM PRIVATE KEY block", false},
		{"key of another cert", s1.Cert, s2.Key, s1.CA, "mtls: key file " + s2.Key + " with certificate " + s1.Cert + ": tls: private key does not match public key", false},
		{"CA missing", s1.Cert, s1.Key, missing, "mtls: CA file " + missing + ": no such file or directory", true},
		{"CA not PEM", s1.Cert, s1.Key, junk, "mtls: CA file " + junk + ": no PEM CERTIFICATE block", false},
		{"CA without certificates", s1.Cert, s1.Key, s1.Key, "mtls: CA file " + s1.Key + ": no PEM CERTIFICATE block", false},
		{"CA is a directory", s1.Cert, s1.Key, dir, "mtls: CA file " + dir + ": is a directory", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := mtls.Load(tc.cert, tc.key, tc.ca)
			if err == nil {
				t.Fatalf("Load = %+v, want an error", c)
			}
			if err.Error() != tc.want {
				t.Fatalf("Load error\n got %q\nwant %q", err, tc.want)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tc.notExist {
				t.Fatalf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, got, tc.notExist)
			}
		})
	}

	// A bad certificate inside a CA file names the file too.
	bad := filepath.Join(dir, "bad-ca.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mtls.Load(s1.Cert, s1.Key, bad); err == nil || !strings.HasPrefix(err.Error(), "mtls: CA file "+bad+": x509: ") {
		t.Fatalf("Load(bad CA) = %v, want an x509 error naming %s", err, bad)
	}
}

// exchange runs one TLS connection on loopback between server and client:
// the client writes a line, the server echoes it. It returns the server's
// view of the connection and the first error of either side.
func exchange(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()

	type result struct {
		st  tls.ConnectionState
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer func() { _ = c.Close() }()
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(tc, buf); err != nil {
			done <- result{err: err}
			return
		}
		_, err = tc.Write(buf)
		done <- result{st: tc.ConnectionState(), err: err}
	}()

	cerr := func() error {
		cc := client.Clone()
		cc.ServerName = "127.0.0.1"
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cc}
		c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		// With TLS 1.3 the client's handshake ends before the server has
		// checked the client's certificate: a refusal shows on the read.
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return err
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != "ping\n" {
			return errors.New("bad echo " + string(buf))
		}
		return nil
	}()
	r := <-done
	return r.st, errors.Join(cerr, r.err)
}

func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := mtlstest.NewCA(t, dir, "ca")
	other := mtlstest.NewCA(t, dir, "other")
	s1, s2 := load(t, ca.Issue("s1")), load(t, ca.Issue("s2"))
	// A stranger's certificate is from another CA, but it trusts ours: only
	// the server's check of the client certificate can refuse it.
	stranger := other.Issue("s3")
	strangerCfg := load(t, mtlstest.Files{Cert: stranger.Cert, Key: stranger.Key, CA: ca.File})
	// A node of ours that trusts only the other CA refuses our server.
	s4 := ca.Issue("s4")
	distrust := load(t, mtlstest.Files{Cert: s4.Cert, Key: s4.Key, CA: other.File})
	noCert := &tls.Config{RootCAs: s2.Client.RootCAs, MinVersion: tls.VersionTLS12}

	for _, tc := range []struct {
		name   string
		server *tls.Config
		client *tls.Config
		ok     bool
	}{
		{"same CA", s1.Server, s2.Client, true},
		{"same CA, TLS 1.2", s1.Server, maxTLS12(s2.Client), true},
		{"no client certificate", s1.Server, noCert, false},
		{"client from another CA", s1.Server, strangerCfg.Client, false},
		{"client from another CA, TLS 1.2", s1.Server, maxTLS12(strangerCfg.Client), false},
		{"client does not trust the server", s1.Server, distrust.Client, false},
		{"admin: no client certificate", s1.AdminServer(), noCert, true},
		{"admin: client from another CA", s1.AdminServer(), strangerCfg.Client, false},
		{"admin: same CA", s1.AdminServer(), s2.Client, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := exchange(t, tc.server, tc.client)
			if tc.ok != (err == nil) {
				t.Fatalf("exchange error = %v, want success %v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			verified := tc.client != noCert
			if got := len(st.VerifiedChains) > 0; got != verified {
				t.Fatalf("server VerifiedChains present = %v, want %v", got, verified)
			}
			if verified && st.PeerCertificates[0].Subject.CommonName != "s2" {
				t.Fatalf("peer = %q, want s2", st.PeerCertificates[0].Subject.CommonName)
			}
		})
	}
	if s1.Server.MinVersion != tls.VersionTLS12 || s1.Client.MinVersion != tls.VersionTLS12 {
		t.Fatal("MinVersion is not TLS 1.2")
	}
	if s1.Server.ClientAuth != tls.RequireAndVerifyClientCert || s1.AdminServer().ClientAuth != tls.VerifyClientCertIfGiven {
		t.Fatal("wrong ClientAuth")
	}
	if st, err := exchange(t, s1.Server, s2.Client); err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("default exchange: version %#x, %v; want TLS 1.3", st.Version, err)
	}
}

func maxTLS12(c *tls.Config) *tls.Config {
	c = c.Clone()
	c.MaxVersion = tls.VersionTLS12
	return c
}

// TestRotate rewrites a node's certificate and key in place: the next
// handshakes present the new certificate, and a broken rewrite keeps the
// last good one.
func TestRotate(t *testing.T) {
	ca := mtlstest.NewCA(t, "", "ca")
	f := ca.Issue("s1")
	s1, s2 := load(t, f), load(t, ca.Issue("s2"))

	peer := func() *x509.Certificate {
		t.Helper()
		// s2 serves, s1 dials: s2 sees s1's client certificate.
		st, err := exchange(t, s2.Server, s1.Client)
		if err != nil {
			t.Fatal(err)
		}
		return st.PeerCertificates[0]
	}
	// touch moves the files' modification time forward, as a rewrite
	// seconds later would; file systems may keep coarse times.
	touch := func(d time.Duration) {
		t.Helper()
		at := time.Now().Add(d)
		for _, name := range []string{f.Cert, f.Key} {
			if err := os.Chtimes(name, at, at); err != nil {
				t.Fatal(err)
			}
		}
	}

	first := peer()
	ca.Issue("s1") // same files, new certificate and key
	touch(time.Second)
	second := peer()
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("rotated certificate not used")
	}

	// Half a rotation: a new key without its certificate. The pair does not
	// match: the last good pair stays in use.
	certPEM, err := os.ReadFile(f.Cert)
	if err != nil {
		t.Fatal(err)
	}
	ca.Issue("s1")
	if err := os.WriteFile(f.Cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	touch(2 * time.Second)
	if got := peer(); got.SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("after a mismatched rewrite: serial %v, want the last good %v", got.SerialNumber, second.SerialNumber)
	}
	// A removed file keeps the last good pair too.
	if err := os.Remove(f.Key); err != nil {
		t.Fatal(err)
	}
	if got := peer(); got.SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("after removing the key: serial %v, want the last good %v", got.SerialNumber, second.SerialNumber)
	}
	// Completing the rotation picks the new pair.
	ca.Issue("s1")
	touch(3 * time.Second)
	if got := peer(); got.SerialNumber.Cmp(second.SerialNumber) == 0 {
		t.Fatal("completed rotation not used")
	}
}
