package dnsserver

import (
	"errors"
	"net"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const (
	// udpBatch is how many datagrams one recvmmsg/sendmmsg moves at most.
	// Under load a batch amortises the system call over many queries; idle,
	// a read returns as soon as one datagram is there.
	udpBatch = 32
	// udpReadSize is the largest UDP query read whole. Queries are small (a
	// question and an OPT record); a larger datagram is truncated by the
	// kernel, fails to parse and gets FORMERR.
	udpReadSize = 4096
)

// batchConn is the recvmmsg/sendmmsg face of a UDP socket (golang.org/x/net:
// ipv4 and ipv6 share the Message type).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func newBatchConn(c *net.UDPConn) batchConn {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil && len(a.IP) == net.IPv6len {
		return ipv6.NewPacketConn(c)
	}
	return ipv4.NewPacketConn(c)
}

// serveUDP answers the queries of one socket: read a batch, answer each,
// write the replies as one batch. Buffers are allocated once per socket.
func (s *Server) serveUDP(c *net.UDPConn) {
	bc := newBatchConn(c)
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, udpBatch)
	replyBufs := make([][]byte, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, udpReadSize)}
		replyBufs[i] = make([]byte, 0, 4096)
		out[i].Buffers = make([][]byte, 1)
	}
	for {
		n, err := bc.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("udp read", "err", err)
			continue
		}
		v := s.view.Load()
		k := 0
		for i := range n {
			start := time.Now()
			from, ok := in[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			reply, _ := s.safeHandleAt(v, in[i].Buffers[0][:in[i].N], udp, from.AddrPort().Addr(), replyBufs[i][:0], start)
			if reply == nil {
				continue
			}
			if cap(reply) > cap(replyBufs[i]) && cap(reply) <= maxTCPSize {
				replyBufs[i] = reply[:0] // keep the larger buffer
			}
			out[k].Buffers[0] = reply
			out[k].Addr = from
			k++
			s.metrics.latency[udp].Observe(time.Since(start).Seconds())
		}
		for sent := 0; sent < k; {
			m, err := bc.WriteBatch(out[sent:k], 0)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// A reply that cannot be sent (the client's port closed, a
				// full buffer) is skipped; the client will retry.
				s.log.Debug("udp write", "to", out[sent].Addr, "err", err)
				m = max(m, 1)
			}
			sent += m
		}
	}
}
