package impair

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TCP is a running TCP impairment proxy. Each connection accepted on Addr
// is relayed over its own connection to the target, and each direction's
// byte stream is delayed, jittered and rate limited by its TCPConfig.
//
// All methods are safe for concurrent use.
type TCP struct {
	ln      *net.TCPListener
	target  string
	start   time.Time
	done    chan struct{} // closed by Close
	cancel  context.CancelFunc
	ctx     context.Context // dials; canceled by Close
	wg      sync.WaitGroup
	opts    atomic.Pointer[TCPOptions] // validated, with defaults
	fixed   TCPOptions                 // the fields SetOptions does not change
	st      [2]tcpCounters             // by dir
	opened  atomic.Uint64
	refused atomic.Uint64
	failed  atomic.Uint64

	mu     sync.RWMutex // guards the fields below
	conns  map[*tcpConn]struct{}
	next   uint64 // the next connection's index
	closed bool
}

// A tcpConn is one client connection and its connection to the target.
// Four goroutines serve it, a reader and a writer per direction; the last
// to exit closes the sockets.
type tcpConn struct {
	px      *TCP
	index   uint64 // order of acceptance, from 0
	client  *net.TCPConn
	streams [2]stream     // by dir
	dead    chan struct{} // closed when the connection is torn down
	live    atomic.Int32  // goroutines still serving it

	mu     sync.Mutex   // guards the fields below
	server *net.TCPConn // nil while dialing
	ended  bool         // the sockets are closed, or being closed
}

// NewTCP starts a proxy listening on listen (host:port; port 0 picks one)
// and relaying to target. It returns an error wrapping ErrConfig if opts is
// invalid. The target is dialed for each connection, so it need not be up
// yet.
func NewTCP(listen, target string, opts TCPOptions) (*TCP, error) {
	o, err := opts.validate()
	if err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("impair: target address: %w", err)
	}
	laddr, err := net.ResolveTCPAddr("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("impair: listen address: %w", err)
	}
	ln, err := net.ListenTCP("tcp", laddr)
	if err != nil {
		return nil, fmt.Errorf("impair: %w", err)
	}
	px := &TCP{
		ln:     ln,
		target: target,
		start:  time.Now(),
		done:   make(chan struct{}),
		fixed:  o,
		conns:  make(map[*tcpConn]struct{}),
	}
	px.ctx, px.cancel = context.WithCancel(context.Background())
	px.opts.Store(&o)
	px.wg.Add(1)
	go func() { defer px.wg.Done(); px.accept() }()
	return px, nil
}

// Addr is the address clients connect to.
func (px *TCP) Addr() *net.TCPAddr { return px.ln.Addr().(*net.TCPAddr) }

// SetOptions replaces the Up and Down impairments; the next chunk read in
// each direction of every connection sees them. Chunks already queued keep
// the times they were given. Seed, MaxConns, DialTimeout and SocketBuffer
// are fixed by NewTCP and ignored here. It returns an error wrapping
// ErrConfig, and changes nothing, if opts is invalid.
func (px *TCP) SetOptions(opts TCPOptions) error {
	o, err := opts.validate()
	if err != nil {
		return err
	}
	n := px.fixed
	n.Up, n.Down = o.Up, o.Down
	px.opts.Store(&n)
	// A reader stalled on the old QueueLimit looks again.
	px.mu.RLock()
	for tc := range px.conns {
		for d := range tc.streams {
			signal(tc.streams[d].space)
		}
	}
	px.mu.RUnlock()
	return nil
}

// Stats returns a snapshot of the counters.
func (px *TCP) Stats() TCPStats {
	px.mu.RLock()
	s := TCPStats{Conns: len(px.conns)}
	px.mu.RUnlock()
	s.Up = px.st[up].snapshot()
	s.Down = px.st[down].snapshot()
	s.Opened = px.opened.Load()
	s.Refused = px.refused.Load()
	s.Failed = px.failed.Load()
	return s
}

// Close stops the proxy: it stops accepting, resets every connection (both
// sides see a reset, and queued bytes are dropped), and returns once every
// goroutine has exited. Later calls return nil.
func (px *TCP) Close() error {
	px.mu.Lock()
	if px.closed {
		px.mu.Unlock()
		return nil
	}
	px.closed = true
	for tc := range px.conns {
		tc.abort()
	}
	px.mu.Unlock()
	close(px.done)
	px.cancel()
	err := px.ln.Close()
	px.wg.Wait()
	return err
}

// now is the proxy's clock: monotonic nanoseconds since NewTCP.
func (px *TCP) now() int64 { return int64(time.Since(px.start)) }

// config returns the current impairment of direction d.
func (px *TCP) config(d dir) *TCPConfig {
	o := px.opts.Load()
	if d == up {
		return &o.Up
	}
	return &o.Down
}

// accept accepts clients until the listener is closed.
func (px *TCP) accept() {
	for {
		c, err := px.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Such as EMFILE: wait for descriptors to be freed.
			t := time.NewTimer(5 * time.Millisecond)
			select {
			case <-px.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		px.admit(c)
	}
}

// admit registers a new client and starts the goroutine that dials the
// target for it, or resets the client if it may not be served.
func (px *TCP) admit(client *net.TCPConn) {
	px.mu.Lock()
	if px.closed || len(px.conns) >= px.fixed.MaxConns {
		closed := px.closed
		px.mu.Unlock()
		if !closed {
			px.refused.Add(1)
		}
		resetSocket(client)
		return
	}
	tc := &tcpConn{px: px, index: px.next, client: client, dead: make(chan struct{})}
	for d := range tc.streams {
		tc.streams[d].more = make(chan struct{}, 1)
		tc.streams[d].space = make(chan struct{}, 1)
	}
	px.next++
	px.conns[tc] = struct{}{}
	px.wg.Add(1) // under mu: ordered before Close's Wait
	px.mu.Unlock()
	go func() { defer px.wg.Done(); tc.run() }()
}

// run connects to the target, starts the other three goroutines, and
// becomes the reader of the client.
func (tc *tcpConn) run() {
	px := tc.px
	d := net.Dialer{Timeout: px.fixed.DialTimeout}
	c, err := d.DialContext(px.ctx, "tcp", px.target)
	if err != nil {
		if px.ctx.Err() == nil { // not canceled by Close
			px.failed.Add(1)
		}
		tc.abort()
		px.forget(tc)
		return
	}
	server := c.(*net.TCPConn)
	tc.mu.Lock()
	if tc.ended { // Close came first
		tc.mu.Unlock()
		resetSocket(server)
		px.forget(tc)
		return
	}
	tc.server = server
	tc.mu.Unlock()
	if n := px.fixed.SocketBuffer; n > 0 {
		for _, s := range []*net.TCPConn{tc.client, server} {
			s.SetReadBuffer(n)
			s.SetWriteBuffer(n)
		}
	}
	px.opened.Add(1)
	tc.streams[up].init(tc, up, tc.client, server, &px.st[up], px.fixed.Seed)
	tc.streams[down].init(tc, down, server, tc.client, &px.st[down], px.fixed.Seed)
	tc.live.Store(4)
	px.wg.Add(3) // this goroutine is counted, so Close's Wait has not returned
	go func() { defer px.wg.Done(); defer tc.exit(); tc.streams[up].write() }()
	go func() { defer px.wg.Done(); defer tc.exit(); tc.streams[down].read() }()
	go func() { defer px.wg.Done(); defer tc.exit(); tc.streams[down].write() }()
	defer tc.exit()
	tc.streams[up].read()
}

// exit is called by each goroutine serving tc as it returns; the last one
// closes the sockets, frees the queues and forgets the connection.
func (tc *tcpConn) exit() {
	if tc.live.Add(-1) > 0 {
		return
	}
	tc.mu.Lock()
	if !tc.ended { // both FINs were forwarded: close gracefully
		tc.ended = true
		tc.client.Close()
		tc.server.Close()
	}
	tc.mu.Unlock()
	tc.streams[up].drain()
	tc.streams[down].drain()
	tc.px.forget(tc)
}

// forget removes tc from the open connections.
func (px *TCP) forget(tc *tcpConn) {
	px.mu.Lock()
	delete(px.conns, tc)
	px.mu.Unlock()
}

// reset tears tc down when direction d's sender has reset (its read
// failed, and the bytes before the failure have been written) or a write
// to its receiver failed, so both sides see a reset, as they would without
// the proxy. A failure caused by an earlier teardown is not counted again.
func (tc *tcpConn) reset(d dir) {
	if tc.abort() {
		tc.px.st[d].resets.Add(1)
	}
}

// abort resets both sockets and wakes every goroutine serving tc. It
// reports false if tc had already ended.
func (tc *tcpConn) abort() bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.ended {
		return false
	}
	tc.ended = true
	close(tc.dead)
	resetSocket(tc.client)
	if tc.server != nil {
		resetSocket(tc.server)
	}
	return true
}

// resetSocket closes c with a reset rather than a FIN, discarding what its
// buffers hold.
func resetSocket(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}
