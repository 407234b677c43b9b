package server_test

import (
	"net"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestUDPPendingBound checks -max-pending: HELLOs that are never followed
// up (as from spoofed addresses) hold at most MaxPending sessions, and a
// validated session frees its place.
func TestUDPPendingBound(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		c.DisableTCP = true
		c.UDP.MaxPending = 3
	})
	addr := srv.UDPAddr().(*net.UDPAddr)

	hello := func(c *net.UDPConn) (key uint64, ok bool) {
		t.Helper()
		pkt := codec.AppendPacket(codec.AppendKey(nil, 0), codec.Header{Type: codec.TypeHello, ID: 7}, &codec.Hello{Pad: 48})
		if _, err := c.Write(pkt); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			return 0, false
		}
		p, err := codec.ParsePacket(buf[:n])
		if err != nil || p.Type != codec.TypeWelcome {
			t.Fatalf("got %v (%v), want WELCOME", p.Type, err)
		}
		var w codec.Welcome
		if err := codec.NewDecoder().Decode(p.Type, p.Body, &w); err != nil {
			t.Fatal(err)
		}
		if w.Key == 0 {
			t.Fatalf("WELCOME over UDP without a key")
		}
		return w.Key, true
	}
	dial := func() *net.UDPConn {
		c, err := net.DialUDP("udp", nil, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	var first *net.UDPConn
	var firstKey uint64
	for i := range 3 {
		c := dial()
		key, ok := hello(c)
		if !ok {
			t.Fatalf("HELLO %d unanswered, want WELCOME (under the bound)", i)
		}
		if i == 0 {
			first, firstKey = c, key
		}
	}
	if _, ok := hello(dial()); ok {
		t.Fatal("fourth pending HELLO answered, want it dropped")
	}
	if got := srv.Stats.HelloPendingFull.Load(); got != 1 {
		t.Fatalf("HelloPendingFull = %d, want 1", got)
	}
	// Validating the first session frees a place.
	ping := codec.AppendPacket(codec.AppendKey(nil, firstKey), codec.Header{Type: codec.TypePing, ID: 1}, nil)
	if _, err := first.Write(ping); err != nil {
		t.Fatal(err)
	}
	_ = first.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := first.Read(make([]byte, 256)); err != nil {
		t.Fatalf("no PONG: %v", err)
	}
	if _, ok := hello(dial()); !ok {
		t.Fatal("HELLO after a session validated went unanswered, want WELCOME")
	}
}
