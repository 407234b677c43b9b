// Package admin is packetd's admin HTTP listener: Prometheus metrics
// (/metrics), liveness and readiness probes (/healthz, /readyz), a JSON
// API to list rooms and sessions and to disconnect a session (/api/...),
// and, when asked for, Go's profiler (/debug/pprof/). It is off unless an
// address is configured, and it refuses an address that is not loopback
// unless AllowRemote is set: it has no authentication of its own.
// docs/OPERATIONS.md documents every endpoint.
//
// Concurrency: Start and Shutdown are called once each, in that order;
// handlers run on net/http's goroutines and only read the broker's
// state, through its concurrency-safe listing methods, or call its
// Disconnect.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/metrics"
	"github.com/packetd/packetd/internal/stats"
)

// Config configures the admin listener. The zero value is off.
type Config struct {
	// Addr is the host:port to listen on, such as "127.0.0.1:7071"; ""
	// disables the listener. The host must be a loopback address or
	// "localhost" unless AllowRemote is set.
	Addr string
	// AllowRemote accepts any address. Put the listener behind a
	// firewall or an authenticating proxy then: whoever reaches it can
	// disconnect every client and read every session's address.
	AllowRemote bool
	// Pprof serves net/http/pprof under /debug/pprof/.
	Pprof  bool
	Logger *slog.Logger
}

// Enabled reports whether the listener is configured.
func (c Config) Enabled() bool { return c.Addr != "" }

// check validates c.Addr.
func (c Config) check() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("%w %q: %w", ErrAddr, c.Addr, err)
	}
	if c.AllowRemote || host == "localhost" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err != nil || !a.IsLoopback() {
		return fmt.Errorf("%w: %q", ErrRemote, c.Addr)
	}
	return nil
}

// Timeouts of the HTTP server: a slow or idle client cannot hold a
// connection for long. The write timeout leaves room for a 30-second CPU
// profile (pprof's default).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 45 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Server is the admin listener.
type Server struct {
	cfg    Config
	broker *broker.Broker
	stats  *stats.Stats
	ready  func() error
	log    *slog.Logger
	http   *http.Server
	ln     net.Listener
	served chan struct{} // closed when Serve has returned
}

// New returns an admin listener over b and st. ready reports whether the
// server is ready for traffic (nil) or why not; /readyz answers 503 with
// its error. It fails for an address New would refuse (ErrRemote, ErrAddr).
func New(cfg Config, b *broker.Broker, st *stats.Stats, ready func() error) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, broker: b, stats: st, ready: ready, log: cfg.Logger, served: make(chan struct{})}
	s.http = &http.Server{
		Handler:           s.guard(s.routes()),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	reg := metrics.NewRegistry(metrics.New(s.stats, s.broker))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ready(); err != nil {
			writeText(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeText(w, http.StatusOK, "ready")
	})
	mux.HandleFunc("GET /api/rooms", s.listRooms)
	mux.HandleFunc("GET /api/sessions", s.listSessions)
	mux.HandleFunc("GET /api/sessions/{id}", s.getSession)
	mux.HandleFunc("DELETE /api/sessions/{id}", s.disconnect)
	mux.HandleFunc("POST /api/sessions/{id}/disconnect", s.disconnect)
	mux.HandleFunc("GET /api/backup", s.backup)
	if s.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// guard protects the API from browsers: cross-origin requests that
// change state (a web page POSTing to a disconnect URL) are refused with
// 403 (http.CrossOriginProtection), and, unless AllowRemote, so is a
// request whose Host header is not a loopback address or localhost with
// 421: a page whose domain was rebound to 127.0.0.1 (DNS rebinding) must
// not read the sessions' addresses.
func (s *Server) guard(next http.Handler) http.Handler {
	h := http.NewCrossOriginProtection().Handler(next)
	if s.cfg.AllowRemote {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			writeText(w, http.StatusMisdirectedRequest, "admin: the Host header must name a loopback address")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether host (a Host header: name or address,
// with or without a port) is localhost or a loopback address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	s.ln = ln
	go func() {
		defer close(s.served)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin: serving", "err", err)
		}
	}()
	return nil
}

// Addr returns the address the listener is bound to (valid after Start).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the listener, letting requests in progress finish until
// ctx is done, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.ln == nil {
		return nil // never started
	}
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	<-s.served
	return err
}

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
