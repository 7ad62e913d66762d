package proxy

import (
	"bytes"
	"strings"
	"testing"
)

var testStickySecret = bytes.Repeat([]byte("k"), 32)

func TestStickyRoundTrip(t *testing.T) {
	c, err := newStickyCodec(testStickySecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"b1", "web-10.0.0.1:8080", "ü/=;, \"x\"", strings.Repeat("x", 200)} {
		v := c.encode("web", backend)
		if strings.ContainsAny(v, " \t\",;\\=+/") {
			t.Errorf("encode(%q) = %q: not a plain cookie value", backend, v)
		}
		if got, ok := c.decode("web", v); !ok || got != backend {
			t.Errorf("decode(encode(%q)) = %q, %v", backend, got, ok)
		}
	}
}

func TestStickyRejects(t *testing.T) {
	c, err := newStickyCodec(testStickySecret)
	if err != nil {
		t.Fatal(err)
	}
	good := c.encode("web", "b1")
	other, _ := newStickyCodec(bytes.Repeat([]byte("z"), 32))
	flip := []byte(good)
	flip[len(flip)-3] ^= 1
	name, sig, _ := strings.Cut(good, ".")
	tests := []struct {
		name, pool, value string
	}{
		{"other pool", "api", good},
		{"pools differ by where the name ends", "webb", stickyEncoding.EncodeToString([]byte("1")) + "." + sig},
		{"other secret", "web", other.encode("web", "b1")},
		{"tampered MAC", "web", string(flip)},
		{"other backend, same MAC", "web", stickyEncoding.EncodeToString([]byte("b2")) + "." + sig},
		{"short MAC", "web", name + "." + sig[:len(sig)-2]},
		{"long MAC", "web", good + "AA"},
		{"no dot", "web", name + sig},
		{"two dots", "web", good + ".x"},
		{"empty", "web", ""},
		{"dot", "web", "."},
		{"empty backend", "web", "." + sig},
		{"not base64", "web", "b1!." + sig},
		{"padded", "web", name + "==." + sig},
		{"huge", "web", strings.Repeat("A", 1<<20) + "." + sig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if b, ok := c.decode(tc.pool, tc.value); ok {
				t.Fatalf("decode(%q, %.40q) = %q, true; want rejected", tc.pool, tc.value, b)
			}
		})
	}
}

func TestStickySecretLength(t *testing.T) {
	if _, err := newStickyCodec(make([]byte, 31)); err == nil {
		t.Fatal("31-byte secret accepted")
	}
	secret := bytes.Repeat([]byte("s"), 32)
	c, err := newStickyCodec(secret)
	if err != nil {
		t.Fatal(err)
	}
	v := c.encode("web", "b1")
	secret[0] = 'x' // the codec keeps its own copy
	if _, ok := c.decode("web", v); !ok {
		t.Fatal("changing the caller's secret slice changed the codec")
	}
}

// FuzzSticky checks that decode never panics and accepts only what encode
// made: a value it accepts encodes back to itself.
func FuzzSticky(f *testing.F) {
	c, err := newStickyCodec(testStickySecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("web", c.encode("web", "b1"))
	f.Add("web", c.encode("api", "b1"))
	f.Add("web", "")
	f.Add("", ".")
	f.Add("web", "YjE.AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, pool, value string) {
		b, ok := c.decode(pool, value)
		if !ok {
			return
		}
		if again := c.encode(pool, b); again != value {
			t.Fatalf("decode(%q, %q) accepted %q, which encodes to %q", pool, value, b, again)
		}
	})
}
