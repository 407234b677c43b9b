package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/packetd/packetd/bench/impair"
	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestPersistentResume: a subscriber with a persistent session receives
// some QoS 1 messages, closes, and a new Client with the same ClientID
// resumes the session and receives, in order, what was sent meanwhile.
func TestPersistentResume(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	for _, url := range []string{srv.TCPURL(), srv.UDPURL()} {
		id := "sub-" + url[:3]
		room := "room-" + url[:3]
		opts := client.Options{ClientID: id, Persist: true, RetryTimeout: 50 * time.Millisecond}
		sub := dial(t, url, opts)
		if w := sub.Welcome(); w.Resumed || w.Expiry == 0 {
			t.Errorf("%s: first WELCOME resumed=%v expiry=%d, want a new session kept for a while", url, w.Resumed, w.Expiry)
		}
		testutil.Join(t, sub, room)
		pub := dial(t, srv.TCPURL(), client.Options{})
		numbered(t, pub, room, 0, 5)
		expectNumbered(t, sub, 0, 5)
		sid := sub.SessionID()
		_ = sub.Close()
		testutil.WaitFor(t, "the session to go offline", func() bool { return !srv.Broker.Online(id) })

		numbered(t, pub, room, 5, 50) // acknowledged: queued for the offline session
		again := dial(t, url, opts)
		if w := again.Welcome(); !w.Resumed || string(w.SessionID) != sid {
			t.Errorf("%s: WELCOME resumed=%v sid=%s, want resumed, sid %s", url, w.Resumed, w.SessionID, sid)
		}
		if got := collect(t, again, 50); got[0] != 5 || got[49] != 54 {
			t.Errorf("%s: resumed session got %d..%d, want 5..54", url, got[0], got[49])
		} else {
			for i, v := range got {
				if v != 5+i {
					t.Fatalf("%s: message %d is %d, want %d", url, i, v, 5+i)
				}
			}
		}
		expectNothing(t, again, 50*time.Millisecond)
	}
}

// TestMissed: messages a session's queue could not keep while it was
// offline are reported once, with the exact count, and the rest arrive.
func TestMissed(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.QueueMessages = 10 })
	var missed atomic.Uint64
	opts := client.Options{ClientID: "m", Persist: true, OnMissed: func(n uint64) { missed.Add(n) }}
	sub := dial(t, srv.TCPURL(), opts)
	testutil.Join(t, sub, "r")
	_ = sub.Close()
	testutil.WaitFor(t, "the session to go offline", func() bool { return !srv.Broker.Online("m") })
	pub := dial(t, srv.TCPURL(), client.Options{})
	numbered(t, pub, "r", 0, 25)

	again := dial(t, srv.TCPURL(), opts)
	if got := missed.Load(); got != 15 {
		t.Errorf("OnMissed reported %d, want 15", got)
	}
	if w := again.Welcome(); w.Missed != 15 || again.Stats().Missed != 15 {
		t.Errorf("WELCOME missed %d, Stats().Missed %d; want 15", w.Missed, again.Stats().Missed)
	}
	expectNumbered(t, again, 15, 10) // DropOldest kept the newest
	_ = again.Close()
	third := dial(t, srv.TCPURL(), opts)
	if got := third.Welcome().Missed; got != 0 || missed.Load() != 15 {
		t.Errorf("second resumption: missed %d (total reported %d), want 0 (15): reported once", got, missed.Load())
	}
}

// reconnecting returns options for a client that reconnects fast.
func reconnecting(id string) client.Options {
	return client.Options{ClientID: id, Persist: true, Reconnect: true,
		ReconnectMin: 5 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
		RetryTimeout: 20 * time.Millisecond, MaxRetries: 3}
}

// TestReconnectTCP cuts every connection several times while a publisher
// streams QoS 1 messages: both clients reconnect and resume, nothing is
// lost, nothing is delivered twice, and the publisher's order holds.
func TestReconnectTCP(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	px := newTCPProxy(t, srv.TCPAddr().String())
	var disconnects atomic.Int32
	subOpts := reconnecting("sub")
	subOpts.OnDisconnect = func(error) { disconnects.Add(1) }
	sub := dial(t, px.URL(), subOpts)
	testutil.Join(t, sub, "r")
	pubOpts := reconnecting("pub")
	pubOpts.PublishWindow = 50
	pub := dial(t, px.URL(), pubOpts)

	const n = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		numbered(t, pub, "r", 0, n)
	}()
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		for range 4 {
			time.Sleep(40 * time.Millisecond)
			px.Cut()
		}
	}()
	expectNumbered(t, sub, 0, n)
	<-done
	<-cut
	expectNothing(t, sub, 100*time.Millisecond)
	ps, ss := pub.Stats(), sub.Stats()
	if ps.Reconnects == 0 || ss.Reconnects == 0 || disconnects.Load() == 0 {
		t.Errorf("reconnections: publisher %d, subscriber %d (%d disconnects); want some", ps.Reconnects, ss.Reconnects, disconnects.Load())
	}
	if ps.Acked != n || ss.Delivered != n {
		t.Errorf("publisher acked %d, subscriber delivered %d; want %d", ps.Acked, ss.Delivered, n)
	}
	if sub.Err() != nil || pub.Err() != nil {
		t.Errorf("Err: subscriber %v, publisher %v; want nil", sub.Err(), pub.Err())
	}
	t.Logf("publisher %+v", ps)
	t.Logf("subscriber %+v", ss)
}

// TestReconnectUDP: a UDP path goes dead while a publisher has QoS 1
// EMITs in flight. After MaxRetries it gives up on the connection, not on
// the EMITs: it reconnects once the path is back and resends them.
func TestReconnectUDP(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	px, err := impair.NewUDP("127.0.0.1:0", srv.UDPAddr().String(), impair.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	sub := dial(t, srv.TCPURL(), client.Options{})
	testutil.Join(t, sub, "r")
	var reasons = make(chan error, 10)
	opts := reconnecting("pub")
	opts.OnDisconnect = func(err error) { reasons <- err }
	pub := dial(t, "udp://"+px.Addr().String(), opts)

	numbered(t, pub, "r", 0, 20)
	dead := impair.Config{Loss: 1}
	if err := px.SetOptions(impair.Options{Up: dead, Down: dead, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	for i := 20; i < 40; i++ {
		if err := pub.Emit(client.Emit{Rooms: []string{"r"}, Data: i, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-reasons:
		if !errors.Is(err, client.ErrTimeout) {
			t.Errorf("disconnected for %v, want ErrTimeout", err)
		}
	case <-time.After(testutil.Timeout):
		t.Fatal("no disconnection")
	}
	if err := px.SetOptions(impair.Options{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	flush(t, pub)
	expectNumbered(t, sub, 0, 40)
	expectNothing(t, sub, 50*time.Millisecond)
	if s := pub.Stats(); s.Reconnects == 0 || s.Failed != 0 {
		t.Errorf("publisher stats %+v, want a reconnection and no failure", s)
	}
}

// TestReconnectSilentServer: a client with Reconnect whose server goes
// silent (its PINGs unanswered for 1.5 keepalives) reconnects.
func TestReconnectSilentServer(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.MinKeepAlive = time.Second })
	px, err := impair.NewUDP("127.0.0.1:0", srv.UDPAddr().String(), impair.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	reasons := make(chan error, 10)
	opts := reconnecting("quiet")
	opts.KeepAlive = time.Second
	opts.OnDisconnect = func(err error) { reasons <- err }
	c := dial(t, "udp://"+px.Addr().String(), opts)
	testutil.Join(t, c, "r")
	if err := px.SetOptions(impair.Options{Down: impair.Config{Loss: 1}, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reasons:
		if !errors.Is(err, client.ErrNoResponse) {
			t.Errorf("disconnected for %v, want ErrNoResponse", err)
		}
	case <-time.After(testutil.Timeout):
		t.Fatal("silence not noticed")
	}
	if err := px.SetOptions(impair.Options{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the reconnection", func() bool { return c.Stats().Reconnects > 0 })
	pub := dial(t, srv.TCPURL(), client.Options{})
	numbered(t, pub, "r", 0, 3)
	expectNumbered(t, c, 0, 3)
}

// TestTakeover: a second Dial with the same ClientID ends the first
// client with BYE 306, and the first does not reconnect.
func TestTakeover(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	for _, url := range []string{srv.TCPURL(), srv.UDPURL()} {
		for _, persist := range []bool{true, false} {
			name := fmt.Sprintf("%s persist=%v", url[:3], persist)
			id := "x-" + name
			first := dial(t, url, reconnecting(id))
			second := dial(t, url, client.Options{ClientID: id, Persist: persist})
			select {
			case <-first.Done():
			case <-time.After(testutil.Timeout):
				t.Fatalf("%s: first client still open after the takeover", name)
			}
			var se *client.ServerError
			if err := first.Err(); !errors.As(err, &se) || se.Code != codec.CodeTakenOver {
				t.Errorf("%s: first client's Err() = %v, want ServerError %d", name, err, codec.CodeTakenOver)
			}
			if _, open := <-first.Messages(); open {
				t.Errorf("%s: first client's Messages still open", name)
			}
			time.Sleep(50 * time.Millisecond) // ten times ReconnectMax
			if r := first.Stats().Reconnects; r != 0 {
				t.Errorf("%s: first client reconnected %d times after BYE 306", name, r)
			}
			if second.Err() != nil || second.Welcome().Resumed != persist {
				t.Errorf("%s: second client Err %v, resumed %v; want nil, %v", name, second.Err(), second.Welcome().Resumed, persist)
			}
			_ = second.Close()
		}
	}
}

// TestReconnectServerRestart stops the server and starts another on the
// same ports and data directory: the subscriber reconnects, its session
// is resumed in a new epoch, and delivery numbers start again at 1
// without the client taking them for duplicates.
func TestReconnectServerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := testutil.Start(t, func(c *server.Config) { c.DataDir = dir; c.NoSync = true })
	tcpAddr, udpAddr := first.TCPAddr().String(), first.UDPAddr().String()
	welcomes := make(chan codec.Welcome, 10)
	opts := reconnecting("survivor")
	opts.OnReconnect = func(w codec.Welcome) { welcomes <- w }
	sub := dial(t, first.UDPURL(), opts)
	testutil.Join(t, sub, "r")
	pub := dial(t, first.TCPURL(), client.Options{})
	numbered(t, pub, "r", 0, 5)
	expectNumbered(t, sub, 0, 5)
	// The subscriber's ACKs must reach the server before it stops: an
	// unacknowledged message is rightly sent again after the restart.
	testutil.WaitFor(t, "5 ACKs recorded", func() bool { return first.Stats.Acked.Load() >= 5 })
	epoch := sub.Welcome().Epoch
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	restart := func(c *server.Config) {
		c.DataDir, c.NoSync = dir, true
		c.TCP.Addr, c.UDP.Addr = tcpAddr, udpAddr
	}
	second := testutil.Start(t, restart)
	var w codec.Welcome
	select {
	case w = <-welcomes:
	case <-time.After(testutil.Timeout):
		t.Fatal("no reconnection to the restarted server")
	}
	if !w.Resumed || w.Epoch == epoch {
		t.Errorf("WELCOME after restart: resumed=%v epoch=%d (was %d), want resumed in a new epoch", w.Resumed, w.Epoch, epoch)
	}
	pub2 := dial(t, second.TCPURL(), client.Options{})
	numbered(t, pub2, "r", 5, 5)
	timer := time.NewTimer(testutil.Timeout)
	defer timer.Stop()
	for i := range 5 {
		select {
		case m := <-sub.Messages():
			var v int
			_ = m.Decode(&v)
			if v != 5+i || m.ID != uint32(1+i) {
				t.Fatalf("after restart: message %d (number %d), want %d (number %d)", v, m.ID, 5+i, 1+i)
			}
		case <-timer.C:
			t.Fatalf("after restart: message %d missing (stats %+v)", 5+i, sub.Stats())
		}
	}
}

// TestCloseWhileReconnecting: Close interrupts a reconnection waiting for
// a WELCOME that will not come, and reports ErrClosed.
func TestCloseWhileReconnecting(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.MinKeepAlive = time.Second })
	px, err := impair.NewUDP("127.0.0.1:0", srv.UDPAddr().String(), impair.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	lost := make(chan struct{}, 1)
	opts := reconnecting("closer")
	opts.KeepAlive = time.Second
	opts.RetryTimeout = 5 * time.Second // a HELLO waits long for its WELCOME
	opts.OnDisconnect = func(error) { lost <- struct{}{} }
	c := dial(t, "udp://"+px.Addr().String(), opts)
	dead := impair.Config{Loss: 1}
	if err := px.SetOptions(impair.Options{Up: dead, Down: dead, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(testutil.Timeout):
		t.Fatal("silence not noticed")
	}
	time.Sleep(50 * time.Millisecond) // into the handshake
	start := time.Now()
	_ = c.Close()
	if el := time.Since(start); el > time.Second {
		t.Errorf("Close took %v while reconnecting", el)
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", c.Err())
	}
}
