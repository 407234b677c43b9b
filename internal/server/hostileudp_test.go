package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/internal/testutil"
)

// udpDrops are the counters of datagrams the server drops or refuses.
type udpDrops struct{ Malformed, Oversize, NoSession, HelloTooSmall uint64 }

func udpDropsOf(s *stats.Stats) udpDrops {
	return udpDrops{s.DatagramMalformed.Load(), s.DatagramOversize.Load(), s.DatagramNoSession.Load(), s.HelloTooSmall.Load()}
}

// TestUDPHostileInput sends malformed, oversized, misdirected and
// unexpected datagrams from a live session's socket and checks that each is
// dropped and counted under the right counter (or, for an unknown session
// id, answered with one ERROR 305), that the session goes on with its rooms,
// and that other clients are served.
func TestUDPHostileInput(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	by := testutil.NewBystanders(t, srv)
	u := testutil.ListenUDP(t, srv)
	sid := string(u.Hello(1, 0, codec.MinHelloDatagram).SessionID)
	u.Join(2, "ok")
	roomsBody := (&codec.Rooms{Rooms: [][]byte{[]byte("r")}}).Append(nil)
	withSID := func(pkt []byte) []byte { return append(codec.AppendKey(nil, u.Key), pkt...) }
	big := &codec.Emit{Rooms: [][]byte{[]byte("r")}, Data: append([]byte{0xc5, 0x04, 0xb0}, make([]byte, 1200)...)}

	tests := []struct {
		name      string
		datagram  []byte
		want      udpDrops // counter increments
		wantReply codec.Code
	}{
		{name: "over MaxDatagram", datagram: testutil.Datagram(u.Key, codec.Header{Type: codec.TypeEmit, ID: 7}, big), want: udpDrops{Oversize: 1}},
		{name: "HELLO over MaxDatagram", datagram: testutil.HelloDatagram(7, 0, 2000), want: udpDrops{Oversize: 1}},
		{name: "empty datagram", datagram: []byte{}, want: udpDrops{Malformed: 1}},
		{name: "one byte", datagram: []byte{1}, want: udpDrops{Malformed: 1}},
		{name: "session id alone", datagram: withSID(nil), want: udpDrops{Malformed: 1}},
		{name: "header cut short", datagram: withSID([]byte{1, byte(codec.TypePing), 0, 0, 0}), want: udpDrops{Malformed: 1}},
		{name: "version 2", datagram: withSID(rawPacket(2, byte(codec.TypeJoin), 0, 0, roomsBody...)), want: udpDrops{Malformed: 1}},
		{name: "unknown type", datagram: withSID(rawPacket(1, 0x0C, 0, 0)), want: udpDrops{Malformed: 1}},
		{name: "reserved flag bit", datagram: withSID(rawPacket(1, byte(codec.TypeJoin), 0x80, 0, roomsBody...)), want: udpDrops{Malformed: 1}},
		{name: "reserved byte", datagram: withSID(rawPacket(1, byte(codec.TypeJoin), 0, 9, roomsBody...)), want: udpDrops{Malformed: 1}},
		{name: "JOIN with QoS 1", datagram: withSID(rawPacket(1, byte(codec.TypeJoin), byte(codec.FlagQoS1), 0, roomsBody...)), want: udpDrops{Malformed: 1}},
		{name: "invalid msgpack body", datagram: withSID(rawPacket(1, byte(codec.TypeJoin), 0, 0, 0xc1)), want: udpDrops{Malformed: 1}},
		{name: "body with trailing bytes", datagram: withSID(rawPacket(1, byte(codec.TypeJoin), 0, 0, append(roomsBody, 0)...)), want: udpDrops{Malformed: 1}},
		{name: "body cut short", datagram: withSID(rawPacket(1, byte(codec.TypeJoin), 0, 0, roomsBody[:3]...)), want: udpDrops{Malformed: 1}},
		{name: "EMIT data nested too deep", datagram: testutil.Datagram(u.Key, codec.Header{Type: codec.TypeEmit, ID: 7},
			&codec.Emit{Rooms: [][]byte{[]byte("r")}, Data: nested(codec.MaxDepth + 1)}), want: udpDrops{Malformed: 1}},
		{name: "second HELLO on the session", datagram: testutil.Datagram(u.Key, codec.Header{Type: codec.TypeHello, ID: 7}, &codec.Hello{Pad: 64}), want: udpDrops{Malformed: 1}},
		{name: "WELCOME from client", datagram: testutil.Datagram(u.Key, codec.Header{Type: codec.TypeWelcome, ID: 7}, &codec.Welcome{SessionID: []byte(sid)}), want: udpDrops{Malformed: 1}},
		{name: "PING with key 0", datagram: testutil.Datagram(0, codec.Header{Type: codec.TypePing, ID: 7}, nil), want: udpDrops{Malformed: 1}},
		{name: "HELLO with an invalid body", datagram: testutil.Datagram(0, codec.Header{Type: codec.TypeHello, ID: 7},
			codec.RawBody(append([]byte{0x82, 0xa9, 'k', 'e', 'e', 'p', 'a', 'l', 'i', 'v', 'e', 0xa1, 'x', 0xa3, 'p', 'a', 'd', 0xc4, 40}, make([]byte, 40)...))),
			want: udpDrops{Malformed: 1}},
		{name: "HELLO of 63 bytes", datagram: testutil.HelloDatagram(7, 0, codec.MinHelloDatagram-1), want: udpDrops{HelloTooSmall: 1}},
		{name: "HELLO of 16 bytes", datagram: testutil.Datagram(0, codec.Header{Type: codec.TypeHello, ID: 7}, nil), want: udpDrops{HelloTooSmall: 1}},
		{name: "unknown key", datagram: testutil.Datagram(u.Key^0xFF, codec.Header{Type: codec.TypePing, ID: 7}, nil),
			want: udpDrops{NoSession: 1}, wantReply: codec.CodeUnknownSession},
		{name: "unknown key with a valid JOIN", datagram: testutil.Datagram(u.Key+1, codec.Header{Type: codec.TypeJoin, ID: 7}, testutil.Rooms("ok")),
			want: udpDrops{NoSession: 1}, wantReply: codec.CodeUnknownSession},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := udpDropsOf(srv.Stats)
			u.SendRaw(tt.datagram)
			replies := u.Ping(uint32(100 + i)) // the session still answers
			after := udpDropsOf(srv.Stats)
			got := udpDrops{after.Malformed - before.Malformed, after.Oversize - before.Oversize,
				after.NoSession - before.NoSession, after.HelloTooSmall - before.HelloTooSmall}
			if got != tt.want {
				t.Errorf("counter increments: got %+v, want %+v", got, tt.want)
			}
			switch {
			case tt.wantReply != 0 && len(replies) == 1:
				testutil.CheckError(t, replies[0], codec.TypeError, 7, tt.wantReply)
			case tt.wantReply != 0:
				t.Errorf("got %d datagrams before the PONG, want one ERROR %d", len(replies), tt.wantReply)
			case len(replies) != 0:
				t.Errorf("got %v (%s) before the PONG, want nothing", replies[0].Type, testutil.Describe(replies[0]))
			}
			if got := srv.Adapter.RoomsOf(sid); !slices.Equal(got, []string{sid, "ok"}) {
				t.Errorf("RoomsOf(session): got %q, want [%s ok]", got, sid)
			}
			by.Check(t)
		})
	}
	if got := srv.Stats.UDPSessions.Load(); got != 2 {
		t.Errorf("Stats.UDPSessions: got %d, want 2 (the raw session and the bystander)", got)
	}
}

// TestUDPMaxDatagram checks the datagram limit's boundary: an EMIT datagram
// of exactly MaxDatagram bytes is delivered, one byte more is dropped and
// counted.
func TestUDPMaxDatagram(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	sub := testutil.Dial(t, srv.TCPURL(), nil)
	testutil.Join(t, sub, "r")
	u := testutil.ListenUDP(t, srv)
	w := u.Hello(1, 0, codec.MinHelloDatagram)
	u.Join(2, "r")
	// datagram returns an EMIT datagram of exactly size bytes.
	datagram := func(size int, event string) []byte {
		for n := size; n > 0; n-- {
			data := append([]byte{0xc5, byte(n >> 8), byte(n)}, make([]byte, n)...) // bin16
			d := testutil.Datagram(u.Key, codec.Header{Type: codec.TypeEmit, ID: 3}, &codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte(event), Data: data})
			if len(d) == size {
				return d
			}
		}
		t.Fatalf("no EMIT datagram of %d bytes", size)
		return nil
	}
	limit := int(w.MaxDatagram)
	tests := []struct {
		name      string
		size      int
		delivered bool
	}{
		{name: "exactly MaxDatagram", size: limit, delivered: true},
		{name: "MaxDatagram plus one", size: limit + 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oversize := srv.Stats.DatagramOversize.Load()
			u.SendRaw(datagram(tt.size, tt.name))
			u.Ping(uint32(10 + i))
			u.SendRaw(datagram(100, "end "+tt.name))
			want := []string{"end " + tt.name}
			if tt.delivered {
				want = []string{tt.name, "end " + tt.name}
			}
			for _, ev := range want {
				if m := testutil.Recv(t, sub); m.Event != ev {
					t.Fatalf("got event %q, want %q", m.Event, ev)
				}
			}
			wantOversize := oversize
			if !tt.delivered {
				wantOversize++
			}
			if got := srv.Stats.DatagramOversize.Load(); got != wantOversize {
				t.Errorf("Stats.DatagramOversize: got %d, want %d", got, wantOversize)
			}
		})
	}
}

// TestUDPFloodShed: a flood larger than the server's receive socket holds
// is shed by the kernel at the socket, and every datagram is accounted
// for: read (DatagramsIn) or dropped there (UDPRecvDrops, sampled each
// tick). The server stays responsive.
func TestUDPFloodShed(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		c.UDP.SocketBuffer = 1 // the kernel's minimum: a few datagrams
		c.UDP.TickInterval = 10 * time.Millisecond
	})
	u := testutil.ListenUDP(t, srv)
	const n = 20_000
	d := testutil.Datagram(0x1234, codec.Header{Type: codec.TypePing, ID: 1}, &codec.Ping{})
	for range n {
		u.SendRaw(d)
	}
	testutil.WaitFor(t, "every datagram read or dropped", func() bool {
		return srv.Stats.DatagramsIn.Load()+srv.Stats.UDPRecvDrops.Load() == n
	})
	if srv.Stats.UDPRecvDrops.Load() == 0 {
		t.Error("UDPRecvDrops = 0: the flood fitted in the minimal socket buffer")
	}
	t.Logf("%d read, %d shed at the socket", srv.Stats.DatagramsIn.Load(), srv.Stats.UDPRecvDrops.Load())
	c := testutil.ListenUDP(t, srv)
	c.Hello(7, 30, 64) // still answers
}
