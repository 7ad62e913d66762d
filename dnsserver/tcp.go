package dnsserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"time"

	"github.com/miekg/dns"
)

func (s *Server) serveTCP(l *net.TCPListener) {
	var open int64
	done := make(chan struct{}, s.cfg.TCPMaxConnections)
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // EMFILE and the like: back off
			continue
		}
		// Reap finished connections, then apply the cap.
		for reaped := true; reaped; {
			select {
			case <-done:
				open--
			default:
				reaped = false
			}
		}
		if open >= int64(s.cfg.TCPMaxConnections) {
			s.metrics.tcpRejected.Inc()
			c.Close()
			continue
		}
		if !s.track(c) {
			c.Close()
			return
		}
		open++
		s.wg.Go(func() {
			defer func() { done <- struct{}{} }()
			s.serveConn(c)
		})
	}
}

// track registers an open connection for shutdown; false once Serve is ending.
func (s *Server) track(c net.Conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.metrics.tcpConns.Inc()
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
	s.metrics.tcpConns.Dec()
	c.Close()
}

// serveConn answers the queries of one TCP connection in order (RFC 7766:
// pipelined queries are read while earlier replies are written), until the
// client closes, it idles past the timeout, or it sends garbage.
func (s *Server) serveConn(c net.Conn) {
	defer s.untrack(c)
	src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
	r := bufio.NewReaderSize(c, 4096)
	req := make([]byte, 512) // grown for a larger query; most are far smaller
	out := make([]byte, 0, 4096)
	for {
		idle := time.Duration(s.idle.Load())
		if err := c.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return
		}
		// Checked after the deadline is armed: either Serve's wake-up
		// deadline comes later and wins, or the flag is seen here.
		if s.stopping.Load() {
			return
		}
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if n > len(req) {
			req = make([]byte, n)
		}
		if _, err := io.ReadFull(r, req[:n]); err != nil {
			return
		}
		start := time.Now()
		v := s.view.Load()
		reply, xfr := s.safeHandle(v, req[:n], tcp, src, out[:0])
		if reply == nil {
			continue
		}
		if err := c.SetWriteDeadline(time.Now().Add(idle)); err != nil {
			return
		}
		if xfr != nil {
			if err := s.streamZone(c, req[:n], xfr, idle); err != nil {
				s.log.Warn("zone transfer", "zone", xfr.Origin, "client", src, "err", err)
				return
			}
			continue
		}
		// One write (writev): length prefix and reply.
		binary.BigEndian.PutUint16(l[:], uint16(len(reply)))
		bufs := net.Buffers{l[:], reply}
		if _, err := bufs.WriteTo(c); err != nil {
			return
		}
		if cap(reply) > cap(out) && cap(reply) <= maxTCPSize {
			out = reply[:0]
		}
		s.metrics.latency[tcp].Observe(time.Since(start).Seconds())
	}
}

// deadlineWriter is what a zone transfer is written to: a net.Conn.
type deadlineWriter interface {
	io.Writer
	SetWriteDeadline(time.Time) error
}

// xfrChunk is how many records go in one message of a zone transfer before
// the size is checked; RFC 5936 §2.2 lets a message carry as many as fit.
const xfrChunk = 256

// streamZone writes zone z to c as an AXFR response (RFC 5936): the SOA,
// every record, the SOA again, in as many messages as it takes. An IXFR is
// answered the same way (RFC 1995 §4). Each message gets its own write
// deadline of idle, so a large zone to a slow secondary is not cut off.
func (s *Server) streamZone(c deadlineWriter, req []byte, z *Zone, idle time.Duration) error {
	q := new(dns.Msg)
	if err := q.Unpack(req); err != nil {
		return err
	}
	records := append(slices.Clip(z.records), z.SOA)
	first := true
	for len(records) > 0 {
		n := min(xfrChunk, len(records))
		for {
			m := &dns.Msg{Compress: true, Answer: records[:n]}
			m.Id, m.Response, m.Authoritative = q.Id, true, true
			if first {
				m.Question = q.Question
			}
			out, err := m.Pack()
			if err != nil {
				return err
			}
			if len(out) > maxTCPSize && n > 1 {
				n /= 2
				continue
			}
			if len(out) > maxTCPSize {
				return errors.New("a record does not fit in a message")
			}
			var l [2]byte
			binary.BigEndian.PutUint16(l[:], uint16(len(out)))
			if err := c.SetWriteDeadline(time.Now().Add(idle)); err != nil {
				return err
			}
			bufs := net.Buffers{l[:], out}
			if _, err := bufs.WriteTo(c); err != nil {
				return err
			}
			break
		}
		records = records[n:]
		first = false
	}
	s.metrics.count(z.Origin, q.Question[0].Qtype, dns.RcodeSuccess, tcp)
	return nil
}
