package dnsserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/miekg/dns"

	"golang.org/x/sys/unix"
)

var netListenConfig net.ListenConfig

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

// socketFDs maps the inode of each socket the process has open to its
// descriptors, from /proc/self/fd.
func socketFDs(t *testing.T) map[uint64][]int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	out := map[uint64][]int{}
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"), 10, 64)
		fd, _ := strconv.Atoi(e.Name())
		if err == nil {
			out[ino] = append(out[ino], fd)
		}
	}
	return out
}

// epollSets maps each epoll set the process has open (by descriptor) to
// the files in it: their inode (the "ino:" of each "tfd:" line of the
// set's fdinfo, in hex) and the events they are watched for.
func epollSets(t *testing.T) map[int]map[uint64]uint32 {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	out := map[int]map[uint64]uint32{}
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); !strings.Contains(l, "eventpoll") {
			continue
		}
		b, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		fd, _ := strconv.Atoi(e.Name())
		set := map[uint64]uint32{}
		for line := range strings.Lines(string(b)) {
			if !strings.HasPrefix(line, "tfd:") {
				continue
			}
			var ino uint64
			var events uint32
			f := strings.Fields(line)
			for k, w := range f {
				if v, ok := strings.CutPrefix(w, "ino:"); ok {
					ino, _ = strconv.ParseUint(v, 16, 64)
				}
				if w == "events:" && k+1 < len(f) {
					ev, _ := strconv.ParseUint(f[k+1], 16, 32)
					events = uint32(ev)
				}
			}
			set[ino] = events
		}
		out[fd] = set
	}
	return out
}

// TestUDPOutOfNetpoller: the server's UDP sockets are not in the runtime's
// epoll set (the one that holds the TCP listener, watched for writability
// too, which runs a wake-up callback per reply sent) but each alone in a
// set of its own watched for reading only; they answer; and when Serve
// ends their descriptors are closed: none is left, and the port can be
// bound again.
func TestUDPOutOfNetpoller(t *testing.T) {
	before := socketFDs(t)
	cfg := testConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.UDPSockets = 2
	s := New(cfg)
	if err := s.LoadZones(testZones); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	addr := s.UDPAddrs()[0]

	ours := map[int]uint64{} // fd → socket inode
	var tcpIno uint64
	for ino, fds := range socketFDs(t) {
		if _, old := before[ino]; old {
			continue
		}
		for _, fd := range fds {
			sa, err := unix.Getsockname(fd)
			if err != nil {
				continue
			}
			if in4, ok := sa.(*unix.SockaddrInet4); !ok || in4.Port != int(addr.Port()) {
				continue
			}
			switch typ, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); typ {
			case unix.SOCK_DGRAM:
				ours[fd] = ino
			case unix.SOCK_STREAM:
				tcpIno = ino
			}
		}
	}
	if len(ours) != cfg.UDPSockets || tcpIno == 0 {
		t.Fatalf("found %d UDP sockets on port %d (fds %v), want %d, and TCP listener inode %d", len(ours), addr.Port(), ours, cfg.UDPSockets, tcpIno)
	}
	sets := epollSets(t)
	runtimeSet := -1
	for fd, set := range sets {
		if _, ok := set[tcpIno]; ok {
			runtimeSet = fd
		}
	}
	if runtimeSet < 0 {
		t.Fatal("the TCP listener is in no epoll set: the scan sees nothing")
	}
	for fd, ino := range ours {
		var in []int
		for set, files := range sets {
			if ev, ok := files[ino]; ok {
				in = append(in, set)
				if set == runtimeSet {
					t.Errorf("UDP socket fd %d is in the runtime's epoll set (events %#x)", fd, ev)
				} else if ev&^(unix.EPOLLERR|unix.EPOLLHUP) != unix.EPOLLIN || len(files) != 1 {
					// The kernel always adds EPOLLERR and EPOLLHUP.
					t.Errorf("UDP socket fd %d: in set %d with events %#x among %d files, want EPOLLIN alone", fd, set, ev, len(files))
				}
			}
		}
		if len(in) != 1 {
			t.Errorf("UDP socket fd %d is in epoll sets %v, want exactly one", fd, in)
		}
	}
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	for i := range 20 { // SO_REUSEPORT spreads the client ports over both sockets
		q := new(dns.Msg)
		q.SetQuestion("gslb.example.com.", dns.TypeSOA)
		r, _, err := c.Exchange(q, addr.String())
		if err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("query %d: %v %v", i, err, r)
		}
	}

	start := time.Now()
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running 5 s after its context ended: a reader asleep in recvmmsg was not woken")
	}
	t.Logf("Serve returned %v after the context ended", time.Since(start))
	for fd, ino := range ours {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); l == fmt.Sprintf("socket:[%d]", ino) {
			t.Errorf("fd %d still holds the server's socket after Serve returned", fd)
		}
	}
	pc, err := (&netListenConfig).ListenPacket(t.Context(), "udp", addr.String())
	if err != nil {
		t.Fatalf("the port is still taken after Serve returned: %v", err)
	}
	_ = pc.Close()
}

// listenedOnce is a server listening on one UDP socket (and TCP) of a
// loopback port, not serving yet.
func listenedOnce(t *testing.T) *Server {
	t.Helper()
	cfg := testConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.UDPSockets = 1
	s := New(cfg)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeListeners)
	return s
}

// TestUDPCloseUnserved: sockets opened by Listen and never served are
// closed by closeListeners, and a reader started after that returns at
// once.
func TestUDPCloseUnserved(t *testing.T) {
	s := listenedOnce(t)
	addr := s.UDPAddrs()[0]
	s.closeListeners()
	pc, err := (&netListenConfig).ListenPacket(t.Context(), "udp", addr.String())
	if err != nil {
		t.Fatalf("the port is still taken after closeListeners: %v", err)
	}
	_ = pc.Close()
	done := make(chan struct{})
	go func() { s.serveUDP(s.udp[0]); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("serveUDP on a closed socket did not return")
	}
}

// TestUDPReadErrorsBackOff: a socket whose reads keep failing is retried
// with a backoff, never spun on: a handful of reads a second, each
// counted, and Close still stops the reader. Here every recvmmsg is
// refused at once, before any datagram is looked at: its first header
// asks for more iovecs than the kernel takes (UIO_MAXIOV).
func TestUDPReadErrorsBackOff(t *testing.T) {
	s := listenedOnce(t)
	b := s.udp[0]
	b.in[0].Hdr.SetIovlen(1 << 20)
	done := make(chan struct{})
	go func() { s.serveUDP(b); close(done) }()
	time.Sleep(time.Second)
	// Waits of 1, 2, 4 ... ms up to 250 ms, each less up to half: at
	// most 16 reads in the first second; spinning would be millions.
	failed := testutil.ToFloat64(s.metrics.udpReadErrors)
	t.Logf("%.0f failed reads in 1 s", failed)
	if failed < 2 || failed > 16 {
		t.Errorf("%.0f failed reads in 1 s, want 2 to 16 (retried, backing off)", failed)
	}
	s.closeListeners()
	select {
	case <-done:
	case <-time.After(udpReadBackoff.Max + time.Second):
		t.Fatal("serveUDP did not return after Close")
	}
}
