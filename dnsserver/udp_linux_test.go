package dnsserver

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestMmsgSource holds source to the sockaddrs the kernel writes:
// AF_INET, AF_INET6 (an IPv4 client of a dual-stack socket as the mapped
// address, as net.UDPAddr had it), and anything else or too short refused.
func TestMmsgSource(t *testing.T) {
	for _, c := range []struct {
		name    string
		family  uint16
		addr    []byte
		namelen uint32
		want    string // "" = refused
	}{
		{"inet", unix.AF_INET, []byte{127, 77, 42, 1}, unix.SizeofSockaddrInet4, "127.77.42.1"},
		{"inet6", unix.AF_INET6, netip.MustParseAddr("2001:db8::53").AsSlice(), unix.SizeofSockaddrInet6, "2001:db8::53"},
		{"inet6 mapped", unix.AF_INET6, netip.MustParseAddr("::ffff:192.0.2.1").AsSlice(), unix.SizeofSockaddrInet6, "::ffff:192.0.2.1"},
		{"inet short", unix.AF_INET, []byte{127, 0, 0, 1}, 4, ""},
		{"inet6 as long as inet", unix.AF_INET6, make([]byte, 16), unix.SizeofSockaddrInet4, ""},
		{"unix", unix.AF_UNIX, make([]byte, 4), unix.SizeofSockaddrInet6, ""},
		{"none", 0, nil, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &mmsgConn{in: make([]unix.Mmsghdr, 1), names: make([]unix.RawSockaddrInet6, 1)}
			b.names[0].Family = c.family
			if c.family == unix.AF_INET {
				copy((*unix.RawSockaddrInet4)(unsafe.Pointer(&b.names[0])).Addr[:], c.addr)
			} else {
				copy(b.names[0].Addr[:], c.addr)
			}
			b.in[0].Hdr.Namelen = c.namelen
			got, ok := b.source(0)
			if c.want == "" {
				if ok {
					t.Errorf("source = %v, want refused", got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(c.want) {
				t.Errorf("source = %v, %v; want %s", got, ok, c.want)
			}
		})
	}
}

// FuzzMmsgSource feeds source arbitrary sockaddr bytes and lengths: it
// never panics, and what it accepts is the address at the family's offset.
//
//	go test -run=^$ -fuzz=FuzzMmsgSource -fuzztime=30s ./dnsserver/
func FuzzMmsgSource(f *testing.F) {
	f.Add(uint32(16), []byte{2, 0, 0, 53, 127, 77, 42, 1})
	f.Add(uint32(28), append([]byte{10, 0, 0, 53, 0, 0, 0, 0}, netip.IPv6Loopback().AsSlice()...))
	f.Add(uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, namelen uint32, raw []byte) {
		b := &mmsgConn{in: make([]unix.Mmsghdr, 1), names: make([]unix.RawSockaddrInet6, 1)}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&b.names[0])), unix.SizeofSockaddrInet6), raw)
		b.in[0].Hdr.Namelen = namelen
		a, ok := b.source(0)
		if !ok {
			return
		}
		sa := unsafe.Slice((*byte)(unsafe.Pointer(&b.names[0])), unix.SizeofSockaddrInet6)
		switch binary.NativeEndian.Uint16(sa) {
		case unix.AF_INET:
			if !a.Is4() || a.As4() != [4]byte(sa[4:8]) || namelen < unix.SizeofSockaddrInet4 {
				t.Fatalf("AF_INET %x (len %d): source %v", sa, namelen, a)
			}
		case unix.AF_INET6:
			if !a.Is6() || a.As16() != [16]byte(sa[8:24]) || namelen < unix.SizeofSockaddrInet6 {
				t.Fatalf("AF_INET6 %x (len %d): source %v", sa, namelen, a)
			}
		default:
			t.Fatalf("family %d accepted: %v", binary.NativeEndian.Uint16(sa), a)
		}
	})
}
