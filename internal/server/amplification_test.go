package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
)

// TestUDPAntiAmplification checks QUIC's rule from the side of a victim
// whose address was spoofed: an address that has not proved it receives
// (no second datagram carrying its session id) is never sent more than
// three times the bytes that came from it, whatever the server is asked to
// send it.
func TestUDPAntiAmplification(t *testing.T) {
	t.Parallel()

	t.Run("retransmitted HELLO", func(t *testing.T) {
		t.Parallel()
		srv := testutil.Start(t, nil)
		u := testutil.ListenUDP(t, srv)
		const tries = 30
		hello := testutil.HelloDatagram(42, 0, codec.MinHelloDatagram)
		var sid []byte
		for i := range tries {
			u.SendRaw(hello)
			var w codec.Welcome
			testutil.Decode(t, u.Expect(codec.TypeWelcome, 42), &w)
			if i == 0 {
				sid = bytes.Clone(w.SessionID)
			} else if !bytes.Equal(w.SessionID, sid) {
				t.Fatalf("WELCOME %d: got session %s, want the first WELCOME's %s", i, w.SessionID, sid)
			}
		}
		if sent := tries * len(hello); u.Received > 3*sent {
			t.Errorf("server sent %d bytes to an address that sent %d, want at most %d", u.Received, sent, 3*sent)
		}
		if got := srv.Stats.SessionsOpened.Load(); got != 1 {
			t.Errorf("Stats.SessionsOpened: got %d, want 1 (retransmissions open nothing)", got)
		}
	})

	t.Run("spoofed unknown session ids", func(t *testing.T) {
		t.Parallel()
		srv := testutil.Start(t, nil)
		victim := testutil.ListenUDP(t, srv)
		const n = 20
		sent := 0
		for i := range n {
			d := testutil.Datagram(0xdead0000+uint64(i), codec.Header{Type: codec.TypePing, ID: uint32(i + 1)}, nil)
			victim.SendRaw(d)
			sent += len(d)
			p, size, err := victim.Next(testutil.Timeout)
			if err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
			testutil.CheckError(t, p, codec.TypeError, uint32(i+1), codec.CodeUnknownSession)
			if size > 3*len(d) {
				t.Errorf("datagram %d: got a %d-byte ERROR for %d bytes, want at most %d", i, size, len(d), 3*len(d))
			}
		}
		if victim.Received > 3*sent {
			t.Errorf("server sent %d bytes for %d, want at most %d", victim.Received, sent, 3*sent)
		}
		if got := srv.Stats.DatagramNoSession.Load(); got != n {
			t.Errorf("Stats.DatagramNoSession: got %d, want %d", got, n)
		}
	})
}

// TestUDPUnvalidatedDirectMessages floods, through direct messages from
// another session, a UDP session whose address never proved it receives:
// what reaches that address stays within three times its HELLO, and the
// rest is held back and counted. (It also has another event loop read a
// UDP session's fields with no datagram of the session in between, which
// caught a data race on session attach under -race.)
func TestUDPUnvalidatedDirectMessages(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	victim := testutil.ListenUDP(t, srv)
	hello := testutil.HelloDatagram(1, 0, codec.MinHelloDatagram)
	w := victim.Hello(1, 0, codec.MinHelloDatagram)
	// The attacker, in session, floods the spoofed session's own room.
	pub := testutil.Dial(t, srv.TCPURL(), nil)
	drops := srv.Stats.DropAmplification.Load()
	const msgs = 50
	for i := range msgs {
		testutil.Emit(t, pub, client.Emit{Rooms: []string{string(w.SessionID)}, Event: "flood", Data: strings.Repeat("x", i)})
	}
	testutil.Join(t, pub, "sync") // every EMIT above has been handled
	held := srv.Stats.DropAmplification.Load() - drops
	if held == 0 {
		t.Fatalf("Stats.DropAmplification did not grow: all %d messages went to an unvalidated address", msgs)
	}
	for range msgs - held {
		victim.ExpectType(codec.TypeMessage)
	}
	if budget := 3 * len(hello); victim.Received > budget {
		t.Errorf("server sent %d bytes (WELCOME and %d messages) to an address that sent %d, want at most %d",
			victim.Received, msgs-held, len(hello), budget)
	}
}
