package server_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/store"
	"github.com/packetd/packetd/internal/testutil"
)

// This file checks what becomes of a publisher's QoS 1 EMITs in the cases
// where a number could be lost: a failed store write, EMITs held for a
// gap when the session is resumed by a client that lost its state, and a
// body the server cannot decode.

// flakyStore is an in-memory store whose commits fail while failing is
// set, as they would on a full disk.
type flakyStore struct {
	*store.Memory
	failing atomic.Bool
}

var errDiskFull = errors.New("test: disk full")

func (s *flakyStore) Commit(b *store.Batch, done func(error)) {
	if s.failing.Load() {
		if done != nil {
			done(errDiskFull)
		}
		return
	}
	s.Memory.Commit(b, done)
}

// udpEmit sends a QoS 1 EMIT to room r with the event name ev.
func udpEmit(c *testutil.UDPConn, id uint32, ev string, dup bool) {
	flags := codec.FlagQoS1
	if dup {
		flags |= codec.FlagDup
	}
	c.Request(codec.Header{Type: codec.TypeEmit, Flags: flags, ID: id}, &codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte(ev)})
}

// TestQoS1FailedCommit: a QoS 1 EMIT whose store write failed gets no ACK;
// the copy its publisher resends is taken again (broadcast, written,
// acknowledged), once: a later copy is acknowledged without another
// broadcast, and the numbering goes on. (Servers before this test forgot
// the EMIT's number, so the copy, below the number expected next, was
// taken for one whose ACK was on its way: no answer, ever.)
func TestQoS1FailedCommit(t *testing.T) {
	t.Parallel()
	st := &flakyStore{Memory: store.NewMemory()}
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.Store = st })
	// A persistent recipient: the publisher's ACK waits for the write.
	sub := testutil.DialTCP(t, srv)
	sub.HelloWith(&codec.Hello{ClientID: []byte("keeper"), Persist: true})
	sub.Join(1, "r")
	pub := testutil.ListenUDP(t, srv)
	pub.Hello(1, 0, codec.MinHelloDatagram)

	st.failing.Store(true)
	udpEmit(pub, 1, "first", false)
	if before := pub.Ping(90); len(before) != 0 {
		t.Fatalf("got %v %s after a failed write, want nothing", before[0].Type, testutil.Describe(before[0]))
	}
	if got := srv.Stats.StoreErrors.Load(); got == 0 {
		t.Fatal("Stats.StoreErrors = 0: the write did not fail")
	}
	expectQoS1(t, sub, 1, false, "first") // online recipients had it at once
	st.failing.Store(false)

	udpEmit(pub, 1, "first", true) // the publisher's retransmission
	pub.Expect(codec.TypeAck, 1)
	expectQoS1(t, sub, 2, false, "first") // taken again: at least once
	udpEmit(pub, 1, "first", true)        // a late copy: answered, not taken a third time
	pub.Expect(codec.TypeAck, 1)
	udpEmit(pub, 2, "second", false)
	pub.Expect(codec.TypeAck, 2)
	expectQoS1(t, sub, 3, false, "second")
	sub.Ping(91)
}

// TestQoS1ResumeDropsHeld: EMITs a session holds for a gap are forgotten
// when a new connection resumes the session. A client that lost its state
// numbers its EMITs from pub_next, and its EMITs with the numbers of the
// held ones are new messages (servers before this test took the held
// ones, sent by the previous process, and acknowledged the new ones as
// copies of them, never delivering them).
func TestQoS1ResumeDropsHeld(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	sub := testutil.DialTCP(t, srv)
	sub.Hello(0)
	sub.Join(1, "r")
	hello := func() *codec.Hello { return &codec.Hello{ClientID: []byte("restarted"), Persist: true} }

	old := testutil.DialTCP(t, srv)
	old.HelloWith(hello())
	qos1Emit(old, 2, "old 2", false) // number 1 never arrives: 2 is held
	old.Ping(3)
	if got := srv.Stats.HeldEmits.Load(); got != 1 {
		t.Fatalf("Stats.HeldEmits = %d, want 1", got)
	}
	old.Close()
	testutil.WaitFor(t, "the session to go offline", func() bool { return !srv.Broker.Online("restarted") })

	fresh := testutil.DialTCP(t, srv)
	w := fresh.HelloWith(hello())
	if !w.Resumed || !w.HasPubNext || w.PubNext != 1 {
		t.Fatalf("WELCOME resumed=%v pub_next=%d (present %v), want resumed, pub_next 1", w.Resumed, w.PubNext, w.HasPubNext)
	}
	qos1Emit(fresh, 1, "new 1", false)
	fresh.Expect(codec.TypeAck, 1)
	qos1Emit(fresh, 2, "new 2", false)
	fresh.Expect(codec.TypeAck, 2)
	fresh.Ping(4)
	expectQoS1(t, sub, 1, false, "new 1")
	expectQoS1(t, sub, 2, false, "new 2")
	sub.Ping(5)
}

// TestQoS1InvalidBodyUDP: over UDP a QoS 1 EMIT whose body is invalid
// takes its number like any other, early ones included, and is refused
// with ERROR 206 carrying that number, as is a copy of it; the EMITs after
// it are taken. (Servers before this test dropped it before it took its
// number, and held every later QoS 1 EMIT of the session for good.)
func TestQoS1InvalidBodyUDP(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	sub := testutil.DialTCP(t, srv)
	sub.Hello(0)
	sub.Join(1, "r")
	pub := testutil.ListenUDP(t, srv)
	pub.Hello(1, 0, codec.MinHelloDatagram)
	invalid := func(id uint32, dup bool) {
		flags := codec.FlagQoS1
		if dup {
			flags |= codec.FlagDup
		}
		pub.Request(codec.Header{Type: codec.TypeEmit, Flags: flags, ID: id}, codec.RawBody{0x80}) // no rooms
	}

	invalid(2, false) // early: held until 1 arrives
	if before := pub.Ping(90); len(before) != 0 {
		t.Fatalf("got %v %s before number 1, want nothing", before[0].Type, testutil.Describe(before[0]))
	}
	udpEmit(pub, 1, "one", false)
	pub.Expect(codec.TypeAck, 1)
	testutil.CheckError(t, pub.MustNext(), codec.TypeError, 2, codec.CodeInvalidEmit)
	invalid(3, false)
	testutil.CheckError(t, pub.MustNext(), codec.TypeError, 3, codec.CodeInvalidEmit)
	invalid(3, true) // a copy: the same answer
	testutil.CheckError(t, pub.MustNext(), codec.TypeError, 3, codec.CodeInvalidEmit)
	udpEmit(pub, 4, "four", false)
	pub.Expect(codec.TypeAck, 4)
	expectQoS1(t, sub, 1, false, "one")
	expectQoS1(t, sub, 2, false, "four")
	sub.Ping(2)

	// A QoS 0 EMIT with an invalid body is still only dropped.
	pub.Request(codec.Header{Type: codec.TypeEmit, ID: 5}, codec.RawBody{0x80})
	if before := pub.Ping(91); len(before) != 0 {
		t.Fatalf("got %v %s after an invalid QoS 0 EMIT, want nothing", before[0].Type, testutil.Describe(before[0]))
	}
}
