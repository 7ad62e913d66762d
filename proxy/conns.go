package proxy

import (
	"errors"
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// clientShards spreads the per-client connection counts over locks.
const clientShards = 64

// clientConns counts the open connections of each client address (an IPv6
// client's /64), for Limits.MaxConnsPerClient. An address is kept only
// while it has a connection open, so its memory is bounded by
// Limits.MaxConns.
type clientConns struct {
	seed   maphash.Seed
	shards [clientShards]clientShard
}

type clientShard struct {
	mu sync.Mutex
	n  map[netip.Addr]int
	_  [40]byte // keep shards on separate cache lines
}

func newClientConns() *clientConns {
	c := &clientConns{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].n = make(map[netip.Addr]int)
	}
	return c
}

// clientKey is the address connections are counted by: IPv4 as is, IPv6
// by its /64, which one host commonly holds whole.
func clientKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a.WithZone(""), 64).Masked().Addr()
	}
	return a
}

// acquire counts a connection of key, unless limit are open; it reports
// whether it did.
func (c *clientConns) acquire(key netip.Addr, limit int) bool {
	s := &c.shards[maphash.Comparable(c.seed, key)%clientShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n[key]
	if n >= limit {
		return false
	}
	s.n[key] = n + 1
	return true
}

// release uncounts a connection of key.
func (c *clientConns) release(key netip.Addr) {
	s := &c.shards[maphash.Comparable(c.seed, key)%clientShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	switch n := s.n[key]; {
	case n > 1:
		s.n[key] = n - 1
	case n == 1:
		delete(s.n, key)
	}
}

// count returns the open connections of key.
func (c *clientConns) count(key netip.Addr) int {
	s := &c.shards[maphash.Comparable(c.seed, key)%clientShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[key]
}

// Accept backoff: a failed accept (EMFILE, ENFILE, ENOBUFS…) is retried
// after a pause that doubles from the first to the last.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// nextBackoff returns the pause after one of d.
func nextBackoff(d time.Duration) time.Duration {
	if d < acceptBackoffMin {
		return acceptBackoffMin
	}
	return min(2*d, acceptBackoffMax)
}

// logEvery lets an event be logged once per interval, counting the
// occurrences in between, so that an attack cannot flood the log.
type logEvery struct {
	interval time.Duration
	next     atomic.Int64 // unix nanoseconds
	skipped  atomic.Int64
}

// allow reports whether the event at now is logged, and how many were
// not since the last one that was.
func (l *logEvery) allow(now time.Time) (bool, int64) {
	t := now.UnixNano()
	next := l.next.Load()
	if t < next || !l.next.CompareAndSwap(next, t+int64(l.interval)) {
		l.skipped.Add(1)
		return false, 0
	}
	return true, l.skipped.Swap(0)
}

// logInterval is how often each kind of refusal or accept failure is
// logged at most.
const logInterval = 10 * time.Second

// connGate admits the accepted client connections of a proxy within its
// connection limits, and logs and counts those it refuses.
type connGate struct {
	p         *Proxy
	perClient *clientConns
	acceptLog logEvery
	refuseLog [numConnRefusals]logEvery
}

func newConnGate(p *Proxy) *connGate {
	g := &connGate{p: p, perClient: newClientConns()}
	g.acceptLog.interval = logInterval
	for i := range g.refuseLog {
		g.refuseLog[i].interval = logInterval
	}
	return g
}

// admit tracks c within the limits, or closes it and returns nil.
func (g *connGate) admit(c net.Conn) *trackedConn {
	p := g.p
	peer := peerAddr(c.RemoteAddr())
	var key netip.Addr
	capped := peer.IsValid() && !p.isTrusted(peer)
	if capped {
		key = clientKey(peer)
		if !g.perClient.acquire(key, p.limits.MaxConnsPerClient) {
			_ = c.Close()
			g.refuse(refusedPerClient, "client", key.String(), "limit", p.limits.MaxConnsPerClient)
			return nil
		}
	}
	tc := p.conns.add(c, p.limits.MaxConns)
	if tc == nil {
		if capped {
			g.perClient.release(key)
		}
		_ = c.Close()
		g.refuse(refusedMaxConns, "limit", p.limits.MaxConns)
		return nil
	}
	tc.peer = peer
	if capped {
		tc.key, tc.clients = key, g.perClient
	}
	return tc
}

// refuse counts and logs a refused connection.
func (g *connGate) refuse(why connRefusal, args ...any) {
	g.p.m.refused[why].Inc()
	if ok, skipped := g.refuseLog[why].allow(time.Now()); ok {
		g.p.log.Warn("connection refused", append([]any{"reason", connRefusalNames[why], "refused_since_last_log", skipped}, args...)...)
	}
}

// acceptFailed counts and logs a failed accept and returns the pause
// before the next, after one of d.
func (g *connGate) acceptFailed(err error, d time.Duration) time.Duration {
	g.p.m.acceptErrors.Inc()
	d = nextBackoff(d)
	if ok, skipped := g.acceptLog.allow(time.Now()); ok {
		g.p.log.Warn("accept failed; retrying", "err", err, "backoff", d, "failed_since_last_log", skipped)
	}
	return d
}

// isClosed reports whether err is the error of a closed listener.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
