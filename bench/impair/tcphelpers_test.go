package impair

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpServer is a TCP server on 127.0.0.1 that runs handle for each
// connection. Cleanup closes the listener and every connection, and waits
// for the handlers.
type tcpServer struct {
	ln *net.TCPListener
	wg sync.WaitGroup

	mu    sync.Mutex // guards the field below
	conns []*net.TCPConn
}

func startTCPServer(t *testing.T, handle func(c *net.TCPConn)) *tcpServer {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return serveTCP(t, ln, handle)
}

// serveTCP runs handle for each connection ln accepts, until Cleanup.
func serveTCP(t *testing.T, ln *net.TCPListener, handle func(c *net.TCPConn)) *tcpServer {
	s := &tcpServer{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() { handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *tcpServer) addr() string { return s.ln.Addr().String() }

// echo copies what it reads back, then forwards the FIN.
func echo(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

// startTCPProxy starts a TCP proxy on 127.0.0.1 in front of target and
// closes it at the end of the test.
func startTCPProxy(t *testing.T, target string, opts TCPOptions) *TCP {
	t.Helper()
	px, err := NewTCP("127.0.0.1:0", target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return px
}

func dialTCP(t *testing.T, px *TCP) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// randomBytes returns n bytes drawn from seed.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	rand.NewChaCha8(s).Read(b)
	return b
}

// transfer is one side of a two-way transfer: it writes out and forwards
// the FIN while it reads until the peer's FIN, and returns the SHA-256 of
// what it read and the first error.
func transfer(c *net.TCPConn, out []byte) (sum [32]byte, n int64, err error) {
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(out)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	h := sha256.New()
	n, err = io.Copy(h, c)
	if e := <-werr; err == nil {
		err = e
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

// waitConns waits until the proxy has want connections open.
func waitConns(t *testing.T, px *TCP, want int) {
	t.Helper()
	waitFor(t, "connections to close", func() bool { return px.Stats().Conns == want })
}

// readFull reads len(b) bytes from c, failing the test after 20 s.
func readFull(t *testing.T, c *net.TCPConn, b []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read: %v", err)
	}
	c.SetReadDeadline(time.Time{})
}
