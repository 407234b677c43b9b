package impair

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// A datagram as the test server or client received it. Test payloads start
// with the datagram's index and the sender's clock (nanoseconds since the
// test's base time).
type datagram struct {
	idx  uint64
	sent time.Duration // sender's clock
	at   time.Duration // receiver's clock
	from netip.AddrPort
}

// payload returns a datagram of size bytes (at least 16) carrying idx and
// the time since base.
func payload(buf []byte, idx uint64, base time.Time, size int) []byte {
	b := buf[:max(size, 16)]
	binary.BigEndian.PutUint64(b, idx)
	binary.BigEndian.PutUint64(b[8:], uint64(time.Since(base)))
	return b
}

func parse(b []byte, base time.Time, from netip.AddrPort) datagram {
	return datagram{
		idx:  binary.BigEndian.Uint64(b),
		sent: time.Duration(binary.BigEndian.Uint64(b[8:])),
		at:   time.Since(base),
		from: from,
	}
}

// server is a UDP server on 127.0.0.1 that records what it receives and,
// if echo is set, sends it back.
type server struct {
	conn *net.UDPConn
	base time.Time

	mu  sync.Mutex // guards the field below
	got []datagram
}

func startServer(t *testing.T, base time.Time, echo bool) *server {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadBuffer(4 << 20)
	s := &server{conn: conn, base: base}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil || n < 16 {
				continue
			}
			d := parse(buf[:n], base, from)
			s.mu.Lock()
			s.got = append(s.got, d)
			s.mu.Unlock()
			if echo {
				conn.WriteToUDPAddrPort(buf[:n], from)
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return s
}

func (s *server) received() []datagram {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]datagram(nil), s.got...)
}

func (s *server) addr() string { return s.conn.LocalAddr().String() }

// startProxy starts a proxy on 127.0.0.1 in front of target and closes it
// at the end of the test.
func startProxy(t *testing.T, target string, opts Options) *UDP {
	t.Helper()
	px, err := NewUDP("127.0.0.1:0", target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return px
}

// client is a connected socket sending to a proxy, recording what comes back.
type client struct {
	conn *net.UDPConn
	base time.Time
	buf  []byte

	mu  sync.Mutex // guards the field below
	got []datagram
}

func dial(t *testing.T, px *UDP, base time.Time) *client {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadBuffer(4 << 20)
	c := &client{conn: conn, base: base, buf: make([]byte, 65536)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, err := conn.Read(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil || n < 16 {
				continue
			}
			d := parse(buf[:n], base, netip.AddrPort{})
			c.mu.Lock()
			c.got = append(c.got, d)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return c
}

func (c *client) received() []datagram {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]datagram(nil), c.got...)
}

// window is how many datagrams a test sends before waiting for the proxy
// to read them, so that no socket buffer overflows: the kernel must not
// drop what the test means the proxy to decide on.
const window = 32

// send sends datagrams first..first+n-1 of size bytes through the proxy,
// window by window.
func (c *client) send(t *testing.T, px *UDP, first, n uint64, size int) {
	t.Helper()
	base := px.Stats().Up.Received
	for i := range n {
		if _, err := c.conn.Write(payload(c.buf, first+i, c.base, size)); err != nil {
			t.Fatalf("write %d: %v", first+i, err)
		}
		if (i+1)%window == 0 || i+1 == n {
			want := base + i + 1
			waitFor(t, "proxy to read the window", func() bool { return px.Stats().Up.Received >= want })
		}
	}
}

// settled reports whether every datagram the proxy has read in direction
// d has been sent or dropped.
func settled(s DirStats) bool {
	return s.Received+s.Duplicated == s.Sent+s.Lost+s.QueueDrops+s.Oversize+s.Errors
}

// waitFor polls cond until it holds, and fails the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// drain waits until the proxy has settled upstream and the server has
// received everything it sent, and returns what the server received.
func drain(t *testing.T, px *UDP, srv *server) []datagram {
	t.Helper()
	waitFor(t, "up to settle", func() bool { return settled(px.Stats().Up) })
	want := int(px.Stats().Up.Sent)
	waitFor(t, "server to receive", func() bool { return len(srv.received()) >= want })
	return srv.received()
}

func indexes(ds []datagram) []uint64 {
	out := make([]uint64, len(ds))
	for i, d := range ds {
		out[i] = d.idx
	}
	return out
}

// inversions counts datagrams that arrived after one with a higher index.
func inversions(ds []datagram) int {
	n, top := 0, uint64(0)
	for i, d := range ds {
		if i > 0 && d.idx < top {
			n++
		}
		top = max(top, d.idx)
	}
	return n
}
