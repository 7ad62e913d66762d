package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// NOTIFY (RFC 1996). When a publish (SetZones, Publish, LoadZones) adds a
// zone or changes its SOA serial, the server tells each address of
// Config.Notify: an opcode NOTIFY message over UDP, AA set, the zone's SOA
// as the question and the new SOA in the answer (§3.7), so a secondary
// transfers at once instead of at its next refresh. A notification is
// sent again with a growing wait (notifyWaits) until the secondary
// answers, at most len(notifyWaits) times; a newer serial of the zone replaces
// one still unanswered (the secondary fetches the latest zone anyway). The
// goroutine that sends runs under Serve's context. The outcomes are
// counted in aya_dns_notify_total{zone,result}.

// notifyWaits are how long a try waits for the answer before the next
// one: 6 tries over 15 s (BIND tries 5 times). The first wait is short, so
// that a datagram lost on the way (a loaded secondary's full socket
// buffer) still has the secondary transfer within the second; a far
// secondary gets a second copy it answers like the first.
var notifyWaits = [...]time.Duration{250 * time.Millisecond, 750 * time.Millisecond, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}

// DefaultNotifyPort is the port of a dns.notify address written without one.
const DefaultNotifyPort = 53

// The results of a notification, as metric labels.
const (
	notifyOK         = "ok"         // the secondary answered NOERROR
	notifyRejected   = "rejected"   // it answered with another rcode: trying again would not help
	notifyTimeout    = "timeout"    // no answer to any try
	notifySuperseded = "superseded" // a newer serial of the zone replaced it before an answer
	notifyError      = "error"      // it could not be sent (no socket, or the send failed every time)
)

// ParseNotifyTarget parses an address to send NOTIFY to: "ip:port", or a
// bare IP address for port 53 (IPv6 in brackets with a port: "[::1]:5353").
// Names are not accepted: a primary sends to the addresses of its
// secondaries, and resolving them would make sending depend on DNS.
func ParseNotifyTarget(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return checkNotifyTarget(s, netip.AddrPortFrom(a, DefaultNotifyPort))
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("must be ip:port or an IP address (got %q)", s)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("host must be an IP address, not a name (got %q)", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("port must be 1-65535 (got %q)", s)
	}
	return checkNotifyTarget(s, netip.AddrPortFrom(a, uint16(p)))
}

func checkNotifyTarget(s string, ap netip.AddrPort) (netip.AddrPort, error) {
	a := ap.Addr()
	switch {
	case a.Zone() != "":
		return netip.AddrPort{}, fmt.Errorf("must not have an IPv6 zone (got %q)", s)
	case a.IsUnspecified(), a.IsMulticast():
		return netip.AddrPort{}, fmt.Errorf("must be a unicast address (got %q)", s)
	}
	return netip.AddrPortFrom(a.Unmap(), ap.Port()), nil
}

// notifyKey is one zone at one secondary.
type notifyKey struct {
	zone   string
	target netip.AddrPort
}

// notification is the latest unanswered NOTIFY of a zone to a secondary.
type notification struct {
	soa   *dns.SOA
	id    uint16
	tries int       // sent so far
	next  time.Time // of the next try, or when to give up after the last
	// failed counts the tries that could not be sent.
	failed int
}

// notifier keeps the notifications to send and sends them.
type notifier struct {
	log     *slog.Logger
	results *prometheus.CounterVec
	// waits are notifyWaits (shorter in tests).
	waits []time.Duration
	// local are the server's listen hosts but wildcards: a notification
	// leaves from the first one of the target's family (else from an
	// address the kernel picks), so that the secondary sees it come from
	// the primary's address (BIND and Knot check it).
	local []netip.Addr

	mu      sync.Mutex
	targets []netip.AddrPort
	pending map[notifyKey]*notification
	// conns are the sockets by family (4, 6), opened at the first send.
	conns map[int]*net.UDPConn
	// stopped is set when run returns: nothing more is sent.
	stopped bool
	wake    chan struct{}
}

func newNotifier(log *slog.Logger, results *prometheus.CounterVec, listen []string) *notifier {
	n := &notifier{
		log:     log,
		results: results,
		waits:   notifyWaits[:],
		pending: make(map[notifyKey]*notification),
		conns:   make(map[int]*net.UDPConn),
		wake:    make(chan struct{}, 1),
	}
	for _, l := range listen {
		if host, _, err := net.SplitHostPort(l); err == nil {
			if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
				n.local = append(n.local, a.Unmap())
			} else if host == "localhost" {
				n.local = append(n.local, netip.MustParseAddr("127.0.0.1"))
			}
		}
	}
	return n
}

// setTargets sets the secondaries to notify from now on (each once);
// pending notifications to others are dropped.
func (n *notifier) setTargets(targets []netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.targets = n.targets[:0]
	for _, t := range targets {
		t = netip.AddrPortFrom(t.Addr().Unmap(), t.Port())
		if !slices.Contains(n.targets, t) {
			n.targets = append(n.targets, t)
		}
	}
	for k := range n.pending {
		if !slices.Contains(n.targets, k.target) {
			delete(n.pending, k)
		}
	}
}

// published queues a notification of every zone of now that prev did not
// have or had with another serial.
func (n *notifier) published(prev, now *Zones) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.targets) == 0 || n.stopped {
		return
	}
	queued := false
	for _, z := range now.List() {
		// Every result's series exists from the first publish, at 0, so
		// that an alert on the increase of the failures sees the first.
		for _, r := range [...]string{notifyOK, notifyRejected, notifyTimeout, notifyError} {
			n.results.WithLabelValues(z.Origin, r)
		}
		if old := prev.Zone(z.Origin); old != nil && old.SOA.Serial == z.SOA.Serial {
			continue
		}
		for _, t := range n.targets {
			k := notifyKey{zone: z.Origin, target: t}
			if old := n.pending[k]; old != nil {
				n.results.WithLabelValues(z.Origin, notifySuperseded).Inc()
			}
			n.pending[k] = &notification{soa: z.SOA, id: uint16(rand.Uint32())}
			queued = true
		}
	}
	if queued {
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}

// run sends the notifications as they fall due until ctx is done; the
// readers of the answers run under wg.
func (n *notifier) run(ctx context.Context, wg *sync.WaitGroup) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := n.sendDue(time.Now(), wg)
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			n.stop()
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// stop closes the sockets, which ends their readers, and drops what is
// pending.
func (n *notifier) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
	for fam, c := range n.conns {
		_ = c.Close()
		delete(n.conns, fam)
	}
	clear(n.pending)
}

// sendDue sends every notification due at now, gives up on those out of
// tries, and returns when the next one falls due (zero: none pending).
func (n *notifier) sendDue(now time.Time, wg *sync.WaitGroup) time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	var next time.Time
	for k, nt := range n.pending {
		if nt.next.After(now) {
			if next.IsZero() || nt.next.Before(next) {
				next = nt.next
			}
			continue
		}
		if nt.tries == len(n.waits) {
			delete(n.pending, k)
			result := notifyTimeout
			if nt.failed == nt.tries {
				result = notifyError
			}
			n.results.WithLabelValues(k.zone, result).Inc()
			n.log.Warn("notify unanswered", "zone", k.zone, "serial", nt.soa.Serial, "secondary", k.target, "tries", nt.tries, "result", result)
			continue
		}
		if err := n.send(k, nt, wg); err != nil {
			nt.failed++
			n.log.Warn("notify send", "zone", k.zone, "secondary", k.target, "err", err)
		}
		nt.next = now.Add(n.waits[nt.tries])
		nt.tries++
		if next.IsZero() || nt.next.Before(next) {
			next = nt.next
		}
	}
	return next
}

// send sends one try of nt. Called with mu held.
func (n *notifier) send(k notifyKey, nt *notification, wg *sync.WaitGroup) error {
	c, err := n.conn(k.target.Addr(), wg)
	if err != nil {
		return err
	}
	m := new(dns.Msg)
	m.Id = nt.id
	m.Opcode = dns.OpcodeNotify
	m.Authoritative = true
	m.Question = []dns.Question{{Name: k.zone, Qtype: dns.TypeSOA, Qclass: dns.ClassINET}}
	m.Answer = []dns.RR{nt.soa}
	out, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = c.WriteToUDPAddrPort(out, k.target)
	return err
}

// conn returns the socket for sending to a, opening it (and starting its
// reader) at first use. Called with mu held.
func (n *notifier) conn(a netip.Addr, wg *sync.WaitGroup) (*net.UDPConn, error) {
	fam, local := 4, netip.IPv4Unspecified()
	if a.Is6() {
		fam, local = 6, netip.IPv6Unspecified()
	}
	if c := n.conns[fam]; c != nil {
		return c, nil
	}
	for _, l := range n.local {
		if l.Is4() == a.Is4() {
			local = l
			break
		}
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return nil, err
	}
	n.conns[fam] = c
	wg.Go(func() { n.read(c) })
	return c, nil
}

// read takes the answers arriving on c until it is closed. An answer counts
// when it comes from the secondary a pending notification went to, with
// its ID, opcode NOTIFY and zone (RFC 1996 §4.7).
func (n *notifier) read(c *net.UDPConn) {
	buf := make([]byte, dns.MaxMsgSize)
	for {
		l, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // a passing error: no busy loop
			continue
		}
		m := new(dns.Msg)
		if m.Unpack(buf[:l]) != nil || !m.Response || m.Opcode != dns.OpcodeNotify || len(m.Question) != 1 {
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		n.answered(notifyKey{zone: dns.CanonicalName(m.Question[0].Name), target: from}, m.Id, m.Rcode)
	}
}

// answered settles the notification k if id is its ID.
func (n *notifier) answered(k notifyKey, id uint16, rcode int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nt := n.pending[k]
	if nt == nil || nt.id != id {
		return // late, a duplicate, or for a serial since replaced
	}
	delete(n.pending, k)
	if rcode != dns.RcodeSuccess {
		n.results.WithLabelValues(k.zone, notifyRejected).Inc()
		n.log.Warn("notify rejected", "zone", k.zone, "serial", nt.soa.Serial, "secondary", k.target, "rcode", dns.RcodeToString[rcode])
		return
	}
	n.results.WithLabelValues(k.zone, notifyOK).Inc()
	n.log.Debug("notify answered", "zone", k.zone, "serial", nt.soa.Serial, "secondary", k.target, "tries", nt.tries)
}
