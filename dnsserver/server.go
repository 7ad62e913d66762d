package dnsserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/bits"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// Defaults of Config.
const (
	DefaultMaxUDPSize        = 1232 // RFC 9715: no fragmentation on common paths
	DefaultTCPIdleTimeout    = 10 * time.Second
	DefaultTCPMaxConnections = 1024
	// DefaultTCPMaxConnectionsPerClient: RFC 7766 §6.2.2 asks a client for
	// one connection to a server; 16 leaves room for the several instances
	// of a resolver farm behind one address, and it takes 64 addresses to
	// fill the default 1024 slots.
	DefaultTCPMaxConnectionsPerClient = 16
	// DefaultTCPMaxQueries and DefaultTCPMaxLifetime make every connection
	// give its slot back now and then, however busy it keeps it: a resolver
	// reconnects, a hog has to queue at accept like everyone else.
	DefaultTCPMaxQueries  = 10000
	DefaultTCPMaxLifetime = 2 * time.Minute
	// DefaultTCPMinIdleTimeout is the idle timeout with every slot taken
	// (it scales down from TCPIdleTimeout once half are): long enough for
	// a client across the world to send its next query.
	DefaultTCPMinIdleTimeout = 500 * time.Millisecond
)

// Config configures a Server. The zero value of a field means its default.
type Config struct {
	// Listen is the host:port addresses to serve UDP and TCP on. Port 0 picks
	// a free port (the same for UDP and TCP of one address).
	Listen []string
	// UDPSockets is the number of SO_REUSEPORT sockets per UDP address, each
	// read by its own goroutine (default GOMAXPROCS, or the number of CPUs
	// the process may run on when that is lower: a process given a second P
	// on one CPU still reads one socket).
	UDPSockets int
	// MaxUDPSize caps the UDP replies to EDNS clients (default 1232).
	MaxUDPSize int
	// NSID is returned to clients that ask for it (RFC 5001); empty disables it.
	NSID string
	// TCPIdleTimeout closes TCP connections idle this long (default 10s).
	TCPIdleTimeout time.Duration
	// TCPMaxConnections caps open TCP connections per address (default 1024).
	// At the cap, a new connection takes the slot of the one idle longest.
	TCPMaxConnections int
	// TCPMaxConnectionsPerClient caps the open TCP connections of one client
	// address per listen address (default 16, at most TCPMaxConnections).
	TCPMaxConnectionsPerClient int
	// TCPMaxQueries closes a TCP connection once it has been answered this
	// many queries (default 10000).
	TCPMaxQueries int
	// TCPMaxLifetime closes a TCP connection open this long, after the
	// reply being written (default 2m).
	TCPMaxLifetime time.Duration
	// TCPMinIdleTimeout is the idle timeout when every TCP slot is taken:
	// from half the slots on, the idle timeout falls from TCPIdleTimeout to
	// it (default 500ms, at most TCPIdleTimeout).
	TCPMinIdleTimeout time.Duration
	// TransferAllow lists the clients allowed AXFR and IXFR; empty refuses all.
	TransferAllow []netip.Prefix
	// Notify lists the secondaries sent a NOTIFY (RFC 1996) when a publish
	// adds a zone or changes its serial (notify.go); empty sends none.
	// Parse entries with ParseNotifyTarget. A notification leaves from the
	// first Listen address of its family that is not a wildcard.
	Notify []netip.AddrPort
	// WhyClients lists the clients whose TXT queries for "_why." + NAME are
	// answered with the explanation of NAME's answer (why.go); others get
	// the answer the name has without the feature. nil means
	// DefaultWhyClients (loopback); an empty, non-nil list allows no one.
	WhyClients []netip.Prefix
	// Zones bounds the zone files LoadZones reads (see ZoneLimits).
	Zones ZoneLimits
	// Release names the release the zones and pools come from, for the
	// `_why.` answers; the zero value shows none.
	Release ReleaseInfo
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
	// Registerer receives the server's metrics (default: not registered).
	Registerer prometheus.Registerer
	// GSLB holds the pools that zone files bind names to, and what steering
	// reads: the client's location and the health snapshot.
	GSLB GSLB
	// RRL configures response rate limiting of UDP replies (rrl.go); nil
	// means DefaultRRL (on). A value is taken as it is: check it with
	// Validate.
	RRL *RRLConfig
	// Cookies configures DNS cookies (cookie.go); the zero value has them
	// on, with a random secret for the process's life.
	Cookies CookieConfig
}

func (c Config) withDefaults() Config {
	if c.UDPSockets <= 0 {
		c.UDPSockets = min(runtime.GOMAXPROCS(0), runtime.NumCPU())
	}
	if c.MaxUDPSize <= 0 {
		c.MaxUDPSize = DefaultMaxUDPSize
	}
	c.MaxUDPSize = min(max(c.MaxUDPSize, minUDPSize), maxTCPSize)
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if c.TCPMaxConnections <= 0 {
		c.TCPMaxConnections = DefaultTCPMaxConnections
	}
	if c.TCPMaxConnectionsPerClient <= 0 {
		c.TCPMaxConnectionsPerClient = DefaultTCPMaxConnectionsPerClient
	}
	c.TCPMaxConnectionsPerClient = min(c.TCPMaxConnectionsPerClient, c.TCPMaxConnections)
	if c.TCPMaxQueries <= 0 {
		c.TCPMaxQueries = DefaultTCPMaxQueries
	}
	if c.TCPMaxLifetime <= 0 {
		c.TCPMaxLifetime = DefaultTCPMaxLifetime
	}
	if c.TCPMinIdleTimeout <= 0 {
		c.TCPMinIdleTimeout = DefaultTCPMinIdleTimeout
	}
	c.TCPMinIdleTimeout = min(c.TCPMinIdleTimeout, c.TCPIdleTimeout)
	if c.WhyClients == nil {
		c.WhyClients = DefaultWhyClients()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RRL == nil {
		d := DefaultRRL()
		c.RRL = &d
	}
	return c
}

// Server is an authoritative DNS server over UDP and TCP. Queries read the
// current zones and options from one immutable view behind an atomic
// pointer; SetZones and Configure publish a new view, so a reload never
// blocks or drops a query.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	view atomic.Pointer[view]
	// notify sends NOTIFY to the secondaries when a publish changes a zone.
	notify *notifier
	// decisions recycles the fast path's *policy.Decision values.
	decisions sync.Pool
	// steered remembers the fast path's steered answers (steercache.go).
	steered  *steerCache
	steerGen atomic.Pointer[steerGen]
	mu       sync.Mutex // serialises publishers of view
	// Under mu: the rate limiting table, kept across reloads; the cookie
	// jar in use, and the base secrets when none are configured: the one
	// read from Cookies.SecretFile by Listen, else a random one.
	rrlTable   *rrlTable
	jar        *cookieJar
	fileSecret []byte
	randSecret []byte
	// tcpLimits are the reloadable limits of a TCP connection, read before
	// each query.
	tcpLimits atomic.Pointer[tcpLimits]
	// pools are the TCP connections of each listener (tcp.go), made by Listen.
	pools   []*connPool
	tcpLogs [numTCPEvents]rateLog

	udp []*udpIO
	tcp []*net.TCPListener

	wg sync.WaitGroup
	// stopping is set when Serve is ending; connections check it after
	// arming their read deadline, so one busy with a query cannot miss it.
	stopping atomic.Bool
	connMu   sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
}

// New returns a server for cfg, serving no zones until SetZones or LoadZones.
func New(cfg Config) *Server {
	registerGSLB()
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics(cfg.Registerer), conns: make(map[net.Conn]struct{}), randSecret: randomSecret(), steered: newSteerCache()}
	s.notify = newNotifier(cfg.Logger, s.metrics.notify, cfg.Listen)
	s.notify.setTargets(cfg.Notify)
	empty, _ := NewZones()
	s.view.Store(&view{zones: empty, fast: s.buildFast(empty), opts: s.optionsOf(cfg), steer: newSteering(cfg.GSLB, s.metrics)})
	s.tcpLimits.Store(limitsOf(cfg))
	return s
}

// optionsOf returns the query path's settings of c, reusing the rate
// limiting table and the cookie jar when their settings did not change.
// Called from New or under s.mu.
func (s *Server) optionsOf(c Config) options {
	o := options{maxUDP: c.MaxUDPSize, nsid: []byte(c.NSID), transferAllow: c.TransferAllow, whyClients: c.WhyClients, release: c.Release}
	if c.RRL.Enabled {
		size := 1 << bits.Len(uint(max(c.RRL.TableSize, MinRRLTableSize)-1))
		if s.rrlTable == nil || len(s.rrlTable.buckets) != size {
			s.rrlTable = newRRLTable(size, time.Now())
		}
		o.rrl = newRRL(*c.RRL, s.rrlTable)
	}
	s.metrics.setRRLMode(rrlMode(o.rrl))
	if !c.Cookies.Disabled {
		secrets := c.Cookies.Secrets
		switch {
		case len(secrets) > 0:
		case s.fileSecret != nil:
			secrets = [][]byte{s.fileSecret}
		default:
			secrets = [][]byte{s.randSecret}
		}
		if s.jar == nil || !slices.EqualFunc(s.jar.secrets, secrets, bytes.Equal) {
			s.jar = newCookieJar(slices.Clone(secrets))
		}
		o.cookies = s.jar
	}
	return o
}

// Zones returns the zones being served.
func (s *Server) Zones() *Zones { return s.view.Load().zones }

// SetZones publishes zs: every query read after it returns sees zs.
func (s *Server) SetZones(zs *Zones) {
	fast := s.buildFast(zs) // outside the lock: the slow part
	s.mu.Lock()
	defer s.mu.Unlock()
	v := *s.view.Load()
	prev := v.zones
	v.zones, v.fast = zs, fast
	s.view.Store(&v)
	s.metrics.published(zs)
	s.notify.published(prev, zs)
}

// poolNames returns the names of the pools st steers, sorted.
func (st *steering) poolNames() []string {
	return slices.Sorted(maps.Keys(st.pools))
}

// LoadZones loads dir (see LoadDir) and publishes the result. On a parse
// error the failing zones keep their previous version, the others are
// updated, and the error is returned.
func (s *Server) LoadZones(dir string) error {
	zs, err := LoadDir(dir, s.Zones(), s.view.Load().steer.poolNames(), s.cfg.Zones)
	if zs == nil {
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return err
	}
	s.SetZones(zs)
	if err != nil {
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return err
	}
	s.metrics.reloads.WithLabelValues("success").Inc()
	return nil
}

// Configure applies the reloadable settings of cfg: MaxUDPSize, NSID,
// TransferAllow, Notify, WhyClients, Release, TCPIdleTimeout, TCPMinIdleTimeout,
// TCPMaxQueries, TCPMaxLifetime, GSLB, RRL and Cookies (a
// Cookies.SecretFile is read by Listen only). Listen addresses, socket
// counts and connection caps take a restart. A configuration that lacks a pool the served zones bind a
// name to is refused whole (the error says where the binding is): remove the
// binding first, then the pool.
func (s *Server) Configure(cfg Config) error {
	cfg = cfg.withDefaults()
	st := newSteering(cfg.GSLB, s.metrics)
	s.mu.Lock()
	defer s.mu.Unlock()
	v := *s.view.Load()
	var errs []error
	for _, z := range v.zones.List() {
		errs = append(errs, z.CheckPools(st.poolNames()))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("configuration refused: the zones served bind names to pools it lacks:\n%w", err)
	}
	s.cfg.Cookies = cfg.Cookies
	v.opts = s.optionsOf(cfg)
	v.steer = st
	s.view.Store(&v)
	s.tcpLimits.Store(limitsOf(cfg))
	s.notify.setTargets(cfg.Notify)
	return nil
}

// Publish serves zs with the reloadable settings of cfg (those Configure
// applies) in one atomic step, so no query sees the zones of one release
// with the pools of another. zs must bind names only to pools of
// cfg.GSLB; otherwise nothing changes and the error says where.
func (s *Server) Publish(zs *Zones, cfg Config) error {
	cfg = cfg.withDefaults()
	st := newSteering(cfg.GSLB, s.metrics)
	var errs []error
	for _, z := range zs.List() {
		errs = append(errs, z.CheckPools(st.poolNames()))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fast := s.buildFast(zs) // outside the lock: the slow part
	s.mu.Lock()
	defer s.mu.Unlock()
	v := *s.view.Load()
	prev := v.zones
	s.cfg.Cookies = cfg.Cookies
	v.zones, v.fast, v.opts, v.steer = zs, fast, s.optionsOf(cfg), st
	s.view.Store(&v)
	s.tcpLimits.Store(limitsOf(cfg))
	s.metrics.published(zs)
	s.notify.setTargets(cfg.Notify)
	s.notify.published(prev, zs)
	s.metrics.reloads.WithLabelValues("success").Inc()
	return nil
}

// Listen opens every UDP and TCP socket, so that an address in use is
// reported before anything is served. It also reads (or creates) the
// cookie secret file, when one is configured and no secrets are.
func (s *Server) Listen() error {
	if err := s.loadCookieSecret(); err != nil {
		return err
	}
	for _, addr := range s.cfg.Listen {
		if err := s.listen(addr); err != nil {
			s.closeListeners()
			s.udp, s.tcp = nil, nil // nothing left to serve, and a retry starts afresh
			return err
		}
	}
	s.metrics.tcpMax.Set(float64(s.cfg.TCPMaxConnections * len(s.tcp)))
	s.pools = make([]*connPool, len(s.tcp))
	for i := range s.pools {
		s.pools[i] = newConnPool(s.cfg.TCPMaxConnections, s.cfg.TCPMaxConnectionsPerClient)
	}
	return nil
}

// loadCookieSecret reads the base secret of Cookies.SecretFile and
// publishes it, when cookies are on without configured secrets.
func (s *Server) loadCookieSecret() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cfg.Cookies
	if c.Disabled || len(c.Secrets) > 0 || c.SecretFile == "" {
		return nil
	}
	b, err := loadCookieSecret(c.SecretFile)
	if err != nil {
		return err
	}
	s.fileSecret = b
	v := *s.view.Load()
	if v.opts.cookies != nil {
		s.jar = newCookieJar([][]byte{b})
		v.opts.cookies = s.jar
		s.view.Store(&v)
	}
	return nil
}

func (s *Server) listen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen %q: %w", addr, err)
	}
	// With port 0, UDP picks the port and TCP must get the same one; retry
	// the rare case where it is taken for TCP.
	for attempt := 0; ; attempt++ {
		udp, err := listenUDP(net.JoinHostPort(host, port), s.cfg.UDPSockets)
		if err != nil {
			return listenError("udp", addr, err)
		}
		bound := udp[0].localAddr()
		var lc net.ListenConfig
		ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(host, fmt.Sprint(bound.Port())))
		if err != nil {
			for _, c := range udp {
				_ = c.Close()
			}
			if port == "0" && attempt < 8 {
				continue
			}
			return listenError("tcp", addr, err)
		}
		s.udp = append(s.udp, udp...)
		s.tcp = append(s.tcp, ln.(*net.TCPListener))
		return nil
	}
}

// listenError is err of listening on addr over network: a *net.OpError
// already says "listen udp 127.0.0.1:53: bind: address already in use",
// so it is returned as it is, not wrapped in the same words again.
func listenError(network, addr string, err error) error {
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return err
	}
	return fmt.Errorf("listen %s %s: %w", network, addr, err)
}

// listenUDP opens n sockets on one address with SO_REUSEPORT, so the
// kernel spreads queries over n reading goroutines.
func listenUDP(addr string, n int) ([]*udpIO, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		return errors.Join(err, serr)
	}}
	var conns []*udpIO
	for i := range n {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return nil, err
		}
		c := pc.(*net.UDPConn)
		_ = c.SetReadBuffer(4 << 20) // best effort: capped by net.core.rmem_max
		b, err := newUDPIO(c)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		conns = append(conns, b)
		if i == 0 {
			addr = b.localAddr().String() // port 0 → the port just picked
		}
	}
	return conns, nil
}

// UDPAddrs and TCPAddrs return the bound addresses, one per Listen entry.
func (s *Server) UDPAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for i, c := range s.udp {
		if i%s.cfg.UDPSockets == 0 {
			out = append(out, c.localAddr())
		}
	}
	return out
}

// TCPAddrs returns the bound TCP addresses, one per Listen entry.
func (s *Server) TCPAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, l := range s.tcp {
		out = append(out, l.Addr().(*net.TCPAddr).AddrPort())
	}
	return out
}

// Serve answers queries on the sockets opened by Listen until ctx is done,
// then stops accepting, lets queries in progress finish, and returns.
func (s *Server) Serve(ctx context.Context) error {
	if len(s.udp) == 0 && len(s.tcp) == 0 {
		return errors.New("dnsserver: Serve before Listen")
	}
	for _, c := range s.udp {
		s.wg.Go(func() { s.serveUDP(c) })
	}
	for i, l := range s.tcp {
		s.wg.Go(func() { s.serveTCP(l, s.pools[i]) })
	}
	s.wg.Go(func() { s.notify.run(ctx, &s.wg) })
	<-ctx.Done()
	s.closeListeners()
	s.connMu.Lock()
	s.closed = true
	s.stopping.Store(true)
	for c := range s.conns {
		// Wake readers waiting for a next query; a reply being written
		// completes first, since the read comes after it.
		_ = c.SetReadDeadline(time.Now())
	}
	s.connMu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) closeListeners() {
	for _, c := range s.udp {
		_ = c.Close()
	}
	for _, l := range s.tcp {
		_ = l.Close()
	}
}

// safeHandle is handle with a last line of defence: a query that panics
// (a bug, never expected) is answered by no reply and counted, instead of
// taking the server down.
func (s *Server) safeHandle(v *view, req []byte, tr transport, src netip.Addr, buf []byte) (reply []byte, xfr *Zone) {
	return s.safeHandleAt(v, req, tr, src, buf, time.Now())
}

// safeHandleAt is safeHandle at time now (handleAt).
func (s *Server) safeHandleAt(v *view, req []byte, tr transport, src netip.Addr, buf []byte, now time.Time) (reply []byte, xfr *Zone) {
	defer func() {
		if p := recover(); p != nil {
			s.metrics.panics.Inc()
			s.log.Error("query handler panicked", "panic", p, "transport", tr.String(), "client", src)
			reply, xfr = nil, nil
		}
	}()
	return s.handleAt(v, req, tr, src, buf, now)
}
