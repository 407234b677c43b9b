package server_test

import (
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
	"github.com/packetd/packetd/rooms"
)

// shortKeepAlive lets clients ask for a 1 s keepalive (1.5 s idle timeout).
func shortKeepAlive(c *server.Config) { c.Broker.MinKeepAlive = time.Second }

// TestUDPIdleExpiry checks that a UDP session silent for 1.5 keepalives is
// ended, told so with ERROR 302, and leaves its rooms, while Go clients
// with the same keepalive (which PING when idle) live on.
func TestUDPIdleExpiry(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, shortKeepAlive)
	events := testutil.RecordEvents(t, srv.Adapter)
	alive := []*client.Client{
		testutil.Dial(t, srv.UDPURL(), &client.Options{KeepAlive: time.Second}),
		testutil.Dial(t, srv.TCPURL(), &client.Options{KeepAlive: time.Second}),
	}
	for _, c := range alive {
		testutil.Join(t, c, "b")
	}

	u := testutil.ListenUDP(t, srv)
	w := u.Hello(1, 1, codec.MinHelloDatagram)
	if w.KeepAlive != 1 {
		t.Fatalf("WELCOME keepalive: got %d, want 1", w.KeepAlive)
	}
	silent := time.Now() // before the last datagram: the server hears it later
	u.Join(2, "a", "b")
	sid := string(w.SessionID)

	testutil.CheckError(t, u.MustNext(), codec.TypeError, 0, codec.CodeIdleTimeout)
	events.Wait(t, rooms.Event{Kind: rooms.LeaveRoom, Room: "b", Member: sid})
	if idle := time.Since(silent); idle < 1500*time.Millisecond {
		t.Errorf("session expired after %v of silence, want at least 1.5 s", idle)
	}
	if got := srv.Adapter.RoomsOf(sid); got != nil {
		t.Errorf("RoomsOf(expired session): got %q, want nil", got)
	}
	if got := srv.Adapter.Members("a"); got != nil {
		t.Errorf("Members(a): got %q, want nil (deleted with its only member)", got)
	}
	if got := len(srv.Adapter.Members("b")); got != len(alive) {
		t.Errorf("Members(b): got %d members, want the %d live clients", got, len(alive))
	}
	if got := srv.Stats.IdleTimeouts.Load(); got != 1 {
		t.Errorf("Stats.IdleTimeouts: got %d, want 1", got)
	}
	// The session is gone: its id is unknown now.
	u.Request(codec.Header{Type: codec.TypePing, ID: 3}, nil)
	testutil.CheckError(t, u.MustNext(), codec.TypeError, 3, codec.CodeUnknownSession)

	for _, c := range alive {
		select {
		case <-c.Done():
			t.Errorf("client %s with a 1 s keepalive closed after %v: %v", c.SessionID(), time.Since(silent), c.Err())
		default:
		}
	}
	testutil.Emit(t, alive[1], client.Emit{Rooms: []string{"b"}, Event: "still here"})
	if m := testutil.Recv(t, alive[0]); m.Event != "still here" {
		t.Errorf("got event %q, want %q", m.Event, "still here")
	}
}

// TestUnvalidatedUDPSessionExpiry checks that a UDP session whose address
// never sent a second datagram ends silently after the handshake timeout.
func TestUnvalidatedUDPSessionExpiry(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.UDP.HandshakeTimeout = 300 * time.Millisecond })
	events := testutil.RecordEvents(t, srv.Adapter)
	u := testutil.ListenUDP(t, srv)
	w := u.Hello(1, 0, codec.MinHelloDatagram)
	sid := string(w.SessionID)
	events.Wait(t, rooms.Event{Kind: rooms.DeleteRoom, Room: sid})
	if got := srv.Stats.UDPSessions.Load(); got != 0 {
		t.Errorf("Stats.UDPSessions: got %d, want 0", got)
	}
	u.Request(codec.Header{Type: codec.TypePing, ID: 2}, nil)
	testutil.CheckError(t, u.MustNext(), codec.TypeError, 2, codec.CodeUnknownSession)
}

// TestTCPTimeouts checks the two TCP deadlines: a session silent for 1.5
// keepalives gets ERROR 302, a connection that sends no HELLO in time gets
// ERROR 304, and each is then closed in order (FIN) and leaves its rooms.
func TestTCPTimeouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		hello   bool
		code    codec.Code
		minIdle time.Duration
		counter func(*testutil.Server) uint64
	}{
		{name: "idle session", hello: true, code: codec.CodeIdleTimeout, minIdle: 1500 * time.Millisecond,
			counter: func(s *testutil.Server) uint64 { return s.Stats.IdleTimeouts.Load() }},
		{name: "no HELLO", code: codec.CodeHandshakeTimeout, minIdle: 300 * time.Millisecond,
			counter: func(s *testutil.Server) uint64 { return s.Stats.HandshakeTimeouts.Load() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testutil.Start(t, func(c *server.Config) {
				shortKeepAlive(c)
				c.TCP.HandshakeTimeout = 300 * time.Millisecond
			})
			events := testutil.RecordEvents(t, srv.Adapter)
			// Silence is timed from before the last thing sent, which the
			// server sees later.
			silent := time.Now()
			c := testutil.DialTCP(t, srv)
			var sid string
			if tt.hello {
				sid = string(c.Hello(1).SessionID)
				silent = time.Now()
				c.Join(2, "a")
			}
			c.ExpectError(0, tt.code)
			if idle := time.Since(silent); idle < tt.minIdle {
				t.Errorf("ERROR %d after %v of silence, want at least %v", tt.code, idle, tt.minIdle)
			}
			c.ExpectEOF()
			if got := tt.counter(srv); got != 1 {
				t.Errorf("counter: got %d, want 1", got)
			}
			if tt.hello {
				events.Wait(t, rooms.Event{Kind: rooms.DeleteRoom, Room: "a"})
				if got := srv.Adapter.RoomsOf(sid); got != nil {
					t.Errorf("RoomsOf(timed out session): got %q, want nil", got)
				}
			}
		})
	}
}

// TestKeepAliveClamp checks that the keepalive a client asks for in HELLO
// is clamped to the server's bounds and announced in WELCOME, over both
// transports.
func TestKeepAliveClamp(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		c.Broker.MinKeepAlive = 2 * time.Second
		c.Broker.KeepAlive = 5 * time.Second
		c.Broker.MaxKeepAlive = 10 * time.Second
	})
	tests := []struct {
		name      string
		ask, want uint32
	}{
		{name: "none asked: default", ask: 0, want: 5},
		{name: "below minimum", ask: 1, want: 2},
		{name: "within bounds", ask: 7, want: 7},
		{name: "above maximum", ask: 3600, want: 10},
		{name: "largest value", ask: 1<<32 - 1, want: 10},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testutil.DialTCP(t, srv).Hello(tt.ask).KeepAlive; got != tt.want {
				t.Errorf("tcp: asked %d, got keepalive %d, want %d", tt.ask, got, tt.want)
			}
			u := testutil.ListenUDP(t, srv)
			if got := u.Hello(uint32(i+1), tt.ask, codec.MinHelloDatagram).KeepAlive; got != tt.want {
				t.Errorf("udp: asked %d, got keepalive %d, want %d", tt.ask, got, tt.want)
			}
		})
	}
}
