package server_test

import (
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestResumeOverUDPKeepsNumbers moves a persistent session from TCP to
// UDP with three numbers in flight, the first and third of them too large
// for a datagram. No number is withdrawn (the client may be waiting for
// it in its in-order window): the first is sent with a copy of the second,
// and the third, with nothing after it yet, waits for the next message,
// whose copy it then carries. The large messages are counted as lost.
// (Servers before this test settled numbers 1 and 3: a client delivering
// by number waited for them for good.)
func TestResumeOverUDPKeepsNumbers(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.RetryTimeout = time.Minute })
	hello := func() *codec.Hello { return &codec.Hello{ClientID: []byte("mover"), Persist: true, Inflight: 3} }
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	big := append([]byte{0xc5, 0x04, 0xb0}, make([]byte, 1200)...) // bin16 of 1200 bytes
	publish := func(id uint32, ev string, data []byte) {
		t.Helper()
		pub.Send(codec.Header{Type: codec.TypeEmit, Flags: codec.FlagQoS1, ID: id},
			&codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte(ev), Data: data})
		pub.Expect(codec.TypeAck, id)
	}

	tc := testutil.DialTCP(t, srv)
	tc.HelloWith(hello())
	tc.Join(1, "r")
	publish(1, "big 1", big)
	publish(2, "small 2", nil)
	publish(3, "big 3", big)
	for i, ev := range []string{"big 1", "small 2", "big 3"} {
		expectQoS1(t, tc, uint32(1+i), false, ev) // received; the ACKs are lost with the connection
	}
	tc.Close()
	testutil.WaitFor(t, "the session to go offline", func() bool { return !srv.Broker.Online("mover") })

	u := testutil.ListenUDP(t, srv)
	h := hello()
	h.Pad = 400 // room for the numbers in flight within the 3x budget
	w := u.HelloWith(7, h)
	if !w.Resumed || !w.HasNext || w.Next != 1 {
		t.Fatalf("WELCOME resumed=%v next=%d (present %v), want resumed, next 1", w.Resumed, w.Next, w.HasNext)
	}
	// want maps each number to the event it must carry over UDP.
	expectNumbers := func(want map[uint32]string) {
		t.Helper()
		got := make(map[uint32]bool)
		for len(got) < len(want) {
			p := u.MustNext()
			if p.Type != codec.TypeMessage {
				continue // the PONG
			}
			var m codec.Message
			testutil.Decode(t, p, &m)
			ev, ok := want[p.ID]
			if !ok || string(m.Event) != ev || p.Flags.QoS() != 1 {
				t.Fatalf("over UDP got MESSAGE %d %q (QoS %d), want one of %v", p.ID, m.Event, p.Flags.QoS(), want)
			}
			got[p.ID] = true
		}
	}
	expectNumbers(map[uint32]string{1: "small 2", 2: "small 2"})
	for _, n := range []uint32{1, 2} {
		u.Request(codec.Header{Type: codec.TypeAck, ID: n}, nil)
	}
	for _, p := range u.Ping(8) { // the ACKs are handled: number 3 still has nothing to carry
		if p.Type == codec.TypeMessage && p.ID != 1 && p.ID != 2 {
			t.Fatalf("got MESSAGE %d before a message could fill number 3", p.ID)
		}
	}
	publish(4, "small 4", nil)
	expectNumbers(map[uint32]string{3: "small 4", 4: "small 4"})
	for _, n := range []uint32{3, 4} {
		u.Request(codec.Header{Type: codec.TypeAck, ID: n}, nil)
	}
	publish(5, "small 5", nil)
	expectNumbers(map[uint32]string{5: "small 5"})
	if got := srv.Stats.DropTooLargeForUDP.Load(); got != 2 {
		t.Errorf("Stats.DropTooLargeForUDP = %d, want 2", got)
	}

	// Back on TCP the session reports the two lost messages.
	tc = testutil.DialTCP(t, srv)
	if w := tc.HelloWith(hello()); w.Missed != 2 {
		t.Errorf("WELCOME missed = %d, want 2", w.Missed)
	}
}

// TestValidatingAck: over UDP, a resumed session's first datagram
// validates its address, and the messages in flight are sent again, but
// only after that datagram was handled: when it is the ACK of the message
// in flight, that message is not sent again. (Servers before this test
// resent it first.)
func TestValidatingAck(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.RetryTimeout = time.Minute })
	hello := func(pad int) *codec.Hello {
		return &codec.Hello{ClientID: []byte("validator"), Persist: true, Pad: pad}
	}
	first := testutil.ListenUDP(t, srv)
	first.HelloWith(1, hello(0))
	first.Join(2, "r")
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	qos1Emit(pub, 1, "m", false)
	pub.Expect(codec.TypeAck, 1)
	if p := first.ExpectType(codec.TypeMessage); p.ID != 1 {
		t.Fatalf("got MESSAGE %d, want 1", p.ID)
	}

	// Another socket resumes the session with a HELLO large enough for the
	// WELCOME and the message in flight.
	again := testutil.ListenUDP(t, srv)
	again.HelloWith(3, hello(400))
	if p := again.ExpectType(codec.TypeMessage); p.ID != 1 || !p.Flags.Dup() {
		t.Fatalf("got MESSAGE %d dup=%v, want 1 with DUP", p.ID, p.Flags.Dup())
	}
	sent := srv.Stats.Retransmits.Load()
	again.Request(codec.Header{Type: codec.TypeAck, ID: 1}, nil) // validates the address
	for _, p := range again.Ping(4) {
		t.Errorf("got %v %d %s after acknowledging the message in flight, want nothing", p.Type, p.ID, testutil.Describe(p))
	}
	if got := srv.Stats.Retransmits.Load() - sent; got != 0 {
		t.Errorf("Stats.Retransmits grew by %d, want 0", got)
	}
}

// TestLargestWelcome: a server at the largest limits it accepts still
// answers a minimal 64-byte UDP HELLO that resumes a session with its
// WELCOME, which fits the 192 bytes the server may send to an address it
// has not validated.
func TestLargestWelcome(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		c.Broker.KeepAlive, c.Broker.MaxKeepAlive = 65535*time.Second, 65535*time.Second
		c.Broker.Inflight, c.Broker.MaxInflight = 65535, 65535
		c.Broker.Expiry, c.Broker.MaxExpiry = (1<<32-1)*time.Second, (1<<32-1)*time.Second
		c.Broker.MaxRooms = 65535
		c.Broker.Server = "packetd/99"
	})
	hello := func() []byte {
		h := &codec.Hello{ClientID: []byte("b"), Persist: true}
		for codec.KeyLen+codec.PacketLen(h) < codec.MinHelloDatagram {
			h.Pad++
		}
		d := testutil.Datagram(0, codec.Header{Type: codec.TypeHello, ID: 3}, h)
		if len(d) != codec.MinHelloDatagram {
			t.Fatalf("HELLO datagram of %d bytes, want %d", len(d), codec.MinHelloDatagram)
		}
		return d
	}
	u := testutil.ListenUDP(t, srv)
	u.SendRaw(hello())
	u.ExpectType(codec.TypeWelcome)
	again := testutil.ListenUDP(t, srv) // resumes it from another address
	again.SendRaw(hello())
	p, n, err := again.Next(testutil.Timeout)
	if err != nil {
		t.Fatalf("no WELCOME: %v", err)
	}
	var w codec.Welcome
	testutil.Decode(t, p, &w)
	if p.Type != codec.TypeWelcome || !w.Resumed || w.KeepAlive != 65535 || w.Inflight != 65535 || w.MaxRooms != 65535 || w.Expiry != 1<<32-1 {
		t.Fatalf("got %v %+v, want a resumed WELCOME at the largest limits", p.Type, w)
	}
	if n > 190 {
		t.Errorf("WELCOME of %d bytes, want at most 190", n)
	}
}
