// Package tlsterm terminates TLS for the TCP transport. It accepts TLS
// connections with crypto/tls (gnet has no TLS), completes the handshake
// within a timeout, and hands the plaintext to transport/tcp through a
// Unix socket pair (tcp.Server.Pipe): the session is served by the same
// event loops, broker and rooms as a plain TCP one, and reports the
// client's real address and, with client certificates (mTLS), the
// identity its certificate carries. Two goroutines per connection copy
// the plaintext, each with a bounded buffer; the end of either stream is
// passed on to the other side (FIN, TLS close_notify).
//
// Certificates and client CAs are reloaded from their files by Reload
// (SIGHUP) without touching established connections; a reload that fails
// keeps the previous ones.
//
// Concurrency: Server's methods are safe for concurrent use. Start is
// called once, then Close and Wait once each, in that order.
package tlsterm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/transport/tcp"
)

// Config configures the TLS listener. Zero values mean the defaults given.
type Config struct {
	Addr     string // host:port to listen on; required
	CertFile string // PEM certificate chain, leaf first; required
	KeyFile  string // PEM private key of the leaf; required
	// ClientCAFile, if set, is a PEM bundle of the CAs that sign client
	// certificates: every client must present one they verify (mTLS),
	// and its identity (see Identity) is the session's peer identity.
	ClientCAFile     string
	HandshakeTimeout time.Duration // time to complete the TLS handshake; default 10 s
	CloseGrace       time.Duration // time the client has to close after the server ended its stream; default 2 s
	WriteTimeout     time.Duration // time one write to the client may block; default 10 s
	Logger           *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" || c.CertFile == "" || c.KeyFile == "" {
		return c, ErrConfig
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.CloseGrace == 0 {
		c.CloseGrace = 2 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HandshakeTimeout < 0 || c.CloseGrace < 0 || c.WriteTimeout < 0 {
		return c, fmt.Errorf("%w: negative timeout", ErrConfig)
	}
	return c, nil
}

// Server is the TLS listener.
type Server struct {
	cfg   Config
	tcp   *tcp.Server
	stats *stats.Stats
	log   *slog.Logger

	base *tls.Config                // hands each handshake cur; owns the session ticket keys
	cur  atomic.Pointer[tls.Config] // certificate and client CAs, swapped by Reload

	ln       net.Listener
	accepted chan struct{} // closed when the accept loop has exited
	wg       sync.WaitGroup
	failLog  logLimiter // failed handshakes
	pipeLog  logLimiter // failed hand-overs to the TCP transport

	filesMu sync.Mutex // guards files; held while loading
	files   files

	mu     sync.Mutex // guards the fields below
	closed bool
	piping sync.WaitGroup     // handshakes done, being handed to tcp
	conns  map[net.Conn]*conn // every accepted connection not yet closed
}

// conn is one accepted connection, in handshake or spliced.
type conn struct {
	raw     net.Conn
	spliced bool          // guarded by Server.mu
	pipe    *net.UnixConn // once spliced; guarded by Server.mu
}

// New loads the certificates and returns a TLS listener that hands its
// connections to t. It fails if a file cannot be read or parsed.
func New(cfg Config, t *tcp.Server, st *stats.Stats) (*Server, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: c, tcp: t, stats: st, log: c.Logger, accepted: make(chan struct{}),
		conns: make(map[net.Conn]*conn)}
	s.base = &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load(), nil
		},
	}
	s.files = files{cert: c.CertFile, key: c.KeyFile, clientCA: c.ClientCAFile}
	cur, err := s.load(s.files)
	if err != nil {
		return nil, err
	}
	s.cur.Store(cur)
	return s, nil
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: time.Minute, Interval: 15 * time.Second, Count: 4}}
	ln, err := lc.Listen(context.Background(), "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("tlsterm: %w", err)
	}
	s.ln = ln
	go s.acceptLoop()
	return nil
}

// Addr returns the address the server listens on (valid after Start).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// acceptLoop accepts until the listener closes, as the TCP transport's:
// a failed accept (EMFILE) pauses it, 5 ms doubling to 1 s; a connection
// over -max-conns (TLS and plain TCP together) is closed at once, before
// any handshake: it is counted with the refused sessions.
func (s *Server) acceptLoop() {
	defer close(s.accepted)
	var pause time.Duration
	var lastLog time.Time
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.stats.AcceptErrors.Add(1)
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			if time.Since(lastLog) > time.Second {
				lastLog = time.Now()
				s.log.Error("tls: accept failed; pausing accepts", "err", err, "pause", pause)
			}
			time.Sleep(pause)
			continue
		}
		pause = 0
		ip := addrPort(raw.RemoteAddr()).Addr()
		if code := s.tcp.Reserve(ip); code != codec.CodeNormal {
			if code == codec.CodeServerFull {
				s.stats.SessionsRefused.Add(1)
			}
			_ = raw.Close() // no ERROR: the client expects a TLS handshake
			continue
		}
		c := &conn{raw: raw}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.tcp.Release(ip)
			_ = raw.Close()
			continue
		}
		s.conns[raw] = c
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve owns one connection until its handshake is done, then hands it
// to two new goroutines that splice it: this one exits with the stack the
// handshake grew, so an idle TLS session keeps two small ones.
func (s *Server) serve(c *conn) {
	defer s.wg.Done()
	tc, p := s.handshake(c)
	if p == nil {
		s.forget(c)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.forget(c)
		s.stats.TLSConns.Add(1)
		s.splice(tc, c.raw.(*net.TCPConn), p)
		s.stats.TLSConns.Add(-1)
	}()
}

// handshake completes the TLS handshake and opens the connection's pipe
// into the TCP transport; nil if either fails (the connection is closed).
func (s *Server) handshake(c *conn) (*tls.Conn, *net.UnixConn) {
	raw := c.raw
	remote := addrPort(raw.RemoteAddr())
	tc := tls.Server(raw, s.base)
	_ = raw.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		s.tcp.Release(remote.Addr())
		_ = raw.Close()
		s.mu.Lock()
		closed := s.closed // Close ended it: not the client's failure
		s.mu.Unlock()
		if !closed {
			s.handshakeFailed(remote, err)
		}
		return nil, nil
	}
	_ = raw.SetDeadline(time.Time{})
	identity := ""
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		identity = Identity(certs[0])
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.tcp.Release(remote.Addr())
		_ = raw.Close()
		return nil, nil
	}
	c.spliced = true
	s.piping.Add(1)
	s.mu.Unlock()
	p, err := s.tcp.Pipe("tls", remote, identity)
	if err != nil {
		s.piping.Done()
		_ = raw.Close()
		s.stats.AcceptErrors.Add(1) // as the TCP transport counts a failed hand-over
		if n, ok := s.pipeLog.allow(time.Now()); ok {
			s.log.Error("tls: handing a connection to the TCP transport failed", "remote", remote, "err", err, "suppressed", n)
		}
		return nil, nil
	}
	s.mu.Lock()
	c.pipe = p
	s.mu.Unlock()
	s.piping.Done()
	return tc, p
}

// handshakeFailed counts and logs (at most one line a second) a failed
// handshake.
func (s *Server) handshakeFailed(remote netip.AddrPort, err error) {
	reason := "handshake"
	var certErr *tls.CertificateVerificationError
	var hdrErr tls.RecordHeaderError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.stats.TLSHandshakeSlow.Add(1)
		reason = "timeout"
	case errors.As(err, &certErr), isNoClientCert(err):
		s.stats.TLSBadClientCerts.Add(1)
		reason = "client certificate"
	case errors.As(err, &hdrErr):
		s.stats.TLSHandshakeFails.Add(1)
		reason = "not TLS"
	default:
		s.stats.TLSHandshakeFails.Add(1)
	}
	if n, ok := s.failLog.allow(time.Now()); ok {
		s.log.Warn("tls: handshake failed", "remote", remote, "reason", reason, "err", err, "suppressed", n)
	}
}

// isNoClientCert reports whether err says the client sent no certificate
// although one is required. crypto/tls has no typed error for it.
func isNoClientCert(err error) bool {
	return err != nil && err.Error() == "tls: client didn't provide a certificate"
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.raw)
	s.mu.Unlock()
}

// Close stops accepting and ends the handshakes in progress. Connections
// already handed to the TCP transport carry on: they end when it closes
// them (its Shutdown says BYE), or when Wait gives up.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for raw, c := range s.conns {
		if !c.spliced {
			_ = raw.Close()
		}
	}
	s.mu.Unlock()
	if s.ln != nil {
		_ = s.ln.Close()
		<-s.accepted
	}
	s.piping.Wait()
}

// Wait waits for every connection to end, after Close. If ctx ends
// first, it closes the remaining ones and returns ctx's error.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for raw, c := range s.conns {
		_ = raw.Close()
		if c.pipe != nil {
			_ = c.pipe.Close()
		}
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// logLimiter lets one line through per second and counts the others.
type logLimiter struct {
	mu         sync.Mutex // guards the fields below
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged now, and how many were
// suppressed since the last one.
func (l *logLimiter) allow(now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) < time.Second {
		l.suppressed++
		return 0, false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n, true
}
