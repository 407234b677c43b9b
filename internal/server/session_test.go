package server_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
	"github.com/packetd/packetd/rooms"
)

// TestPingEcho checks that a PONG carries its PING's id and body, byte for
// byte (codec.Ping: "A PONG echoes its PING's body byte for byte"), over
// both transports, including bodies the server would not encode that way
// itself.
func TestPingEcho(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	token := []byte{1, 2, 3, 4}
	tests := []struct {
		name string
		body []byte
	}{
		{name: "no body", body: nil},
		{name: "token", body: (&codec.Ping{Token: token}).Append(nil)},
		{name: "64-byte token", body: (&codec.Ping{Token: bytes.Repeat([]byte{0xEE}, codec.MaxToken)}).Append(nil)},
		{name: "empty map", body: []byte{0x80}},
		{name: "token as bin16", body: []byte{0x81, 0xa5, 't', 'o', 'k', 'e', 'n', 0xc5, 0x00, 0x04, 1, 2, 3, 4}},
		{name: "token and an unknown key", body: []byte{0x82, 0xa5, 't', 'o', 'k', 'e', 'n', 0xc4, 0x04, 1, 2, 3, 4, 0xa2, 't', 's', 0xcd, 0x30, 0x39}},
	}
	tcp := testutil.DialTCP(t, srv)
	tcp.Hello(0)
	udp := testutil.ListenUDP(t, srv)
	udp.Hello(1, 0, codec.MinHelloDatagram)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uint32(100 + i)
			pkt := append(codec.Header{Type: codec.TypePing, ID: id}.Append(nil), tt.body...)
			tcp.Write(testutil.RawFrame(pkt))
			if got := tcp.Expect(codec.TypePong, id); !bytes.Equal(got.Body, tt.body) {
				t.Errorf("tcp: got PONG body % x, want % x", got.Body, tt.body)
			}
			udp.SendRaw(append(codec.AppendKey(nil, udp.Key), pkt...))
			if got := udp.Expect(codec.TypePong, id); !bytes.Equal(got.Body, tt.body) {
				t.Errorf("udp: got PONG body % x, want % x", got.Body, tt.body)
			}
		})
	}
}

// TestTCPPipelinedBye writes requests and a BYE in one write: every request
// before the BYE is answered, then the server closes in order and the
// session leaves its rooms.
func TestTCPPipelinedBye(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	events := testutil.RecordEvents(t, srv.Adapter)
	c := testutil.DialTCP(t, srv)
	var b []byte
	b = codec.AppendFrame(b, codec.Header{Type: codec.TypeHello, ID: 1}, nil)
	b = codec.AppendFrame(b, codec.Header{Type: codec.TypeJoin, ID: 2}, testutil.Rooms("a"))
	b = codec.AppendFrame(b, codec.Header{Type: codec.TypePing, ID: 3}, nil)
	b = codec.AppendFrame(b, codec.Header{Type: codec.TypeBye}, nil)
	b = codec.AppendFrame(b, codec.Header{Type: codec.TypePing, ID: 4}, nil) // after BYE: ignored
	c.Write(b)
	var w codec.Welcome
	testutil.Decode(t, c.Expect(codec.TypeWelcome, 1), &w)
	c.Expect(codec.TypeAck, 2)
	c.Expect(codec.TypePong, 3)
	c.ExpectEOF()
	events.Wait(t, rooms.Event{Kind: rooms.DeleteRoom, Room: "a"})
	if got := srv.Adapter.RoomsOf(string(w.SessionID)); got != nil {
		t.Errorf("RoomsOf after BYE: got %q, want nil", got)
	}
}

// TestUDPHelloRetransmission checks that a HELLO sent again from the same
// address with the same header id gets the same WELCOME (the same session)
// for as long as the session lives, even after its address was validated
// (a late copy of the HELLO must not open a second session;
// docs/PROTOCOL.md section 6.2), and that a HELLO with another id opens
// another session.
func TestUDPHelloRetransmission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		validate  bool   // send a JOIN with the session id before the retransmission
		helloID   uint32 // the second HELLO's id; the first is 1
		wantSame  bool
		wantOpens uint64 // Stats.SessionsOpened afterwards
	}{
		{name: "retransmitted before validation", helloID: 1, wantSame: true, wantOpens: 1},
		{name: "repeated after validation", validate: true, helloID: 1, wantSame: true, wantOpens: 1},
		{name: "new HELLO id", helloID: 2, wantOpens: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testutil.Start(t, nil)
			u := testutil.ListenUDP(t, srv)
			first := u.Hello(1, 0, codec.MinHelloDatagram)
			if tt.validate {
				u.Join(2, "a")
			}
			u.SendRaw(testutil.HelloDatagram(tt.helloID, 0, codec.MinHelloDatagram))
			var second codec.Welcome
			testutil.Decode(t, u.Expect(codec.TypeWelcome, tt.helloID), &second)
			if same := bytes.Equal(second.SessionID, first.SessionID); same != tt.wantSame {
				t.Errorf("second WELCOME: got session %s (first %s), want same session: %v", second.SessionID, first.SessionID, tt.wantSame)
			}
			if got := srv.Stats.SessionsOpened.Load(); got != tt.wantOpens {
				t.Errorf("Stats.SessionsOpened: got %d, want %d", got, tt.wantOpens)
			}
			if tt.validate {
				if got := srv.Adapter.RoomsOf(string(first.SessionID)); !slices.Contains(got, "a") {
					t.Errorf("RoomsOf(first session): got %q, want a among them", got)
				}
			}
		})
	}
}
