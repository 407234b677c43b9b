package server_test

import (
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestResumeAcrossTransports moves a persistent session from TCP to UDP
// and back: it keeps its id and rooms, and the messages queued while it
// was away arrive over whichever transport resumed it.
func TestResumeAcrossTransports(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	hello := func() *codec.Hello { return &codec.Hello{ClientID: []byte("roamer"), Persist: true} }
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	publish := func(id uint32, ev string) {
		t.Helper()
		qos1Emit(pub, id, ev, false)
		pub.Expect(codec.TypeAck, id)
	}

	tc := testutil.DialTCP(t, srv)
	w1 := tc.HelloWith(hello())
	tc.Join(1, "r")
	tc.Close()
	testutil.WaitFor(t, "offline", func() bool { return !srv.Broker.Online("roamer") })
	publish(1, "while away 1")
	publish(2, "while away 2")

	u := testutil.ListenUDP(t, srv)
	w2 := u.HelloWith(7, hello())
	if !w2.Resumed || string(w2.SessionID) != string(w1.SessionID) {
		t.Fatalf("UDP resume: resumed=%v sid=%s, want resumed %s", w2.Resumed, w2.SessionID, w1.SessionID)
	}
	// Until the address is validated the server sends at most three times
	// what it received (the WELCOME takes most of it); the first datagram
	// with the session id validates it and the messages go again at once.
	u.Request(codec.Header{Type: codec.TypePing, ID: 8}, nil)
	events := []string{"while away 1", "while away 2"}
	for next := uint32(1); next <= 2; {
		p := u.MustNext()
		if p.Type != codec.TypeMessage || p.ID < next {
			continue // the PONG, or a copy sent before the validation
		}
		var m codec.Message
		testutil.Decode(t, p, &m)
		if p.ID != next || p.Flags.QoS() != 1 || string(m.Event) != events[next-1] {
			t.Fatalf("over UDP got id=%d qos=%d %q, want id=%d qos=1 %q", p.ID, p.Flags.QoS(), m.Event, next, events[next-1])
		}
		u.Request(codec.Header{Type: codec.TypeAck, ID: p.ID}, nil)
		next++
	}
	// The ACKs are handled by the UDP loop; message 3 and the takeover
	// below by TCP's: wait for them, or 2 may come again on TCP before 3.
	testutil.WaitFor(t, "the UDP ACKs handled", func() bool { return srv.Stats.Acked.Load() >= 2 })
	publish(3, "live over UDP")
	p := u.MustNext()
	for p.Type != codec.TypeMessage || p.ID < 3 {
		p = u.MustNext() // the PONG, or late copies
	}
	if p.ID != 3 {
		t.Fatalf("live message over UDP: id %d, want 3", p.ID)
	}
	// Not acknowledged: back on TCP it comes again, with DUP.
	tc = testutil.DialTCP(t, srv)
	tc.HelloWith(hello())
	testutil.CheckError(t, u.MustNext(), codec.TypeBye, 0, codec.CodeTakenOver)
	expectQoS1(t, tc, 3, true, "live over UDP")
}

// TestQoS1SlowConsumer: a subscriber that stops reading entirely holds
// at most its window in flight and its queue limit queued; the rest is
// dropped (counted), while a subscriber that keeps up receives every
// message in order and the publisher is never slowed.
func TestQoS1SlowConsumer(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		c.Broker.QueueMessages = 50
		c.Broker.Inflight = 10
	})
	stalled := testutil.DialTCP(t, srv)
	stalled.Hello(0)
	stalled.Join(1, "r") // and never reads again
	fast := testutil.DialTCP(t, srv)
	fast.Hello(0)
	fast.Join(1, "r")
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)

	const n = 500
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			p, err := fast.Next(testutil.Timeout)
			if err != nil {
				t.Errorf("fast subscriber, message %d: %v", i+1, err)
				return
			}
			if p.Type != codec.TypeMessage || p.ID != uint32(i+1) {
				t.Errorf("fast subscriber got %v id=%d, want MESSAGE %d", p.Type, p.ID, i+1)
				return
			}
			fast.Send(codec.Header{Type: codec.TypeAck, ID: p.ID}, nil)
		}
	}()
	start := time.Now()
	for i := range n {
		qos1Emit(pub, uint32(1+i), "m", false)
		pub.Expect(codec.TypeAck, uint32(1+i)) // the publisher is answered at once
	}
	t.Logf("published %d QoS 1 messages in %v", n, time.Since(start))
	<-done
	if got, want := srv.Stats.QueueDrops.Load(), uint64(n-50-10); got != want {
		t.Errorf("Stats.QueueDrops = %d, want %d (all but the window and the queue of the stalled one)", got, want)
	}
}
