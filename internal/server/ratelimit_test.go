package server_test

import (
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestSessionRateLimit: a TCP client that sends more packets in a second
// than -session-packet-rate allows (its burst) gets ERROR 310 and is
// disconnected; a UDP client's excess datagrams are dropped, counted, and
// its session goes on; ACKs and another client are not limited.
func TestSessionRateLimit(t *testing.T) {
	t.Parallel()
	const rate = 20
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.PacketRate = rate })

	bystander := testutil.DialTCP(t, srv)
	bystander.Hello(0)

	tcp := testutil.DialTCP(t, srv)
	tcp.Hello(0)
	for i := range rate + 5 { // the burst, then beyond it
		tcp.Send(codec.Header{Type: codec.TypePing, ID: uint32(i + 1)}, &codec.Ping{})
	}
	pongs := 0
	for {
		p := tcp.MustNext()
		if p.Type == codec.TypePong {
			pongs++
			continue
		}
		testutil.CheckError(t, p, codec.TypeError, 0, codec.CodeRateLimited)
		break
	}
	tcp.ExpectEOF()
	if pongs != rate {
		t.Errorf("got %d PONGs before ERROR 310, want the burst of %d", pongs, rate)
	}
	if got := srv.Stats.RateLimited.Load(); got != 1 {
		t.Errorf("RateLimited = %d, want 1", got)
	}
	bystander.Ping(1) // another session is not affected

	udp := testutil.ListenUDP(t, srv)
	udp.Hello(1, 0, codec.MinHelloDatagram) // the HELLO is not counted
	for i := range rate + 5 {
		udp.Request(codec.Header{Type: codec.TypePing, ID: uint32(100 + i)}, &codec.Ping{})
	}
	testutil.WaitFor(t, "5 UDP datagrams dropped", func() bool { return srv.Stats.RateLimitedDrops.Load() == 5 })
	got := 0
	for got < rate {
		if p := udp.MustNext(); p.Type == codec.TypePong {
			got++
		}
	}
}

// TestRoomFull: with -max-room-members 2 the third JOIN of a room gets
// ERROR 208 and joins none of its rooms; the session goes on.
func TestRoomFull(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.MaxRoomMembers = 2 })
	for range 2 {
		c := testutil.DialTCP(t, srv)
		c.Hello(0)
		c.Join(1, "hall")
	}
	third := tcpReqPeer(t, srv)
	third.send(codec.Header{Type: codec.TypeJoin, ID: 7}, testutil.Rooms("side", "hall"))
	testutil.CheckError(t, third.next(), codec.TypeError, 7, codec.CodeRoomFull)
	third.send(codec.Header{Type: codec.TypeJoin, ID: 8}, testutil.Rooms("side"))
	if p := third.next(); p.Type != codec.TypeAck || p.ID != 8 {
		t.Fatalf("JOIN side after the refusal: got %v %d, want ACK 8", p.Type, p.ID)
	}
	if got := srv.Adapter.Members("side"); len(got) != 1 {
		t.Errorf("side holds %v: the refused JOIN joined it", got)
	}
	if got := srv.Stats.RoomFull.Load(); got != 1 {
		t.Errorf("RoomFull = %d, want 1", got)
	}
}

// TestConnsPerIP: with -max-conns-per-ip 2 (loopback counted, for the
// test) a third connection from the address gets ERROR 309 and is
// closed; once one closes, a new one is served.
func TestConnsPerIP(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		c.TCP.MaxConnsPerIP = 2
		c.TCP.LimitLoopback = true
	})
	a := testutil.DialTCP(t, srv)
	a.Hello(0)
	b := testutil.DialTCP(t, srv)
	b.Hello(0)
	third := testutil.DialTCP(t, srv)
	testutil.CheckError(t, third.MustNext(), codec.TypeError, 0, codec.CodeTooManyAttempts)
	third.ExpectEOF()
	if got := srv.Stats.ConnsPerIPRefused.Load(); got != 1 {
		t.Errorf("ConnsPerIPRefused = %d, want 1", got)
	}
	a.Close()
	testutil.WaitFor(t, "a's close handled", func() bool { return srv.Stats.TCPConns.Load() == 1 })
	c := testutil.DialTCP(t, srv)
	c.Hello(0)
	b.Ping(1)
}
