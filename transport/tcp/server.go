// Package tcp is packetd's TCP transport: a gnet/v2 engine that reads
// length-prefixed frames, hands packets to the broker, and writes what the
// broker and the Hub queue for its connections, coalesced into one write
// per connection per event-loop pass.
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
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/deliver"
	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/transport/internal/gnetx"
)

// Config configures the TCP transport. Zero values mean the defaults given.
type Config struct {
	Addr             string        // host:port to listen on; default ":7070"
	Loops            int           // event loops; default 1 (see docs/PERFORMANCE.md)
	MaxFrame         int           // largest packet after HELLO; default codec.DefaultMaxFrame
	MaxHelloFrame    int           // largest packet before HELLO; default 1024
	HandshakeTimeout time.Duration // time to send HELLO; default 10 s
	CloseGrace       time.Duration // how long a connection that was sent a fatal ERROR may linger; default 2 s
	MaxOutbound      int           // bytes queued to one connection before messages are dropped; default 4 MiB
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
	if c.Loops < 0 || c.MaxFrame < codec.HeaderLen || c.MaxHelloFrame < codec.HeaderLen || c.MaxOutbound < 0 {
		return c, errors.New("tcp: invalid limits")
	}
	return c, nil
}

// Server is the TCP transport.
type Server struct {
	gnet.BuiltinEventEngine
	cfg    Config
	broker *broker.Broker
	hub    *deliver.Hub
	stats  *stats.Stats
	log    *slog.Logger

	booted chan struct{}
	done   chan error
	eng    gnet.Engine
	addr   net.Addr

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
	return &Server{cfg: c, broker: b, hub: hub, stats: st, log: c.Logger,
		booted: make(chan struct{}), done: make(chan error, 1), loops: make(map[gnet.EventLoop]*loop)}, nil
}

// Start listens and serves in the background; it returns once the listener
// is bound.
func (s *Server) Start() error {
	go func() {
		s.done <- gnet.Run(s, "tcp://"+s.cfg.Addr,
			gnet.WithNumEventLoop(s.cfg.Loops),
			gnet.WithReusePort(false),
			gnet.WithTicker(true),
			gnet.WithTCPKeepAlive(time.Minute),
			gnet.WithLogger(gnetx.Logger{L: s.log}),
		)
	}()
	select {
	case <-s.booted:
		return nil
	case err := <-s.done:
		if err == nil {
			err = errors.New("engine stopped")
		}
		return fmt.Errorf("tcp: listen on %s: %w", s.cfg.Addr, err)
	}
}

// Addr returns the address the server listens on (valid after Start).
func (s *Server) Addr() net.Addr { return s.addr }

// OnBoot implements gnet.EventHandler.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	addr, err := gnetx.BoundAddr(eng, "tcp")
	if err != nil {
		s.log.Error("tcp: reading bound address", "err", err)
	}
	s.addr = addr
	close(s.booted)
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
		l = &loop{el: el, group: group, w: broker.NewWorker(out), conns: make(map[*conn]struct{})}
		s.loops[el] = l
	}
	return l
}

// OnOpen implements gnet.EventHandler.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	l := s.loopOf(c)
	tc := &conn{srv: s, c: c, loop: l, deadline: time.Now().Add(s.cfg.HandshakeTimeout)}
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
	clear(tc.pending)
	tc.pending = nil
	s.broker.Close(tc.sess)
	s.stats.TCPConns.Add(-1)
	return gnet.None
}

// OnTraffic implements gnet.EventHandler.
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	tc := c.Context().(*conn)
	action := tc.read()
	tc.loop.w.Out.Flush()
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
		case !now.After(tc.deadline):
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
	l.w.Out.Flush()
}

// Shutdown says BYE (code 301) to every connection, closes them and stops
// the engine.
func (s *Server) Shutdown(ctx context.Context) error {
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
	err := s.eng.Stop(ctx)
	if runErr := <-s.done; err == nil {
		err = runErr
	}
	return err
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
	l.w.Out.Flush()
	for tc := range l.conns {
		_ = tc.c.Close()
	}
}
