package server_test

import (
	"os"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
	"github.com/packetd/packetd/rooms"
)

// TestQoS1Retransmission: a UDP subscriber that does not acknowledge gets
// the message again, with DUP and the same number, on a backoff; once it
// ACKs the copies stop. One it never ACKs is given up after MaxRetries,
// and the (clean) session ends.
func TestQoS1Retransmission(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		c.Broker.RetryTimeout = 40 * time.Millisecond
		c.Broker.MaxRetries = 3
		c.Broker.Tick = 5 * time.Millisecond
	})
	sub := testutil.ListenUDP(t, srv)
	w := sub.Hello(1, 0, codec.MinHelloDatagram)
	sub.Join(2, "r")
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)

	qos1Emit(pub, 1, "acked", false)
	pub.Expect(codec.TypeAck, 1)
	for i := range 2 { // the first copy, then one resent after the timeout
		p := sub.ExpectType(codec.TypeMessage)
		if p.ID != 1 || p.Flags.QoS() != 1 || p.Flags.Dup() != (i > 0) {
			t.Fatalf("copy %d: id=%d qos=%d dup=%v, want id=1 qos=1 dup=%v", i, p.ID, p.Flags.QoS(), p.Flags.Dup(), i > 0)
		}
	}
	sub.Request(codec.Header{Type: codec.TypeAck, ID: 1}, nil)
	resent := srv.Stats.Retransmits.Load()

	events := testutil.RecordEvents(t, srv.Adapter)
	qos1Emit(pub, 2, "never acked", false)
	pub.Expect(codec.TypeAck, 2)
	copies := 0
	for {
		p, _, err := sub.Next(2 * time.Second)
		if err != nil {
			t.Fatalf("after %d copies: %v", copies, err)
		}
		if p.Type == codec.TypeMessage {
			if p.ID != 2 {
				t.Fatalf("got MESSAGE %d, want only 2 (1 was acknowledged)", p.ID)
			}
			copies++
			continue
		}
		// The server gave up: BYE 302, saying why.
		e := testutil.CheckError(t, p, codec.TypeBye, 0, codec.CodeIdleTimeout)
		if got, want := string(e.Msg), "QoS 1 message unacknowledged through every retransmission"; got != want {
			t.Errorf("got BYE 302 msg %q, want %q", got, want)
		}
		break
	}
	if copies != 4 {
		t.Errorf("message 2 sent %d times, want 1 + MaxRetries (3) = 4", copies)
	}
	if got := srv.Stats.Retransmits.Load() - resent; got != 3 {
		t.Errorf("Stats.Retransmits grew by %d, want 3", got)
	}
	events.Wait(t, rooms.Event{Kind: rooms.DeleteRoom, Room: string(w.SessionID)})
	if got := srv.Stats.DeliveryTimeouts.Load(); got != 1 {
		t.Errorf("Stats.DeliveryTimeouts = %d, want 1", got)
	}
}

// TestStoreRestart stops a server with a persistent session offline and
// three QoS 1 messages queued for it, starts another on the same data
// directory, and resumes the session there: same id, rooms, messages in
// order, numbered from 1 in the new epoch.
func TestStoreRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	withDir := func(c *server.Config) { c.DataDir = dir }
	hello := &codec.Hello{ClientID: []byte("keeper"), Persist: true}

	first := testutil.Start(t, withDir)
	sub := testutil.DialTCP(t, first)
	w1 := sub.HelloWith(hello)
	sub.Join(1, "r", "s")
	sub.Close()
	testutil.WaitFor(t, "the session to go offline", func() bool { return !first.Broker.Online("keeper") })
	pub := testutil.DialTCP(t, first)
	pub.Hello(0)
	for i, ev := range []string{"m1", "m2", "m3"} {
		qos1Emit(pub, uint32(1+i), ev, false)
		pub.Expect(codec.TypeAck, uint32(1+i)) // durable: the ACK waited for the commit
	}
	if err := first.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/packetd.db"); err != nil {
		t.Fatal(err)
	}

	second := testutil.Start(t, withDir)
	sub = testutil.DialTCP(t, second)
	w2 := sub.HelloWith(hello)
	if !w2.Resumed || string(w2.SessionID) != string(w1.SessionID) || w2.Epoch == w1.Epoch {
		t.Fatalf("WELCOME after restart: resumed=%v sid=%s epoch=%d, want resumed, sid %s, a new epoch",
			w2.Resumed, w2.SessionID, w2.Epoch, w1.SessionID)
	}
	for i, ev := range []string{"m1", "m2", "m3"} {
		expectQoS1(t, sub, uint32(1+i), false, ev)
		ack(sub, uint32(1+i))
	}
	if got := second.Adapter.RoomsOf(string(w1.SessionID)); len(got) != 3 || got[1] != "r" || got[2] != "s" {
		t.Errorf("rooms after restart = %v, want [own r s]", got)
	}
	sub.Ping(9)
}

// TestQoS1TooLargeForUDP: a QoS 1 message larger than max_datagram cannot
// reach a UDP member: it is counted as lost for that session at once (not
// retransmitted until the client counts as gone), and the next message
// that fits takes number 1.
func TestQoS1TooLargeForUDP(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	sub := testutil.ListenUDP(t, srv)
	sub.Hello(1, 0, codec.MinHelloDatagram)
	sub.Join(2, "r")
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	pub.Send(codec.Header{Type: codec.TypeEmit, Flags: codec.FlagQoS1, ID: 1},
		&codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte("big"), Data: append([]byte{0xc5, 0x04, 0xb0}, make([]byte, 1200)...)})
	pub.Expect(codec.TypeAck, 1)
	qos1Emit(pub, 2, "small", false)
	pub.Expect(codec.TypeAck, 2)
	p := sub.ExpectType(codec.TypeMessage)
	var m codec.Message
	testutil.Decode(t, p, &m)
	if p.ID != 1 || string(m.Event) != "small" {
		t.Fatalf("got MESSAGE %d %q, want 1 \"small\"", p.ID, m.Event)
	}
	if got := srv.Stats.DropTooLargeForUDP.Load(); got != 1 {
		t.Errorf("Stats.DropTooLargeForUDP = %d, want 1", got)
	}
	if got := srv.Stats.QueueDrops.Load(); got != 1 {
		t.Errorf("Stats.QueueDrops = %d, want 1", got)
	}
}

// TestQoS1EmitOrder sends a session's QoS 1 EMITs out of order (as a lossy
// UDP path delivers them): the server broadcasts them in the order of
// their numbers, holding number 2 until 1 arrives, and answers a late copy
// of 1 with its ACK again.
func TestQoS1EmitOrder(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	sub := testutil.DialTCP(t, srv)
	sub.Hello(0)
	sub.Join(1, "r")
	pub := testutil.ListenUDP(t, srv)
	pub.Hello(1, 0, codec.MinHelloDatagram)
	emit := func(id uint32, ev string) {
		pub.Request(codec.Header{Type: codec.TypeEmit, Flags: codec.FlagQoS1, ID: id},
			&codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte(ev)})
	}
	emit(2, "second")
	emit(3, "third")
	if before := pub.Ping(90); len(before) != 0 {
		t.Fatalf("got %v before 1 arrived, want nothing (2 and 3 held)", testutil.Describe(before[0]))
	}
	if got := srv.Stats.HeldEmits.Load(); got != 2 {
		t.Errorf("Stats.HeldEmits = %d, want 2", got)
	}
	emit(1, "first")
	for _, id := range []uint32{1, 2, 3} {
		pub.Expect(codec.TypeAck, id)
	}
	for i, ev := range []string{"first", "second", "third"} {
		expectQoS1(t, sub, uint32(1+i), false, ev)
	}
	emit(1, "first") // a copy: acknowledged again, not broadcast again
	pub.Expect(codec.TypeAck, 1)
	sub.Ping(91)
}
