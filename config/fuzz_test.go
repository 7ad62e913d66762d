package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aya-gslb/aya"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; a
// Config it returns must satisfy the rules; an error must be a join of
// one-line *Error values whose lines lie inside the input.
func FuzzParse(f *testing.F) {
	clearEnv(f)
	f.Add(aya.DefaultConfig)
	seeds, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("node: {id: &x n}\ndns: {listen: *x, zones_dir: *x, tcp: {<<: {idle_timeout: 1s}}}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, nil)
		if err == nil {
			checkConfig(t, c)
			return
		}
		if c != nil {
			t.Fatalf("Parse returned a Config and an error: %v", err)
		}
		var joined interface{ Unwrap() []error }
		if !errors.As(err, &joined) {
			t.Fatalf("error is not joined: %T %v", err, err)
		}
		lines := countLines(data) + 1 // Node lines may point just past the end
		for _, e := range joined.Unwrap() {
			ce, ok := errors.AsType[*Error](e)
			if !ok {
				t.Fatalf("%T in the joined errors: %v", e, e)
			}
			if strings.Contains(ce.Error(), "\n") {
				t.Fatalf("error spans lines: %q", ce.Error())
			}
			if ce.Line < 0 || ce.Line > lines {
				t.Fatalf("line %d outside the input's %d lines: %v", ce.Line, lines, ce)
			}
			if ce.File != "fuzz.yaml" || ce.Msg == "" {
				t.Fatalf("incomplete error %+v", ce)
			}
		}
	})
}

// checkConfig asserts what every Config from Parse guarantees.
func checkConfig(t *testing.T, c *Config) {
	t.Helper()
	switch {
	case strings.TrimSpace(c.Node.ID) == "" || len(c.Node.ID) > maxNSID:
		t.Fatalf("bad node.id %q", c.Node.ID)
	case len(c.DNS.Listen) == 0:
		t.Fatal("no dns.listen")
	case c.DNS.ZonesDir == "":
		t.Fatal("no dns.zones_dir")
	case c.DNS.MaxUDPSize < 512 || c.DNS.MaxUDPSize > 65535:
		t.Fatalf("dns.max_udp_size %d", c.DNS.MaxUDPSize)
	case c.DNS.UDPSockets < 0 || c.DNS.UDPSockets > 256:
		t.Fatalf("dns.udp_sockets %d", c.DNS.UDPSockets)
	case c.DNS.TCP.IdleTimeout <= 0 || c.DNS.TCP.MaxConnections < 1:
		t.Fatalf("dns.tcp %+v", c.DNS.TCP)
	case len(c.DNS.Transfer.AllowPrefixes) != len(c.DNS.Transfer.Allow):
		t.Fatalf("dns.transfer %+v", c.DNS.Transfer)
	case c.SlogLevel().String() != strings.ToUpper(c.Log.Level):
		t.Fatalf("log.level %q", c.Log.Level)
	case c.Log.Format != "text" && c.Log.Format != "json":
		t.Fatalf("log.format %q", c.Log.Format)
	}
	for _, s := range c.DNS.Listen {
		if _, msg := parseHostPort(s); msg != "" {
			t.Fatalf("dns.listen %q: %s", s, msg)
		}
	}
	for _, p := range c.DNS.Transfer.AllowPrefixes {
		if !p.IsValid() {
			t.Fatalf("invalid prefix in %+v", c.DNS.Transfer)
		}
	}
}
