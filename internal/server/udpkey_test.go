package server_test

import (
	"slices"
	"testing"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
)

// TestUDPSessionIDIsNoKey: a room member learns a UDP session's id from
// the "from" of its MESSAGEs. Datagrams prefixed with that id, from the
// member's own address, are not the session's: each gets ERROR 305 like
// any unknown key, no forged MESSAGE reaches the room, the session joins
// nothing, and its address is not moved (no path challenge). The session
// goes on at its address, and its key still carries it to a new address
// (NAT rebinding).
func TestUDPSessionIDIsNoKey(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	observer := testutil.Dial(t, srv.TCPURL(), nil)
	testutil.Join(t, observer, "r")

	victim := testutil.ListenUDP(t, srv)
	w := victim.Hello(1, 0, codec.MinHelloDatagram)
	victim.Join(2, "r")
	emit := func(u *testutil.UDPConn, id uint32, event string) {
		t.Helper()
		u.Request(codec.Header{Type: codec.TypeEmit, ID: id}, &codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte(event)})
	}
	emit(victim, 3, "hello")
	m := testutil.Recv(t, observer)
	if m.From != string(w.SessionID) {
		t.Fatalf("got MESSAGE from %s, want from the victim %s", m.From, w.SessionID)
	}
	sid := testutil.SessionID(t, []byte(m.From)) // what every member of "r" learns

	attacker := testutil.ListenUDP(t, srv)
	noSession := srv.Stats.DatagramNoSession.Load()
	forged := []struct {
		name string
		h    codec.Header
		body codec.Body
	}{
		{"EMIT", codec.Header{Type: codec.TypeEmit, ID: 7}, &codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte("forged")}},
		{"JOIN", codec.Header{Type: codec.TypeJoin, ID: 8}, testutil.Rooms("evil")},
		{"PING", codec.Header{Type: codec.TypePing, ID: 9}, nil},
		{"BYE", codec.Header{Type: codec.TypeBye, ID: 10}, &codec.Error{}},
	}
	for _, f := range forged {
		attacker.Send(sid, f.h, f.body)
		p, _, err := attacker.Next(testutil.Timeout)
		if err != nil {
			t.Fatalf("forged %s behind the session id: got no answer (%v), want ERROR 305", f.name, err)
		}
		testutil.CheckError(t, p, codec.TypeError, f.h.ID, codec.CodeUnknownSession)
	}
	if got, want := srv.Stats.DatagramNoSession.Load(), noSession+uint64(len(forged)); got != want {
		t.Errorf("Stats.DatagramNoSession: got %d, want %d", got, want)
	}
	if got := srv.Stats.PathChallenges.Load(); got != 0 {
		t.Errorf("Stats.PathChallenges after the forged datagrams: got %d, want 0 (the victim's address not moved)", got)
	}
	remote := func() string {
		info, ok := srv.Broker.LookupSession(string(w.SessionID))
		if !ok || !info.Online {
			t.Fatalf("victim's session: found %v, online %v; want it online", ok, info.Online)
		}
		if slices.Contains(info.Rooms, "evil") || !slices.Contains(info.Rooms, "r") {
			t.Errorf("victim's rooms: got %q, want r and not evil", info.Rooms)
		}
		return info.Remote.String()
	}
	if got, want := remote(), victim.LocalAddr().String(); got != want {
		t.Errorf("victim's address after the forged datagrams: got %s, want %s", got, want)
	}

	// The victim's next EMIT is the observer's next MESSAGE: the forged
	// one (answered above, so handled before) never reached the room.
	emit(victim, 4, "after")
	if m := testutil.Recv(t, observer); m.Event != "after" || m.From != string(w.SessionID) {
		t.Fatalf("observer got %q from %s, want \"after\" from %s", m.Event, m.From, w.SessionID)
	}
	// The victim is still served at its own address, unchallenged.
	testutil.Emit(t, observer, client.Emit{Rooms: []string{"r"}, Event: "to-victim"})
	var got codec.Message
	testutil.Decode(t, victim.ExpectType(codec.TypeMessage), &got)
	if string(got.Event) != "to-victim" {
		t.Errorf("victim: got MESSAGE %q, want \"to-victim\"", got.Event)
	}
	for _, p := range victim.Ping(11) {
		t.Errorf("victim: got %v (%s) before its PONG, want nothing (no path challenge)", p.Type, testutil.Describe(p))
	}

	// NAT rebinding with the key still works: a new address, challenged,
	// validated by the PONG.
	moved := testutil.ListenUDP(t, srv)
	moved.Key = victim.Key
	before := moved.Ping(12)
	if len(before) != 1 || before[0].Type != codec.TypePing || before[0].ID != 0 {
		t.Fatalf("rebinding: got %d packets before the PONG, want the path challenge (PING id 0)", len(before))
	}
	var ch codec.Ping
	testutil.Decode(t, before[0], &ch)
	moved.Request(codec.Header{Type: codec.TypePong}, &ch)
	moved.Ping(13) // the PONG before it has been handled
	if got, want := remote(), moved.LocalAddr().String(); got != want {
		t.Errorf("after rebinding: session at %s, want %s", got, want)
	}
	testutil.Emit(t, observer, client.Emit{Rooms: []string{"r"}, Event: "moved"})
	testutil.Decode(t, moved.ExpectType(codec.TypeMessage), &got)
	if string(got.Event) != "moved" {
		t.Errorf("after rebinding: got MESSAGE %q, want \"moved\"", got.Event)
	}
}

// TestUDPKeyPerHello: the key is new with each UDP HELLO, independent of
// the session id: a retransmitted HELLO gets the same WELCOME (same key);
// a persistent session resumed by a new HELLO keeps its id and gets a new
// key, and the old key is dead (ERROR 305).
func TestUDPKeyPerHello(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	hello := &codec.Hello{ClientID: []byte("sensor-k"), Persist: true}
	first := testutil.ListenUDP(t, srv)
	w1 := first.HelloWith(21, hello)
	first.SendRaw(testutil.Datagram(0, codec.Header{Type: codec.TypeHello, ID: 21}, hello)) // a retransmission
	var again codec.Welcome
	testutil.Decode(t, first.Expect(codec.TypeWelcome, 21), &again)
	if again.Key != w1.Key {
		t.Errorf("retransmitted HELLO: got key %#x, want the first WELCOME's %#x", again.Key, w1.Key)
	}
	first.Ping(1)

	second := testutil.ListenUDP(t, srv)
	w2 := second.HelloWith(22, &codec.Hello{ClientID: []byte("sensor-k"), Persist: true})
	if !w2.Resumed || string(w2.SessionID) != string(w1.SessionID) {
		t.Fatalf("second HELLO: got session %s (resumed %v), want %s resumed", w2.SessionID, w2.Resumed, w1.SessionID)
	}
	if w2.Key == w1.Key {
		t.Errorf("resumed session: got the old key %#x again, want a new one", w2.Key)
	}
	second.Ping(2)

	// The first attachment was taken over (BYE 306); its key is unknown now.
	testutil.CheckError(t, first.MustNext(), codec.TypeBye, 0, codec.CodeTakenOver)
	first.Request(codec.Header{Type: codec.TypePing, ID: 3}, nil)
	testutil.CheckError(t, first.MustNext(), codec.TypeError, 3, codec.CodeUnknownSession)
}
