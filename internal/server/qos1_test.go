package server_test

import (
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
	"github.com/packetd/packetd/rooms"
)

// qos1Emit is a QoS 1 EMIT to room r with the event name ev.
func qos1Emit(c *testutil.TCPConn, id uint32, ev string, dup bool) {
	flags := codec.FlagQoS1
	if dup {
		flags |= codec.FlagDup
	}
	c.Send(codec.Header{Type: codec.TypeEmit, Flags: flags, ID: id}, &codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte(ev)})
}

// expectQoS1 reads a QoS 1 MESSAGE and checks its number, DUP flag and
// event.
func expectQoS1(t *testing.T, c *testutil.TCPConn, seq uint32, dup bool, ev string) {
	t.Helper()
	p := c.ExpectType(codec.TypeMessage)
	var m codec.Message
	testutil.Decode(t, p, &m)
	if p.Flags.QoS() != 1 || p.ID != seq || p.Flags.Dup() != dup || string(m.Event) != ev {
		t.Fatalf("got MESSAGE qos=%d id=%d dup=%v event=%q, want qos=1 id=%d dup=%v event=%q",
			p.Flags.QoS(), p.ID, p.Flags.Dup(), m.Event, seq, dup, ev)
	}
}

func ack(c *testutil.TCPConn, seq uint32) {
	c.Send(codec.Header{Type: codec.TypeAck, ID: seq}, nil)
}

// TestQoS1Window checks the publisher's ACK, the subscriber's numbering
// from 1, and the inflight window: with a window of 2 the third message
// waits for an ACK.
func TestQoS1Window(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	sub := testutil.DialTCP(t, srv)
	sub.HelloWith(&codec.Hello{Inflight: 2})
	sub.Join(1, "r")
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	for i, ev := range []string{"a", "b", "c"} {
		qos1Emit(pub, uint32(1+i), ev, false)
		pub.Expect(codec.TypeAck, uint32(1+i))
	}
	expectQoS1(t, sub, 1, false, "a")
	expectQoS1(t, sub, 2, false, "b")
	sub.Ping(90) // nothing else came: the window is full
	ack(sub, 2)  // out of order: the window still starts at 1
	sub.Ping(91)
	ack(sub, 1)
	expectQoS1(t, sub, 3, false, "c")
	if got := srv.Stats.Acked.Load(); got != 2 {
		t.Errorf("Stats.Acked = %d, want 2", got)
	}
}

// TestQoS1Dedup resends a QoS 1 EMIT with DUP: broadcast once, ACKed twice.
func TestQoS1Dedup(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	sub := testutil.DialTCP(t, srv)
	sub.Hello(0)
	sub.Join(1, "r")
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	qos1Emit(pub, 1, "once", false)
	pub.Expect(codec.TypeAck, 1)
	qos1Emit(pub, 1, "once", true)
	pub.Expect(codec.TypeAck, 1)
	expectQoS1(t, sub, 1, false, "once")
	ack(sub, 1)
	sub.Ping(2)
	if got := srv.Stats.DupPublishes.Load(); got != 1 {
		t.Errorf("Stats.DupPublishes = %d, want 1", got)
	}
}

// TestPersistentResume disconnects a persistent subscriber, publishes
// while it is away, and resumes it: same session id, rooms kept, the
// queued messages in order, the unacknowledged one again with DUP.
func TestPersistentResume(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	hello := &codec.Hello{ClientID: []byte("dev-1"), Persist: true}
	sub := testutil.DialTCP(t, srv)
	w1 := sub.HelloWith(hello)
	if w1.Resumed || w1.Expiry == 0 {
		t.Fatalf("first WELCOME resumed=%v expiry=%d, want a new persistent session", w1.Resumed, w1.Expiry)
	}
	sub.Join(1, "r")
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	qos1Emit(pub, 1, "m1", false)
	pub.Expect(codec.TypeAck, 1)
	expectQoS1(t, sub, 1, false, "m1") // received, not acknowledged
	events := testutil.RecordEvents(t, srv.Adapter)
	sub.Close()
	testutil.WaitFor(t, "the session to go offline", func() bool { return srv.Broker.Sessions() == 2 && !sessionOnline(srv, "dev-1") })
	for i, ev := range []string{"m2", "m3"} {
		qos1Emit(pub, uint32(2+i), ev, false)
		pub.Expect(codec.TypeAck, uint32(2+i))
	}
	sub = testutil.DialTCP(t, srv)
	w2 := sub.HelloWith(hello)
	if !w2.Resumed || string(w2.SessionID) != string(w1.SessionID) || w2.Epoch != w1.Epoch {
		t.Fatalf("WELCOME resumed=%v sid=%s epoch=%d, want resumed, sid %s, epoch %d", w2.Resumed, w2.SessionID, w2.Epoch, w1.SessionID, w1.Epoch)
	}
	expectQoS1(t, sub, 1, true, "m1")
	expectQoS1(t, sub, 2, false, "m2")
	expectQoS1(t, sub, 3, false, "m3")
	if got := events.Of(string(w1.SessionID)); len(got) != 0 {
		t.Errorf("room events while the session was away: %v, want none (it stays in its rooms)", got)
	}
}

func sessionOnline(srv *testutil.Server, clientID string) bool {
	return srv.Broker.Online(clientID)
}

// TestTakeover: a second connection with the same client id takes the
// session; the first gets BYE 306.
func TestTakeover(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	hello := &codec.Hello{ClientID: []byte("dev-2"), Persist: true}
	first := testutil.DialTCP(t, srv)
	w1 := first.HelloWith(hello)
	second := testutil.DialTCP(t, srv)
	w2 := second.HelloWith(hello)
	if !w2.Resumed || string(w2.SessionID) != string(w1.SessionID) {
		t.Fatalf("second WELCOME resumed=%v sid=%s, want the first session %s", w2.Resumed, w2.SessionID, w1.SessionID)
	}
	testutil.CheckError(t, first.MustNext(), codec.TypeBye, 0, codec.CodeTakenOver)
	first.ExpectEOF()
	second.Join(1, "r")
	// A clean start with the same id discards the session.
	third := testutil.DialTCP(t, srv)
	w3 := third.HelloWith(&codec.Hello{ClientID: []byte("dev-2")})
	if w3.Resumed || string(w3.SessionID) == string(w1.SessionID) {
		t.Fatalf("clean start: resumed=%v sid=%s, want a new session", w3.Resumed, w3.SessionID)
	}
	testutil.CheckError(t, second.MustNext(), codec.TypeBye, 0, codec.CodeTakenOver)
	if got := srv.Adapter.Members("r"); got != nil {
		t.Errorf("room r after the clean start: %v, want gone with the discarded session", got)
	}
}

// TestOverflow fills an offline session's queue of 3 with 5 messages under
// each policy and checks what the resumed session receives and is told.
func TestOverflow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		policy broker.Overflow
		want   []string
	}{
		{broker.DropOldest, []string{"m3", "m4", "m5"}},
		{broker.DropNewest, []string{"m1", "m2", "m3"}},
		{broker.Disconnect, []string{"m1", "m2", "m3"}},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			t.Parallel()
			srv := testutil.Start(t, func(c *server.Config) {
				c.Broker.QueueMessages = 3
				c.Broker.Overflow = tt.policy
			})
			hello := &codec.Hello{ClientID: []byte("dev"), Persist: true}
			sub := testutil.DialTCP(t, srv)
			sub.HelloWith(hello)
			sub.Join(1, "r")
			sub.Close()
			testutil.WaitFor(t, "the session to go offline", func() bool { return !srv.Broker.Online("dev") })
			pub := testutil.DialTCP(t, srv)
			pub.Hello(0)
			for i := range 5 {
				qos1Emit(pub, uint32(1+i), "m"+string(rune('1'+i)), false)
				pub.Expect(codec.TypeAck, uint32(1+i))
			}
			sub = testutil.DialTCP(t, srv)
			w := sub.HelloWith(hello)
			if w.Missed != 2 {
				t.Errorf("WELCOME missed = %d, want 2", w.Missed)
			}
			for i, ev := range tt.want {
				expectQoS1(t, sub, uint32(1+i), false, ev)
			}
			if got := srv.Stats.QueueDrops.Load(); got != 2 {
				t.Errorf("Stats.QueueDrops = %d, want 2", got)
			}
			// Told once: the next resume reports nothing missed.
			for i := range tt.want {
				ack(sub, uint32(1+i))
			}
			sub.Ping(5)
			sub.Close()
			testutil.WaitFor(t, "the session to go offline", func() bool { return !srv.Broker.Online("dev") })
			sub = testutil.DialTCP(t, srv)
			if w := sub.HelloWith(hello); w.Missed != 0 {
				t.Errorf("second resume: missed = %d, want 0", w.Missed)
			}
		})
	}
}

// TestOverflowDisconnectsOnline: under the disconnect policy an online
// subscriber that stops acknowledging is disconnected with 303 once its
// queue is full, and keeps its session.
func TestOverflowDisconnectsOnline(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		c.Broker.QueueMessages = 2
		c.Broker.Overflow = broker.Disconnect
	})
	hello := &codec.Hello{ClientID: []byte("slow"), Persist: true, Inflight: 1}
	sub := testutil.DialTCP(t, srv)
	sub.HelloWith(hello)
	sub.Join(1, "r")
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	for i := range 4 { // 1 in flight, 2 queued, the 4th overflows
		qos1Emit(pub, uint32(1+i), "m", false)
		pub.Expect(codec.TypeAck, uint32(1+i))
	}
	expectQoS1(t, sub, 1, false, "m")
	testutil.CheckError(t, sub.MustNext(), codec.TypeBye, 0, codec.CodeSlowConsumer)
	sub.ExpectEOF()
	sub = testutil.DialTCP(t, srv)
	if w := sub.HelloWith(hello); !w.Resumed || w.Missed != 1 {
		t.Fatalf("resume after the disconnect: resumed=%v missed=%d, want true, 1", w.Resumed, w.Missed)
	}
	expectQoS1(t, sub, 1, true, "m")
}

// TestSessionExpiry: an offline persistent session ends after its expiry
// and leaves its rooms; a HELLO then finds nothing to resume.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	hello := &codec.Hello{ClientID: []byte("brief"), Persist: true, Expiry: 1}
	sub := testutil.DialTCP(t, srv)
	w := sub.HelloWith(hello)
	sub.Join(1, "r")
	events := testutil.RecordEvents(t, srv.Adapter)
	sub.Close()
	events.Wait(t, rooms.Event{Kind: rooms.DeleteRoom, Room: string(w.SessionID)})
	if got := srv.Stats.SessionsExpired.Load(); got != 1 {
		t.Errorf("Stats.SessionsExpired = %d, want 1", got)
	}
	sub = testutil.DialTCP(t, srv)
	if w := sub.HelloWith(hello); w.Resumed {
		t.Error("resumed an expired session")
	}
}
