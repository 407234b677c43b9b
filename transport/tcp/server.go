// Package tcp is packetd's TCP transport: a gnet/v2 engine that reads
// length-prefixed frames, hands packets to the broker, and writes what the
// broker and the Hub queue for its connections, coalesced into one write
// per connection per event-loop pass. Connections terminated elsewhere
// (TLS, transport/tlsterm) enter the same loops through Pipe, a Unix
// socket pair, with the address and identity their terminator verified.
//
// Concurrency: each connection belongs to one event loop, and everything
// that touches it (reading, writing, timeouts, closing) runs there. Server
// methods are safe for concurrent use.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/deliver"
	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/transport/internal/gnetx"
)

// Config configures the TCP transport. Zero values mean the defaults given.
type Config struct {
	Addr             string        // host:port to listen on; default ":7070"
	NoListener       bool          // listen nowhere: serve only connections opened with Pipe (TLS only)
	Loops            int           // event loops; default 1 (see docs/PERFORMANCE.md)
	MaxFrame         int           // largest packet after HELLO; default codec.DefaultMaxFrame
	MaxHelloFrame    int           // largest packet before HELLO; default 1024
	HandshakeTimeout time.Duration // time to send HELLO; default 10 s
	CloseGrace       time.Duration // how long a connection that was sent a fatal ERROR may linger; default 2 s
	MaxOutbound      int           // bytes queued to one connection before messages are dropped; default 4 MiB
	MaxConns         int           // open connections; default: the file-descriptor limit less 256
	MaxConnsPerIP    int           // open connections from one address (IPv6: /64), loopback not counted; 0: no limit
	LimitLoopback    bool          // count loopback addresses in MaxConnsPerIP too (tests)
	TickInterval     time.Duration // timeout sweep period; default 1 s
	Logger           *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Addr == "" {
		c.Addr = ":7070"
	}
	def(&c.Loops, 1)
	def(&c.MaxFrame, codec.DefaultMaxFrame)
	def(&c.MaxHelloFrame, 1024)
	def(&c.MaxOutbound, 4<<20)
	defDur(&c.HandshakeTimeout, 10*time.Second)
	defDur(&c.CloseGrace, 2*time.Second)
	defDur(&c.TickInterval, time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxConns == 0 {
		c.MaxConns = fdBudget()
	}
	if c.Loops < 0 || c.MaxConns < 0 || c.MaxFrame < codec.HeaderLen || c.MaxHelloFrame < codec.HeaderLen || c.MaxOutbound < 0 {
		return c, errors.New("tcp: invalid limits")
	}
	return c, nil
}

// Server is the TCP transport. It accepts connections itself, with Go's
// listener, and hands each to a gnet event loop: gnet's own acceptor stops
// the whole engine on EMFILE, which would let a connection flood take the
// server down; this accept loop backs off instead, and refuses connections
// over MaxConns before they cost more than a moment's descriptor.
type Server struct {
	gnet.BuiltinEventEngine
	cfg    Config
	broker *broker.Broker
	hub    *deliver.Hub
	stats  *stats.Stats
	log    *slog.Logger

	ln       net.Listener
	cli      *gnet.Client
	eng      gnet.Engine
	conns    atomic.Int64  // connections enrolled and not yet closed, and slots reserved for Pipe
	perIP    perIP         // connections by client address (MaxConnsPerIP)
	accepted chan struct{} // closed when the accept loop has exited
	stopping atomic.Bool   // Shutdown has begun: Pipe refuses
	piped    sync.Map      // *conn -> *pipePeer: connections opened with Pipe

	mu    sync.Mutex // guards loops
	loops map[gnet.EventLoop]*loop
}

// loop is one event loop's state; only that loop's goroutine touches it,
// except the immutable group and el.
type loop struct {
	el    gnet.EventLoop
	group int
	w     *broker.Worker
	conns map[*conn]struct{}
}

// New returns a TCP transport for the broker; hub must be the Sink of the
// broker's adapter.
func New(cfg Config, b *broker.Broker, hub *deliver.Hub, st *stats.Stats) (*Server, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Server{cfg: c, broker: b, hub: hub, stats: st, log: c.Logger, perIP: perIP{loopback: c.LimitLoopback},
		accepted: make(chan struct{}), loops: make(map[gnet.EventLoop]*loop)}, nil
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	var ln net.Listener
	if !s.cfg.NoListener {
		lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: time.Minute, Interval: 15 * time.Second, Count: 4}}
		var err error
		if ln, err = lc.Listen(context.Background(), "tcp", s.cfg.Addr); err != nil {
			return fmt.Errorf("tcp: %w", err)
		}
	}
	cli, err := gnet.NewClient(s,
		gnet.WithNumEventLoop(s.cfg.Loops),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetx.Logger{L: s.log}),
	)
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return fmt.Errorf("tcp: starting event loops: %w", err)
	}
	s.ln, s.cli = ln, cli
	if ln == nil {
		close(s.accepted)
		return nil
	}
	go s.acceptLoop()
	return nil
}

// acceptLoop accepts until the listener closes. A failed accept, or a
// connection that cannot be handed to a loop (both EMFILE when descriptors
// run out), is waited out with a growing pause (5 ms to 1 s), logged at
// most once a second.
func (s *Server) acceptLoop() {
	defer close(s.accepted)
	var pause time.Duration
	var lastLog time.Time
	failed := func(what string, err error) {
		s.stats.AcceptErrors.Add(1)
		pause = min(max(2*pause, 5*time.Millisecond), time.Second)
		if time.Since(lastLog) > time.Second {
			lastLog = time.Now()
			s.log.Error("tcp: "+what+" failed; pausing accepts", "err", err, "pause", pause)
		}
		time.Sleep(pause)
	}
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			failed("accept", err)
			continue
		}
		ip := remoteIP(nc.RemoteAddr())
		if code := s.Reserve(ip); code != codec.CodeNormal {
			s.Refuse(nc, code)
			continue
		}
		if _, err := s.cli.EnrollContext(nc, nil); err != nil { // closes nc either way
			s.Release(ip)
			failed("handing a connection to an event loop", err)
			continue
		}
		pause = 0
	}
}

// Refuse answers a connection Reserve refused with an ERROR with code
// (300 over MaxConns, 309 over MaxConnsPerIP) and closes it.
func (s *Server) Refuse(nc net.Conn, code codec.Code) {
	if code == codec.CodeServerFull {
		s.stats.SessionsRefused.Add(1)
	}
	frame := codec.AppendFrame(nil, codec.Header{Type: codec.TypeError},
		&codec.Error{Code: uint16(code), Msg: []byte(code.String())})
	_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = nc.Write(frame)
	_ = nc.Close()
}

// fdBudget is the default MaxConns: the process's descriptor limit less a
// reserve for listeners, event-loop pollers, UDP sockets and the moment an
// accepted connection is duplicated into its loop.
func fdBudget() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 20
	}
	return max(int(rl.Cur)-256, 16)
}

// Addr returns the address the server listens on (valid after Start), nil
// with NoListener.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// OnBoot implements gnet.EventHandler.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	return gnet.None
}

// loopOf returns the state of the event loop c belongs to, registering the
// loop with the Hub the first time it is seen.
func (s *Server) loopOf(c gnet.Conn) *loop {
	el := c.EventLoop()
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.loops[el]
	if !ok {
		group, out := s.hub.AddGroup(gnetx.Executor{EL: el})
		out.Scratch = make([]byte, 0, 64<<10)
		l = &loop{el: el, group: group, w: s.broker.NewWorker(out), conns: make(map[*conn]struct{})}
		s.loops[el] = l
	}
	return l
}

// OnOpen implements gnet.EventHandler.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	l := s.loopOf(c)
	tc := &conn{srv: s, c: c, loop: l, deadline: time.Now().Add(s.cfg.HandshakeTimeout).UnixNano()}
	if p, ok := c.Context().(*pipePeer); ok {
		s.piped.Store(tc, p)
	}
	c.SetContext(tc)
	l.conns[tc] = struct{}{}
	s.stats.TCPConns.Add(1)
	return nil, gnet.None
}

// OnClose implements gnet.EventHandler.
func (s *Server) OnClose(c gnet.Conn, err error) gnet.Action {
	tc, ok := c.Context().(*conn)
	if !ok {
		return gnet.None
	}
	tc.closed = true
	delete(tc.loop.conns, tc)
	s.Release(tc.Remote().Addr())
	clear(tc.pending)
	tc.pending = nil
	s.broker.Detach(tc.loop.w, tc)
	tc.loop.w.Commit()
	if _, ok := c.RemoteAddr().(*net.TCPAddr); !ok {
		s.piped.Delete(tc)
	}
	s.stats.TCPConns.Add(-1)
	return gnet.None
}

// OnTraffic implements gnet.EventHandler.
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	tc := c.Context().(*conn)
	action := tc.read()
	tc.loop.w.Flush()
	return action
}

// OnTick implements gnet.EventHandler: it asks every loop to time out its
// connections.
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	s.mu.Lock()
	for _, l := range s.loops {
		_ = s.hub.Run(l.group, l.sweep)
	}
	s.mu.Unlock()
	return s.cfg.TickInterval, gnet.None
}

// sweep runs on the loop: it ends connections past their deadline.
func (l *loop) sweep() {
	now := time.Now()
	for tc := range l.conns {
		switch {
		case now.UnixNano() <= tc.deadline:
		case tc.closing:
			_ = tc.c.Close() // the grace period after a fatal ERROR is over
		case tc.sess == nil:
			tc.srv.stats.HandshakeTimeouts.Add(1)
			tc.fail(codec.CodeHandshakeTimeout)
		default:
			tc.srv.stats.IdleTimeouts.Add(1)
			tc.fail(codec.CodeIdleTimeout)
		}
	}
	l.w.Flush()
}

// Shutdown stops accepting, says BYE (code 301) to every connection,
// closes them and stops the event loops.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	if s.ln != nil {
		_ = s.ln.Close()
	}
	<-s.accepted
	s.mu.Lock()
	var wg sync.WaitGroup
	for _, l := range s.loops {
		wg.Add(1)
		if err := s.hub.Run(l.group, func() { defer wg.Done(); l.bye() }); err != nil {
			wg.Done()
		}
	}
	s.mu.Unlock()
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.cli.Stop() }()
	select {
	case err := <-stopped:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *loop) bye() {
	for tc := range l.conns {
		if tc.closed {
			continue
		}
		if tc.sess != nil {
			l.w.Bye(tc, codec.CodeShuttingDown)
		} else {
			l.w.Error(tc, 0, codec.CodeShuttingDown)
		}
	}
	l.w.Flush()
	for tc := range l.conns {
		_ = tc.c.Close()
	}
}
