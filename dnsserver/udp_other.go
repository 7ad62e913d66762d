//go:build !linux

package dnsserver

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// udpIO is the batch reader and writer of serveUDP outside Linux:
// golang.org/x/net's ReadBatch/WriteBatch (recvmmsg/sendmmsg where the
// system has them, one datagram per call elsewhere).
type udpIO struct {
	bc interface {
		ReadBatch(ms []ipv4.Message, flags int) (int, error)
		WriteBatch(ms []ipv4.Message, flags int) (int, error)
	}
	in, out []ipv4.Message
	c       *net.UDPConn
	serving atomic.Bool
}

func newUDPIO(c *net.UDPConn) (*udpIO, error) {
	b := &udpIO{c: c, in: make([]ipv4.Message, udpBatch), out: make([]ipv4.Message, udpBatch)}
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil && len(a.IP) == net.IPv6len {
		b.bc = ipv6.NewPacketConn(c)
	} else {
		b.bc = ipv4.NewPacketConn(c)
	}
	for i := range b.in {
		b.in[i].Buffers = [][]byte{make([]byte, udpReadSize)}
		b.out[i].Buffers = make([][]byte, 1)
	}
	return b, nil
}

func (b *udpIO) read() (int, error) { return b.bc.ReadBatch(b.in, 0) }

func (b *udpIO) localAddr() netip.AddrPort { return b.c.LocalAddr().(*net.UDPAddr).AddrPort() }

// serve makes the caller the socket's one reader.
func (b *udpIO) serve() bool { return b.serving.CompareAndSwap(false, true) }

func (b *udpIO) done() {}

func (b *udpIO) Close() error { return b.c.Close() }

func (b *udpIO) request(i int) []byte { return b.in[i].Buffers[0][:b.in[i].N] }

func (b *udpIO) source(i int) (netip.Addr, bool) {
	from, ok := b.in[i].Addr.(*net.UDPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	return from.AddrPort().Addr(), true
}

func (b *udpIO) stage(k, i int, reply []byte) {
	b.out[k].Buffers[0] = reply
	b.out[k].Addr = b.in[i].Addr
}

func (b *udpIO) flush(k int) error {
	var last error
	for sent := 0; sent < k; {
		m, err := b.bc.WriteBatch(b.out[sent:k], 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			last = err
			m = max(m, 1)
		}
		sent += m
	}
	return last
}
