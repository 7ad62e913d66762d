package dnsserver

import (
	"errors"
	"math/rand/v2"
	"net"
	"time"

	"github.com/aya-gslb/aya/internal/backoff"
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

// udpReadBackoff paces a reader whose reads keep failing (out of kernel
// memory, or a bug): one failed read is retried after about a
// millisecond, a run of them no more often than four times a second, so
// that the reader never spins on its CPU, and a Close waits a quarter of
// a second at most.
var udpReadBackoff = backoff.Policy{Base: time.Millisecond, Max: 250 * time.Millisecond}

// errUDPWait marks a failure to wait for a socket to be readable: the
// reader stops (logged) instead of spinning.
var errUDPWait = errors.New("wait for the udp socket")

// serveUDP answers the queries of one socket: read a batch, answer each,
// write the replies as one batch. Buffers are allocated once per socket;
// a batch allocates nothing (udpIO: recvmmsg/sendmmsg on Linux).
func (s *Server) serveUDP(bc *udpIO) {
	if !bc.serve() {
		return
	}
	defer bc.done()
	replyBufs := make([][]byte, udpBatch)
	for i := range replyBufs {
		replyBufs[i] = make([]byte, 0, 4096)
	}
	failed := 0 // reads failed in a row
	for {
		n, err := bc.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, errUDPWait) {
				// Not the datagram's fault, and would fail again at once.
				s.log.Error("udp socket stopped", "addr", bc.localAddr(), "err", err)
				return
			}
			failed++
			s.metrics.udpReadErrors.Inc()
			if failed&(failed-1) == 0 { // the 1st, 2nd, 4th, 8th... of a run
				s.log.Warn("udp read failed; retrying", "addr", bc.localAddr(), "err", err, "failed_in_a_row", failed)
			}
			time.Sleep(udpReadBackoff.Delay(failed, rand.Float64()))
			continue
		}
		if failed > 0 {
			s.log.Info("udp reads work again", "addr", bc.localAddr(), "failed_in_a_row", failed)
			failed = 0
		}
		v := s.view.Load()
		k := 0
		// One clock read per query: the time a query's answer is done is
		// the time the next one starts.
		now := time.Now()
		for i := range n {
			src, ok := bc.source(i)
			if !ok {
				continue
			}
			reply, _ := s.safeHandleAt(v, bc.request(i), udp, src, replyBufs[i][:0], now)
			done := time.Now()
			if reply == nil {
				now = done
				continue
			}
			s.metrics.latency[udp].Observe(done.Sub(now).Seconds())
			now = done
			if cap(reply) > cap(replyBufs[i]) && cap(reply) <= maxTCPSize {
				replyBufs[i] = reply[:0] // keep the larger buffer
			}
			bc.stage(k, i, reply)
			k++
		}
		if k == 0 {
			continue
		}
		if err := bc.flush(k); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A reply that cannot be sent (the client's port closed, a
			// full buffer) is skipped; the client will retry.
			s.log.Debug("udp write", "err", err)
		}
	}
}
