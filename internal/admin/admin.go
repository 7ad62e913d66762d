// Package admin is AYA's admin HTTP server: liveness, readiness and
// Prometheus metrics, on an address that should stay on loopback or a
// management network. It holds no state of its own: readiness is asked of
// the caller through a function.
package admin

import (
	"cmp"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aya-gslb/aya/internal/httpjson"
)

// Config configures the admin server.
type Config struct {
	// Listen is the host:port to serve on.
	Listen string
	// Gatherer is what /metrics exposes.
	Gatherer prometheus.Gatherer
	// Ready returns nil when the node can take traffic, else why not; it
	// backs /readyz. Nil means always ready.
	Ready func() error
	// Explain backs GET /v1/explain: what the DNS server would answer a
	// client, and why. Nil disables the endpoint.
	Explain func(ExplainQuery) (any, error)
	// Routes are more endpoints (the cluster API, drains).
	Routes []Route
	// Token, when set, is the bearer token that write routes require.
	Token string
	// TLS, when set, serves HTTPS. When it has ClientCAs, write routes
	// require a client certificate that verifies against them (mutual
	// TLS); reads do not, so that a scraper needs no certificate.
	TLS *tls.Config
	// Logger receives errors (default: discarded).
	Logger *slog.Logger
	// Registerer receives the server's metrics (connections open and
	// refused); nil: not registered.
	Registerer prometheus.Registerer
	// ReadTimeout bounds reading a request, headers and body together,
	// from its first byte: a deadline, not an idle timer, so a body that
	// trickles is cut off too (default DefaultReadTimeout). A route reads
	// a larger body for longer by moving the connection's read deadline
	// (http.ResponseController), as the release POST does.
	ReadTimeout time.Duration
}

// Timeouts of the admin server.
const (
	DefaultReadTimeout = 10 * time.Second
	readHeaderTimeout  = 5 * time.Second
	writeTimeout       = 65 * time.Second // a 60 s CPU profile
	idleTimeout        = 60 * time.Second
	maxHeaderBytes     = 16 << 10
)

// Route is an endpoint added to the admin API.
type Route struct {
	// Pattern is a net/http.ServeMux pattern with a method ("POST /v1/drain").
	Pattern string
	Handler http.Handler
	// Auth routes need the token and, with mutual TLS, a verified client
	// certificate: every route that changes state, and the reads that
	// reveal what only members may see (the release's zone files, which
	// dns.transfer.allow guards over DNS).
	Auth bool
	// MaxBody bounds the request body (http.MaxBytesReader); 0:
	// httpjson.MaxBody (1 MiB).
	MaxBody int64
}

// ExplainQuery is the query string of /v1/explain:
// name, type (default A), client (the resolver's address) and ecs (a subnet).
type ExplainQuery struct {
	Name, Type, Client, ECS string
}

// Server is the admin HTTP server.
type Server struct {
	cfg Config
	ln  net.Listener
	srv *http.Server
}

// New opens the listener, so an address in use is reported at start.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	// The caps count TCP connections, before a TLS handshake, which the
	// server bounds by ReadTimeout.
	ln = newLimitListener(ln, cfg.Registerer, cfg.Logger)
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	readTimeout := cfg.ReadTimeout
	if readTimeout <= 0 {
		readTimeout = DefaultReadTimeout
	}
	s := &Server{cfg: cfg, ln: ln}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: min(readHeaderTimeout, readTimeout),
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Handler is the admin API: GET /healthz, /readyz, /metrics, and the Go
// profiler under /debug/pprof/, which needs the token like the writes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.cfg.Ready != nil {
			if err := s.cfg.Ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if s.cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
			EnableOpenMetrics: true,
		}))
	}
	if s.cfg.Explain != nil {
		mux.HandleFunc("GET /v1/explain", s.explain)
	}
	for _, r := range s.cfg.Routes {
		h := maxBody(r.Handler, cmp.Or(r.MaxBody, httpjson.MaxBody))
		if r.Auth {
			h = s.authorize(h)
		}
		mux.Handle(r.Pattern, h)
	}
	// The profiler shows goroutine stacks, heap contents and the command
	// line: for operators only, with the token (and client certificate).
	mux.Handle("GET /debug/pprof/", s.authorize(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/cmdline", s.authorize(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("GET /debug/pprof/profile", s.authorize(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/symbol", s.authorize(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("GET /debug/pprof/trace", s.authorize(http.HandlerFunc(pprof.Trace)))
	// A browser on the admin network (the status page brings them here)
	// must not be made to write by another site's page: a cross-origin
	// POST, which a page may send without asking (text/plain, no
	// preflight), is refused. The aya command line and forwarding nodes
	// send neither Sec-Fetch-Site nor Origin and are not concerned.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Error(w, http.StatusForbidden, "cross-origin request refused")
	}))
	return cop.Handler(mux)
}

// Serve serves until ctx is done, then shuts down within 5 seconds.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := ExplainQuery{Name: v.Get("name"), Type: v.Get("type"), Client: v.Get("client"), ECS: v.Get("ecs")}
	out, err := s.cfg.Explain(q)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

// maxBody bounds the request body of h to limit bytes.
func maxBody(h http.Handler, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}

// authorize lets a write through only with the bearer token (when one is
// configured) and, with mutual TLS, a verified client certificate.
func (s *Server) authorize(h http.Handler) http.Handler {
	needCert := s.cfg.TLS != nil && s.cfg.TLS.ClientCAs != nil
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if needCert && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			httpjson.Error(w, http.StatusForbidden, "a client certificate signed by the cluster CA is required")
			return
		}
		if !bearerOK(r, s.cfg.Token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="aya"`)
			httpjson.Error(w, http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer …)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearerOK reports whether r carries the bearer token want, compared in
// constant time. An empty want accepts every request.
func bearerOK(r *http.Request, want string) bool {
	if want == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
