package server_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// reqPeer is a raw session of either transport, for request-level tests.
type reqPeer struct {
	sid  string
	send func(h codec.Header, body codec.Body)
	next func() codec.Packet
	ping func(id uint32) // PING and wait for the PONG
}

func tcpReqPeer(t *testing.T, srv *testutil.Server) reqPeer {
	c := testutil.DialTCP(t, srv)
	w := c.Hello(0)
	return reqPeer{sid: string(w.SessionID), send: c.Send, next: c.MustNext, ping: c.Ping}
}

func udpReqPeer(t *testing.T, srv *testutil.Server) reqPeer {
	u := testutil.ListenUDP(t, srv)
	w := u.Hello(1, 0, codec.MinHelloDatagram)
	return reqPeer{sid: string(w.SessionID), send: u.Request, next: u.MustNext, ping: func(id uint32) {
		t.Helper()
		if before := u.Ping(id); len(before) != 0 {
			t.Fatalf("got %v (%s) before the PONG, want nothing", before[0].Type, testutil.Describe(before[0]))
		}
	}}
}

// TestRequestErrors checks JOIN, LEAVE and EMIT requests that break a
// limit or a naming rule, over both transports: each is answered with an
// ERROR carrying the request's id and the documented code, changes
// nothing (JOIN is all or nothing), and the session goes on.
func TestRequestErrors(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		c.Broker.MaxRooms = 3
		c.Broker.MaxTargets = 4
	})
	other := testutil.Dial(t, srv.TCPURL(), nil).SessionID()
	long := strings.Repeat("r", 255)
	names := func(n ...string) [][]byte { return testutil.Rooms(n...).Rooms }
	type request struct {
		typ   codec.Type
		flags codec.Flags
		body  func(sid string) codec.Body
	}
	join := func(n ...string) request {
		return request{typ: codec.TypeJoin, body: func(string) codec.Body { return testutil.Rooms(n...) }}
	}
	leave := func(n ...string) request {
		return request{typ: codec.TypeLeave, body: func(string) codec.Body { return testutil.Rooms(n...) }}
	}
	emit := func(flags codec.Flags, e codec.Emit) request {
		return request{typ: codec.TypeEmit, flags: flags, body: func(string) codec.Body { return &e }}
	}
	tests := []struct {
		name      string
		setup     []string // rooms joined first
		req       request
		reqOwn    bool       // the request names the session's own room instead
		code      codec.Code // 0: ACK for JOIN and LEAVE, no answer for EMIT
		wantRooms []string   // rooms besides its own afterwards; nil: the setup's
	}{
		{name: "room name of 255 bytes", req: join(long), wantRooms: []string{long}},
		{name: "empty room name", req: join(""), code: codec.CodeInvalidRoom},
		{name: "room name of 256 bytes", req: join(long + "r"), code: codec.CodeInvalidRoom},
		{name: "room name not UTF-8", req: join("\xff\xfe"), code: codec.CodeInvalidRoom},
		{name: "room name with $ prefix", req: join("$room"), code: codec.CodeInvalidRoom},
		{name: "another session's own room", req: join(other), code: codec.CodeInvalidRoom},
		{name: "own room", reqOwn: true, req: join(), code: codec.CodeInvalidRoom},
		{name: "one invalid name among valid ones", req: join("a", "b", ""), code: codec.CodeInvalidRoom},
		{name: "rooms up to the limit", req: join("a", "b", "c"), wantRooms: []string{"a", "b", "c"}},
		{name: "repeats count once", req: join("a", "a", "b", "c", "b"), wantRooms: []string{"a", "b", "c"}},
		{name: "too many rooms in one JOIN", req: join("a", "b", "c", "d"), code: codec.CodeTooManyRooms},
		{name: "too many rooms over two JOINs", setup: []string{"a", "b"}, req: join("b", "c", "d"), code: codec.CodeTooManyRooms},
		{name: "rejoining rooms at the limit", setup: []string{"a", "b", "c"}, req: join("c", "a"), wantRooms: []string{"a", "b", "c"}},
		{name: "LEAVE own room", reqOwn: true, req: leave(), code: codec.CodeInvalidRoom},
		{name: "LEAVE a room not joined", setup: []string{"a"}, req: leave("zz", "a"), wantRooms: []string{}},
		{name: "LEAVE invalid name", setup: []string{"a"}, req: leave("a", ""), code: codec.CodeInvalidRoom},
		{name: "EMIT to too many rooms", req: emit(0, codec.Emit{Rooms: names("a", "b", "c", "d", "e")}), code: codec.CodeTooManyTargets},
		{name: "EMIT with too many exceptions", req: emit(0, codec.Emit{Rooms: names("a"), Except: names("a", "b", "c", "d", "e")}), code: codec.CodeTooManyTargets},
		{name: "EMIT to an empty room name", req: emit(0, codec.Emit{Rooms: names("a", "")}), code: codec.CodeInvalidRoom},
		{name: "EMIT except a name of 256 bytes", req: emit(0, codec.Emit{Rooms: names("a"), Except: names(long + "r")}), code: codec.CodeInvalidRoom},
		{name: "EMIT event of 256 bytes", req: emit(0, codec.Emit{Rooms: names("a"), Event: []byte(long + "e")}), code: codec.CodeInvalidEvent},
		{name: "EMIT event not UTF-8", req: emit(0, codec.Emit{Rooms: names("a"), Event: []byte("\xc3\x28")}), code: codec.CodeInvalidEvent},
		{name: "EMIT at every limit", req: emit(0, codec.Emit{Rooms: names("a", "b", "c", long), Except: names("e", "f", "g", "h"), Event: []byte(long)})},
	}
	transports := []struct {
		name string
		open func(*testing.T, *testutil.Server) reqPeer
	}{{"tcp", tcpReqPeer}, {"udp", udpReqPeer}}
	for _, tr := range transports {
		for i, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				p := tr.open(t, srv)
				if tt.setup != nil {
					p.send(codec.Header{Type: codec.TypeJoin, ID: 1}, testutil.Rooms(tt.setup...))
					if got := p.next(); got.Type != codec.TypeAck || got.ID != 1 {
						t.Fatalf("setup JOIN: got %v id=%d (%s), want ACK id=1", got.Type, got.ID, testutil.Describe(got))
					}
				}
				errorsBefore := srv.Stats.RequestErrors.Load()
				body := tt.req.body(p.sid)
				if tt.reqOwn {
					body = testutil.Rooms(p.sid)
				}
				id := uint32(1000 + i)
				p.send(codec.Header{Type: tt.req.typ, Flags: tt.req.flags, ID: id}, body)
				switch {
				case tt.code != 0:
					testutil.CheckError(t, p.next(), codec.TypeError, id, tt.code)
					if got := srv.Stats.RequestErrors.Load() - errorsBefore; got != 1 {
						t.Errorf("Stats.RequestErrors grew by %d, want 1", got)
					}
				case tt.req.typ != codec.TypeEmit:
					if got := p.next(); got.Type != codec.TypeAck || got.ID != id {
						t.Fatalf("got %v id=%d (%s), want ACK id=%d", got.Type, got.ID, testutil.Describe(got), id)
					}
				}
				p.ping(2) // the session goes on, and nothing else came
				want := append([]string{p.sid}, tt.setup...)
				if tt.wantRooms != nil {
					want = append([]string{p.sid}, tt.wantRooms...)
				}
				if got := srv.Adapter.RoomsOf(p.sid); !slices.Equal(got, want) {
					t.Errorf("RoomsOf: got %q, want %q", got, want)
				}
			})
		}
	}
}

// TestMaxSessions fills the server to its session limit and checks that
// one more session is refused with ERROR 300 over either transport, from a
// raw peer or the Go client, that the sessions already open are unaffected,
// and that a slot freed by a BYE can be taken again.
func TestMaxSessions(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.MaxSessions = 3 })
	tcpClient := testutil.Dial(t, srv.TCPURL(), nil)
	udpClient := testutil.Dial(t, srv.UDPURL(), nil)
	raw := testutil.DialTCP(t, srv)
	raw.Hello(0)

	refusals := []struct {
		name   string
		refuse func(t *testing.T)
	}{
		{name: "raw tcp", refuse: func(t *testing.T) {
			c := testutil.DialTCP(t, srv)
			c.Send(codec.Header{Type: codec.TypeHello, ID: 5}, nil)
			p := c.MustNext()
			if p.ID != 0 && p.ID != 5 {
				t.Errorf("got ERROR id %d, want 0 or the HELLO's id 5", p.ID)
			}
			testutil.CheckError(t, p, codec.TypeError, p.ID, codec.CodeServerFull)
			c.ExpectEOF()
		}},
		{name: "raw udp", refuse: func(t *testing.T) {
			u := testutil.ListenUDP(t, srv)
			u.SendRaw(testutil.HelloDatagram(5, 0, codec.MinHelloDatagram))
			p := u.MustNext()
			if p.ID != 0 && p.ID != 5 {
				t.Errorf("got ERROR id %d, want 0 or the HELLO's id 5", p.ID)
			}
			testutil.CheckError(t, p, codec.TypeError, p.ID, codec.CodeServerFull)
		}},
		{name: "go client tcp", refuse: func(t *testing.T) { dialRefused(t, srv.TCPURL()) }},
		{name: "go client udp", refuse: func(t *testing.T) { dialRefused(t, srv.UDPURL()) }},
	}
	for _, r := range refusals {
		t.Run(r.name, r.refuse)
	}
	if got, want := srv.Stats.SessionsRefused.Load(), uint64(len(refusals)); got != want {
		t.Errorf("Stats.SessionsRefused: got %d, want %d", got, want)
	}
	if got := srv.Broker.Sessions(); got != 3 {
		t.Errorf("Broker.Sessions: got %d, want 3", got)
	}
	testutil.Join(t, tcpClient, "r")
	testutil.Join(t, udpClient, "r")
	testutil.Emit(t, tcpClient, client.Emit{Rooms: []string{"r"}, Event: "full"})
	if m := testutil.Recv(t, udpClient); m.Event != "full" {
		t.Errorf("got event %q, want %q", m.Event, "full")
	}

	// The server ends the session as it reads the BYE, before it closes.
	raw.Send(codec.Header{Type: codec.TypeBye}, nil)
	raw.ExpectEOF()
	if got := srv.Broker.Sessions(); got != 2 {
		t.Errorf("Broker.Sessions after a BYE: got %d, want 2", got)
	}
	testutil.DialTCP(t, srv).Hello(0)
}

// dialRefused checks that the Go client's Dial fails with ERROR 300.
func dialRefused(t *testing.T, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	c, err := client.Dial(ctx, url, nil)
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != codec.CodeServerFull {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("Dial to a full server: got error %v, want a *client.ServerError with code %d", err, codec.CodeServerFull)
	}
}

// TestTCPMaxConns checks the connection limit: a connection over
// TCP.MaxConns gets ERROR 300 and an orderly close before any HELLO, the
// connections already open are unaffected, and a closed connection frees
// its place.
func TestTCPMaxConns(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.TCP.MaxConns = 2 })
	session := testutil.DialTCP(t, srv)
	session.Hello(0)
	silent := testutil.DialTCP(t, srv)

	for i := range 3 {
		c := testutil.DialTCP(t, srv)
		c.ExpectError(0, codec.CodeServerFull)
		c.ExpectEOF()
		if got := srv.Stats.SessionsRefused.Load(); got != uint64(i+1) {
			t.Errorf("Stats.SessionsRefused: got %d, want %d", got, i+1)
		}
	}
	session.Ping(1)

	_ = silent.Close()
	testutil.WaitFor(t, "the closed connection's place", func() bool { return srv.Stats.TCPConns.Load() == 1 })
	testutil.DialTCP(t, srv).Hello(0)
	session.Ping(2)
}
