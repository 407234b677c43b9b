package impair

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// UDP is a running impairment proxy. Clients send to Addr; each distinct
// client address is a flow with its own upstream socket connected to the
// target, so the server sees one source port per client, as through a NAT,
// and its replies go back through the flow to the client.
//
// All methods are safe for concurrent use.
type UDP struct {
	ln      *net.UDPConn
	target  *net.UDPAddr
	start   time.Time
	sched   *scheduler
	done    chan struct{} // closed by Close
	wg      sync.WaitGroup
	opts    atomic.Pointer[Options] // validated, with defaults
	fixed   Options                 // the fields SetOptions does not change
	st      [2]counters             // by dir
	refused atomic.Uint64

	mu     sync.RWMutex // guards the fields below
	flows  map[netip.AddrPort]*flow
	opened uint64 // flows ever opened; the next flow's index
	closed bool
}

// A flow is one client's traffic: its address, its upstream socket and the
// two paths.
type flow struct {
	index  uint64         // order of first appearance, from 0
	client netip.AddrPort // unmapped
	conn   atomic.Pointer[net.UDPConn]
	last   atomic.Int64 // proxy clock of the latest datagram, either way
	paths  [2]path      // by dir
}

// NewUDP starts a proxy listening on listen (host:port; port 0 picks one)
// and forwarding to target. It returns an error wrapping ErrConfig if opts
// is invalid.
func NewUDP(listen, target string, opts Options) (*UDP, error) {
	o, err := opts.validate()
	if err != nil {
		return nil, err
	}
	laddr, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("impair: listen address: %w", err)
	}
	taddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("impair: target address: %w", err)
	}
	ln, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("impair: %w", err)
	}
	bufferSockets(ln)
	px := &UDP{
		ln:     ln,
		target: taddr,
		start:  time.Now(),
		done:   make(chan struct{}),
		fixed:  o,
		flows:  make(map[netip.AddrPort]*flow),
	}
	px.opts.Store(&o)
	px.sched = newScheduler(px.now, px.fire, px.done)
	px.wg.Add(3)
	go func() { defer px.wg.Done(); px.sched.run() }()
	go func() { defer px.wg.Done(); px.readClients() }()
	go func() { defer px.wg.Done(); px.expireFlows() }()
	return px, nil
}

// Addr is the address clients send to.
func (px *UDP) Addr() *net.UDPAddr { return px.ln.LocalAddr().(*net.UDPAddr) }

// SetOptions replaces the Up and Down impairments; the next datagram read
// in each direction sees them. Datagrams already held or scheduled keep the
// times they were given. Seed, IdleTimeout, MaxFlows and MaxDatagram are
// fixed by NewUDP and ignored here. It returns an error wrapping ErrConfig,
// and changes nothing, if opts is invalid.
func (px *UDP) SetOptions(opts Options) error {
	o, err := opts.validate()
	if err != nil {
		return err
	}
	n := px.fixed
	n.Up, n.Down = o.Up, o.Down
	px.opts.Store(&n)
	return nil
}

// Stats returns a snapshot of the counters.
func (px *UDP) Stats() Stats {
	px.mu.RLock()
	s := Stats{Flows: len(px.flows), Opened: px.opened}
	px.mu.RUnlock()
	s.Up = px.st[up].snapshot()
	s.Down = px.st[down].snapshot()
	s.Refused = px.refused.Load()
	return s
}

// Rebind gives client's flow a new upstream socket, so the server sees a
// new source port, as when a NAT rebinds. Datagrams the flow sends upstream
// from then on, including those already scheduled, leave from the new port;
// replies the server sends to the old port are lost. The flow keeps its
// random sequences and queues.
func (px *UDP) Rebind(client *net.UDPAddr) error {
	if client == nil {
		return fmt.Errorf("%w: nil address", ErrUnknownFlow)
	}
	key := unmap(client.AddrPort())
	px.mu.Lock()
	defer px.mu.Unlock()
	if px.closed {
		return ErrClosed
	}
	f := px.flows[key]
	if f == nil {
		return fmt.Errorf("%w: %v", ErrUnknownFlow, key)
	}
	c, err := px.dial()
	if err != nil {
		return fmt.Errorf("impair: rebind: %w", err)
	}
	old := f.conn.Swap(c)
	f.last.Store(px.now())
	px.startReaderLocked(f, c)
	old.Close() // its reader exits
	return nil
}

// Close stops the proxy: it closes every socket, drops every datagram still
// held or scheduled, and returns once every goroutine has exited. Later
// calls return nil.
func (px *UDP) Close() error {
	px.mu.Lock()
	if px.closed {
		px.mu.Unlock()
		return nil
	}
	px.closed = true
	for k, f := range px.flows {
		f.conn.Load().Close()
		delete(px.flows, k)
	}
	px.mu.Unlock()
	close(px.done)
	err := px.ln.Close()
	px.wg.Wait()
	return err
}

// now is the proxy's clock: monotonic nanoseconds since NewUDP.
func (px *UDP) now() int64 { return int64(time.Since(px.start)) }

// readClients reads datagrams from clients until the listener is closed.
func (px *UDP) readClients() {
	buf := make([]byte, px.fixed.MaxDatagram+1)
	for {
		n, addr, err := px.ln.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // such as an ICMP error queued on the socket
		}
		addr = unmap(addr)
		px.mu.RLock()
		f := px.flows[addr]
		px.mu.RUnlock()
		if f == nil {
			if f = px.open(addr); f == nil {
				px.refused.Add(1)
				continue
			}
		}
		px.ingress(f, up, buf[:n])
	}
}

// readServer reads the server's datagrams on one of f's upstream sockets
// until it is closed (by Rebind, expiry or Close).
func (px *UDP) readServer(f *flow, c *net.UDPConn) {
	buf := make([]byte, px.fixed.MaxDatagram+1)
	for {
		n, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ECONNREFUSED: an earlier datagram found no server
		}
		px.ingress(f, down, buf[:n])
	}
}

func (px *UDP) ingress(f *flow, d dir, b []byte) {
	pa := &f.paths[d]
	if len(b) > px.fixed.MaxDatagram {
		pa.st.received.Add(1)
		pa.st.oversize.Add(1)
		return
	}
	now := px.now()
	f.last.Store(now)
	pa.ingress(px.config(d), b, now)
}

// config returns the current impairment of direction d.
func (px *UDP) config(d dir) *Config {
	o := px.opts.Load()
	if d == up {
		return &o.Up
	}
	return &o.Down
}

// open creates the flow for a new client, or returns nil if it may not.
func (px *UDP) open(client netip.AddrPort) *flow {
	px.mu.Lock()
	defer px.mu.Unlock()
	if px.closed || len(px.flows) >= px.fixed.MaxFlows {
		return nil
	}
	c, err := px.dial()
	if err != nil {
		return nil
	}
	f := &flow{index: px.opened, client: client}
	px.opened++
	f.conn.Store(c)
	f.last.Store(px.now())
	for d := range f.paths {
		pa := &f.paths[d]
		pa.dir, pa.flow, pa.out, pa.st = dir(d), f, px, &px.st[d]
		seedPCG(&pa.rng, px.fixed.Seed, f.index, dir(d))
	}
	px.flows[client] = f
	px.startReaderLocked(f, c)
	return f
}

// dial opens an upstream socket.
func (px *UDP) dial() (*net.UDPConn, error) {
	c, err := net.DialUDP("udp", nil, px.target)
	if err != nil {
		return nil, err
	}
	bufferSockets(c)
	return c, nil
}

// socketBuffer is the send and receive buffer asked of every socket, so a
// burst waits in the kernel rather than being dropped there. The kernel
// caps it (net.core.rmem_max and wmem_max) without an error.
const socketBuffer = 4 << 20

func bufferSockets(c *net.UDPConn) {
	c.SetReadBuffer(socketBuffer)
	c.SetWriteBuffer(socketBuffer)
}

// startReaderLocked starts the goroutine reading the server's datagrams on
// c. Holding mu orders wg.Add before Close's wg.Wait.
func (px *UDP) startReaderLocked(f *flow, c *net.UDPConn) {
	px.wg.Add(1)
	go func() { defer px.wg.Done(); px.readServer(f, c) }()
}

// expireFlows forgets flows idle for IdleTimeout, until Close.
func (px *UDP) expireFlows() {
	idle := px.fixed.IdleTimeout
	t := time.NewTicker(min(max(idle/4, 5*time.Millisecond), 5*time.Second))
	defer t.Stop()
	for {
		select {
		case <-px.done:
			return
		case <-t.C:
		}
		now := px.now()
		px.mu.Lock()
		for k, f := range px.flows {
			if now-f.last.Load() >= int64(idle) {
				f.conn.Load().Close()
				delete(px.flows, k)
			}
		}
		px.mu.Unlock()
	}
}

// write implements link: it sends b to the flow's other side now.
func (px *UDP) write(pa *path, b []byte) {
	var err error
	if pa.dir == up {
		_, err = pa.flow.conn.Load().Write(b)
	} else {
		_, err = px.ln.WriteToUDPAddrPort(b, pa.flow.client)
	}
	if err != nil {
		pa.st.errors.Add(1)
		return
	}
	pa.st.sent.Add(1)
}

// schedule implements link.
func (px *UDP) schedule(pkt *packet) { px.sched.schedule(pkt) }

// fire is the scheduler's send: it writes a due datagram, or releases the
// held datagrams of a path whose reorder timer expired.
func (px *UDP) fire(pkt *packet) {
	pa := pkt.path
	if pkt.timer {
		pkt.free()
		pa.expire(px.config(pa.dir), px.now())
		return
	}
	px.write(pa, pkt.buf)
	pa.sent(pkt)
	pkt.free()
}

// unmap turns an IPv4-mapped IPv6 address into IPv4, so a client has one
// key whichever form the socket reports.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
