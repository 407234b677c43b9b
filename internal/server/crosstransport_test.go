package server_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestCrossTransport checks that TCP and UDP sessions in one room receive
// each other's emits: payload, event, sender and rooms as sent, and one
// message id shared by every recipient of an emit.
func TestCrossTransport(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	clients := map[string]*client.Client{
		"tcp1": testutil.Dial(t, srv.TCPURL(), nil),
		"tcp2": testutil.Dial(t, srv.TCPURL(), nil),
		"udp1": testutil.Dial(t, srv.UDPURL(), nil),
		"udp2": testutil.Dial(t, srv.UDPURL(), nil),
	}
	for _, c := range clients {
		testutil.Join(t, c, "kitchen")
	}
	type reading struct {
		Celsius float64
		Sensor  string
	}
	tests := []struct {
		name   string
		sender string
		event  string
		data   reading
	}{
		{name: "tcp to all", sender: "tcp1", event: "temp", data: reading{21.5, "tcp1"}},
		{name: "udp to all", sender: "udp1", event: "temp", data: reading{-3.25, "udp1"}},
		{name: "second tcp", sender: "tcp2", event: "humidity", data: reading{0.5, "tcp2"}},
		{name: "second udp", sender: "udp2", event: "", data: reading{99, "udp2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := clients[tt.sender]
			testutil.Emit(t, from, client.Emit{Rooms: []string{"kitchen"}, Event: tt.event, Data: tt.data})
			var ids []uint32
			for name, c := range clients {
				if name == tt.sender {
					continue
				}
				m := testutil.Recv(t, c)
				if m.From != from.SessionID() {
					t.Errorf("%s: got from %q, want %q", name, m.From, from.SessionID())
				}
				if !slices.Equal(m.Rooms, []string{"kitchen"}) {
					t.Errorf("%s: got rooms %q, want [kitchen]", name, m.Rooms)
				}
				if m.Event != tt.event {
					t.Errorf("%s: got event %q, want %q", name, m.Event, tt.event)
				}
				var got reading
				if err := m.Decode(&got); err != nil || got != tt.data {
					t.Errorf("%s: got data %+v (err %v), want %+v", name, got, err, tt.data)
				}
				ids = append(ids, m.ID)
			}
			if uniq := slices.Compact(slices.Sorted(slices.Values(ids))); len(uniq) != 1 || uniq[0] == 0 {
				t.Errorf("got message ids %v, want one non-zero id shared by all recipients", ids)
			}
			if n := len(from.Messages()); n != 0 {
				t.Errorf("sender got %d messages of its own emit without echo, want 0", n)
			}
		})
	}
}

// TestEmitTargets checks who receives an EMIT: the union of its rooms, each
// recipient once, minus the members of its except rooms (a session id
// excludes one session), minus the sender unless echo is set; a session id
// as a target room is a direct message. With two event loops per transport
// the recipients are spread over loops.
func TestEmitTargets(t *testing.T) {
	t.Parallel()
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			t.Parallel()
			testEmitTargets(t, loops)
		})
	}
}

func testEmitTargets(t *testing.T, loops int) {
	srv := testutil.Start(t, func(c *server.Config) { c.TCP.Loops, c.UDP.Loops = loops, loops })
	names := []string{"s", "p", "q", "r", "u"}
	cl := map[string]*client.Client{
		"s": testutil.Dial(t, srv.TCPURL(), nil), // sender: a
		"p": testutil.Dial(t, srv.TCPURL(), nil), // a, b
		"q": testutil.Dial(t, srv.UDPURL(), nil), // a
		"r": testutil.Dial(t, srv.UDPURL(), nil), // b, кухня
		"u": testutil.Dial(t, srv.TCPURL(), nil), // b, c
	}
	member := map[string][]string{"s": {"a"}, "p": {"a", "b"}, "q": {"a"}, "r": {"b", "кухня"}, "u": {"b", "c"}}
	for _, n := range names {
		testutil.Join(t, cl[n], append(member[n], "all")...)
	}
	sid := func(n string) string { return cl[n].SessionID() }

	tests := []struct {
		name   string
		rooms  []string
		except []string
		echo   bool
		want   []string // recipients, each exactly once
	}{
		{name: "one room", rooms: []string{"a"}, want: []string{"p", "q"}},
		{name: "two overlapping rooms once each", rooms: []string{"a", "b"}, want: []string{"p", "q", "r", "u"}},
		{name: "same room twice", rooms: []string{"b", "b"}, want: []string{"p", "r", "u"}},
		{name: "except room", rooms: []string{"a", "b"}, except: []string{"c"}, want: []string{"p", "q", "r"}},
		{name: "except two rooms", rooms: []string{"b"}, except: []string{"a", "c"}, want: []string{"r"}},
		{name: "except session id", rooms: []string{"a"}, except: []string{sid("q")}, want: []string{"p"}},
		{name: "except every target", rooms: []string{"a"}, except: []string{"a"}, echo: true},
		{name: "echo", rooms: []string{"a"}, echo: true, want: []string{"s", "p", "q"}},
		{name: "echo but sender not in rooms", rooms: []string{"b"}, echo: true, want: []string{"p", "r", "u"}},
		{name: "echo but sender excluded by id", rooms: []string{"a"}, except: []string{sid("s")}, echo: true, want: []string{"p", "q"}},
		{name: "direct message", rooms: []string{sid("r")}, want: []string{"r"}},
		{name: "direct message to udp and tcp", rooms: []string{sid("q"), sid("u")}, want: []string{"q", "u"}},
		{name: "direct message to self without echo", rooms: []string{sid("s")}},
		{name: "direct message to self with echo", rooms: []string{sid("s")}, echo: true, want: []string{"s"}},
		{name: "room and own room overlap", rooms: []string{"b", sid("p")}, want: []string{"p", "r", "u"}},
		{name: "room nobody is in", rooms: []string{"nobody"}},
		{name: "except a room nobody is in", rooms: []string{"a"}, except: []string{"nobody"}, want: []string{"p", "q"}},
		{name: "UTF-8 room name", rooms: []string{"кухня", "a"}, want: []string{"p", "q", "r"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.Emit(t, cl["s"], client.Emit{Rooms: tt.rooms, Except: tt.except, Echo: tt.echo, Event: tt.name, Data: i})
			// A marker to everyone, echoed, ends the case: the sender's
			// messages reach each recipient in order, so whatever the
			// case delivered is read before the marker.
			testutil.Emit(t, cl["s"], client.Emit{Rooms: []string{"all"}, Echo: true, Event: "end " + tt.name})
			var ids []uint32
			for _, n := range names {
				got := 0
				for {
					m := testutil.Recv(t, cl[n])
					if m.Event == "end "+tt.name {
						break
					}
					if m.Event != tt.name {
						t.Errorf("%s: got event %q, want %q or the end marker", n, m.Event, tt.name)
						continue
					}
					if m.From != sid("s") || !slices.Equal(m.Rooms, tt.rooms) {
						t.Errorf("%s: got from %s rooms %q, want from %s rooms %q", n, m.From, m.Rooms, sid("s"), tt.rooms)
					}
					ids = append(ids, m.ID)
					got++
				}
				want := 0
				if slices.Contains(tt.want, n) {
					want = 1
				}
				if got != want {
					t.Errorf("%s (rooms %q): got %d copies, want %d", n, member[n], got, want)
				}
			}
			if len(slices.Compact(slices.Sorted(slices.Values(ids)))) > 1 {
				t.Errorf("got message ids %v, want one id for all recipients", ids)
			}
		})
	}
}

// TestMessageSizeLimitForUDP checks docs/PROTOCOL.md section 6.1: a
// MESSAGE is its EMIT's packet plus 23 bytes, and one larger than
// max_datagram goes to the TCP members of the room only (counted in
// Stats.DropTooLargeForUDP), so an EMIT packet of max_datagram - 23 bytes
// is the largest that reaches UDP members.
func TestMessageSizeLimitForUDP(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	tcpSub := testutil.Dial(t, srv.TCPURL(), nil)
	udpSub := testutil.Dial(t, srv.UDPURL(), nil)
	testutil.Join(t, tcpSub, "r")
	testutil.Join(t, udpSub, "r")
	maxDatagram := int(udpSub.Welcome().MaxDatagram)
	// emit sends an EMIT packet of exactly size bytes with the event name.
	emit := func(size int, event string) {
		t.Helper()
		for n := size; n > 0; n-- {
			data := append([]byte{0xc5, byte(n >> 8), byte(n)}, make([]byte, n)...) // bin16
			e := &codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte(event), Data: data}
			if codec.PacketLen(e) == size {
				pub.Send(codec.Header{Type: codec.TypeEmit, ID: 9}, e)
				pub.Ping(10) // handled
				return
			}
		}
		t.Fatalf("no EMIT packet of %d bytes", size)
	}
	tests := []struct {
		name      string
		size      int
		wantOnUDP bool
	}{
		{name: "largest that reaches UDP", size: maxDatagram - 23, wantOnUDP: true},
		{name: "one byte more", size: maxDatagram - 22},
		{name: "far over", size: 4 * maxDatagram},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			drops := srv.Stats.DropTooLargeForUDP.Load()
			end := "end " + tt.name
			emit(tt.size, tt.name)
			emit(100, end) // a marker that fits
			want := map[*client.Client][]string{tcpSub: {tt.name, end}, udpSub: {end}}
			if tt.wantOnUDP {
				want[udpSub] = []string{tt.name, end}
			}
			for c, events := range want {
				for _, ev := range events {
					if m := testutil.Recv(t, c); m.Event != ev {
						t.Fatalf("%s: got event %q, want %q", c.SessionID(), m.Event, ev)
					}
				}
			}
			wantDrops := drops
			if !tt.wantOnUDP {
				wantDrops++
			}
			if got := srv.Stats.DropTooLargeForUDP.Load(); got != wantDrops {
				t.Errorf("Stats.DropTooLargeForUDP: got %d, want %d", got, wantDrops)
			}
		})
	}
}

// TestDataPassthrough checks that an EMIT's data, whatever msgpack value it
// is, reaches TCP and UDP recipients byte for byte.
func TestDataPassthrough(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	pub := testutil.Dial(t, srv.TCPURL(), nil)
	subs := []*client.Client{testutil.Dial(t, srv.TCPURL(), nil), testutil.Dial(t, srv.UDPURL(), nil)}
	for _, c := range subs {
		testutil.Join(t, c, "r")
	}
	tests := []struct {
		name string
		data []byte
	}{
		{name: "nil", data: []byte{0xc0}},
		{name: "false", data: []byte{0xc2}},
		{name: "negative fixint", data: []byte{0xff}},
		{name: "uint64", data: []byte{0xcf, 1, 2, 3, 4, 5, 6, 7, 8}},
		{name: "float64", data: []byte{0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18}},
		{name: "str8", data: append([]byte{0xd9, 40}, strings.Repeat("s", 40)...)},
		{name: "bin with zero bytes", data: []byte{0xc4, 3, 0, 0, 0}},
		{name: "fixext4 timestamp", data: []byte{0xd6, 0xff, 0x65, 0x00, 0x00, 0x00}},
		{name: "nested map and array", data: []byte{0x82, 0xa1, 'a', 0x92, 0x01, 0x80, 0xa1, 'b', 0x91, 0x91, 0x90}},
		{name: "map16 with non-canonical length", data: []byte{0xde, 0x00, 0x01, 0xa1, 'k', 0x07}},
		{name: "nested to the depth limit", data: append(bytes.Repeat([]byte{0x91}, codec.MaxDepth-2), 0x90)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.Emit(t, pub, client.Emit{Rooms: []string{"r"}, Event: tt.name, Raw: tt.data})
			for i, c := range subs {
				m := testutil.Recv(t, c)
				if m.Event != tt.name || !bytes.Equal(m.Data, tt.data) {
					t.Errorf("subscriber %d: got event %q data % x, want %q data % x", i, m.Event, m.Data, tt.name, tt.data)
				}
			}
		})
	}
}
