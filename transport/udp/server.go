// Package udp is packetd's UDP transport: a gnet/v2 engine (one socket per
// event loop, SO_REUSEPORT) and the session layer that UDP lacks: sessions
// keyed by a random secret 64-bit key, which the WELCOME gives and every
// client datagram carries in front (not the session id, which is public),
// so a session survives a NAT rebinding; address validation with the QUIC
// anti-amplification rule; idle expiry.
//
// Concurrency: the session table is shared by all event loops and the
// timer; sessions are safe for concurrent use. Sending needs no event
// loop: datagrams go out with sendmmsg from whichever pass produced them.
package udp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/deliver"
	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/transport/internal/gnetx"
)

// Config configures the UDP transport. Zero values mean the defaults given.
type Config struct {
	Addr             string        // host:port to listen on; default ":7070"
	Loops            int           // event loops, each with its own socket; default 1
	MaxDatagram      int           // largest datagram accepted or sent; default codec.DefaultMaxDatagram
	HandshakeTimeout time.Duration // an unvalidated session's lifetime; default 10 s
	MaxPending       int           // sessions whose address is not yet validated; default 10,000
	SocketBuffer     int           // SO_RCVBUF and SO_SNDBUF to ask for; default 4 MiB
	TickInterval     time.Duration // expiry sweep period; default 1 s
	Logger           *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = ":7070"
	}
	if c.Loops == 0 {
		c.Loops = 1
	}
	if c.MaxDatagram == 0 {
		c.MaxDatagram = codec.DefaultMaxDatagram
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxPending == 0 {
		c.MaxPending = 10_000
	}
	if c.SocketBuffer == 0 {
		c.SocketBuffer = 4 << 20
	}
	if c.TickInterval == 0 {
		c.TickInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Loops < 0 || c.MaxPending < 0 || c.MaxDatagram < codec.MinHelloDatagram || c.MaxDatagram > 65507 || c.SocketBuffer < 0 {
		return c, errors.New("udp: invalid limits")
	}
	return c, nil
}

// Server is the UDP transport.
type Server struct {
	gnet.BuiltinEventEngine
	cfg    Config
	broker *broker.Broker
	stats  *stats.Stats
	log    *slog.Logger
	table  table

	booted chan struct{}
	done   chan error
	eng    gnet.Engine
	addr   net.Addr

	loops   atomic.Pointer[map[int]*loop] // by socket fd; copy on write
	loopsMu sync.Mutex                    // serialises writers of loops

	hellosMu   sync.Mutex                  // guards the fields below and session.pending
	hellos     map[netip.AddrPort]*session // recent sessions by the address their HELLO came from (the latest per address)
	hellosPeak int                         // the most entries hellos has held since it was made
	pending    int                         // sessions whose address is not validated yet

	timerMu sync.Mutex // guards timer: the OnTick goroutine and Shutdown share it
	timer   *broker.Worker
}

// loop is one event loop's socket and scratch.
type loop struct {
	fd   int
	v6   bool // the socket is AF_INET6
	w    *broker.Worker
	held int // passes whose output waits for the next Flush
}

// Output held across passes (see hold): at most maxHold passes (GSO's
// limit of datagrams per send) and maxHeldDatagrams datagrams.
const (
	maxHold          = 64
	maxHeldDatagrams = 64 << 10
)

// hold reports whether the pass that just ended may leave its output for
// the next pass to send: only while more datagrams wait on the socket, so
// that gnet calls OnTraffic again at once. Under a flood of publishes, each
// subscriber then gets up to maxHold messages in one GSO send instead of
// one send each; a lone datagram's answer goes out at once. A pass with
// nothing to send (an ACK, say) costs no check.
func (l *loop) hold(fd int) bool {
	if n := l.w.Out.Datagrams(); n > 0 && n < maxHeldDatagrams && l.held+1 < maxHold {
		if n, err := unix.IoctlGetInt(fd, unix.SIOCINQ); err == nil && n > 0 {
			l.held++
			return true
		}
	}
	l.held = 0
	return false
}

// New returns a UDP transport for the broker.
func New(cfg Config, b *broker.Broker, st *stats.Stats) (*Server, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: c, broker: b, stats: st, log: c.Logger,
		booted: make(chan struct{}), done: make(chan error, 1),
		hellos: make(map[netip.AddrPort]*session),
		timer:  b.NewWorker(deliver.NewOutbox(deliver.NoGroup, st)),
	}
	s.table.init()
	s.loops.Store(&map[int]*loop{})
	return s, nil
}

// Start binds the sockets and serves in the background.
func (s *Server) Start() error {
	addr, err := pinPort(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("udp: listen on %s: %w", s.cfg.Addr, err)
	}
	go func() {
		s.done <- gnet.Run(s, "udp://"+addr,
			gnet.WithNumEventLoop(s.cfg.Loops),
			gnet.WithTicker(true),
			gnet.WithSocketRecvBuffer(s.cfg.SocketBuffer),
			gnet.WithSocketSendBuffer(s.cfg.SocketBuffer),
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
		return fmt.Errorf("udp: listen on %s: %w", addr, err)
	}
}

// pinPort replaces port 0 with a free port. gnet opens one socket per event
// loop, each bound separately, so port 0 would give each loop a different
// port; a port picked first gives them all the same one.
func pinPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr, err
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return "", err
	}
	defer pc.Close()
	return net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)), nil
}

// Addr returns the address the server listens on (valid after Start).
func (s *Server) Addr() net.Addr { return s.addr }

// OnBoot implements gnet.EventHandler.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	addr, err := gnetx.BoundAddr(eng, "udp")
	if err != nil {
		s.log.Error("udp: reading bound address", "err", err)
	}
	s.addr = addr
	if fd, err := eng.Dup(); err == nil {
		rcv, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
		_ = unix.Close(fd)
		// The kernel doubles what it grants and caps it at rmem_max/wmem_max.
		s.log.Info("udp socket buffers", "asked", s.cfg.SocketBuffer, "rcvbuf", rcv, "sndbuf", snd)
	}
	close(s.booted)
	return gnet.None
}

// loopOf returns the state for the socket fd, creating it the first time.
func (s *Server) loopOf(fd int) *loop {
	if l := (*s.loops.Load())[fd]; l != nil {
		return l
	}
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	old := *s.loops.Load()
	if l := old[fd]; l != nil {
		return l
	}
	l := &loop{fd: fd, w: s.broker.NewWorker(deliver.NewOutbox(deliver.NoGroup, s.stats))}
	if sa, err := unix.Getsockname(fd); err == nil {
		_, l.v6 = sa.(*unix.SockaddrInet6)
	}
	next := make(map[int]*loop, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[fd] = l
	s.loops.Store(&next)
	return l
}

// OnTraffic implements gnet.EventHandler: one datagram.
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	ua, ok := c.RemoteAddr().(*net.UDPAddr)
	if !ok {
		return gnet.None
	}
	l := s.loopOf(c.Fd())
	ap := ua.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	s.receive(l, ap, buf)
	if !l.hold(c.Fd()) {
		l.w.Flush()
	}
	return gnet.None
}

// OnTick implements gnet.EventHandler: it expires silent sessions.
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	s.sweep(time.Now())
	s.sampleDrops()
	return s.cfg.TickInterval, gnet.None
}

// sampleDrops copies the kernel's count of datagrams dropped at the
// sockets' full receive buffers into the stats: the load packetd shed at
// its edge, before reading it.
func (s *Server) sampleDrops() {
	var total uint64
	for _, l := range *s.loops.Load() {
		var info [unix.SK_MEMINFO_VARS]uint32
		n := uint32(unsafe.Sizeof(info))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0)
		if errno == 0 && n > unix.SK_MEMINFO_DROPS*4 {
			total += uint64(info[unix.SK_MEMINFO_DROPS])
		}
	}
	s.stats.UDPRecvDrops.Store(total)
}

// Shutdown says BYE (code 301) to every session, ends them, and stops the
// engine.
func (s *Server) Shutdown(ctx context.Context) error {
	s.timerMu.Lock()
	for _, ss := range s.table.all() {
		s.timer.Bye(ss, codec.CodeShuttingDown) // within the 3x budget if unvalidated
		s.end(s.timer, ss)
	}
	s.timer.Flush()
	s.timerMu.Unlock()
	err := s.eng.Stop(ctx)
	if runErr := <-s.done; err == nil {
		err = runErr
	}
	return err
}
