package dnsserver

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// pack is the lower-case wire form of name, as the fast path keys it; nil
// for a name dns.PackDomainName refuses.
func pack(name string) []byte {
	var b [256]byte
	n, err := dns.PackDomainName(name, b[:], 0, nil, false)
	if err != nil {
		return nil
	}
	return bytes.Clone(b[:n])
}

// TestFastIndex: every name added is found by its wire form, escaped names
// and the root too; other names, and near misses, are not; a name added
// twice is its last node.
func TestFastIndex(t *testing.T) {
	names := []string{".", "test.", "a.test.", "b.a.test.", `a\.b.test.`, `c\032d.test.`, "ab.test.", "a.b.test.", "x.y.z.test."}
	for i := range 2000 {
		names = append(names, fmt.Sprintf("h%d.big.test.", i))
	}
	x := newFastIndex(len(names))
	for _, n := range names {
		w := pack(n)
		if w == nil {
			t.Fatalf("%q does not pack", n)
		}
		x.add(w, n)
	}
	x.finish()
	for _, n := range names {
		if fn := x.lookup(pack(n)); fn == nil || fn.name != n {
			t.Errorf("lookup(%q) = %v", n, fn)
		}
	}
	for _, n := range []string{"b.test.", "a.a.test.", "h2000.big.test.", "big.test.", "a.test.x.", `a\.c.test.`, "abtest."} {
		if fn := x.lookup(pack(n)); fn != nil {
			t.Errorf("lookup(%q) = %q, want none", n, fn.name)
		}
	}
	again := x.add(pack("a.test."), "a.test.")
	again.cname = true
	x.finish()
	if fn := x.lookup(pack("a.test.")); fn != again {
		t.Errorf("a name added twice: lookup found %p, want the last node %p", fn, again)
	}
	var none *fastIndex
	if none.lookup(pack("a.test.")) != nil {
		t.Error("a nil index found a name")
	}
}

// FuzzWireIs: wireIs(wire, name) is bytes.Equal(wire, the wire form of
// name) for every name the fast index holds outside its map of escaped
// names (fully qualified, packed by dns.PackDomainName, without a
// backslash).
//
//	go test -run='^$' -fuzz=FuzzWireIs -fuzztime=60s ./dnsserver/
func FuzzWireIs(f *testing.F) {
	f.Add("a.test.", []byte("\x01a\x04test\x00"))
	f.Add(".", []byte{0})
	f.Add("ab.", []byte("\x01a\x01b\x00"))
	f.Add("a.b.", []byte("\x02ab\x00"))
	f.Add("www.example.com.", []byte("\x03www\x07example\x03com\x00"))
	f.Fuzz(func(t *testing.T, name string, wire []byte) {
		packed := pack(name)
		if packed == nil || !dns.IsFqdn(name) || strings.IndexByte(name, '\\') >= 0 {
			return
		}
		if !wireIs(packed, name) {
			t.Fatalf("wireIs(%q, %q) is false for its own wire form", packed, name)
		}
		if got, want := wireIs(wire, name), bytes.Equal(wire, packed); got != want {
			t.Fatalf("wireIs(%q, %q) = %v, want %v (packed %q)", wire, name, got, want, packed)
		}
	})
}

// BenchmarkFastIndex: building the index of a million names, and a lookup
// in it, against the map[string]*fastNode it replaces.
//
//	go test -run='^$' -bench=BenchmarkFastIndex -benchmem ./dnsserver/
func BenchmarkFastIndex(b *testing.B) {
	const n = 1_000_000
	names := make([]string, n)
	wires := make([][]byte, n)
	for i := range names {
		names[i] = fmt.Sprintf("h%d.big.test.", i)
		wires[i] = pack(names[i])
	}
	b.Run("build/index", func(b *testing.B) {
		for b.Loop() {
			x := newFastIndex(n)
			for i, w := range wires {
				x.add(w, names[i])
			}
			x.finish()
		}
	})
	b.Run("build/map", func(b *testing.B) {
		for b.Loop() { // as buildFast built it: keys packed in one string
			var keys strings.Builder
			keys.Grow(n * 20)
			nodes := make([]fastNode, n)
			m := make(map[string]*fastNode, n)
			for i, w := range wires {
				start := keys.Len()
				keys.Write(w)
				nodes[i].name = names[i]
				m[keys.String()[start:]] = &nodes[i]
			}
		}
	})
	x := newFastIndex(n)
	m := make(map[string]*fastNode, n)
	for i, w := range wires {
		m[string(w)] = x.add(w, names[i])
	}
	x.finish()
	b.Run("lookup/index", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if fn := x.lookup(wires[i]); fn == nil || fn.replies.Load() != nil {
				b.Fatal("not found")
			}
			i = (i + 7919) % n
		}
	})
	b.Run("lookup/map", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if fn := m[string(wires[i])]; fn == nil || fn.replies.Load() != nil { // the node read, as fastAnswer reads it
				b.Fatal("not found")
			}
			i = (i + 7919) % n
		}
	})
}
