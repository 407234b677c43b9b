package client_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestUDPResumeLostWelcome loses the WELCOME that answers a resuming UDP
// HELLO: the WELCOME answering the retransmitted HELLO must say resumed
// and missed as the first did (servers before fc9ba32 said resumed=false,
// missed=0, and a fresh client then waited for numbers 1 to 5 that would
// never come), and the new client, which does not know where the last
// one stopped, gets everything sent meanwhile, in order.
func TestUDPResumeLostWelcome(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.QueueMessages = 5 })
	var missed atomic.Uint64
	opts := client.Options{ClientID: "w", Persist: true, RetryTimeout: 50 * time.Millisecond,
		OnMissed: func(n uint64) { missed.Add(n) }}
	sub := dial(t, srv.UDPURL(), opts)
	testutil.Join(t, sub, "r")
	pub := dial(t, srv.TCPURL(), client.Options{})
	numbered(t, pub, "r", 0, 5)
	expectNumbered(t, sub, 0, 5) // numbers 1 to 5
	_ = sub.Close()
	testutil.WaitFor(t, "the session to go offline", func() bool { return !srv.Broker.Online("w") })
	numbered(t, pub, "r", 5, 8) // 5, 6, 7 lost to the queue limit

	var dropped atomic.Bool
	relay := testutil.NewUDPRelay(t, srv.UDPAddr().(*net.UDPAddr), func(d testutil.Direction, b []byte) bool {
		return d == testutil.ToClient && len(b) > 1 && codec.Type(b[1]) == codec.TypeWelcome && dropped.CompareAndSwap(false, true)
	})
	again := dial(t, "udp://"+relay.Addr.String(), opts)
	if !dropped.Load() {
		t.Fatal("no WELCOME was dropped")
	}
	got := collect(t, again, 5)
	for i, v := range got {
		if v != 8+i {
			t.Fatalf("message %d is %d, want %d", i, v, 8+i)
		}
	}
	expectNothing(t, again, 50*time.Millisecond)
	if w := again.Welcome(); !w.Resumed || w.Missed != 3 || missed.Load() != 3 {
		t.Errorf("WELCOME answering a retransmitted HELLO of a resumed session: resumed=%v missed=%d (reported %d), want resumed, missed 3",
			w.Resumed, w.Missed, missed.Load())
	}
}

// TestResumedEmitAck: a publisher's connection is cut after the server
// took a QoS 1 EMIT whose ACK waits for the store (a persistent session
// will receive it), and the publisher resumes its session before the
// commit is done. Its resent copy (DUP) is recognised and not ACKed, as
// the pending ACK will answer it: that ACK must go to the session's
// current connection (servers before fc9ba32 sent it to the closed one,
// and over TCP nothing resent the EMIT again: it was never acknowledged).
func TestResumedEmitAck(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		c.DataDir = t.TempDir()
		c.NoSync = true
		c.CommitDelay = 300 * time.Millisecond
	})
	sub := dial(t, srv.TCPURL(), client.Options{ClientID: "keeper", Persist: true})
	testutil.Join(t, sub, "r")
	px := newTCPProxy(t, srv.TCPAddr().String())
	pub := dial(t, px.URL(), reconnecting("publisher"))
	if err := pub.Emit(client.Emit{Rooms: []string{"r"}, Data: 0, QoS: 1}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the server to take the EMIT", func() bool { return srv.Stats.QoS1Emits.Load() == 1 })
	px.Cut()
	testutil.WaitFor(t, "the reconnection", func() bool { return pub.Stats().Reconnects == 1 })
	expectNumbered(t, sub, 0, 1) // broadcast once
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := pub.Flush(ctx); err != nil {
		t.Errorf("QoS 1 EMIT resent after a resume: Flush = %v (server counted %d duplicate publishes)",
			err, srv.Stats.DupPublishes.Load())
	}
}

// TestUDPResumeRetries: the server gives up on a UDP client that left a
// QoS 1 MESSAGE unacknowledged through every retry (BYE 302); the client
// reconnects and resumes the session, and the server's resend (DUP) is
// lost once. The server must retransmit it on a fresh schedule (servers
// before fc9ba32 kept the old connection's count, found it past
// MaxRetries and dropped the new connection too: every loss of that
// message cost a reconnection).
func TestUDPResumeRetries(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) {
		quick(c)
		c.Broker.MaxRetries = 2
	})
	var phase atomic.Int32 // 0 pass, 1 drop MESSAGEs to the client, 2 drop the next one
	relay := testutil.NewUDPRelay(t, srv.UDPAddr().(*net.UDPAddr), func(d testutil.Direction, b []byte) bool {
		if d != testutil.ToClient || len(b) < 2 || codec.Type(b[1]) != codec.TypeMessage {
			return false
		}
		return phase.Load() == 1 || phase.CompareAndSwap(2, 0)
	})
	sub := dial(t, "udp://"+relay.Addr.String(), reconnecting("r"))
	testutil.Join(t, sub, "r")
	pub := dial(t, srv.TCPURL(), client.Options{})
	phase.Store(1)
	numbered(t, pub, "r", 0, 1)
	testutil.WaitFor(t, "the server to give up on the client", func() bool { return srv.Stats.DeliveryTimeouts.Load() == 1 })
	phase.Store(2)
	expectNumbered(t, sub, 0, 1)
	expectNothing(t, sub, 50*time.Millisecond)
	if n, r := srv.Stats.DeliveryTimeouts.Load(), sub.Stats().Reconnects; n != 1 || r != 1 {
		t.Errorf("one lost DUP resend after a resume: %d delivery timeouts and %d reconnections, want 1 and 1", n, r)
	}
}
