package mtls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Two fixed secrets, so that failures reproduce.
var (
	secretA = "0123456789abcdefghijklmnopqrstuv"
	secretB = "ZYXWVUTSRQPONMLKJIHGFEDCBA987654"
)

func enc(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseSecrets(t *testing.T) {
	a, b := enc(secretA), enc(secretB)
	for _, tc := range []struct {
		name string
		in   string
		want []string
		err  string
	}{
		{"one", a + "\n", []string{secretA}, ""},
		{"unpadded", strings.TrimRight(a, "="), []string{secretA}, ""},
		{"new then old", b + "\n" + a + "\n", []string{secretB, secretA}, ""},
		{"spaces", "  " + b + " \t " + a, []string{secretB, secretA}, ""},
		{"longer", enc(secretA + secretB), []string{secretA + secretB}, ""},
		{"empty", " \n", nil, "no secret"},
		{"not base64", "correct-horse-battery-staple-correct-horse", nil,
			"must be base64, such as `openssl rand -base64 32` prints"},
		{"url alphabet", strings.ReplaceAll(enc("\xfb\xff"+secretA), "+", "-"), nil,
			"must be base64, such as `openssl rand -base64 32` prints"},
		{"short", enc(secretA[:31]), nil, "must decode to at least 32 bytes (got 31)"},
		{"pattern", enc(strings.Repeat("ab", 20)), nil,
			"does not look random (2 distinct byte values): make it with `openssl rand -base64 32`"},
		{"second short", b + "\n" + enc(secretA[:16]), nil, "secret 2 of 2: must decode to at least 32 bytes (got 16)"},
		{"repeated", a + "\n" + a, nil, "secret 2 of 2: same as secret 1"},
		{"too many", strings.Repeat(a+" ", 5), nil, "at most 4 secrets (got 5)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSecrets(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("ParseSecrets: err = %v, want %q", err, tc.err)
				}
				if f := strings.Fields(tc.in); len(f) > 0 && strings.Contains(err.Error(), f[0]) {
					t.Fatalf("error %q quotes the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecrets: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d secrets, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if string(got[i]) != tc.want[i] {
					t.Errorf("secret %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	s := NewSecret()
	got, err := ParseSecrets(s + "\n")
	if err != nil || len(got) != 1 || len(got[0]) != MinSecretBytes {
		t.Fatalf("ParseSecrets(NewSecret()) = %d secrets, %v", len(got), err)
	}
	if NewSecret() == s {
		t.Fatal("two NewSecret calls returned the same secret")
	}
}

// TestSecretCA pins that a secret's CA is byte-identical wherever it is
// made, and different for another secret.
func TestSecretCA(t *testing.T) {
	mk := func(s string) *x509.Certificate {
		t.Helper()
		ca, err := newSecretCA([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return ca.cert
	}
	a1, a2, b := mk(secretA), mk(secretA), mk(secretB)
	if !bytes.Equal(a1.Raw, a2.Raw) {
		t.Fatal("the same secret made two different CA certificates")
	}
	if bytes.Equal(a1.Raw, b.Raw) {
		t.Fatal("two secrets made the same CA certificate")
	}
	if a1.Subject.CommonName == b.Subject.CommonName {
		t.Fatalf("two secrets' CAs have the same name %q", a1.Subject.CommonName)
	}
	if a1.SerialNumber.Int64() != 1 || !a1.NotBefore.Equal(secretNotBefore) || !a1.NotAfter.Equal(secretNotAfter) {
		t.Fatalf("CA serial %v, validity %v to %v", a1.SerialNumber, a1.NotBefore, a1.NotAfter)
	}

	// Nodes that hold the same secret name it alike.
	c1, err := FromSecrets("s1", [][]byte{[]byte(secretA)})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := FromSecrets("s2", [][]byte{[]byte(secretB), []byte(secretA)})
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.IDs) != 2 || c2.IDs[1] != c1.IDs[0] || c2.IDs[0] == c1.IDs[0] {
		t.Fatalf("IDs %v and %v, want the second's old one to be the first's", c1.IDs, c2.IDs)
	}
	if !strings.HasSuffix(a1.Subject.CommonName, c1.IDs[0]) {
		t.Fatalf("CA %q is not named by its ID %s", a1.Subject.CommonName, c1.IDs[0])
	}
}

// TestSecretHandshake runs the handshake of two nodes over loopback TCP,
// both ways round, and exchanges a byte: nodes that share a secret
// connect, others do not; during a rotation, a node that holds the new and
// the old secret talks to nodes that hold either.
func TestSecretHandshake(t *testing.T) {
	a, b, c := []byte(secretA), []byte(secretB), []byte(strings.Repeat("Qw3rty!?", 4))
	for _, tc := range []struct {
		name     string
		srv, cli [][]byte
		ok       bool
	}{
		{"same secret", [][]byte{a}, [][]byte{a}, true},
		{"other secret", [][]byte{a}, [][]byte{b}, false},
		{"new and old with old", [][]byte{b, a}, [][]byte{a}, true},
		{"old with new and old", [][]byte{a}, [][]byte{b, a}, true},
		{"new and old with new", [][]byte{b, a}, [][]byte{b}, true},
		{"new with new and old", [][]byte{b}, [][]byte{b, a}, true},
		{"new with old", [][]byte{b}, [][]byte{a}, false},
		{"both rotating", [][]byte{b, a}, [][]byte{b, a}, true},
		{"third secret", [][]byte{b, a}, [][]byte{c}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := peer(t, "srv", tc.srv)
			cli := peer(t, "cli", tc.cli)
			if err := exchange(t, srv, cli); tc.ok != (err == nil) {
				t.Fatalf("server side: exchange error %v, want success %v", err, tc.ok)
			}
			if err := exchange(t, cli, srv); tc.ok != (err == nil) {
				t.Fatalf("client side: exchange error %v, want success %v", err, tc.ok)
			}
		})
	}

	// A client with no certificate, or one that does not speak TLS 1.3,
	// does not get in, even when it skips verifying the server.
	srv := peer(t, "srv", [][]byte{a})
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"no certificate", &tls.Config{InsecureSkipVerify: true}},
		{"TLS 1.2", func() *tls.Config {
			c := peer(t, "cli", [][]byte{a})
			c.MaxVersion = tls.VersionTLS12
			return c
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := exchange(t, srv, tc.cfg); err == nil {
				t.Fatal("exchange succeeded")
			}
		})
	}
}

func peer(t *testing.T, name string, secrets [][]byte) *tls.Config {
	t.Helper()
	c, err := FromSecrets(name, secrets)
	if err != nil {
		t.Fatal(err)
	}
	return c.Peer
}

// exchange accepts with srv and dials with cli over loopback TCP, and
// sends a byte each way: the client's certificate is checked after its
// side of a TLS 1.3 handshake, so a refusal shows on its first read.
func exchange(t *testing.T, srv, cli *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1)
		if _, err := io.ReadFull(c, buf); err != nil {
			done <- err
			return
		}
		_, err = c.Write(buf)
		done <- err
	}()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cli}
	c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		<-done
		return err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{'x'}); err != nil {
		<-done
		return err
	}
	buf := make([]byte, 1)
	_, err = io.ReadFull(c, buf)
	return errors.Join(err, <-done)
}

// FuzzParseSecrets checks that ParseSecrets never panics, that what it
// accepts is what it promises and reads back the same once encoded, and
// that its errors never quote the input.
func FuzzParseSecrets(f *testing.F) {
	for _, s := range []string{
		enc(secretA), enc(secretB) + "\n" + enc(secretA) + "\n", strings.TrimRight(enc(secretA), "="),
		"", " ", "=", "====", enc("short"), enc(strings.Repeat("a", 64)), "not base64 at all",
		enc(secretA) + " " + enc(secretA),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseSecrets(in)
		if err != nil {
			for _, w := range strings.Fields(in) {
				if len(w) >= 16 && strings.Contains(err.Error(), w) {
					t.Fatalf("error %q quotes the input", err)
				}
			}
			return
		}
		if len(got) == 0 || len(got) > maxSecrets {
			t.Fatalf("%d secrets", len(got))
		}
		var again []string
		for _, s := range got {
			if len(s) < MinSecretBytes {
				t.Fatalf("accepted a secret of %d bytes", len(s))
			}
			again = append(again, base64.StdEncoding.EncodeToString(s))
		}
		back, err := ParseSecrets(strings.Join(again, "\n"))
		if err != nil {
			t.Fatalf("re-encoded secrets do not parse: %v", err)
		}
		for i := range got {
			if !bytes.Equal(got[i], back[i]) {
				t.Fatalf("secret %d differs once re-encoded", i)
			}
		}
	})
}
