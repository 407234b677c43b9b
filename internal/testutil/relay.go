package testutil

import (
	"net"
	"sync"
	"testing"
)

// Direction says which way a datagram crosses a UDPRelay.
type Direction int

const (
	ToServer Direction = iota
	ToClient
)

// UDPRelay forwards datagrams between one client and a server, letting a
// test drop chosen ones. Clients dial Addr instead of the server.
type UDPRelay struct {
	Addr *net.UDPAddr

	conn   *net.UDPConn
	server *net.UDPAddr

	mu     sync.Mutex // guards client
	client *net.UDPAddr
}

// NewUDPRelay starts a relay to server on 127.0.0.1; it stops at cleanup.
// drop, if not nil, is asked about every datagram (on the relay's
// goroutine); true drops it.
func NewUDPRelay(t testing.TB, server *net.UDPAddr, drop func(d Direction, b []byte) bool) *UDPRelay {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &UDPRelay{Addr: c.LocalAddr().(*net.UDPAddr), conn: c, server: server}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			d, to := ToServer, server
			if from.AddrPort() == server.AddrPort() {
				r.mu.Lock()
				d, to = ToClient, r.client
				r.mu.Unlock()
			} else {
				r.mu.Lock()
				r.client = from
				r.mu.Unlock()
			}
			if to == nil || (drop != nil && drop(d, buf[:n])) {
				continue
			}
			_, _ = c.WriteToUDP(buf[:n], to)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return r
}
