package server_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestUDPRebinding moves a UDP session to a new source port, as a NAT
// rebinding would: the session keeps its rooms, the server challenges the
// new address with a PING, sends it no more than three times what it
// received until the client echoes the token (a wrong token does not
// count), and then delivers everything to it.
func TestUDPRebinding(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	pub := testutil.Dial(t, srv.TCPURL(), nil)
	testutil.Join(t, pub, "r")
	// emit sends one message from pub and waits until the server handled
	// it: a request after it on the same connection is answered after.
	emit := func(event string, size int) {
		t.Helper()
		testutil.Emit(t, pub, client.Emit{Rooms: []string{"r"}, Event: event, Data: strings.Repeat("x", size)})
		testutil.Join(t, pub, "r")
	}
	// expectMessage reads a MESSAGE from u and checks its event.
	expectMessage := func(u *testutil.UDPConn, event string) {
		t.Helper()
		p := u.MustNext()
		for p.Type == codec.TypePing && p.ID == 0 {
			p = u.MustNext() // the path challenge, sent again after a second
		}
		var m codec.Message
		if p.Type == codec.TypeMessage {
			testutil.Decode(t, p, &m)
		}
		if p.Type != codec.TypeMessage || string(m.Event) != event {
			t.Fatalf("got %v (%s), want MESSAGE %q", p.Type, testutil.Describe(p), event)
		}
	}

	old := testutil.ListenUDP(t, srv)
	w := old.Hello(1, 0, codec.MinHelloDatagram)
	old.Join(2, "r")
	emit("before", 8)
	expectMessage(old, "before")

	// The same session id from another port.
	moved := testutil.ListenUDP(t, srv)
	moved.Key = old.Key
	token := bytes.Repeat([]byte{0xAB}, codec.MaxToken-4) // a 85-byte datagram: 255 bytes of budget
	moved.Request(codec.Header{Type: codec.TypePing, ID: 10}, &codec.Ping{Token: token})
	challenge := moved.Expect(codec.TypePing, 0)
	var ch codec.Ping
	testutil.Decode(t, challenge, &ch)
	if len(ch.Token) == 0 {
		t.Fatalf("got path challenge without a token (%x)", challenge.Body)
	}
	moved.Expect(codec.TypePong, 10)
	if got := srv.Stats.PathChallenges.Load(); got != 1 {
		t.Errorf("Stats.PathChallenges: got %d, want 1", got)
	}
	if got := srv.Adapter.RoomsOf(string(w.SessionID)); !slices.Contains(got, "r") {
		t.Errorf("RoomsOf after rebinding: got %q, want r among them", got)
	}

	// Unvalidated: a small message fits the budget left, a large one not.
	emit("small", 1)
	expectMessage(moved, "small")
	drops := srv.Stats.DropAmplification.Load()
	emit("too large before validation", 400)
	if got := srv.Stats.DropAmplification.Load(); got != drops+1 {
		t.Errorf("Stats.DropAmplification after a 400-byte message to an unvalidated path: got %d, want %d", got, drops+1)
	}

	// A wrong token validates nothing.
	moved.Request(codec.Header{Type: codec.TypePong}, &codec.Ping{Token: append(bytes.Clone(ch.Token[1:]), ^ch.Token[0])})
	moved.Ping(11)
	emit("too large with a wrong token", 400)
	if got := srv.Stats.DropAmplification.Load(); got != drops+2 {
		t.Errorf("Stats.DropAmplification after a wrong PONG token: got %d, want %d", got, drops+2)
	}

	// The right token: full traffic, far over three times what came in.
	moved.Request(codec.Header{Type: codec.TypePong}, &codec.Ping{Token: ch.Token})
	moved.Ping(12)
	for i := range 20 {
		emit("after validation", 400+i)
		expectMessage(moved, "after validation")
	}
	if got := srv.Stats.DropAmplification.Load(); got != drops+2 {
		t.Errorf("Stats.DropAmplification after validation: got %d, want %d", got, drops+2)
	}
	if got := srv.Adapter.RoomsOf(string(w.SessionID)); !slices.Contains(got, "r") {
		t.Errorf("RoomsOf after validation: got %q, want r among them", got)
	}

	// Back to the old port: a new challenge, and the first thing the old
	// port receives since the move (nothing went there meanwhile).
	old.Request(codec.Header{Type: codec.TypePing, ID: 13}, nil)
	old.Expect(codec.TypePing, 0)
	old.Expect(codec.TypePong, 13)
	if got := srv.Stats.PathChallenges.Load(); got != 2 {
		t.Errorf("Stats.PathChallenges after moving back: got %d, want 2", got)
	}
}

// TestUDPChallengeResent loses the server's path-validation PING: the
// server sends it again, with the same token, and the PONG to the second
// copy validates the new address.
func TestUDPChallengeResent(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	old := testutil.ListenUDP(t, srv)
	old.Hello(1, 0, codec.MinHelloDatagram)
	old.Join(2, "r")

	moved := testutil.ListenUDP(t, srv)
	moved.Key = old.Key
	// A PING padded with a token earns the budget (3x) for two challenges.
	moved.Request(codec.Header{Type: codec.TypePing, ID: 3}, &codec.Ping{Token: make([]byte, 32)})
	var first, second codec.Ping
	testutil.Decode(t, moved.Expect(codec.TypePing, 0), &first) // "lost": not answered
	first.Token = bytes.Clone(first.Token)
	moved.Expect(codec.TypePong, 3)
	start := time.Now()
	testutil.Decode(t, moved.Expect(codec.TypePing, 0), &second)
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Errorf("challenge resent after %v, want about a second", el)
	}
	if !bytes.Equal(first.Token, second.Token) {
		t.Errorf("resent challenge token %x, want the first one %x", second.Token, first.Token)
	}
	moved.Request(codec.Header{Type: codec.TypePong}, &second)
	moved.Ping(4)

	pub := testutil.Dial(t, srv.TCPURL(), nil)
	testutil.Emit(t, pub, client.Emit{Rooms: []string{"r"}, Data: strings.Repeat("x", 600)})
	for {
		p, _, err := moved.Next(2 * time.Second)
		if err != nil {
			t.Fatalf("no MESSAGE: %v; stats %v", err, srv.Stats.Snapshot())
		}
		if p.Type == codec.TypeMessage {
			break
		}
		if p.Type != codec.TypePing {
			t.Fatalf("got %v, want the 600-byte MESSAGE", p.Type)
		}
	}
}

// TestUDPRebindBeforeValidation moves sessions to a new port before their
// first address was ever validated, then ends them (BYE, or a BYE after the
// new address was validated). An ended session must not keep holding a
// place among the sessions awaiting validation (UDP.MaxPending): once they
// are gone, new HELLOs must be answered.
func TestUDPRebindBeforeValidation(t *testing.T) {
	t.Parallel()
	const maxPending = 2
	srv := testutil.Start(t, func(c *server.Config) { c.UDP.MaxPending = maxPending })
	// The helper's PINGs order the test's datagrams: one socket and one
	// event loop on the server handle datagrams in arrival order.
	helper := testutil.ListenUDP(t, srv)
	helper.Hello(1, 0, codec.MinHelloDatagram)
	helper.Join(2, "r")
	barrier := uint32(100)
	// hello opens a session on u, failing at once if the server refused it
	// for too many pending sessions.
	hello := func(i int, u *testutil.UDPConn) {
		t.Helper()
		u.SendRaw(testutil.HelloDatagram(uint32(i+1), 0, codec.MinHelloDatagram))
		barrier++
		helper.Ping(barrier)
		if n := srv.Stats.HelloPendingFull.Load(); n != 0 {
			t.Fatalf("HELLO %d dropped as pending-full (Stats.HelloPendingFull %d) with %d sessions alive (the helper's included), MaxPending %d",
				i, n, srv.Stats.UDPSessions.Load(), maxPending)
		}
		var w codec.Welcome
		testutil.Decode(t, u.Expect(codec.TypeWelcome, uint32(i+1)), &w)
		u.Key = w.Key
	}
	for i := range 2 * maxPending {
		first := testutil.ListenUDP(t, srv)
		hello(i, first)
		moved := testutil.ListenUDP(t, srv)
		moved.Key = first.Key
		moved.Request(codec.Header{Type: codec.TypePing, ID: 1}, nil)
		challenge := moved.Expect(codec.TypePing, 0)
		moved.Expect(codec.TypePong, 1)
		if i%2 == 1 { // validate the new address first
			var ch codec.Ping
			testutil.Decode(t, challenge, &ch)
			moved.Request(codec.Header{Type: codec.TypePong}, &ch)
		}
		moved.Request(codec.Header{Type: codec.TypeBye}, nil)
		moved.Request(codec.Header{Type: codec.TypePing, ID: 2}, nil)
		testutil.CheckError(t, moved.MustNext(), codec.TypeError, 2, codec.CodeUnknownSession)
	}
	if got := srv.Stats.UDPSessions.Load(); got != 1 {
		t.Errorf("Stats.UDPSessions: got %d, want 1 (the helper)", got)
	}
	hello(99, testutil.ListenUDP(t, srv))
}
